package authkit

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"hash"
	"sync"
	"testing"
)

// TestHMACVerifierStateReused checks the pooled, keyed HMAC state: a check
// after a failed or a different one gives the same answer as a fresh HMAC,
// from many goroutines at once, for each HMAC algorithm.
func TestHMACVerifierStateReused(t *testing.T) {
	secret := make([]byte, 64)
	rand.Read(secret)
	for _, a := range []struct {
		alg string
		h   func() hash.Hash
	}{{"HS256", sha256.New}, {"HS384", sha512.New384}, {"HS512", sha512.New}} {
		key, err := newVerifyKey("k", a.alg, secret)
		if err != nil {
			t.Fatal(err)
		}
		sign := func(in string) []byte {
			m := hmac.New(a.h, secret)
			m.Write([]byte(in))
			return m.Sum(nil)
		}
		inputs := []string{"a.b", "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9", ""}
		var wg sync.WaitGroup
		for g := range 8 {
			wg.Go(func() {
				for i := range 200 {
					in := inputs[(g+i)%len(inputs)]
					good := sign(in)
					flipped := append([]byte(nil), good...)
					flipped[i%len(flipped)] ^= 1
					other := sign(in + "x")
					for _, c := range []struct {
						sig []byte
						ok  bool
					}{{good, true}, {flipped, false}, {good[:len(good)-1], false}, {append(good, 0), false}, {other, false}, {nil, false}, {good, true}} {
						if err := key.verify([]byte(in), c.sig); (err == nil) != c.ok {
							t.Errorf("%s %q: verify = %v, want ok %v", a.alg, in, err, c.ok)
							return
						}
					}
				}
			})
		}
		wg.Wait()
	}
}
