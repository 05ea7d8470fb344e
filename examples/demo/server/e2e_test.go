package server

// Process-level tests: the demo binary, started as a newcomer would start
// it, exercised over real HTTP. They build the binary once (skipped with
// -short).

import (
	"crypto"
	"encoding/json"
	"net"
	"net/url"
	"os"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwk"
)

func TestE2ERoutes(t *testing.T) {
	keyFile, key := writeKeyFile(t, "ed25519")
	p := startDemo(t, nil, "-signing-key", keyFile)
	if !strings.HasPrefix(p.URL, "http://127.0.0.1:") {
		t.Errorf("URL %q: want http://127.0.0.1:<port>", p.URL)
	}

	t.Run("healthz", func(t *testing.T) {
		resp, body := p.do("GET", "/healthz", nil, nil)
		if resp.StatusCode != 200 || body != "ok" {
			t.Errorf("/healthz: %d %q, want 200 \"ok\"", resp.StatusCode, body)
		}
	})

	t.Run("jwks", func(t *testing.T) {
		resp, body := p.do("GET", "/.well-known/jwks.json", nil, nil)
		if resp.StatusCode != 200 {
			t.Fatalf("status %d", resp.StatusCode)
		}
		if ct := resp.Header.Get("Content-Type"); ct != "application/jwk-set+json" {
			t.Errorf("Content-Type %q", ct)
		}
		set, err := jwk.Parse([]byte(body))
		if err != nil {
			t.Fatalf("parsing %s: %v", body, err)
		}
		if set.Len() != 1 {
			t.Fatalf("%d keys, want 1: %s", set.Len(), body)
		}
		k, _ := set.Key(0)
		kid, _ := k.KeyID()
		alg, _ := k.Algorithm()
		if kid != key.kid || alg.String() != "EdDSA" {
			t.Errorf("kid %q alg %v, want %q EdDSA", kid, alg, key.kid)
		}
		var pub crypto.PublicKey
		if err := jwk.Export(k, &pub); err != nil {
			t.Fatal(err)
		}
		if want := key.signer.Public().(interface{ Equal(crypto.PublicKey) bool }); !want.Equal(pub) {
			t.Error("the published key is not the public half of the signing key")
		}
	})

	t.Run("page", func(t *testing.T) {
		resp, body := p.do("GET", "/", nil, nil)
		if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
			t.Errorf("status %d, Content-Type %q", resp.StatusCode, resp.Header.Get("Content-Type"))
		}
		for _, want := range []string{
			`<form method="post" action="/session/login" id="login-form">`,
			`name="username"`, `name="password"`, `<script src="/static/app.js" defer></script>`,
		} {
			if !strings.Contains(body, want) {
				t.Errorf("the page lacks %s", want)
			}
		}
	})

	t.Run("me without token", func(t *testing.T) {
		resp, _ := p.do("GET", "/api/me", nil, nil)
		if got, want := resp.Header.Get("WWW-Authenticate"), withMetadata(p.URL, `Bearer realm="authkit"`); resp.StatusCode != 401 || got != want {
			t.Errorf("%d, WWW-Authenticate %q; want 401, %s", resp.StatusCode, got, want)
		}
	})

	t.Run("me with token", func(t *testing.T) {
		// The default issuer is the URL the demo prints.
		tok := signAccessToken(t, key, p.URL, "authkit-demo", "2", time.Minute)
		resp, body := p.do("GET", "/api/me", bearer(tok), nil)
		var me map[string]string
		if resp.StatusCode != 200 || json.Unmarshal([]byte(body), &me) != nil {
			t.Fatalf("%d %q", resp.StatusCode, body)
		}
		if me["id"] != "2" || me["name"] != "bob" || me["via"] != "jwt" || len(me) != 3 {
			t.Errorf("/api/me: %v", me)
		}
	})

	t.Run("cross-origin POST", func(t *testing.T) {
		resp, _ := p.do("POST", "/session/login", map[string][]string{"Sec-Fetch-Site": {"cross-site"}}, strings.NewReader("username=alice&password=alice-password"))
		if resp.StatusCode != 403 {
			t.Errorf("status %d, want 403", resp.StatusCode)
		}
	})

	if code := p.stop(syscall.SIGINT); code != 0 {
		t.Errorf("exit status %d after SIGINT, want 0", code)
	}
}

