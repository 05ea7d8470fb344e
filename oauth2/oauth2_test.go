// Package oauth2 holds a test of the demo's token endpoints with
// golang.org/x/oauth2 as the client (issue 10 item 13): a nested module, so
// that the core go.mod never requires the client library.
package oauth2

import (
	"bufio"
	"context"
	"errors"
	"io"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/oauth2"
)

// startDemo builds the demo (../examples/demo, in the core module) and
// starts it on a free loopback port; it returns the URL the demo prints.
func startDemo(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "demo")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Dir = filepath.Join("..", "examples", "demo")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building the demo: %v\n%s", err, out)
	}
	cmd := exec.Command(bin, "-addr", "127.0.0.1:0")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	urls := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if u, ok := strings.CutPrefix(sc.Text(), "authkit demo listening on "); ok {
				urls <- u
			}
		}
		_, _ = io.Copy(io.Discard, stdout)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGINT)
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			_ = cmd.Process.Kill()
			<-done
			t.Error("the demo did not stop within 20s of SIGINT")
		}
	})
	select {
	case u := <-urls:
		return u
	case <-time.After(60 * time.Second):
		t.Fatalf("the demo printed no URL within 60s; stderr:\n%s", stderr.String())
		return ""
	}
}

// TestOAuth2Client: PasswordCredentialsToken at /token, the TokenSource
// refreshing at /token/refresh, then the rotated token refused with
// invalid_grant (RFC 6749 §5.2).
func TestOAuth2Client(t *testing.T) {
	base := startDemo(t)
	cfg := &oauth2.Config{
		ClientID: "demo-cli",
		Endpoint: oauth2.Endpoint{
			TokenURL:  base + "/token",
			AuthStyle: oauth2.AuthStyleInParams, // a public client: client_id in the form
		},
	}
	ctx := context.Background()
	tok, err := cfg.PasswordCredentialsToken(ctx, "alice", "alice-password")
	if err != nil {
		t.Fatalf("password grant: %v", err)
	}
	if tok.AccessToken == "" || tok.RefreshToken == "" || tok.Type() != "Bearer" || tok.Expiry.IsZero() {
		t.Fatalf("password grant answer: %+v", tok)
	}
	if _, err := cfg.PasswordCredentialsToken(ctx, "alice", "wrong"); !isGrantError(err, "invalid_grant") {
		t.Fatalf("wrong password: %v, want invalid_grant", err)
	}

	// The refresh endpoint is /token/refresh; the refresh is forced by an
	// expired copy of the token.
	refreshCfg := *cfg
	refreshCfg.Endpoint.TokenURL = base + "/token/refresh"
	stale := *tok
	stale.Expiry = time.Now().Add(-time.Minute)
	next, err := refreshCfg.TokenSource(ctx, &stale).Token()
	if err != nil {
		t.Fatalf("refresh through the TokenSource: %v", err)
	}
	if next.AccessToken == tok.AccessToken || next.RefreshToken == "" || next.RefreshToken == tok.RefreshToken {
		t.Fatalf("refresh answer: %+v, want a new pair", next)
	}

	// The new token is used, so the first one, presented again, is reuse.
	newer, err := refreshCfg.TokenSource(ctx, &oauth2.Token{RefreshToken: next.RefreshToken, Expiry: time.Now().Add(-time.Minute)}).Token()
	if err != nil {
		t.Fatalf("second refresh: %v", err)
	}
	_, err = refreshCfg.TokenSource(ctx, &stale).Token()
	if !isGrantError(err, "invalid_grant") {
		t.Fatalf("rotated token: %v, want invalid_grant", err)
	}
	// Reuse revoked the family: the newest token dies with it.
	_, err = refreshCfg.TokenSource(ctx, &oauth2.Token{RefreshToken: newer.RefreshToken, Expiry: time.Now().Add(-time.Minute)}).Token()
	if !isGrantError(err, "invalid_grant") {
		t.Fatalf("the family's newest token after reuse: %v, want invalid_grant", err)
	}
}

func isGrantError(err error, code string) bool {
	var re *oauth2.RetrieveError
	return errors.As(err, &re) && re.Response.StatusCode == 400 && re.ErrorCode == code
}
