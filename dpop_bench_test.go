package authkit

import (
	"crypto/ecdsa"
	"crypto/sha256"
	"math/big"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"
)

// BenchmarkDPoP measures the cost goal of issue 13: a DPoP request costs at
// most 1.1× (the access token's verification + one proof signature check)
// of the same algorithm. Everything is ES256: the access token (the k1 key)
// and the proof (the client's key).
//
//   - floor: the standard library's check of both signatures, nothing else
//     (as BenchmarkRawVerify);
//   - request-uncached: a DPoP request through Require with the
//     verified-token cache off: the token and the proof parsed and verified
//     in full, the replay cache written;
//   - request-cached: the same with the default cache, as a client sends it
//     (the token's signature spared, never the proof's);
//   - ratio: the three interleaved in one loop, so that the machine's noise
//     hits them alike, reporting the ratios of their medians,
//     uncached/floor and cached/floor.
//
// On a shared machine, callgrind's instruction counts are the stable
// witness (ARCHITECTURE.md, "DPoP", says how they were taken).
//
// Each iteration has a proof of its own, made beforehand (a jti is
// accepted once).
func BenchmarkDPoP(b *testing.B) {
	k := clientKey(b)
	tok := boundToken(k.jkt)
	tokKey, proofKey := &testKeys().ec256.PublicKey, &testKeys().evilEC.PublicKey
	floor := func(p string) bool {
		return rawES256(tokKey, signingInputOf(tok), signatureOf(tok)) && rawES256(proofKey, signingInputOf(p), signatureOf(p))
	}
	proofs := func(n int) []string {
		ps := make([]string, n)
		for i := range ps {
			ps[i] = k.proof(k.header(), newProofClaims("GET", dpopURL, tok, testNow))
		}
		return ps
	}
	// Each run has handlers of its own: at the fixed clock every proof has
	// the same iat, and a replay cache full of them refuses the rest.
	handlers := func() (uncached, cached http.Handler) {
		return newDPoPJWT(b, DPoPAllowed, WithTokenCacheSize(0)), newDPoPJWT(b, DPoPAllowed)
	}
	// serve sends req with proof to h; the test's recorder and the header are
	// made beforehand (they are the harness, not the kit).
	prepare := func(req *http.Request, proof string) *httptest.ResponseRecorder {
		req.Header["Dpop"] = []string{proof}
		return httptest.NewRecorder()
	}
	check := func(rec *httptest.ResponseRecorder) {
		if rec.Code != http.StatusOK || rec.Body.String() != string(MethodDPoP) {
			b.Fatalf("status %d: %q", rec.Code, rec.Header().Values("WWW-Authenticate"))
		}
	}
	serve := func(h http.Handler, req *http.Request, proof string) {
		rec := prepare(req, proof)
		h.ServeHTTP(rec, req)
		check(rec)
	}
	b.Run("floor", func(b *testing.B) {
		ps := proofs(1)
		b.ReportAllocs()
		for b.Loop() {
			if !floor(ps[0]) {
				b.Fatal("signature does not verify")
			}
		}
	})
	for _, name := range []string{"request-uncached", "request-cached"} {
		b.Run(name, func(b *testing.B) {
			h, cached := handlers()
			if name == "request-cached" {
				h = cached
			}
			ps := proofs(b.N)
			req := dpopBenchRequest(tok)
			serve(h, req, k.proof(k.header(), newProofClaims("GET", dpopURL, tok, testNow))) // the cache filled
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				serve(h, req, ps[i])
			}
		})
	}
	b.Run("ratio", func(b *testing.B) {
		uncached, cached := handlers()
		ps := proofs(2 * b.N)
		req := dpopBenchRequest(tok)
		tFloor, tUncached, tCached := make([]time.Duration, b.N), make([]time.Duration, b.N), make([]time.Duration, b.N)
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			t0 := time.Now()
			floor(ps[2*i])
			tFloor[i] = time.Since(t0)
			rec := prepare(req, ps[2*i])
			t1 := time.Now()
			uncached.ServeHTTP(rec, req)
			tUncached[i] = time.Since(t1)
			check(rec)
			rec = prepare(req, ps[2*i+1])
			t2 := time.Now()
			cached.ServeHTTP(rec, req)
			tCached[i] = time.Since(t2)
			check(rec)
		}
		// Medians: an iteration preempted by another process's time slice
		// would weigh on a sum, not on them.
		b.ReportMetric(float64(median(tUncached))/float64(median(tFloor)), "uncached/floor")
		b.ReportMetric(float64(median(tCached))/float64(median(tFloor)), "cached/floor")
		b.ReportMetric(float64(median(tFloor))/1e3, "floor-µs")
	})
}

func median(ds []time.Duration) time.Duration {
	slices.Sort(ds)
	return ds[len(ds)/2]
}

func dpopBenchRequest(tok string) *http.Request {
	req := httptest.NewRequest("GET", dpopURL, nil)
	req.Header.Set("Authorization", "DPoP "+tok)
	return req
}

// rawES256 is the standard library's ES256 check, as BenchmarkRawVerify's.
func rawES256(pub *ecdsa.PublicKey, in string, sig []byte) bool {
	h := sha256.Sum256([]byte(in))
	return ecdsa.Verify(pub, h[:], new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:]))
}