func TestE2EUsageErrors(t *testing.T) {
	bad := slices.Concat(badArgs, [][]string{{"-signing-key", writeFile(t, "garbage.pem", "not a key")}})
	for _, args := range bad {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			code, stdout, stderr := runDemo(t, nil, args...)
			if code != 2 {
				t.Errorf("exit status %d, want 2", code)
			}
			checkOneLine(t, stderr)
			if stdout != "" {
				t.Errorf("stdout %q, want nothing", stdout)
			}
		})
	}

	t.Run("key from the environment", func(t *testing.T) {
		code, _, stderr := runDemo(t, []string{"AUTHKIT_SIGNING_KEY=" + writeFile(t, "env.pem", "")})
		if code != 2 {
			t.Errorf("exit status %d, want 2", code)
		}
		checkOneLine(t, stderr)
	})

	t.Run("address in use", func(t *testing.T) {
		p := startDemo(t, nil)
		code, _, stderr := runDemo(t, nil, "-addr", strings.TrimPrefix(p.URL, "http://"))
		if code != 1 {
			t.Errorf("exit status %d, want 1", code)
		}
		checkOneLine(t, stderr)
	})
}

func TestE2ESignals(t *testing.T) {
	for _, sig := range []os.Signal{syscall.SIGINT, syscall.SIGTERM} {
		t.Run(sig.String(), func(t *testing.T) {
			p := startDemo(t, nil)
			if code := p.stop(sig); code != 0 {
				t.Errorf("exit status %d, want 0; stderr %q", code, p.stderr)
			}
			if !strings.Contains(p.stdout.String(), "authkit demo shutting down\n") {
				t.Errorf("stdout %q: no shutdown line", p.stdout)
			}
			// The request and decision log (info) goes to stderr; a clean
			// shutdown adds no warning or error.
			for _, line := range strings.Split(strings.TrimSpace(p.stderr.String()), "\n") {
				if line != "" && !strings.Contains(line, " INFO ") {
					t.Errorf("stderr line %q, want only info lines", line)
				}
			}
		})
	}
}

// Processes started with the same key and issuer accept each other's tokens
// and publish the same key set: the set-up later tests share a database on.
func TestE2ESharedKey(t *testing.T) {
	args, key := sharedArgs(t, "")
	ps := startDemos(t, 2, nil, args...)
	tok := signAccessToken(t, key, testIssuer, "authkit-demo", "1", time.Minute)
	var sets []string
	for _, p := range ps {
		resp, body := p.do("GET", "/api/me", bearer(tok), nil)
		if resp.StatusCode != 200 || body != `{"id":"1","name":"alice","via":"jwt"}`+"\n" {
			t.Errorf("%s/api/me: %d %q", p.URL, resp.StatusCode, body)
		}
		_, set := p.do("GET", "/.well-known/jwks.json", nil, nil)
		sets = append(sets, set)
	}
	if sets[0] != sets[1] || !strings.Contains(sets[0], key.kid) {
		t.Errorf("the processes publish different key sets:\n%s\n%s", sets[0], sets[1])
	}
}

