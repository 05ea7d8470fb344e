package benchmarks

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

// TestEveryImplVerifies makes the comparison fair: every middleware accepts
// the benchmark token (and hands the handler its user) and refuses a forged
// payload, a flipped signature bit, alg none, a wrong issuer, a wrong
// audience and an expired token, each with 401 and without calling the
// handler.
func TestEveryImplVerifies(t *testing.T) {
	for _, alg := range algs {
		f := fixtures[alg]
		t.Run(alg+"/raw", func(t *testing.T) {
			if !f.rawVerify(f.token) {
				t.Fatal("raw check refuses the valid token")
			}
			for _, name := range []string{"forged payload", "flipped sig bit"} {
				if f.rawVerify(f.bad[name]) {
					t.Errorf("raw check accepts the %s token", name)
				}
			}
		})
		for _, im := range impls {
			t.Run(alg+"/"+im.name, func(t *testing.T) {
				var got string
				calls := 0
				h, err := im.build(f, func(sub string) { got = sub; calls++ })
				if err != nil {
					t.Fatal(err)
				}
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, newRequest(f.token))
				if rec.Code != http.StatusNoContent || calls != 1 || got != subject {
					t.Fatalf("valid token: status %d, handler called %d times with %q; want 204, once, %q",
						rec.Code, calls, got, subject)
				}
				for name, tok := range f.bad {
					calls = 0
					rec := httptest.NewRecorder()
					h.ServeHTTP(rec, newRequest(tok))
					if rec.Code != http.StatusUnauthorized || calls != 0 {
						t.Errorf("%s token: status %d, handler called %d times; want 401, not called",
							name, rec.Code, calls)
					}
				}
			})
		}
	}
}
