package authkit

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"
)

// fetchedJWT is NewJWT followed by the end of the first fetch of every key
// set: it returns that fetch's error, as NewJWT did before it stopped
// waiting for the network. The tests of what a fetch accepts use it.
func fetchedJWT[U any](toUser func(context.Context, *Claims) (U, error), opts ...Option) (*JWT[U], error) {
	j, err := NewJWT(toUser, opts...)
	if err != nil {
		return nil, err
	}
	deadline := time.Now().Add(20 * time.Second)
	for _, v := range j.issuers() {
		d, ok := v.keys.(*discoverySource)
		for ok && d.src.Load() == nil && *d.lastErr.Load() == notFetchedYet && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
	}
	if err := j.Ready(); err != nil {
		return nil, err
	}
	return j, nil
}

// TestJWKSURLStartsWhileDown: NewJWT with WithJWKSURL needs no network;
// until the first fetch, tokens get 503 with Retry-After (never 200, never
// the handler) and Ready reports ErrNotReady; once the endpoint answers, the
// same token verifies without a new NewJWT.
func TestJWKSURLStartsWhileDown(t *testing.T) {
	a := newTestSigner(t, "a")
	srv := newJWKSServer(t, jwksOf(t, a))
	srv.fail(http.StatusServiceUnavailable)
	clock := newTestClock(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	j, err := NewJWT(func(_ context.Context, c *Claims) (string, error) { return c.Subject, nil },
		WithIssuer("https://issuer.test"), WithAudience("api"), WithClock(clock.Now),
		WithJWKSURL(t.Context(), srv.URL+"/jwks.json"), WithHTTPClient(srv.Client()))
	if err != nil {
		t.Fatalf("NewJWT with the JWKS endpoint down: %v", err)
	}
	if err := j.Ready(); !errors.Is(err, ErrNotReady) {
		t.Fatalf("Ready() = %v, want ErrNotReady", err)
	}
	tok := a.token(t, clock.Now(), "")
	h := Require[string](j)(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { t.Error("handler called") }))
	rec := serveBearer(h, tok)
	if rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") == "" {
		t.Fatalf("before the keys: %d Retry-After %q, want 503 with Retry-After", rec.Code, rec.Header().Get("Retry-After"))
	}
	srv.set(jwksOf(t, a)) // the endpoint recovers
	deadline := time.Now().Add(10 * time.Second)
	for j.Ready() != nil {
		if time.Now().After(deadline) {
			t.Fatalf("not ready: %v", j.Ready())
		}
		time.Sleep(5 * time.Millisecond)
	}
	wantAccepted(t, j, tok, "key a once fetched")
}
