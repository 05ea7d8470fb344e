package authkit

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Profile says what an access token of one issuer looks like, beyond the
// signature, issuer, audience and times every token is checked for. The zero
// Profile is RFC 9068: header typ "at+jwt", audience in "aud", scopes in
// "scope". A field that relaxes RFC 9068 says what it gives up; a profile
// that accepts another typ must name a rule that tells the provider's ID
// tokens from its access tokens (Require, RequireValue or Refuse), or
// [NewJWT] refuses it. Get a provider's with [Preset]. The checks run once
// per token, before it enters the verified-token cache.
type Profile struct {
	Name string // shown in errors; a preset's name

	// Types are the header typ values accepted, compared case-insensitively
	// with any "application/" prefix removed; "" accepts a token without typ.
	// Any value but "at+jwt" gives up RFC 9068's typing of access tokens
	// (RFC 8725 §3.11). Default: "at+jwt" only.
	Types []string

	// IgnoredHeaders are header members accepted and never interpreted (Clerk's
	// "cat"). Default: none; jku, jwk, x5u, x5c and crit are never accepted.
	IgnoredHeaders []string

	// AudienceClaim names the claim, a string or an array of strings, that
	// must hold one of the issuer's audiences: "aud" (default), "client_id"
	// (Cognito, which puts the app there), or "azp" (Clerk's allowlist of
	// origins). Another claim than "aud" makes "aud" optional and unchecked.
	AudienceClaim string

	// Require are claims that must be present; RequireValue claims that must
	// be the given string ({"token_use": "access"}); Refuse claims whose
	// presence refuses the token (what ID tokens carry: "nonce", "at_hash").
	Require      []string
	RequireValue map[string]string
	Refuse       []string

	// ScopeClaims are the claims read as granted scopes for [WithScopes], each
	// a space-delimited string or an array of strings. Default: "scope".
	ScopeClaims []string

	// RoleClaims are the claims read as the roles (or groups) [WithRoles]
	// requires, each a path into the claims set: {"roles"} for a top-level
	// claim, {"realm_access", "roles"} for Keycloak's nested one. Each holds
	// a role as a string or an array of them, never split on spaces. Kept
	// apart from scopes: a role the user has is not a scope the client was
	// granted. Default: none.
	RoleClaims [][]string

	// MaxLifetime is the longest accepted lifetime (exp − iat). Default: that
	// of [WithMaxTokenLifetime].
	MaxLifetime time.Duration

	// tenantClaim is the claim that names the tenant of a multi-tenant
	// issuer ([TrustedIssuer].Tenants): Entra's "tid". Presets only.
	tenantClaim string
}

