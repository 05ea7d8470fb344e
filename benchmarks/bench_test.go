package benchmarks

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

// BenchmarkMiddleware measures one request through each middleware: a
// request built once (the middlewares do not modify it), a fresh
// httptest.ResponseRecorder per request, the middleware and a handler that
// reads the user. Every iteration checks that the request was accepted (204)
// and the handler saw the user, or the benchmark fails.
//
// Besides time, every benchmark reports cpu-ns/op: the CPU time the process
// used per request, garbage collection included. Unlike wall time it does not
// count the time a shared machine's neighbours held the CPU, so it is the
// steadier figure there.
//
// impl=raw is the floor: the signature check of the same token alone (see
// fixture.rawVerify). alg=none/impl=bare is the baseline: the same request
// and recorder through a handler that does nothing but answer 204.
func BenchmarkMiddleware(b *testing.B) {
	b.Run("alg=none/impl=bare", func(b *testing.B) {
		h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) })
		benchHandler(b, h, newRequest(fixtures["HS256"].token), nil)
	})
	for _, alg := range algs {
		f := fixtures[alg]
		b.Run("alg="+alg+"/impl=raw", func(b *testing.B) {
			b.ReportAllocs()
			cpu := cpuTime()
			for b.Loop() {
				if !f.rawVerify(f.token) {
					b.Fatal("signature does not verify")
				}
			}
			reportCPU(b, cpu)
		})
		for _, im := range impls {
			b.Run("alg="+alg+"/impl="+im.name, func(b *testing.B) {
				seen := false
				h, err := im.build(f, func(sub string) { seen = sub == subject })
				if err != nil {
					b.Fatal(err)
				}
				benchHandler(b, h, newRequest(f.token), &seen)
			})
		}
	}
}

func benchHandler(b *testing.B, h http.Handler, req *http.Request, seen *bool) {
	b.ReportAllocs()
	cpu := cpuTime()
	for b.Loop() {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusNoContent || (seen != nil && !*seen) {
			b.Fatalf("request not accepted: status %d, user seen %v", rec.Code, seen != nil && *seen)
		}
		if seen != nil {
			*seen = false
		}
	}
	reportCPU(b, cpu)
}

// reportCPU reports the CPU time used since start per iteration, as
// cpu-ns/op.
func reportCPU(b *testing.B, start int64) {
	if end := cpuTime(); start >= 0 && end >= 0 {
		b.ReportMetric(float64(end-start)/float64(b.N), "cpu-ns/op")
	}
}

func newRequest(token string) *http.Request {
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.Header.Set("Authorization", "Bearer "+token)
	return r
}
