package authkit

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// The option rules every constructor follows, and what the shared options
// reach.

func newOptionsIssuer(t *testing.T, opts ...Option) *Issuer {
	t.Helper()
	key := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{3}, ed25519.SeedSize))
	store := NewMemoryStore("alice")
	iss, err := NewIssuer("https://auth.test", "api", key, store, store.Version, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return iss
}

func TestOptionGivenTwiceNamesBoth(t *testing.T) {
	toUser := func(_ context.Context, c *Claims) (string, error) { return c.Subject, nil }
	key := WithKey("k", []byte("q7Vx2LmN9pRt4WsK8dZc3FhJ6bYg1TeA")) // random: WithKey refuses patterns
	_, err := NewJWT(toUser, WithIssuer("https://a.test"), WithIssuer("https://b.test"), WithAudience("api"), key)
	if err == nil || !strings.Contains(err.Error(), `"https://a.test"`) || !strings.Contains(err.Error(), `"https://b.test"`) {
		t.Errorf("WithIssuer twice: %v; want an error naming both values", err)
	}
	_, err = NewJWT(toUser, WithIssuer("https://a.test"), WithAudience("api"), key, WithLeeway(time.Second), WithLeeway(2*time.Second))
	if err == nil || !strings.Contains(err.Error(), "WithLeeway(2s) given after WithLeeway(1s)") {
		t.Errorf("WithLeeway twice: %v", err)
	}
	_, err = NewJWT(toUser, WithIssuer("https://a.test"), WithAudience("api"), key, WithClock(time.Now), WithClock(time.Now))
	if err == nil || !strings.Contains(err.Error(), "WithClock") {
		t.Errorf("WithClock twice: %v", err)
	}
	// WithAudience and WithKey add values; the same audience twice is a mistake.
	if _, err := NewJWT(toUser, WithIssuer("https://a.test"), WithAudience("api"), WithAudience("api2"), key); err != nil {
		t.Errorf("two audiences: %v", err)
	}
	if _, err := NewJWT(toUser, WithIssuer("https://a.test"), WithAudience("api"), WithAudience("api"), key); err == nil {
		t.Error("the same audience twice was accepted")
	}
}

func TestOptionForAnotherConstructor(t *testing.T) {
	sm := NewSessionManager(nil)
	loadUser := func(context.Context, string) (string, error) { return "", nil }
	_, err := NewSession(sm, loadUser, WithLeeway(time.Second))
	if err == nil || !strings.Contains(err.Error(), "WithLeeway applies to NewJWT only") {
		t.Errorf("NewSession with WithLeeway: %v", err)
	}
	_, err = NewVersionCache(NewMemoryStore(), WithErrorHandler(DefaultErrorHandler))
	if err == nil || !strings.Contains(err.Error(), "WithErrorHandler applies to NewSession, NewIssuer, Require and Optional only") {
		t.Errorf("NewVersionCache with WithErrorHandler: %v", err)
	}
	if _, err := NewVersionCache(NewMemoryStore(), Option{}); err == nil || !strings.Contains(err.Error(), "zero Option") {
		t.Errorf("zero Option: %v", err)
	}
	defer func() {
		if recover() == nil {
			t.Error("Require with a session option did not panic at construction")
		}
	}()
	Require[string](AuthenticatorFunc[string](func(*http.Request) (string, error) { return "", nil }), WithSessionIdleTimeout(time.Minute))
}

func TestOptionsThatContradict(t *testing.T) {
	iss := newOptionsIssuer(t)
	toUser := func(_ context.Context, c *Claims) (string, error) { return c.Subject, nil }
	_, err := NewJWT(toUser, WithTokensFrom(iss), WithIssuer("https://other.test"))
	if err == nil || !strings.Contains(err.Error(), `WithIssuer("https://other.test") contradicts WithTokensFrom, whose issuer is "https://auth.test"`) {
		t.Errorf("WithTokensFrom with another issuer: %v", err)
	}
	_, err = NewJWT(toUser, WithTokensFrom(iss), WithJWKSURL(t.Context(), "https://idp.test/jwks"))
	if err == nil || !strings.Contains(err.Error(), "cannot be combined") {
		t.Errorf("WithTokensFrom with WithJWKSURL: %v", err)
	}
	_, err = NewJWT(toUser, WithTokensFrom(iss), WithInsecureJWKSURL())
	if err == nil || !strings.Contains(err.Error(), "WithInsecureJWKSURL needs WithJWKSURL") {
		t.Errorf("a JWKS option without WithJWKSURL: %v", err)
	}
}

