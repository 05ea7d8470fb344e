package authkit

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// provider is an OpenID provider on httptest: discovery and a JWK Set.
type provider struct {
	*httptest.Server
	signer  testSigner
	issuer  string       // the issuer it announces; default its URL
	openid  atomic.Bool  // serve the OpenID document (else 404, RFC 8414 only)
	down    atomic.Bool  // answer 503 to everything
	docHits atomic.Int64 // discovery requests
}

func newProvider(t *testing.T, tls bool, kid string) *provider {
	t.Helper()
	p := &provider{signer: newTestSigner(t, kid)}
	p.openid.Store(true)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p.down.Load() {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		iss := p.issuer
		if iss == "" {
			iss = p.URL
		}
		switch {
		case r.URL.Path == wellKnownOpenID && p.openid.Load(),
			strings.HasPrefix(r.URL.Path, wellKnownOAuthServer) && !p.openid.Load():
			p.docHits.Add(1)
			fmt.Fprintf(w, `{"issuer":%q,"jwks_uri":%q}`, iss, p.URL+"/jwks")
		case r.URL.Path == "/jwks":
			w.Write(jwksOf(t, p.signer))
		default:
			http.NotFound(w, r)
		}
	})
	if tls {
		p.Server = httptest.NewTLSServer(h)
	} else {
		p.Server = httptest.NewServer(h)
	}
	t.Cleanup(p.Close)
	return p
}

// token signs an at+jwt for the provider's issuer (or iss).
func (p *provider) token(t *testing.T, iss, aud string, s testSigner) string {
	t.Helper()
	if iss == "" {
		iss = p.URL
	}
	h := fmt.Sprintf(`{"alg":"ES256","typ":"at+jwt","kid":%q}`, s.kid)
	c := fmt.Sprintf(`{"iss":%q,"sub":"alice","aud":%q,"exp":%d,"iat":%d}`, iss, aud, testNow.Add(5*time.Minute).Unix(), testNow.Unix())
	return buildToken(h, c, signES(s.key))
}

