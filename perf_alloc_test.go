//go:build !race

package authkit

// Allocation counts of the hot paths. The race detector makes sync.Pool drop
// items at random, so these run without it only.

import (
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