// Preset returns the [Profile] of a provider's access tokens, by name (as
// the demo's -trust-profile takes it); an unknown name makes [NewJWT] fail.
// None reads the kit's own token version claim, "ver". Each follows the
// provider's documentation:
//
//   - "rfc9068": the zero Profile.
//   - "auth0": typ "JWT" or "at+jwt" (both access token profiles), lifetime up
//     to 24 h, scopes in "scope" and "permissions". ID tokens carry the client
//     ID as aud: configure the API identifier only. Refused: "nonce".
//     https://auth0.com/docs/secure/tokens/access-tokens/access-token-profiles
//   - "keycloak": typ "JWT" or "at+jwt"; the payload's "typ" must be "Bearer"
//     (ID tokens say "ID", refresh tokens "Refresh"); roles in
//     "realm_access"."roles".
//     https://www.keycloak.org/docs/latest/server_admin/#_oidc-token-and-saml-assertion-mappers
//   - "entra": Microsoft Entra ID v2.0 access tokens: typ "JWT", header "x5t"
//     ignored (the kid names the same key), "ver" "2.0",
//     scopes in "scp" and "roles" (application permissions, as Microsoft's
//     "scope or app permission" check reads them), roles in "roles",
//     lifetime up to 90 min (longer-lived CAE
//     tokens need a custom MaxLifetime). ID tokens carry the client's ID as
//     aud: configure the API's application ID. Refused: "nonce".
//     Several tenants: [TrustedIssuer].Tenants, each token's "tid" checked.
//     https://learn.microsoft.com/en-us/entra/identity-platform/access-token-claims-reference
//   - "entra-v1": Entra ID v1.0 access tokens (issuer
//     "https://sts.windows.net/{tenant}/"): as "entra", with "ver" "1.0".
//   - "cognito": no typ; "token_use" must be "access"; the audiences are an
//     allowlist of app client IDs, checked against "client_id" (access tokens
//     have no aud); roles (groups) in "cognito:groups".
//     https://docs.aws.amazon.com/cognito/latest/developerguide/amazon-cognito-user-pools-using-the-access-token.html
//   - "okta": no typ; "cid" (the client ID, which ID tokens lack) required;
//     scopes in "scp". Refused: "nonce".
//     https://developer.okta.com/docs/api/openapi/okta-oauth/guides/overview/#access-token
//   - "firebase": Firebase ID tokens, which are the bearer credential there:
//     typ "JWT", aud the project ID, the "firebase" claim required; no rule
//     tells them from other ID tokens of that project, since there are none.
//     https://firebase.google.com/docs/auth/admin/verify-id-tokens#verify_id_tokens_using_a_third-party_jwt_library
//   - "supabase": typ "JWT" (JWKS or, with [WithKey], the legacy HS256
//     secret), aud "authenticated", "session_id" required (the anon and
//     service_role API keys lack it).
//     https://supabase.com/docs/guides/auth/jwt-fields
//   - "clerk": session tokens: typ "JWT", header "cat" ignored, the audiences
//     an allowlist of origins checked against "azp", "sid" required, lifetime
//     60 s by default. https://clerk.com/docs/backend-requests/manual-jwt
//   - "zitadel": typ "JWT" or "at+jwt", "jti" required (its ID tokens have
//     none, and carry the same aud). Refused: "nonce", "at_hash", "c_hash".
//     https://zitadel.com/docs/apis/openidoauth/claims
func Preset(name string) Profile {
	p, ok := presets[name]
	if !ok {
		return Profile{Name: name, Types: []string{unknownPreset}}
	}
	p.Name = name
	return p
}

// accessTokenType is the typ of RFC 9068 access tokens, the kit's own.
const accessTokenType = "at+jwt"

// unknownPreset marks the Profile that Preset returns for an unknown name.
const unknownPreset = "\x00unknown preset"

var idTokenMarks = []string{"nonce", "at_hash", "c_hash"}

var presets = map[string]Profile{
	"rfc9068": {},
	"auth0": {Types: []string{"JWT", accessTokenType}, Refuse: idTokenMarks,
		ScopeClaims: []string{"scope", "permissions"}, MaxLifetime: 24 * time.Hour},
	"keycloak": {Types: []string{"JWT", accessTokenType}, RequireValue: map[string]string{"typ": "Bearer"},
		RoleClaims: [][]string{{"realm_access", "roles"}}},
	"entra": {Types: []string{"JWT"}, IgnoredHeaders: []string{"x5t"}, RequireValue: map[string]string{"ver": "2.0"}, Refuse: idTokenMarks,
		ScopeClaims: []string{"scp", "roles"}, RoleClaims: [][]string{{"roles"}}, MaxLifetime: 90 * time.Minute, tenantClaim: "tid"},
	"entra-v1": {Types: []string{"JWT"}, IgnoredHeaders: []string{"x5t"}, RequireValue: map[string]string{"ver": "1.0"}, Refuse: idTokenMarks,
		ScopeClaims: []string{"scp", "roles"}, RoleClaims: [][]string{{"roles"}}, MaxLifetime: 90 * time.Minute, tenantClaim: "tid"},
	"cognito": {Types: []string{""}, AudienceClaim: "client_id", RequireValue: map[string]string{"token_use": "access"},
		RoleClaims: [][]string{{"cognito:groups"}}},
	"okta":     {Types: []string{""}, Require: []string{"cid"}, Refuse: idTokenMarks, ScopeClaims: []string{"scp"}},
	"firebase": {Types: []string{"JWT"}, Require: []string{"firebase"}},
	"supabase": {Types: []string{"JWT"}, Require: []string{"session_id"}},
	"clerk": {Types: []string{"JWT"}, IgnoredHeaders: []string{"cat"}, AudienceClaim: "azp",
		Require: []string{"sid"}},
	"zitadel": {Types: []string{"JWT", accessTokenType}, Require: []string{"jti"}, Refuse: idTokenMarks},
}

