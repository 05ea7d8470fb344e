package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/authkit-go/authkit/examples/demo/server"
)

// syncBuffer is the demo's stdout, written by its goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startDemo runs the OpenTelemetry build of the demo in process, on free
// ports, and returns the demo's URL and the metrics' URL.
func startDemo(t *testing.T, args ...string) (demo, metricsURL string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	stdout, stderr := &syncBuffer{}, &syncBuffer{}
	done := make(chan int, 1)
	args = append([]string{"-addr", "127.0.0.1:0", "-metrics", "127.0.0.1:0"}, args...)
	go func() { done <- server.Run(ctx, args, os.Getenv, stdout, stderr, metrics()) }()
	t.Cleanup(func() {
		cancel()
		select {
		case code := <-done:
			if code != 0 {
				t.Errorf("the demo exited with %d; stderr:\n%s", code, stderr)
			}
		case <-time.After(15 * time.Second):
			t.Error("the demo did not stop")
		}
	})
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		for _, line := range strings.Split(stdout.String(), "\n") {
			if u, ok := strings.CutPrefix(line, "authkit demo listening on "); ok {
				demo = u
			}
			if u, ok := strings.CutPrefix(line, "authkit demo metrics on "); ok {
				metricsURL = u
			}
		}
		if demo != "" && metricsURL != "" {
			return demo, metricsURL
		}
	}
	t.Fatalf("the demo did not start; stdout %q, stderr %q", stdout, stderr)
	return "", ""
}

// TestMetricsScrape logs in with the demo's login form, reads /api/me with
// the session, is refused without credentials and with a bad token, then
// scrapes /metrics and checks the exact decision counter lines.
func TestMetricsScrape(t *testing.T) {
	demo, metricsURL := startDemo(t)
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	do := func(method, path string, hdr http.Header, form url.Values) int {
		t.Helper()
		var body io.Reader
		if form != nil {
			body = strings.NewReader(form.Encode())
		}
		req, err := http.NewRequest(method, demo+path, body)
		if err != nil {
			t.Fatal(err)
		}
		for k, v := range hdr {
			req.Header[k] = v
		}
		if form != nil {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		req.Header.Set("Origin", demo) // the login form's POST, same-origin
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := do("POST", "/session/login", nil, url.Values{"username": {"alice"}, "password": {"alice-password"}}); code != http.StatusSeeOther {
		t.Fatalf("login: %d", code)
	}
	if code := do("GET", "/api/me", nil, nil); code != http.StatusOK {
		t.Fatalf("/api/me with the session: %d", code)
	}
	bare := &http.Client{}
	for _, h := range []http.Header{nil, {"Authorization": {"Bearer not.a.token"}}} {
		req, _ := http.NewRequest("GET", demo+"/api/me", nil)
		for k, v := range h {
			req.Header[k] = v
		}
		resp, err := bare.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("/api/me %v: %d", h, resp.StatusCode)
		}
	}

	resp, err := http.Get(metricsURL)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/metrics: %d", resp.StatusCode)
	}
	// The exact counter lines: three decisions, the login, the bad token's
	// cache miss. Label values come only from the kit's own vocabulary and
	// the configured issuer: nothing of the bad token.
	const scope = `otel_scope_name="github.com/authkit-go/authkit",otel_scope_schema_url="",otel_scope_version=""`
	want := []string{
		`authkit_decisions_total{authkit_method="session",authkit_outcome="authenticated",` + scope + `} 1`,
		`authkit_decisions_total{authkit_outcome="refused",authkit_reason="no_credentials",` + scope + `} 1`,
		`authkit_decisions_total{authkit_method="bearer",authkit_outcome="refused",authkit_reason="invalid_token",` + scope + `} 1`,
		`authkit_events_total{authkit_outcome="session.login",` + scope + `} 1`,
		`authkit_events_total{authkit_issuer="` + demo + `",authkit_outcome="cache.miss",` + scope + `} 1`,
	}
	var got []string
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "authkit_decisions_total{") || strings.HasPrefix(line, "authkit_events_total{") {
			got = append(got, line)
		}
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("counter lines:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	for _, line := range []string{
		`authkit_version_cache_entries{` + scope + `} 1`,
		`authkit_token_cache_entries{` + scope + `} 0`,
		`authkit_decision_duration_seconds_count{authkit_method="session",authkit_outcome="authenticated",` + scope + `} 1`,
		`authkit_verify_duration_seconds_count{authkit_issuer="` + demo + `",authkit_outcome="cache.miss",` + scope + `} 1`,
		`target_info{service_name="authkit-demo",`,
	} {
		if !strings.Contains(string(b), line) {
			t.Errorf("no %s in the metrics:\n%s", line, b)
		}
	}
	if strings.Contains(string(b), "not.a.token") {
		t.Error("the metrics hold the bad token")
	}
}
