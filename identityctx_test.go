package authkit

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
)

type otherKey struct{}

// TestIdentityContextIsAContext: the identity's context answers the
// identity, passes every other key and the cancellation to its parent, and
// an inner identity shadows an outer one.
func TestIdentityContextIsAContext(t *testing.T) {
	parent, cancel := context.WithCancel(context.WithValue(context.Background(), otherKey{}, "v"))
	ctx := ContextWithUser(ContextWithUser(parent, "outer"), "inner")
	if u, ok := UserFrom[string](ctx); !ok || u != "inner" {
		t.Errorf("UserFrom = %q, %v; want inner", u, ok)
	}
	if v := ctx.Value(otherKey{}); v != "v" {
		t.Errorf("parent value = %v, want v", v)
	}
	child, stop := context.WithCancel(ctx)
	defer stop()
	cancel()
	<-child.Done()
	if ctx.Err() != context.Canceled || child.Err() != context.Canceled {
		t.Errorf("Err = %v, %v; want canceled", ctx.Err(), child.Err())
	}
	if _, ok := UserFrom[string](context.Background()); ok {
		t.Error("UserFrom found a user in an empty context")
	}
}

type requestIDKey struct{}

// TestRequestContextsNotShared: the context that carries a request's
// identity is allocated with that request's copy of the claims, and belongs
// to that request alone: concurrent requests with one cached token each see
// their own parent context, claims and user; the context is the one the
// claims were allocated with; and the claims the cache keeps have no room,
// so no request's context can land in them.
func TestRequestContextsNotShared(t *testing.T) {
	k := testKeys()
	j := newTestJWT(t, WithKey("k1", k.hmac))
	token := buildToken(headerFor("HS256", "k1").String(), baseClaims().String(), signHS256(k.hmac))
	h := Require[*testUser](j)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get("X-Request")
		c, _ := ClaimsFrom(r.Context())
		u, _ := UserFrom[*testUser](r.Context())
		switch {
		case r.Context().Value(requestIDKey{}) != id:
			t.Errorf("request %s sees the parent context of request %v", id, r.Context().Value(requestIDKey{}))
		case c == nil || c.room != r.Context():
			t.Errorf("request %s: its context is not the one allocated with its claims", id)
		case u == nil || u.ID != "alice":
			t.Errorf("request %s: user %+v", id, u)
		}
		c.ID, u.Name = id, id // a handler may change its own copy
	}))
	withID := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), requestIDKey{}, r.Header.Get("X-Request"))))
	})
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 100 {
				r := bearerRequest(token)
				r.Header.Set("X-Request", fmt.Sprintf("%d-%d", g, i))
				w := httptest.NewRecorder()
				withID.ServeHTTP(w, r)
				if w.Code != http.StatusOK {
					t.Errorf("status %d", w.Code)
					return
				}
			}
		})
	}
	wg.Wait()
	if n := j.cache.len(); n != 1 {
		t.Fatalf("cache holds %d tokens, want 1", n)
	}
	for _, e := range j.cache.entries {
		if e.claims.room != nil || e.claims.ID != "b9d1c0e8-3f0c-4d5e-9a1b-6c2f7e8d9a01" {
			t.Errorf("cached claims: room %v, jti %q", e.claims.room, e.claims.ID)
		}
	}
}