// TestClaimsNotSharedBetweenRequests: with the token cache on (the default),
// a toUser or handler that changes its Claims changes them for no other
// request carrying the same token, also when requests do so concurrently.
func TestClaimsNotSharedBetweenRequests(t *testing.T) {
	iss := newOptionsIssuer(t)
	pair, err := iss.Issue(context.Background(), "alice")
	if err != nil {
		t.Fatal(err)
	}
	jwt, err := NewJWT(func(_ context.Context, c *Claims) (string, error) {
		sub := c.Subject
		c.Subject = "mallory"
		c.Audience[0] = "elsewhere"
		c.Audience = append(c.Audience, "more")
		return sub, nil
	}, WithTokensFrom(iss))
	if err != nil {
		t.Fatal(err)
	}
	h := Require(jwt)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, _ := UserFrom[string](r.Context())
		c, _ := ClaimsFrom(r.Context())
		c.ID = "changed by a handler"
		_, _ = w.Write([]byte(u))
	}))
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 50 {
				r := httptest.NewRequest("GET", "/", nil)
				r.Header.Set("Authorization", "Bearer "+pair.AccessToken)
				w := httptest.NewRecorder()
				h.ServeHTTP(w, r)
				if w.Code != 200 || w.Body.String() != "alice" {
					t.Errorf("got %d %q, want 200 alice", w.Code, w.Body.String())
					return
				}
			}
		})
	}
	wg.Wait()
	if jwt.cache.len() != 1 {
		t.Fatalf("cache holds %d tokens, want 1 (the hits were not cache hits)", jwt.cache.len())
	}
	for _, e := range jwt.cache.entries {
		if e.claims.Subject != "alice" || len(e.claims.Audience) != 1 || e.claims.Audience[0] != "api" || e.claims.ID == "changed by a handler" {
			t.Errorf("cached claims changed: %+v", e.claims)
		}
	}
}

// TestErrorHandlerReachesEveryResponse: WithErrorHandler given to NewSession
// answers LoadAndSave's refusals, and given to NewIssuer its endpoints'.
func TestErrorHandlerReachesEveryResponse(t *testing.T) {
	var got []error
	record := func(w http.ResponseWriter, r *http.Request, err error) {
		got = append(got, err)
		w.WriteHeader(http.StatusTeapot)
	}
	iss := newOptionsIssuer(t, WithErrorHandler(record))
	r := httptest.NewRequest("POST", "/token/refresh", strings.NewReader(`{"refresh_token":"not-a-token"}`))
	r.Header.Set("Content-Type", "application/json")
	w := httptest.NewRecorder()
	iss.RefreshHandler().ServeHTTP(w, r)
	if w.Code != http.StatusTeapot || len(got) != 1 || !errors.Is(got[0], ErrInvalidToken) {
		t.Errorf("refresh: %d, errors %v", w.Code, got)
	}

	got = nil
	sessions, err := NewSession(NewSessionManager(nil), func(context.Context, string) (string, error) { return "", nil }, WithErrorHandler(record))
	if err != nil {
		t.Fatal(err)
	}
	called := false
	h := sessions.LoadAndSave(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { called = true }))
	r = httptest.NewRequest("POST", "https://app.test/login", nil)
	r.Header.Set("Sec-Fetch-Site", "cross-site")
	w = httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if w.Code != http.StatusTeapot || called || len(got) != 1 || !errors.Is(got[0], ErrCrossOrigin) {
		t.Errorf("LoadAndSave cross-site: %d, handler called %v, errors %v", w.Code, called, got)
	}
}

// TestCrossOriginProtectionReachesTheRefreshCookie: an origin trusted on the
// configured protection may refresh with the cookie; the default refuses it.
func TestCrossOriginProtectionReachesTheRefreshCookie(t *testing.T) {
	cop := http.NewCrossOriginProtection()
	if err := cop.AddTrustedOrigin("https://app.test"); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		opts []Option
		want int
	}{
		{"default", nil, http.StatusForbidden},
		{"trusted origin", []Option{WithCrossOriginProtection(cop)}, http.StatusOK},
	} {
		iss := newOptionsIssuer(t, tc.opts...)
		pair, err := iss.Issue(context.Background(), "alice")
		if err != nil {
			t.Fatal(err)
		}
		r := httptest.NewRequest("POST", "https://auth.test/token/refresh", nil)
		r.Header.Set("Origin", "https://app.test")
		r.AddCookie(&http.Cookie{Name: defaultRefreshCookieName, Value: pair.RefreshToken})
		w := httptest.NewRecorder()
		iss.RefreshHandler().ServeHTTP(w, r)
		if w.Code != tc.want {
			t.Errorf("%s: %d, want %d", tc.name, w.Code, tc.want)
		}
	}
}

// TestNewSessionLeavesTheManagerAlone: NewSession refuses a manager whose
// store it does not guard, and changes nothing on it.
func TestNewSessionLeavesTheManagerAlone(t *testing.T) {
	sm := NewSessionManager(nil)
	bare := sm.Store.(*guardedStore).inner
	sm.Store = bare
	_, err := NewSession(sm, func(context.Context, string) (string, error) { return "", nil })
	if err == nil || !strings.Contains(err.Error(), "NewSessionManager") {
		t.Errorf("NewSession over a bare store: %v", err)
	}
	if sm.Store != bare {
		t.Error("NewSession replaced the manager's store")
	}
}
