//go:build !race

package authkit

// Allocation counts of the hot paths. The race detector makes sync.Pool drop
// items at random, so these run without it only.

import (
	"context"
	"net/http"
	"testing"
)

// TestHMACVerifyDoesNotAllocate: the HMAC check reuses keyed state per key
// instead of building an HMAC per verification.
func TestHMACVerifyDoesNotAllocate(t *testing.T) {
	k := testKeys()
	key, err := newVerifyKey("k1", "HS256", k.hmac)
	if err != nil {
		t.Fatal(err)
	}
	token := buildToken(headerFor("HS256", "k1").String(), baseClaims().String(), signHS256(k.hmac))
	in, sig := []byte(signingInputOf(token)), signatureOf(token)
	if n := testing.AllocsPerRun(100, func() {
		if key.verify(in, sig) != nil {
			t.Fatal("signature does not verify")
		}
	}); n != 0 {
		t.Errorf("HMAC verify: %v allocations, want 0", n)
	}
}

// nopWriter is a ResponseWriter that allocates nothing.
type nopWriter struct {
	h    http.Header
	code int
}

func (w *nopWriter) Header() http.Header         { return w.h }
func (w *nopWriter) Write(b []byte) (int, error) { return len(b), nil }
func (w *nopWriter) WriteHeader(code int)        { w.code = code }

// TestRequireCachedAllocations: a repeated token through Require costs the
// kit two allocations: the request copy, and the request's own claims with
// the context carrying the identity (requestClaims: one allocation for the
// three).
func TestRequireCachedAllocations(t *testing.T) {
	k := testKeys()
	alice := &testUser{ID: "alice"}
	j, err := NewJWT(func(context.Context, *Claims) (*testUser, error) { return alice, nil },
		WithIssuer(testIssuer), WithAudience(testAudience), WithClock(fixedClock), WithKey("k1", k.hmac))
	if err != nil {
		t.Fatal(err)
	}
	h := Require[*testUser](j)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u, ok := UserFrom[*testUser](r.Context()); !ok || u != alice {
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		w.WriteHeader(http.StatusOK)
	}))
	req := bearerRequest(buildToken(headerFor("HS256", "k1").String(), baseClaims().String(), signHS256(k.hmac)))
	w := &nopWriter{h: http.Header{}}
	h.ServeHTTP(w, req) // fills the cache
	n := testing.AllocsPerRun(100, func() {
		w.code = 0
		h.ServeHTTP(w, req)
		if w.code != http.StatusOK {
			t.Fatalf("status %d", w.code)
		}
	})
	if n > 2 {
		t.Errorf("cached Require: %v allocations, want at most 2", n)
	}
}

// TestRequireUncachedAllocations: with the cache off, an HS256 token through
// Require costs the kit three allocations: the decoded segments, the claims
// with the context carrying the identity, and the request copy.
func TestRequireUncachedAllocations(t *testing.T) {
	k := testKeys()
	alice := &testUser{ID: "alice"}
	j, err := NewJWT(func(context.Context, *Claims) (*testUser, error) { return alice, nil },
		WithIssuer(testIssuer), WithAudience(testAudience), WithClock(fixedClock), WithKey("k1", k.hmac), WithTokenCacheSize(0))
	if err != nil {
		t.Fatal(err)
	}
	h := Require[*testUser](j)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u, ok := UserFrom[*testUser](r.Context()); !ok || u != alice {
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		w.WriteHeader(http.StatusOK)
	}))
	req := bearerRequest(buildToken(headerFor("HS256", "k1").String(), baseClaims().String(), signHS256(k.hmac)))
	w := &nopWriter{h: http.Header{}}
	n := testing.AllocsPerRun(100, func() {
		w.code = 0
		h.ServeHTTP(w, req)
		if w.code != http.StatusOK {
			t.Fatalf("status %d", w.code)
		}
	})
	if n > 3 {
		t.Errorf("uncached Require: %v allocations, want at most 3", n)
	}
}

// TestVerifyAllocations: an uncached HS256 verification costs two
// allocations: the decoded segments and the claims, which hold the usual one
// or two audiences in the same allocation.
func TestVerifyAllocations(t *testing.T) {
	k := testKeys()
	j := newTestJWT(t, WithTokenCacheSize(0), WithKey("k1", k.hmac))
	for _, aud := range []string{`"` + testAudience + `"`, `["` + testAudience + `","other"]`} {
		token := buildToken(headerFor("HS256", "k1").String(), baseClaims().set("aud", aud).String(), signHS256(k.hmac))
		n := testing.AllocsPerRun(100, func() {
			if _, err := j.v.verify(context.Background(), token); err != nil {
				t.Fatal(err)
			}
		})
		if n > 2 {
			t.Errorf("aud %s: %v allocations, want at most 2", aud, n)
		}
	}
}

// TestCachedECDSATwinAllocations: a cache hit by either ECDSA twin costs no
// more than by the other: the twin is computed once, when the entry is
// stored, not per request.
func TestCachedECDSATwinAllocations(t *testing.T) {
	k := testKeys()
	j := newTestJWT(t, WithKey("k1", &k.ec256.PublicKey))
	tok := buildToken(headerFor("ES256", "k1").String(), baseClaims().String(), signES(k.ec256))
	for _, token := range []string{tok, ecdsaTwin(t, tok)} {
		if _, _, err := j.Verify(context.Background(), token); err != nil {
			t.Fatal(err)
		}
		n := testing.AllocsPerRun(100, func() {
			if _, _, err := j.Verify(context.Background(), token); err != nil {
				t.Fatal(err)
			}
		})
		if n > 2 { // the claims' copy and toUser's user
			t.Errorf("cached ES256 hit: %v allocations, want at most 2", n)
		}
	}
	if n := j.cache.len(); n != 1 {
		t.Errorf("%d cache entries, want 1", n)
	}
}
