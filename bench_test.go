package authkit

import (
	"context"
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

// userHandler is the handler behind the middleware in every benchmark: it
// reads the user and answers 200.
var userHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	if u, ok := UserFrom[*testUser](r.Context()); !ok || u.ID != "alice" {
		w.WriteHeader(http.StatusInternalServerError)
		return
	}
	w.WriteHeader(http.StatusOK)
})

func benchRequire(b *testing.B, cases []benchCase) {
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			benchServe(b, Require[*testUser](c.jwt)(userHandler), bearerRequest(c.token))
		})
	}
}

// benchServe sends req to h with a new recorder per iteration, and fails
// unless the last answer is 200.
func benchServe(b *testing.B, h http.Handler, req *http.Request) {
	var rec *httptest.ResponseRecorder
	b.ReportAllocs()
	for b.Loop() {
		rec = httptest.NewRecorder()
		h.ServeHTTP(rec, req)
	}
	if rec.Code != http.StatusOK {
		b.Fatalf("status %d", rec.Code)
	}
}

// BenchmarkBareHandler is the baseline of BenchmarkRequire and
// BenchmarkRequireCached: the same handler and request (Authorization
// header included), without the middleware, the user already in the
// request's context. What Require costs is the difference.
func BenchmarkBareHandler(b *testing.B) {
	req := bearerRequest(benchCases(b)[0].token)
	req = req.WithContext(ContextWithUser(req.Context(), &testUser{ID: "alice"}))
	benchServe(b, userHandler, req)
}

// BenchmarkClaimsClone is the request's own copy of cached claims (issue
// 9): the claims of the benchmarks' token, with its one audience, and with
// three (past the room the copy holds) and an extra claim.
func BenchmarkClaimsClone(b *testing.B) {
	// A fixed secret: no testKeys, whose RSA keys take a varying time to
	// generate, so that instruction counts (callgrind) of the whole run
	// depend on b.N alone.
	secret := sha256.Sum256([]byte("BenchmarkClaimsClone"))
	j := newTestJWT(b, WithKey("k1", secret[:]))
	for _, bc := range []struct{ name, aud string }{
		{"aud=1", `"` + testAudience + `"`},
		{"aud=3+extra", `["` + testAudience + `","b","c"],"role":"admin"`},
	} {
		b.Run(bc.name, func(b *testing.B) {
			claims := baseClaims().set("aud", bc.aud).String()
			ver, err := j.v.verify(context.Background(), buildToken(headerFor("HS256", "k1").String(), claims, signHS256(secret[:])))
			if err != nil {
				b.Fatal(err)
			}
			var c *Claims
			b.ReportAllocs()
			for b.Loop() {
				c = ver.claims.clone()
			}
			if c.Subject != "alice" || c == ver.claims {
				b.Fatal("not a copy")
			}
		})
	}
}

// BenchmarkVerifyStages is an uncached HS256 verification stage by stage,
// on the benchmarks' token: what BenchmarkRequire/HS256 spends beyond the
// HMAC. A fixed secret (no testKeys), as in BenchmarkClaimsClone.
func BenchmarkVerifyStages(b *testing.B) {
	secret := sha256.Sum256([]byte("BenchmarkVerifyStages"))
	j := newTestJWT(b, WithTokenCacheSize(0), WithKey("k1", secret[:]))
	token := buildToken(headerFor("HS256", "k1").String(), baseClaims().String(), signHS256(secret[:]))
	t, err := splitJWS(token)
	if err != nil {
		b.Fatal(err)
	}
	h, err := j.v.readHeader(t.header)
	if err != nil {
		b.Fatal(err)
	}
	key, err := j.v.keys.key(context.Background(), h.kid, h.hasKID)
	if err != nil {
		b.Fatal(err)
	}
	stages := []struct {
		name string
		f    func() error
	}{
		{"split", func() error { _, err := splitJWS(token); return err }},
		{"header", func() error { _, err := j.v.readHeader(t.header); return err }},
		{"signature", func() error { return key.verify(bytesOf(t.signingInput), t.signature) }},
		{"claims", func() error { _, err := j.v.claims(t.payload); return err }},
		{"all", func() error { _, err := j.v.verify(context.Background(), token); return err }},
	}
	for _, st := range stages {
		b.Run(st.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if err := st.f(); err != nil {
					b.Fatal(err)
				}
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
