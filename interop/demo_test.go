package interop

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestDemoTrustsNodeProvider runs the demo binary (examples/demo, built from
// the kit's module in ..) with -trust-issuer pointed at node-oidc-provider,
// configured by its URL alone, and checks the demo's contract for a trusted
// issuer: its access tokens at GET /api/me with "iss", GET /api/scoped
// judged by the token's own scope, its ID tokens and tokens for another
// audience refused.
func TestDemoTrustsNodeProvider(t *testing.T) {
	p := startNodeProvider(t)
	demo := startDemoBinary(t, "-trust-issuer", p.Issuer, "-trust-audience", apiAudience, "-trust-insecure-http")

	scoped := p.clientCredentials(t, "cc-es256", apiAudience, "api:read demo:read").AccessToken
	get := func(path, token string) (*http.Response, string) {
		t.Helper()
		req := mustRequest(t, http.MethodGet, demo+path, nil)
		req.Header.Set("Authorization", "Bearer "+token)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res, string(b)
	}
	var res *http.Response
	var body string
	for deadline := time.Now().Add(nodeStartLimit); ; time.Sleep(20 * time.Millisecond) {
		res, body = get("/api/me", scoped)
		if res.StatusCode != http.StatusServiceUnavailable || time.Now().After(deadline) {
			break // 503 until the demo's discovery has run
		}
	}
	want := `{"id":"cc-es256","iss":"` + p.Issuer + `","name":"cc-es256","via":"jwt"}` + "\n"
	if res.StatusCode != 200 || body != want {
		t.Fatalf("/api/me: %d %q, want 200 %q", res.StatusCode, body, want)
	}
	if res, body := get("/api/scoped", scoped); res.StatusCode != 200 {
		t.Errorf("/api/scoped with demo:read: %d %q", res.StatusCode, body)
	}
	res, _ = get("/api/scoped", p.clientCredentials(t, "cc-ps256", apiAudience, "api:read").AccessToken)
	if res.StatusCode != 403 || res.Header.Get("WWW-Authenticate") != `Bearer realm="authkit", error="insufficient_scope", scope="demo:read"` {
		t.Errorf("/api/scoped without demo:read: %d %q", res.StatusCode, res.Header.Get("WWW-Authenticate"))
	}
	code := p.authorizationCode(t, "alice")
	if res, body := get("/api/me", code.AccessToken); res.StatusCode != 200 || !strings.Contains(body, `"id":"alice"`) {
		t.Errorf("/api/me with a code-flow token: %d %q", res.StatusCode, body)
	}
	for what, tok := range map[string]string{
		"ID token":          code.IDToken,
		"refresh token":     code.RefreshToken,
		"another audience":  p.otherAudience(t),
		"flipped signature": flipSignature(t, scoped),
	} {
		if res, _ := get("/api/me", tok); res.StatusCode != 401 {
			t.Errorf("%s at /api/me: %d, want 401", what, res.StatusCode)
		}
	}
}

// startDemoBinary builds examples/demo in the kit's module and runs it on a
// free loopback port with args until the test ends; it returns its URL.
func startDemoBinary(t *testing.T, args ...string) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "demo")
	build := exec.Command("go", "build", "-o", bin, "./examples/demo")
	build.Dir = ".."
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ./examples/demo: %v\n%s", err, out)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin, append([]string{"-addr", "127.0.0.1:0"}, args...)...)
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = 10 * time.Second
	var stderr lockedBuffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("demo stderr:\n%s", stderr.String())
		}
	})
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if u, ok := strings.CutPrefix(sc.Text(), "authkit demo listening on "); ok {
				ready <- u
				break
			}
		}
		close(ready)
		_, _ = io.Copy(io.Discard, stdout)
	}()
	select {
	case u, ok := <-ready:
		if !ok {
			t.Fatalf("demo exited without listening; stderr:\n%s", stderr.String())
		}
		return u
	case <-time.After(nodeStartLimit):
		t.Fatalf("demo: not listening within %v; stderr:\n%s", nodeStartLimit, stderr.String())
	}
	return ""
}
