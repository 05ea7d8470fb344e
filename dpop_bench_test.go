package authkit

import (
	"testing"
)

// BenchmarkDPoP measures a DPoP request (token from the cache, the proof
// checked in full) beside a bearer request whose token is verified without
// the cache and a bare ES256 signature check, the goal's yardstick
// (access-token verification + one proof signature check). Proofs are made
// beforehand, one per iteration (each jti is accepted once).
func BenchmarkDPoP(b *testing.B) {
	k := clientKey(b)
	tok := boundToken(k.jkt)
	b.Run("dpop-request", func(b *testing.B) {
		h := newDPoPJWT(b, DPoPAllowed)
		proofs := make([]string, b.N)
		for i := range proofs {
			proofs[i] = k.proof(k.header(), newProofClaims("GET", dpopURL, tok, testNow))
		}
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			if w := call(h, "GET", dpopURL, "DPoP "+tok, proofs[i]); w.Code != 200 {
				b.Fatal(w.Code)
			}
		}
	})
	b.Run("bearer-request-uncached", func(b *testing.B) {
		h := newDPoPJWT(b, DPoPOff, WithTokenCacheSize(0))
		t := baseToken()
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			if w := call(h, "GET", dpopURL, "Bearer "+t); w.Code != 200 {
				b.Fatal(w.Code)
			}
		}
	})
	b.Run("es256-verify", func(b *testing.B) {
		p := k.proof(k.header(), newProofClaims("GET", dpopURL, tok, testNow))
		key, _, _ := proofKey([]byte(k.jwk), "ES256")
		in, sig := []byte(signingInputOf(p)), signatureOf(p)
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			if key.verify(in, sig) != nil {
				b.Fatal("verify")
			}
		}
	})
}
