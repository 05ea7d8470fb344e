package authkit

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// cacheFixture is an EdDSA-verifying JWT authenticator with a settable clock
// and version store.
type cacheFixture struct {
	t       *testing.T
	key     ed25519.PrivateKey
	now     atomic.Int64 // unix seconds
	version atomic.Int64
	auth    *JWT[string]
}

func newCacheFixture(t *testing.T, opts ...Option) *cacheFixture {
	t.Helper()
	f := &cacheFixture{t: t, key: ed25519.NewKeyFromSeed(make([]byte, 32))}
	f.now.Store(1_800_000_000)
	base := []Option{
		WithIssuer("iss"), WithAudience("api"), WithKey("k1", f.key.Public()),
		WithClock(func() time.Time { return time.Unix(f.now.Load(), 0) }),
		WithVersionCheck(func(context.Context, string) (int64, error) { return f.version.Load(), nil }),
	}
	auth, err := NewJWT(func(_ context.Context, c *Claims) (string, error) { return c.Subject, nil }, append(base, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	f.auth = auth
	return f
}

func (f *cacheFixture) token(sub string, ver int64) string {
	now := f.now.Load()
	claims := obj{{"iss", q("iss")}, {"sub", q(sub)}, {"aud", q("api")},
		{"exp", num(now + 300)}, {"iat", num(now)}, {"ver", num(ver)}}
	return buildToken(headerFor("EdDSA", "k1").String(), claims.String(), signEd(f.key))
}

// serve sends token through Require and returns the status and whether the
// handler ran.
func (f *cacheFixture) serve(token string) (int, bool) {
	called := false
	h := Require[string](f.auth)(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { called = true }))
	req := httptest.NewRequest("GET", "/", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Code, called
}

func TestTokenCacheHitStillChecksExpiryAndVersion(t *testing.T) {
	f := newCacheFixture(t)
	tok := f.token("alice", 0)
	if code, called := f.serve(tok); code != 200 || !called {
		t.Fatalf("first request: %d, handler called %v", code, called)
	}
	if n := f.auth.cache.len(); n != 1 {
		t.Fatalf("cache holds %d tokens after one success, want 1", n)
	}
	if code, _ := f.serve(tok); code != 200 {
		t.Fatalf("cached request: %d", code)
	}

	// A bump revokes the cached token.
	f.version.Store(1)
	if code, called := f.serve(tok); code != 401 || called {
		t.Fatalf("cached token after version bump: %d, handler called %v", code, called)
	}
	f.version.Store(0)

	// Expiry is checked on a hit: 300s lifetime + 30s leeway.
	f.now.Add(329)
	if code, _ := f.serve(tok); code != 200 {
		t.Fatalf("cached token 1s before expiry+leeway: %d", code)
	}
	f.now.Add(1)
	if code, called := f.serve(tok); code != 401 || called {
		t.Fatalf("cached token at expiry+leeway: %d, handler called %v", code, called)
	}
	_, err := f.auth.cache.verify(context.Background(), &f.auth.v, tok)
	if !errors.Is(err, ErrTokenExpired) {
		t.Fatalf("expired cached token: err = %v, want ErrTokenExpired", err)
	}
}

func TestTokenCacheMissesOnAnyByteChange(t *testing.T) {
	f := newCacheFixture(t)
	tok := f.token("alice", 0)
	if code, _ := f.serve(tok); code != 200 {
		t.Fatalf("valid token: %d", code)
	}
	for i := range len(tok) {
		if tok[i] == '.' {
			continue
		}
		b := []byte(tok)
		if b[i] == 'A' {
			b[i] = 'B'
		} else {
			b[i] = 'A'
		}
		if code, called := f.serve(string(b)); code == 200 || called {
			t.Fatalf("token changed at byte %d accepted (status %d)", i, code)
		}
	}
	if n := f.auth.cache.len(); n != 1 {
		t.Fatalf("cache holds %d tokens, want only the valid one", n)
	}
}

func TestTokenCacheBoundUnderFlood(t *testing.T) {
	const size = 64
	f := newCacheFixture(t, WithTokenCacheSize(size))
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 200 {
				tok := f.token(fmt.Sprintf("user-%d-%d", g, i), 0)
				if _, err := f.auth.cache.verify(context.Background(), &f.auth.v, tok); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if n := f.auth.cache.len(); n > size || n == 0 {
		t.Fatalf("cache holds %d tokens after 800 distinct ones, bound %d", n, size)
	}
}

func TestTokenCacheOff(t *testing.T) {
	f := newCacheFixture(t, WithTokenCacheSize(0))
	if f.auth.cache != nil {
		t.Fatal("WithTokenCacheSize(0) left a cache")
	}
	if code, _ := f.serve(f.token("alice", 0)); code != 200 {
		t.Fatalf("valid token without cache: %d", code)
	}
}

// TestTokenCookieCrossOrigin: an access token in a cookie is an ambient
// credential, so cross-origin state-changing requests that carry it are
// refused (403) before the token is even read; safe methods and same-origin
// requests pass.
func TestTokenCookieCrossOrigin(t *testing.T) {
	f := newCacheFixture(t, WithTokenCookie("at"))
	tok := f.token("alice", 0)
	for _, tc := range []struct {
		method, site string
		want         int
	}{
		{"POST", "cross-site", http.StatusForbidden},
		{"POST", "same-site", http.StatusForbidden},
		{"POST", "same-origin", http.StatusOK},
		{"GET", "cross-site", http.StatusOK},
	} {
		called := false
		h := Require[string](f.auth)(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { called = true }))
		req := httptest.NewRequest(tc.method, "/", nil)
		req.AddCookie(&http.Cookie{Name: "at", Value: tok})
		req.Header.Set("Sec-Fetch-Site", tc.site)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != tc.want || called != (tc.want == http.StatusOK) {
			t.Errorf("%s %s with the token cookie: %d, handler called %v; want %d", tc.method, tc.site, rec.Code, called, tc.want)
		}
	}
}
