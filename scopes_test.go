package authkit

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
)

// scopedIssuer is the demo's setup: alice ("1") is granted demo:read, bob
// ("2") nothing, and a route that requires demo:read.
func scopedIssuer(t *testing.T) (*Issuer, http.Handler) {
	t.Helper()
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	vs := NewMemoryStore("1", "2")
	iss, err := NewIssuer("https://auth.test", "api", ec, NewMemoryStore(), vs.Version,
		WithScopeLookup(func(_ context.Context, id string) ([]string, error) {
			if id == "1" {
				return []string{"demo:read"}, nil
			}
			return nil, nil
		}))
	if err != nil {
		t.Fatal(err)
	}
	j, err := NewJWT(func(_ context.Context, c *Claims) (string, error) { return c.Subject, nil }, WithTokensFrom(iss))
	if err != nil {
		t.Fatal(err)
	}
	h := Require(j, WithScopes("demo:read"))(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Handler", "called")
	}))
	return iss, h
}

func serveBearer(h http.Handler, token string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(http.MethodGet, "/api/scoped", nil)
	r.Header.Set("Authorization", "Bearer "+token)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, r)
	return rec
}

// TestScopes: a token with the scope passes; one without gets 403
// insufficient_scope with the RFC 6750 §3.1 challenge, never 401; a refresh
// keeps the scopes.
func TestScopes(t *testing.T) {
	iss, h := scopedIssuer(t)
	ctx := context.Background()
	alice, err := iss.Issue(ctx, "1")
	if err != nil {
		t.Fatal(err)
	}
	bob, err := iss.Issue(ctx, "2")
	if err != nil {
		t.Fatal(err)
	}
	if rec := serveBearer(h, alice.AccessToken); rec.Code != 200 || rec.Header().Get("X-Handler") == "" {
		t.Fatalf("alice: %d", rec.Code)
	}
	rec := serveBearer(h, bob.AccessToken)
	want := `Bearer realm="authkit", error="insufficient_scope", scope="demo:read"`
	if rec.Code != http.StatusForbidden || rec.Header().Get("WWW-Authenticate") != want || rec.Header().Get("X-Handler") != "" {
		t.Fatalf("bob: %d %q, want 403 %q and no handler", rec.Code, rec.Header().Get("WWW-Authenticate"), want)
	}
	next, err := iss.Refresh(ctx, alice.RefreshToken)
	if err != nil {
		t.Fatal(err)
	}
	if rec := serveBearer(h, next.AccessToken); rec.Code != 200 {
		t.Fatalf("alice after a refresh: %d", rec.Code)
	}
	// An invalid token is still 401, not 403.
	if rec := serveBearer(h, alice.AccessToken+"x"); rec.Code != http.StatusUnauthorized {
		t.Fatalf("forged: %d", rec.Code)
	}
}

// TestScopesWithoutToken: a request authenticated without a token has no
// scopes: 403 on a scoped route. Optional lets the anonymous through.
func TestScopesWithoutToken(t *testing.T) {
	custom := AuthenticatorFunc[string](func(r *http.Request) (string, error) {
		if r.Header.Get("X-User") == "" {
			return "", ErrNoCredentials
		}
		return r.Header.Get("X-User"), nil
	})
	ok := http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.Header.Set("X-User", "alice")
	rec := httptest.NewRecorder()
	Require[string](custom, WithScopes("a", "b"), WithRealm("api"))(ok).ServeHTTP(rec, r)
	if want := `Bearer realm="api", error="insufficient_scope", scope="a b"`; rec.Code != 403 || rec.Header().Get("WWW-Authenticate") != want {
		t.Fatalf("%d %q", rec.Code, rec.Header().Get("WWW-Authenticate"))
	}
	rec = httptest.NewRecorder()
	Optional[string](custom, WithScopes("a"))(ok).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	if rec.Code != 200 {
		t.Fatalf("anonymous through Optional: %d", rec.Code)
	}
}

func TestScopeOptionErrors(t *testing.T) {
	for _, s := range [][]string{nil, {""}, {`a"b`}, {"a b"}, {`a\b`}} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("WithScopes(%q) accepted", s)
				}
			}()
			Require[string](AuthenticatorFunc[string](func(*http.Request) (string, error) { return "", nil }), WithScopes(s...))
		}()
	}
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	vs := NewMemoryStore("1")
	iss, err := NewIssuer("https://auth.test", "api", ec, NewMemoryStore(), vs.Version,
		WithScopeLookup(func(context.Context, string) ([]string, error) { return []string{"has space"}, nil }))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := iss.Issue(context.Background(), "1"); err == nil {
		t.Error("an invalid scope from the lookup was issued")
	}
	boom := errors.New("boom")
	iss, _ = NewIssuer("https://auth.test", "api", ec, NewMemoryStore(), vs.Version,
		WithScopeLookup(func(context.Context, string) ([]string, error) { return nil, boom }))
	if _, err := iss.Issue(context.Background(), "1"); !errors.Is(err, boom) {
		t.Errorf("a failing lookup: %v", err)
	}
}
