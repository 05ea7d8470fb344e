package authkittest

import (
	"strings"
	"time"
)

// dialect is how one provider writes its tokens: the issuer's path, the
// default lifetime, and the access token and its ID-token twin, each built
// on the common claims (iss, sub, iat, exp, jti) already in t.claims. They
// follow the documentation [authkit.Preset] cites, and the fixtures in the
// kit's testdata/providers.
type dialect struct {
	path     string
	lifetime time.Duration // 0: five minutes
	access   func(*token)
	id       func(*token)
}

// clientID is the OAuth client the tokens were issued to, where the dialect
// names one besides the audience.
const clientID = "authkittest-client"

var dialects = map[string]dialect{
	"rfc9068": {
		access: func(t *token) {
			t.header["typ"] = "at+jwt"
			t.set("aud", t.audience).set("client_id", clientID).scope("scope", false)
		},
		id: func(t *token) {
			t.header["typ"] = "JWT"
			t.set("aud", []string{clientID, t.audience}).set("azp", clientID).set("nonce", "n-0S6_WzA2Mj")
		},
	},
	"auth0": { // the Auth0 token profile; its RFC 9068 profile is the kit's default
		path: "/", lifetime: 24 * time.Hour,
		access: func(t *token) {
			t.header["typ"] = "JWT"
			t.set("aud", []string{t.audience, t.p.Issuer + "userinfo"}).set("azp", clientID).scope("scope", false)
			if len(t.scopes) > 0 {
				t.set("permissions", t.scopes)
			}
		},
		id: func(t *token) {
			t.header["typ"] = "JWT"
			t.set("aud", []string{clientID, t.audience}).set("nonce", "n-0S6_WzA2Mj").set("name", "Jane Doe").del("jti")
		},
	},
	"keycloak": {
		path: "/realms/authkittest",
		access: func(t *token) {
			t.header["typ"] = "JWT"
			t.set("typ", "Bearer").set("aud", t.audience).set("azp", clientID).set("sid", "sid-1").
				set("preferred_username", t.sub).set("realm_access", map[string]any{"roles": []string{"default-roles-authkittest"}})
			t.scopes = append([]string{"openid", "email", "profile"}, t.scopes...)
			t.scope("scope", false)
		},
		id: func(t *token) {
			t.header["typ"] = "JWT"
			t.set("typ", "ID").set("aud", []string{clientID, t.audience}).set("azp", clientID).
				set("sid", "sid-1").set("at_hash", "2bq1mBIt9tUAl7tOmIEpCg")
		},
	},
	"entra": {
		path: "/72f988bf-86f1-41af-91ab-2d7cd011db47/v2.0",
		access: func(t *token) {
			t.header["typ"], t.header["x5t"] = "JWT", t.p.kid
			t.set("ver", "2.0").set("aud", t.audience).set("azp", clientID).set("nbf", t.claims["iat"]).
				set("tid", "72f988bf-86f1-41af-91ab-2d7cd011db47").set("oid", "690222be-ff1a-4d56-abd1-7e4f7d38e474").
				del("jti").set("uti", randomID()).scope("scp", false)
		},
		id: func(t *token) {
			t.header["typ"] = "JWT"
			t.set("ver", "2.0").set("aud", t.audience).set("nbf", t.claims["iat"]).set("nonce", "123523").
				set("tid", "72f988bf-86f1-41af-91ab-2d7cd011db47").del("jti")
		},
	},
	"entra-v1": {
		path: "/72f988bf-86f1-41af-91ab-2d7cd011db47/", // as sts.windows.net/{tenant}/
		access: func(t *token) {
			t.header["typ"], t.header["x5t"] = "JWT", t.p.kid
			t.set("ver", "1.0").set("aud", t.audience).set("appid", clientID).set("nbf", t.claims["iat"]).
				set("tid", "72f988bf-86f1-41af-91ab-2d7cd011db47").set("oid", "690222be-ff1a-4d56-abd1-7e4f7d38e474").
				del("jti").set("uti", randomID()).scope("scp", false)
		},
		id: func(t *token) {
			t.header["typ"], t.header["x5t"] = "JWT", t.p.kid
			t.set("ver", "1.0").set("aud", t.audience).set("nbf", t.claims["iat"]).set("nonce", "123523").
				set("tid", "72f988bf-86f1-41af-91ab-2d7cd011db47").del("jti")
		},
	},
	"cognito": {
		path: "/us-east-1_authkittest",
		access: func(t *token) {
			t.set("token_use", "access").set("client_id", t.audience).set("username", t.sub).scope("scope", false)
		},
		id: func(t *token) {
			t.set("token_use", "id").set("aud", t.audience).set("cognito:username", t.sub).set("email_verified", true)
		},
	},
	"okta": {
		path: "/oauth2/default",
		access: func(t *token) {
			t.set("ver", 1).set("aud", t.audience).set("cid", clientID).set("uid", t.sub).scope("scp", true)
		},
		id: func(t *token) {
			t.set("ver", 1).set("aud", []string{clientID, t.audience}).set("nonce", "n-0S6_WzA2Mj").set("amr", []string{"pwd"})
		},
	},
	"firebase": { // Firebase ID tokens are its bearer credential
		path: "/authkittest-project",
		access: func(t *token) {
			t.header["typ"] = "JWT"
			t.set("aud", t.audience).set("user_id", t.sub).set("auth_time", t.claims["iat"]).del("jti").
				set("firebase", map[string]any{"identities": map[string]any{}, "sign_in_provider": "password"}).
				scope("scope", false)
		},
		id: func(t *token) { // a custom token: what a client trades for an ID token
			t.header["typ"] = "JWT"
			t.set("aud", "https://identitytoolkit.googleapis.com/google.identity.identitytoolkit.v1.IdentityToolkit").
				set("uid", t.sub).del("jti")
		},
	},
	"supabase": {
		path: "/auth/v1",
		access: func(t *token) {
			t.header["typ"] = "JWT"
			t.set("aud", t.audience).set("role", "authenticated").set("aal", "aal1").set("is_anonymous", false).
				set("session_id", "bc3b3f2d-1c59-4f3e-8c3a-7c2e4f6a9b10").del("jti").scope("scope", false)
		},
		id: func(t *token) { // the project's anon API key
			t.header["typ"] = "JWT"
			t.set("aud", t.audience).set("role", "anon").set("ref", "authkittest").del("jti")
		},
	},
	"clerk": {
		lifetime: time.Minute,
		access: func(t *token) {
			t.header["typ"], t.header["cat"] = "JWT", "cl_B7d4PD111AAA"
			t.set("azp", t.audience).set("sid", "sess_authkittest").set("v", 2).set("nbf", t.claims["iat"]).
				del("jti").scope("scope", false)
		},
		id: func(t *token) { // an ID token of Clerk as an OAuth provider
			t.header["typ"], t.header["cat"] = "JWT", "cl_B7d4PD111AAA"
			t.set("aud", t.audience).set("nonce", "n-0S6_WzA2Mj").del("jti")
		},
	},
	"zitadel": {
		access: func(t *token) {
			t.header["typ"] = "JWT"
			t.set("aud", []string{t.audience}).set("client_id", clientID).set("nbf", t.claims["iat"]).scope("scope", false)
		},
		id: func(t *token) {
			t.header["typ"] = "JWT"
			t.set("aud", []string{t.audience}).set("azp", clientID).set("client_id", clientID).
				set("nonce", "VQAOGP5QV6QVA4DGIHKDTJCQBT").set("at_hash", "kIigQqkNyYrxzEMLPbAVBQ").del("jti")
		},
	},
}

func (t *token) set(name string, v any) *token { t.claims[name] = v; return t }

func (t *token) del(name string) *token { delete(t.claims, name); return t }

// scope writes the requested scopes into name, space-delimited or as an
// array; no scopes, no claim.
func (t *token) scope(name string, array bool) *token {
	switch {
	case len(t.scopes) == 0:
	case array:
		t.claims[name] = t.scopes
	default:
		t.claims[name] = strings.Join(t.scopes, " ")
	}
	return t
}
