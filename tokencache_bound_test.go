package authkit

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"math/big"
	"runtime"
	"strings"
	"testing"
	"time"
)

// This file tests issue 10 item 7: the verified-token cache is bounded in
// bytes, re-checks iat and nbf on a hit, and keeps one entry for both ECDSA
// twins of a token.

// TestTokenCacheBoundInBytes fills the cache with tokens near the 8 KiB cap
// and measures the heap it keeps: at most tokenCacheMaxBytes (plus slack for
// the map), where 10 000 such tokens used to keep about 69 MB.
func TestTokenCacheBoundInBytes(t *testing.T) {
	if testing.Short() {
		t.Skip("fills the cache")
	}
	f := newCacheFixture(t)
	const n = 4000 // 4000 × ~6.9 KB retained each, unbounded: ~28 MB
	pad := strings.Repeat("x", defaultMaxTokenSize*3/4-400)
	tokens := make([]string, n)
	for i := range tokens {
		now := f.now.Load()
		claims := obj{{"iss", q("iss")}, {"sub", q(fmt.Sprint("user-", i))}, {"aud", q("api")},
			{"exp", num(now + 300)}, {"iat", num(now)}, {"ver", num(0)}, {"pad", q(pad)}}
		tokens[i] = buildToken(headerFor("EdDSA", "k1").String(), claims.String(), signEd(f.key))
		if len(tokens[i]) > defaultMaxTokenSize || len(tokens[i]) < defaultMaxTokenSize-1024 {
			t.Fatalf("token of %d bytes, want just under %d", len(tokens[i]), defaultMaxTokenSize)
		}
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for _, tok := range tokens {
		if _, err := f.auth.cache.verify(context.Background(), &f.auth.v, tok); err != nil {
			t.Fatal(err)
		}
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	runtime.KeepAlive(tokens)
	kept := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	t.Logf("%d tokens of ~%d bytes: the cache keeps %d entries, %d bytes counted, heap +%.1f MB",
		n, len(tokens[0]), f.auth.cache.len(), f.auth.cache.bytesUsed(), float64(kept)/1e6)
	if used := f.auth.cache.bytesUsed(); used > tokenCacheMaxBytes {
		t.Errorf("the cache counts %d bytes, bound %d", used, tokenCacheMaxBytes)
	}
	if limit := int64(tokenCacheMaxBytes) * 5 / 4; kept > limit {
		t.Errorf("the cache keeps %.1f MB of heap, bound %.1f MB (+25%% for the map)", float64(kept)/1e6, float64(limit)/1e6)
	}
}

// TestTokenCacheHitClockSteppedBack: a token accepted and cached, then the
// clock steps back before its iat (and nbf): the hit is refused as a fresh
// verification would refuse it.
func TestTokenCacheHitClockSteppedBack(t *testing.T) {
	f := newCacheFixture(t)
	now := f.now.Load()
	withNbf := buildToken(headerFor("EdDSA", "k1").String(), obj{{"iss", q("iss")}, {"sub", q("alice")}, {"aud", q("api")},
		{"exp", num(now + 3000)}, {"iat", num(now - 100)}, {"nbf", num(now)}, {"ver", num(0)}}.String(), signEd(f.key))
	for _, tok := range []string{f.token("alice", 0), withNbf} {
		f.now.Store(now)
		if code, _ := f.serve(tok); code != 200 {
			t.Fatalf("first request: %d", code)
		}
		if code, _ := f.serve(tok); code != 200 {
			t.Fatalf("hit: %d", code)
		}
		f.now.Store(now - 3600) // an NTP step back
		if code, called := f.serve(tok); code != 401 || called {
			t.Fatalf("hit after the clock stepped back: %d, handler called %v; want 401", code, called)
		}
		if _, err := f.auth.v.verify(context.Background(), tok); err == nil {
			t.Fatal("a fresh verification accepts it: the test is wrong")
		}
	}
}

// ecdsaTwin returns the (r, n-s) twin of an ES256 token: another string that
// verifies too.
func ecdsaTwin(t *testing.T, tok string) string {
	t.Helper()
	sig := signatureOf(tok)
	s := new(big.Int).SetBytes(sig[32:])
	twin := make([]byte, 64)
	copy(twin, sig[:32])
	new(big.Int).Sub(elliptic.P256().Params().N, s).FillBytes(twin[32:])
	return signingInputOf(tok) + "." + base64.RawURLEncoding.EncodeToString(twin)
}

func TestTokenCacheECDSATwinsShareOneEntry(t *testing.T) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	auth, err := NewJWT(func(_ context.Context, c *Claims) (string, error) { return c.Subject, nil },
		WithIssuer("iss"), WithAudience("api"), WithKey("k1", key.Public()),
		WithClock(func() time.Time { return time.Unix(1_800_000_000, 0) }))
	if err != nil {
		t.Fatal(err)
	}
	for i := range 8 { // both a low-S and a high-S original, with high odds
		claims := obj{{"iss", q("iss")}, {"sub", q(fmt.Sprint("user-", i))}, {"aud", q("api")},
			{"exp", num(1_800_000_300)}, {"iat", num(1_800_000_000)}}.String()
		tok := buildToken(headerFor("ES256", "k1").String(), claims, signES(key))
		twin := ecdsaTwin(t, tok)
		for _, s := range []string{tok, twin} {
			if _, err := auth.v.verify(context.Background(), s); err != nil {
				t.Fatalf("the twin does not verify: the test is wrong: %v", err)
			}
			if _, err := auth.cache.verify(context.Background(), &auth.v, s); err != nil {
				t.Fatal(err)
			}
		}
		if n := auth.cache.len(); n != i+1 {
			t.Fatalf("after %d tokens and their twins the cache holds %d entries, want %d", i+1, n, i+1)
		}
		// Another signature over the same signing input that is not a twin
		// is verified, not answered from the cache.
		bad := []byte(twin)
		if bad[len(bad)-5] == 'A' {
			bad[len(bad)-5] = 'B'
		} else {
			bad[len(bad)-5] = 'A'
		}
		if _, err := auth.cache.verify(context.Background(), &auth.v, string(bad)); err == nil {
			t.Fatal("a wrong signature over a cached signing input was accepted")
		}
	}
}

// bytesUsed reports the bytes the cache counts.
func (tc *tokenCache) bytesUsed() int {
	tc.mu.RLock()
	defer tc.mu.RUnlock()
	return tc.bytes
}
