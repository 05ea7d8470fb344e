package server

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestE2ELogsDecisions checks that the demo logs each request and each of
// the kit's decisions, one line each at info, and never the token it was
// sent.
func TestE2ELogsDecisions(t *testing.T) {
	p := startDemo(t, nil)
	const token = "not.a-valid.token-value-for-the-log-test"
	p.do("GET", "/api/me", http.Header{"Authorization": {"Bearer " + token}}, nil)
	p.do("GET", "/api/me", nil, nil)
	var log string
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if log = p.stderr.String(); strings.Count(log, "demo: request method=GET path=/api/me") >= 2 {
			break
		}
	}
	for _, want := range []string{
		"INFO authkit: refused event=refused reason=invalid_token method=bearer path=/api/me",
		"INFO authkit: refused event=refused reason=no_credentials path=/api/me",
		"INFO demo: request method=GET path=/api/me status=401",
	} {
		if !strings.Contains(log, want) {
			t.Errorf("no %q in the log:\n%s", want, log)
		}
	}
	for _, piece := range strings.Split(token, ".") {
		if strings.Contains(log, piece) {
			t.Errorf("the log holds %q of the token:\n%s", piece, log)
		}
	}
}