func trustedJWT(t *testing.T, opts ...Option) *JWT[string] {
	t.Helper()
	j, err := NewJWT(func(_ context.Context, c *Claims) (string, error) { return c.Subject, nil },
		append([]Option{WithClock(fixedClock)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return j
}

// waitReady waits until j is ready, or fails.
func waitReady(t *testing.T, j *JWT[string]) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for j.Ready() != nil {
		if time.Now().After(deadline) {
			t.Fatalf("not ready: %v", j.Ready())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestTrustedIssuerDiscovery(t *testing.T) {
	p := newProvider(t, true, "k1")
	j := trustedJWT(t, WithHTTPClient(p.Client()),
		WithTrustedIssuer(t.Context(), TrustedIssuer{Issuer: p.URL, Audiences: []string{"api", "api2"}}))
	waitReady(t, j)
	for _, aud := range []string{"api", "api2"} {
		if sub, err := authenticate(j, p.token(t, "", aud, p.signer)); err != nil || sub != "alice" {
			t.Fatalf("aud %s: %q %v", aud, sub, err)
		}
	}
	if _, err := authenticate(j, p.token(t, "", "other", p.signer)); !errors.Is(err, ErrInvalidToken) {
		t.Fatalf("another audience: %v", err)
	}
	if _, err := authenticate(j, p.token(t, "https://evil.example", "api", p.signer)); !errors.Is(err, ErrInvalidToken) {
		t.Fatalf("another issuer: %v", err)
	}
}

// TestTrustedIssuerNotReady: construction needs no network; until the keys
// are there, tokens get ErrNotReady (503, Retry-After), never 200; then they
// verify.
func TestTrustedIssuerNotReady(t *testing.T) {
	p := newProvider(t, true, "k1")
	p.down.Store(true)
	j := trustedJWT(t, WithHTTPClient(p.Client()),
		WithTrustedIssuer(t.Context(), TrustedIssuer{Issuer: p.URL, Audiences: []string{"api"}}))
	if err := j.Ready(); !errors.Is(err, ErrNotReady) {
		t.Fatalf("Ready() = %v, want ErrNotReady", err)
	}
	h := Require[string](j)(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { t.Error("handler called") }))
	rec := serveBearer(h, p.token(t, "", "api", p.signer))
	if rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") == "" {
		t.Fatalf("before the keys: %d Retry-After %q, want 503 with Retry-After", rec.Code, rec.Header().Get("Retry-After"))
	}
	p.down.Store(false)
	waitReady(t, j)
	if _, err := authenticate(j, p.token(t, "", "api", p.signer)); err != nil {
		t.Fatal(err)
	}
}

func TestTrustedIssuerDiscoveryRefusals(t *testing.T) {
	t.Run("issuer mismatch", func(t *testing.T) {
		p := newProvider(t, true, "k1")
		p.issuer = p.URL + "/" // not exactly equal
		j := trustedJWT(t, WithHTTPClient(p.Client()),
			WithTrustedIssuer(t.Context(), TrustedIssuer{Issuer: p.URL, Audiences: []string{"api"}}))
		for p.docHits.Load() == 0 {
			time.Sleep(5 * time.Millisecond)
		}
		time.Sleep(20 * time.Millisecond)
		if err := j.Ready(); !errors.Is(err, ErrNotReady) || !strings.Contains(err.Error(), "is not the configured") {
			t.Fatalf("Ready() = %v", err)
		}
		if _, err := authenticate(j, p.token(t, "", "api", p.signer)); !errors.Is(err, ErrNotReady) {
			t.Fatalf("%v", err)
		}
	})
	t.Run("RFC 8414 fallback with a path", func(t *testing.T) {
		p := newProvider(t, true, "k1")
		p.openid.Store(false)
		p.issuer = p.URL + "/tenant"
		j := trustedJWT(t, WithHTTPClient(p.Client()),
			WithTrustedIssuer(t.Context(), TrustedIssuer{Issuer: p.issuer, Audiences: []string{"api"}}))
		waitReady(t, j)
		if _, err := authenticate(j, p.token(t, p.issuer, "api", p.signer)); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("http without the opt-in", func(t *testing.T) {
		p := newProvider(t, false, "k1")
		_, err := NewJWT(func(_ context.Context, c *Claims) (string, error) { return c.Subject, nil },
			WithTrustedIssuer(t.Context(), TrustedIssuer{Issuer: p.URL, Audiences: []string{"api"}}))
		if err == nil || !strings.Contains(err.Error(), "not https") {
			t.Fatalf("%v", err)
		}
	})
	t.Run("http on loopback with the opt-in", func(t *testing.T) {
		p := newProvider(t, false, "k1")
		j := trustedJWT(t, WithInsecureJWKSURL(),
			WithTrustedIssuer(t.Context(), TrustedIssuer{Issuer: p.URL, Audiences: []string{"api"}}))
		waitReady(t, j)
	})
	t.Run("http off loopback even with the opt-in", func(t *testing.T) {
		_, err := NewJWT(func(_ context.Context, c *Claims) (string, error) { return c.Subject, nil }, WithInsecureJWKSURL(),
			WithTrustedIssuer(t.Context(), TrustedIssuer{Issuer: "http://idp.example", Audiences: []string{"api"}}))
		if err == nil || !strings.Contains(err.Error(), "loopback") {
			t.Fatalf("%v", err)
		}
	})
	t.Run("cross-origin redirect", func(t *testing.T) {
		p := newProvider(t, true, "k1")
		front := httptest.NewTLSServer(http.RedirectHandler(p.URL+wellKnownOpenID, http.StatusFound))
		t.Cleanup(front.Close)
		p.issuer = front.URL
		j := trustedJWT(t, WithHTTPClient(front.Client()),
			WithTrustedIssuer(t.Context(), TrustedIssuer{Issuer: front.URL, Audiences: []string{"api"}}))
		time.Sleep(50 * time.Millisecond)
		if err := j.Ready(); err == nil || !strings.Contains(err.Error(), "another origin") {
			t.Fatalf("Ready() = %v", err)
		}
		if p.docHits.Load() != 0 {
			t.Fatal("the redirect was followed")
		}
	})
	t.Run("configuration", func(t *testing.T) {
		for name, ti := range map[string]TrustedIssuer{
			"no audience": {Issuer: "https://idp.example"},
			"query":       {Issuer: "https://idp.example?x=1", Audiences: []string{"a"}},
			"relative":    {Issuer: "idp.example", Audiences: []string{"a"}},
			"bad profile": {Issuer: "https://idp.example", Audiences: []string{"a"}, Profile: Preset("nope")},
			"audience x2": {Issuer: "https://idp.example", Audiences: []string{"a", "a"}},
		} {
			if _, err := NewJWT(func(_ context.Context, c *Claims) (string, error) { return "", nil },
				WithTrustedIssuer(t.Context(), ti)); err == nil {
				t.Errorf("%s: accepted", name)
			}
		}
	})
}

// TestSeveralIssuers: the token's iss picks the issuer, and only that
// issuer's keys verify it (RFC 8725 §3.8), even under the same kid.
func TestSeveralIssuers(t *testing.T) {
	a := newProvider(t, true, "same")
	b := newProvider(t, true, "same")
	client := a.Client() // both httptest TLS servers share the test CA
	k := testKeys()
	j := trustedJWT(t, WithHTTPClient(client),
		WithIssuer(testIssuer), WithAudience(testAudience), WithKey("k1", &k.ec256.PublicKey),
		WithTrustedIssuer(t.Context(), TrustedIssuer{Issuer: a.URL, Audiences: []string{"api-a"}}),
		WithTrustedIssuer(t.Context(), TrustedIssuer{Issuer: b.URL, Audiences: []string{"api-b"}, Profile: Preset("zitadel")}))
	waitReady(t, j)
	if _, err := authenticate(j, a.token(t, "", "api-a", a.signer)); err != nil {
		t.Fatalf("A: %v", err)
	}
	if _, err := authenticate(j, baseToken()); err != nil {
		t.Fatalf("the kit's own: %v", err)
	}
	for name, tok := range map[string]string{
		"A's token signed with B's key":    a.token(t, "", "api-a", b.signer),
		"B's iss signed with A's key":      a.token(t, b.URL, "api-b", a.signer),
		"B's token under A's audience":     b.token(t, "", "api-a", b.signer),
		"an untrusted issuer":              a.token(t, "https://evil.example", "api-a", a.signer),
		"the kit's iss with A's key":       a.token(t, testIssuer, testAudience, a.signer),
		"B's token lacking its jti (rule)": b.token(t, "", "api-b", b.signer),
	} {
		if _, err := authenticate(j, tok); !errors.Is(err, ErrInvalidToken) {
			t.Errorf("%s: %v, want refused", name, err)
		}
	}
	if err := j.Ready(); err != nil {
		t.Fatal(err)
	}
}
