package authkit

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rsa"
	"crypto/sha256"
	"math/big"
	"net/http"
	"net/http/httptest"
	"testing"
)

// benchCase is one algorithm: a deployment, a valid token for it, and the
// raw standard-library check of that token's signature (the floor).
type benchCase struct {
	name  string
	jwt   *JWT[*testUser]
	token string
	raw   func(signingInput, sig []byte) bool
}

func benchCases(b *testing.B) []benchCase {
	k := testKeys()
	c := baseClaims().String()
	ecPub, edPub, rsaPub := &k.ec256.PublicKey, k.ed.Public().(ed25519.PublicKey), &k.rsa.PublicKey
	return []benchCase{
		{"HS256", newTestJWT(b, WithTokenCacheSize(0), WithKey("k1", k.hmac)), buildToken(headerFor("HS256", "k1").String(), c, signHS256(k.hmac)),
			func(in, sig []byte) bool {
				m := hmac.New(sha256.New, k.hmac)
				m.Write(in)
				return hmac.Equal(m.Sum(nil), sig)
			}},
		{"ES256", newTestJWT(b, WithTokenCacheSize(0), WithKey("k1", ecPub)), buildToken(headerFor("ES256", "k1").String(), c, signES(k.ec256)),
			func(in, sig []byte) bool {
				h := sha256.Sum256(in)
				return ecdsa.Verify(ecPub, h[:], new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:]))
			}},
		{"EdDSA", newTestJWT(b, WithTokenCacheSize(0), WithKey("k1", edPub)), buildToken(headerFor("EdDSA", "k1").String(), c, signEd(k.ed)),
			func(in, sig []byte) bool { return ed25519.Verify(edPub, in, sig) }},
		{"RS256", newTestJWT(b, WithTokenCacheSize(0), WithKey("k1", rsaPub)), buildToken(headerFor("RS256", "k1").String(), c, signRS(k.rsa, crypto.SHA256)),
			func(in, sig []byte) bool {
				h := sha256.Sum256(in)
				return rsa.VerifyPKCS1v15(rsaPub, crypto.SHA256, h[:], sig) == nil
			}},
	}
}

// BenchmarkRequire sends one request with a valid bearer token through
// Require to a handler that reads the user, with the verified-token cache
// off, so that every request parses and verifies the token.
func BenchmarkRequire(b *testing.B) {
	benchRequire(b, benchCases(b))
}

// BenchmarkRequireCached is BenchmarkRequire with the default verified-token
// cache: the same token again, as a client sends it.
func BenchmarkRequireCached(b *testing.B) {
	cases := benchCases(b)
	for i := range cases {
		cases[i].jwt.cache = newTokenCache(defaultTokenCacheSize)
	}
	benchRequire(b, cases)
}

func benchRequire(b *testing.B, cases []benchCase) {
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			h := Require[*testUser](c.jwt)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if u, ok := UserFrom[*testUser](r.Context()); !ok || u.ID != "alice" {
					w.WriteHeader(http.StatusInternalServerError)
					return
				}
				w.WriteHeader(http.StatusOK)
			}))
			req := bearerRequest(c.token)
			var rec *httptest.ResponseRecorder
			b.ReportAllocs()
			for b.Loop() {
				rec = httptest.NewRecorder()
				h.ServeHTTP(rec, req)
			}
			if rec.Code != http.StatusOK {
				b.Fatalf("status %d", rec.Code)
			}
		})
	}
}

// BenchmarkRawVerify is the floor: the standard library's check of the same
// token's signature over its signing input, nothing else.
func BenchmarkRawVerify(b *testing.B) {
	for _, c := range benchCases(b) {
		b.Run(c.name, func(b *testing.B) {
			in, sig := []byte(signingInputOf(c.token)), signatureOf(c.token)
			ok := false
			b.ReportAllocs()
			for b.Loop() {
				ok = c.raw(in, sig)
			}
			if !ok {
				b.Fatal("signature does not verify")
			}
		})
	}
}
