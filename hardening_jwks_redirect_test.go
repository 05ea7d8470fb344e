package authkit

// Issue 10, item 6: the JWKS fetch does not follow a redirect to another
// origin (scheme, host and port), over http or https; a redirect within the
// configured origin still works.

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
)

func TestHardeningJWKSCrossOriginRedirectRefused(t *testing.T) {
	a := newTestSigner(t, "a")
	clock := newTestClock(testNow)
	newJWT := func(url string, opts ...Option) (*JWT[string], error) {
		return fetchedJWT(func(_ context.Context, c *Claims) (string, error) { return c.Subject, nil },
			append([]Option{WithIssuer("https://issuer.test"), WithAudience("api"), WithClock(clock.Now),
				WithJWKSURL(t.Context(), url)}, opts...)...)
	}
	for _, tls := range []bool{false, true} {
		name := map[bool]string{false: "http", true: "https"}[tls]
		t.Run(name, func(t *testing.T) {
			start := httptest.NewServer
			if tls {
				start = httptest.NewTLSServer
			}
			// The attacker's server, which serves a set of its own.
			var targetHits atomic.Int64
			target := start(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				targetHits.Add(1)
				w.Write(jwksOf(t, a))
			}))
			defer target.Close()
			// The configured server: /moved redirects to the other origin,
			// /old within its own.
			origin := start(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				switch r.URL.Path {
				case "/moved":
					http.Redirect(w, r, target.URL+"/jwks.json", http.StatusFound)
				case "/old":
					http.Redirect(w, r, "/jwks.json", http.StatusMovedPermanently)
				default:
					w.Write(jwksOf(t, a))
				}
			}))
			defer origin.Close()
			opts := []Option{WithHTTPClient(origin.Client())} // trusts both test servers
			if !tls {
				opts = append(opts, WithInsecureJWKSURL())
			}

			_, err := newJWT(origin.URL+"/moved", opts...)
			if err == nil {
				t.Error("NewJWT followed a redirect to another origin and trusted its keys")
			} else if !strings.Contains(err.Error(), "redirect") {
				t.Errorf("error %q does not mention the redirect", err)
			}
			if n := targetHits.Load(); n != 0 {
				t.Errorf("the other origin got %d requests, want 0", n)
			}

			j, err := newJWT(origin.URL+"/old", opts...)
			if err != nil {
				t.Fatalf("a redirect within the origin: %v", err)
			}
			wantAccepted(t, j, a.token(t, clock.Now(), ""), "key a via a same-origin redirect")
		})
	}
}
