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
			for b.Loop() {
				if !f.rawVerify(f.token) {
					b.Fatal("signature does not verify")
				}
			}
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
}

func newRequest(token string) *http.Request {
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.Header.Set("Authorization", "Bearer "+token)
	return r
}