// The environment configures the demo as the flags do.
func TestE2EEnvironment(t *testing.T) {
	keyFile, key := writeKeyFile(t, "rsa")
	p := startDemo(t, []string{"AUTHKIT_SIGNING_KEY=" + keyFile, "AUTHKIT_ADDR=127.0.0.1:0"})
	if _, body := p.do("GET", "/.well-known/jwks.json", nil, nil); !strings.Contains(body, `"kid":"`+key.kid+`"`) || !strings.Contains(body, `"alg":"RS256"`) {
		t.Errorf("JWKS %s: want the RS256 key %s from AUTHKIT_SIGNING_KEY", body, key.kid)
	}
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	path := t.TempDir() + "/" + name
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestE2ESecondSignalExitsAtOnce (issue 10, item 16): a request in flight
// holds the graceful shutdown; a second signal ends the process at once
// (status 1), and a shutdown that drains within -shutdown-grace exits 0.
func TestE2ESecondSignalExitsAtOnce(t *testing.T) {
	p := startDemo(t, nil, "-shutdown-grace", "1m")
	// A request begun but not finished keeps its connection active.
	conn, err := net.Dial("tcp", strings.TrimPrefix(p.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.Write([]byte("GET /healthz HTTP/1.1\r\nHost: x\r\n")); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.exited:
		t.Fatalf("exited (%d) with a request in flight and a 1m grace", p.code)
	case <-time.After(300 * time.Millisecond):
	}
	start := time.Now()
	if code := p.stop(syscall.SIGTERM); code != 1 {
		t.Errorf("exit status %d after the second signal, want 1", code)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("the second signal took %v", d)
	}
}

// TestE2EShutdownGrace: a request that does not finish within the grace is
// cut off and the exit status says so (1); the graceful case (0) is
// TestE2ESignals.
func TestE2EShutdownGrace(t *testing.T) {
	p := startDemo(t, nil, "-shutdown-grace", "200ms")
	conn, err := net.Dial("tcp", strings.TrimPrefix(p.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.Write([]byte("GET /healthz HTTP/1.1\r\nHost: x\r\n"))
	time.Sleep(100 * time.Millisecond)
	start := time.Now()
	if code := p.stop(syscall.SIGTERM); code != 1 {
		t.Errorf("exit status %d, want 1", code)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("shutdown took %v with a 200ms grace", d)
	}
}

// TestE2ELoopbackCookies (issue 10, item 17): served on 127.0.0.1 over plain
// HTTP, the demo keeps the secure names and attributes of both cookies.
func TestE2ELoopbackCookies(t *testing.T) {
	p := startDemo(t, nil)
	c := newClient(t, p.URL)
	resp, _ := c.postForm("/session/login", url.Values{"username": {"alice"}, "password": {"alice-password"}})
	if sc := cookieNamed(resp, "__Host-session"); sc == nil || !sc.Secure || !sc.HttpOnly {
		t.Errorf("session cookie on loopback: %v, want __Host-session, Secure, HttpOnly", resp.Cookies())
	}
	resp, _ = c.postJSON("/token", map[string]string{"username": "alice", "password": "alice-password"}, nil)
	if rc := cookieNamed(resp, "__Secure-authkit-refresh"); rc == nil || !rc.Secure || !rc.HttpOnly {
		t.Errorf("refresh cookie on loopback: %v", resp.Cookies())
	}
}

// TestE2ERestartKeepsRevoked (issue 11): with everything in memory and a
// fixed -signing-key, a restart forgets the versions (every user back at
// 0), so an access token revoked by "log out everywhere" before it would
// pass the version check again. The kit refuses the access tokens issued
// before the in-memory store existed; one issued after the restart works.
func TestE2ERestartKeepsRevoked(t *testing.T) {
	args, _ := sharedArgs(t, "") // one key and issuer for both runs; in memory
	p := startDemo(t, nil, args...)
	c := newClient(t, p.URL)
	tok := c.getTokens("alice")
	wantMe(t, c, bearer(tok.AccessToken), `{"id":"1","name":"alice","via":"jwt"}`)
	if resp, body := c.do("POST", "/logout-everywhere", bearer(tok.AccessToken), ""); resp.StatusCode != 204 {
		t.Fatalf("logout everywhere: %d %q", resp.StatusCode, body)
	}
	wantMeRefused(t, c, bearer(tok.AccessToken), refused)
	if code := p.stop(syscall.SIGINT); code != 0 {
		t.Fatalf("exit status %d", code)
	}
	// The kit counts issue times in whole seconds (iat): a token issued in
	// the second the restarted process starts is its own.
	time.Sleep(time.Until(time.Now().Truncate(time.Second).Add(time.Second)))

	p = startDemo(t, nil, args...)
	c = c.on(p.URL)
	wantMeRefused(t, c, bearer(tok.AccessToken), refused)
	resp, body := refreshWith(t, p.URL, tok.RefreshToken)
	wantInvalidGrant(t, resp, body)
	fresh := c.getTokens("alice")
	wantMe(t, c, bearer(fresh.AccessToken), `{"id":"1","name":"alice","via":"jwt"}`)
}
