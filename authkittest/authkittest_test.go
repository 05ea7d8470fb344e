package authkittest_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/authkit-go/authkit"
	"github.com/authkit-go/authkit/authkittest"
)

var presets = []string{"rfc9068", "auth0", "keycloak", "entra", "entra-v1", "cognito", "okta", "firebase", "supabase", "clerk", "zitadel"}

// guarded returns a handler behind Require with opts, answering the
// subject, and the JWT it verifies with, once ready.
func guarded(t *testing.T, jwtOpts []authkit.Option, guardOpts ...authkit.Option) http.Handler {
	t.Helper()
	j, err := authkit.NewJWT(func(_ context.Context, c *authkit.Claims) (string, error) { return c.Subject, nil }, jwtOpts...)
	if err != nil {
		t.Fatal(err)
	}
	if err := authkittest.WaitReady(j); err != nil {
		t.Fatal(err)
	}
	return authkit.Require(j, guardOpts...)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, _ := authkit.UserFrom[string](r.Context())
		w.Write([]byte(u))
	}))
}

func status(h http.Handler, token string) (int, string) {
	r := httptest.NewRequest("GET", "/", nil)
	r.Header.Set("Authorization", "Bearer "+token)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w.Code, w.Body.String()
}

// TestPresetRoundTrips: each preset's access token is accepted through
// Require on that preset, and its ID-token twin, an expired token, a token
// for another audience, a flipped signature, a token signed by another
// provider's key and one without sub are refused (401).
func TestPresetRoundTrips(t *testing.T) {
	other := authkittest.NewProvider("rfc9068", "api")
	defer other.Close()
	for _, name := range presets {
		t.Run(name, func(t *testing.T) {
			p := authkittest.NewProvider(name, "api")
			defer p.Close()
			h := guarded(t, p.Options(t.Context()))
			if code, body := status(h, p.AccessToken("alice")); code != 200 || body != "alice" {
				t.Fatalf("access token: %d %q", code, body)
			}
			access := p.AccessToken("alice")
			flipped := []byte(access)
			i := strings.LastIndexByte(access, '.') + 5
			flipped[i] = map[bool]byte{true: 'B', false: 'A'}[flipped[i] == 'A']
			for what, tok := range map[string]string{
				"flipped signature": string(flipped),
				"ID token":          p.IDToken("alice"),
				"expired":           p.AccessToken("alice", authkittest.Expired()),
				"another audience":  p.AccessToken("alice", authkittest.Audience("other-api")),
				"another provider":  other.AccessToken("alice", authkittest.Claim("iss", p.Issuer)),
				"no sub":            p.AccessToken("alice", authkittest.Claim("sub", nil)),
			} {
				if code, _ := status(h, tok); code != http.StatusUnauthorized {
					t.Errorf("%s: %d, want 401", what, code)
				}
			}
		})
	}
}

// TestPresetRefusedOnRFC9068: every dialect but RFC 9068's own is refused
// by a verifier that trusts the same provider under the default profile.
func TestPresetRefusedOnRFC9068(t *testing.T) {
	for _, name := range presets[1:] {
		t.Run(name, func(t *testing.T) {
			p := authkittest.NewProvider(name, "api")
			defer p.Close()
			h := guarded(t, []authkit.Option{
				authkit.WithTrustedIssuer(t.Context(), authkit.TrustedIssuer{Issuer: p.Issuer, Audiences: []string{"api"}}),
				authkit.WithInsecureJWKSURL(),
			})
			if code, _ := status(h, p.AccessToken("alice")); code != http.StatusUnauthorized {
				t.Fatalf("%s token on rfc9068: %d, want 401", name, code)
			}
		})
	}
}

// TestPresetScopes: Scopes lands where each preset reads scopes, so that
// WithScopes lets the token through, and refuses one without (403).
func TestPresetScopes(t *testing.T) {
	for _, name := range presets {
		t.Run(name, func(t *testing.T) {
			p := authkittest.NewProvider(name, "api")
			defer p.Close()
			h := guarded(t, p.Options(t.Context()), authkit.WithScopes("read"))
			if code, _ := status(h, p.AccessToken("alice", authkittest.Scopes("read", "write"))); code != 200 {
				t.Errorf("with scope: %d", code)
			}
			if code, _ := status(h, p.AccessToken("alice", authkittest.Scopes("write"))); code != http.StatusForbidden {
				t.Errorf("without scope: %d, want 403", code)
			}
		})
	}
}

// TestTLSProvider: over https, with the provider's client, tokens verify;
// the kit's default client does not trust the test certificate.
func TestTLSProvider(t *testing.T) {
	p := authkittest.NewTLSProvider("keycloak", "api")
	defer p.Close()
	h := guarded(t, p.Options(t.Context()))
	if code, _ := status(h, p.AccessToken("bob")); code != 200 {
		t.Fatalf("TLS provider: %d", code)
	}
}

// TestClaim: Claim adds claims the handler can read, and replaces the
// dialect's.
func TestClaim(t *testing.T) {
	p := authkittest.NewProvider("rfc9068", "api")
	defer p.Close()
	j, err := authkit.NewJWT(func(_ context.Context, c *authkit.Claims) (*authkit.Claims, error) { return c, nil }, p.Options(t.Context())...)
	if err != nil {
		t.Fatal(err)
	}
	if err := authkittest.WaitReady(j); err != nil {
		t.Fatal(err)
	}
	r := httptest.NewRequest("GET", "/", nil)
	r.Header.Set("Authorization", "Bearer "+p.AccessToken("alice", authkittest.Claim("tenant", "t1"), authkittest.Claim("client_id", "c2")))
	c, err := j.Authenticate(r)
	if err != nil {
		t.Fatal(err)
	}
	var tenant string
	if ok, err := c.DecodeExtra("tenant", &tenant); !ok || err != nil || tenant != "t1" || c.ClientID != "c2" {
		t.Fatalf("tenant %q (%v, %v), client_id %q", tenant, ok, err, c.ClientID)
	}
}

func TestUnknownPresetPanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("no panic")
		}
	}()
	authkittest.NewProvider("nonesuch", "api")
}