// profileRules is a checked Profile, as the verifier applies it. A nil
// *profileRules is the kit's own profile: RFC 9068, with "ver" read as the
// token version.
type profileRules struct {
	name          string
	types         []string
	headers       []string
	audClaim      string // "" for "aud"
	require       []string
	requireValue  map[string]string
	refuse        []string
	scopeClaims   []string
	roleClaims    [][]string
	maxLifetime   time.Duration
	tenantClaim   string
	readsClaim    map[string]bool // every claim name the rules look at
	relaxedTyping bool
}

// rules checks p and compiles it.
func (p Profile) rules() (*profileRules, error) {
	if slices.Contains(p.Types, unknownPreset) {
		return nil, fmt.Errorf("unknown profile preset %q", p.Name)
	}
	r := &profileRules{name: p.Name, types: []string{accessTokenType}, audClaim: p.AudienceClaim,
		require: p.Require, refuse: p.Refuse, scopeClaims: []string{"scope"}, maxLifetime: p.MaxLifetime,
		tenantClaim: p.tenantClaim, readsClaim: make(map[string]bool)}
	if r.name == "" {
		r.name = "custom"
	}
	var errs []error
	if len(p.Types) > 0 {
		r.types = nil
		for _, t := range p.Types {
			r.types = append(r.types, strings.TrimPrefix(strings.ToLower(t), "application/"))
		}
	}
	for _, t := range r.types {
		r.relaxedTyping = r.relaxedTyping || t != accessTokenType
	}
	for _, h := range p.IgnoredHeaders {
		switch h {
		case "alg", "typ", "kid", "crit", "jku", "jwk", "x5u", "x5c", "b64", "zip", "enc", "cty":
			errs = append(errs, fmt.Errorf("header %q cannot be ignored", h))
		}
	}
	r.headers = p.IgnoredHeaders
	switch p.AudienceClaim {
	case "", "aud":
		r.audClaim = ""
	case "iss", "sub", "exp", "iat", "nbf", "jti", "scope":
		errs = append(errs, fmt.Errorf("AudienceClaim %q cannot hold audiences", p.AudienceClaim))
	}
	if len(p.RequireValue) > 0 {
		r.requireValue = make(map[string]string, len(p.RequireValue))
		for k, v := range p.RequireValue {
			r.requireValue[k] = v
		}
	}
	if len(p.ScopeClaims) > 0 {
		r.scopeClaims = p.ScopeClaims
	}
	for _, path := range p.RoleClaims {
		if len(path) == 0 || slices.Contains(path, "") {
			errs = append(errs, fmt.Errorf("profile %q: RoleClaims path %q has an empty name", r.name, path))
			continue
		}
		r.roleClaims = append(r.roleClaims, slices.Clone(path))
		r.readsClaim[path[0]] = true
	}
	if r.relaxedTyping && len(p.Require)+len(p.RequireValue)+len(p.Refuse) == 0 {
		errs = append(errs, fmt.Errorf("profile %q accepts typ %q but has no rule (Require, RequireValue, Refuse) that tells ID tokens from access tokens", r.name, r.types))
	}
	if p.MaxLifetime < 0 {
		errs = append(errs, fmt.Errorf("profile %q: negative MaxLifetime", r.name))
	}
	for _, n := range slices.Concat(p.Require, p.Refuse, r.scopeClaims, []string{r.audClaim}) {
		r.readsClaim[n] = true
	}
	for n := range r.requireValue {
		r.readsClaim[n] = true
	}
	delete(r.readsClaim, "")
	if slices.ContainsFunc(p.Refuse, func(n string) bool { return slices.Contains(p.Require, n) || p.RequireValue[n] != "" }) {
		errs = append(errs, fmt.Errorf("profile %q both requires and refuses a claim", r.name))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return r, nil
}

// typeOK reports whether typ (present or not) is one the profile accepts.
func (r *profileRules) typeOK(typ string, has bool) bool {
	if !has {
		return slices.Contains(r.types, "")
	}
	return typ != "" && slices.Contains(r.types, strings.TrimPrefix(strings.ToLower(typ), "application/"))
}

// profileState is what the profile's checks collect while the claims are
// parsed.
type profileState struct {
	audOK   bool
	present int // how many of the required claims were seen
	values  int // how many of the required values matched
}

// claim applies the profile's rules to one claim of a token.
func (r *profileRules) claim(st *profileState, c *Claims, audiences []string, name string, value []byte) error {
	if !r.readsClaim[name] {
		return nil
	}
	if slices.Contains(r.refuse, name) {
		return fmt.Errorf("claim %q is refused by profile %q (an ID token?)", name, r.name)
	}
	if slices.Contains(r.require, name) {
		st.present++
	}
	if want, ok := r.requireValue[name]; ok {
		got, err := jsonString(value)
		if err != nil || got != want {
			return fmt.Errorf("claim %q must be %q (profile %q)", name, want, r.name)
		}
		st.values++
	}
	if name == r.audClaim {
		found := false
		err := forStrings(value, func(s string) { found = found || slices.Contains(audiences, s) })
		if err != nil {
			return fmt.Errorf("claim %q: %w", name, err)
		}
		st.audOK = found
	}
	for _, path := range r.roleClaims {
		if path[0] == name {
			if err := collectRoles(c, value, path[1:]); err != nil {
				return fmt.Errorf("claim %q: %w", strings.Join(path, "."), err)
			}
		}
	}
	if slices.Contains(r.scopeClaims, name) {
		err := forStrings(value, func(s string) {
			for _, f := range strings.Fields(s) {
				c.granted = append(c.granted, f)
			}
		})
		if err != nil {
			return fmt.Errorf("claim %q: %w", name, err)
		}
	}
	return nil
}

// finish reports what the profile's rules found missing once every claim was
// seen.
func (r *profileRules) finish(st *profileState) error {
	switch {
	case st.present != len(r.require):
		return fmt.Errorf("a claim profile %q requires (%s) is missing", r.name, strings.Join(r.require, ", "))
	case st.values != len(r.requireValue):
		return fmt.Errorf("a claim profile %q requires by value is missing", r.name)
	}
	return nil
}

// collectRoles adds to c's roles those at path inside value: value itself
// when path is empty, else the member path[0] of the object value, and so
// on. A missing member grants no role; a value of another shape refuses the
// token.
func collectRoles(c *Claims, value []byte, path []string) error {
	for _, name := range path {
		var found []byte
		err := parseObject(value, func(n string, v []byte) error {
			if n == name {
				found = v
			}
			return nil
		})
		if err != nil {
			return err
		}
		if found == nil {
			return nil
		}
		value = found
	}
	return forStrings(value, func(s string) { c.roles = append(c.roles, s) })
}

// forStrings calls fn with value, a JSON string, or with each member of value,
// an array of strings.
func forStrings(value []byte, fn func(string)) error {
	if len(value) > 0 && value[0] == '"' {
		s, err := jsonString(value)
		if err != nil {
			return err
		}
		fn(s)
		return nil
	}
	if len(value) == 0 || value[0] != '[' {
		return errors.New("neither a string nor an array of strings")
	}
	return forEachElement(value, func(v []byte) error {
		s, err := jsonString(v)
		if err != nil {
			return errors.New("array member is not a string")
		}
		fn(s)
		return nil
	})
}
