package authkit

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

// BenchmarkRequireProfile is Require with an HS256 token (the cheapest
// signature, so that parsing and the profile's checks show) in the dialect
// of each profile: the kit's own (no profile), Preset("rfc9068") and the
// presets with the most rules (Keycloak: typ JWT, a payload typ, nested
// roles; Entra: an ignored header, ver, scp and roles; Cognito: no typ, the
// audience in client_id), each with the verified-token cache on (the same
// token again: a profile must cost nothing there) and off. Compare with
//
//	benchstat -col /profile
func BenchmarkRequireProfile(b *testing.B) {
	k := testKeys()
	for _, cache := range []string{"on", "off"} {
		for _, name := range []string{"own", "rfc9068", "keycloak", "entra", "cognito"} {
			b.Run("cache="+cache+"/profile="+name, func(b *testing.B) {
				opts := []Option{WithKey("k1", k.hmac)}
				h, c := headerFor("HS256", "k1"), baseClaims()
				if name != "own" {
					p := Preset(name)
					opts = append(opts, WithProfile(p))
					h, c = presetDialect(p, h, c)
					switch name {
					case "keycloak":
						c = c.set("realm_access", `{"roles":["offline_access","uma_authorization","default-roles-myrealm"]}`).
							set("scope", q("openid email profile"))
					case "entra":
						h = h.set("x5t", q("i6lGk3FZzxRcUb2C3nEQ7syHJlY"))
						c = c.set("scp", q("access_as_user")).set("roles", `["Orders.Admin"]`)
					}
				}
				if cache == "off" {
					opts = append(opts, WithTokenCacheSize(0))
				}
				j := newTestJWT(b, opts...)
				token := buildToken(h.String(), c.String(), signHS256(k.hmac))
				handler := Require[*testUser](j)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					if u, ok := UserFrom[*testUser](r.Context()); !ok || u.ID != "alice" {
						w.WriteHeader(http.StatusInternalServerError)
					}
				}))
				req := bearerRequest(token)
				var rec *httptest.ResponseRecorder
				b.ReportAllocs()
				for b.Loop() {
					rec = httptest.NewRecorder()
					handler.ServeHTTP(rec, req)
				}
				if rec.Code != http.StatusOK {
					b.Fatalf("status %d", rec.Code)
				}
			})
		}
	}
}
