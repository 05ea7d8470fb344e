// Package browser tests the demo in a real browser: Debian's headless
// Chromium, driven through the DevTools protocol by chromedp.
//
// The test skips when /usr/bin/chromium is missing (apt-get install -y
// chromium) and with -short; with AUTHKIT_BROWSER_REQUIRED set (as in CI) a
// missing Chromium fails it instead. Set AUTHKIT_SCREENSHOT_DIR to keep the
// screenshots; otherwise they go to a temporary directory that the test
// removes, and the log names them.
package browser

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
)

const chromiumPath = "/usr/bin/chromium"

// stepTimeout bounds each group of browser actions.
const stepTimeout = 30 * time.Second

func TestBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: skipping the browser test")
	}
	if _, err := os.Stat(chromiumPath); err != nil {
		if os.Getenv("AUTHKIT_BROWSER_REQUIRED") != "" {
			t.Fatalf("%s not found (%v), and AUTHKIT_BROWSER_REQUIRED is set: install it with apt-get install -y chromium", chromiumPath, err)
		}
		t.Skipf("%s not found (%v): install Chromium with apt-get install -y chromium to run the browser test", chromiumPath, err)
	}
	url := startDemo(t)
	ctx := newBrowser(t)
	console := watchConsole(ctx)

	t.Run("login form renders", func(t *testing.T) {
		do(t, ctx,
			chromedp.Navigate(url+"/"),
			chromedp.WaitVisible(chromedp.ID("login-form")),
			chromedp.WaitVisible(chromedp.ID("username")),
			chromedp.WaitVisible(chromedp.ID("password")),
		)
		title := run(t, ctx, chromedp.Title())
		if title != "authkit demo" {
			t.Errorf("title %q", title)
		}
		button := run(t, ctx, chromedp.Text(chromedp.ID("login")))
		if button != "Sign in" {
			t.Errorf("login button %q, want \"Sign in\"", button)
		}
		// The form posts to the session login route.
		action := run(t, ctx, chromedp.Evaluate[string](`document.getElementById("login-form").action`))
		if action != url+"/session/login" {
			t.Errorf("form action %q, want %s/session/login", action, url)
		}
		screenshot(t, ctx, "signed-out.png")
	})

	// The playground's script runs (the page's Content-Security-Policy lets
	// /static/app.js in) and, without a token, the API refuses it.
	t.Run("playground calls the API", func(t *testing.T) {
		do(t, ctx, chromedp.Click(chromedp.ID("call-me")))
		out := run(t, ctx, chromedp.Poll[string](
			`document.getElementById("output").textContent.includes("GET /api/me") && document.getElementById("output").textContent`,
			chromedp.WithPollingTimeout(stepTimeout)))
		if !strings.Contains(out, "401") || !strings.Contains(out, `WWW-Authenticate: Bearer realm="authkit"`) {
			t.Errorf("playground output %q: want the 401 and its challenge", out)
		}
	})

	t.Run("wrong password", func(t *testing.T) {
		do(t, ctx,
			chromedp.Navigate(url+"/"),
			chromedp.WaitVisible(chromedp.ID("login-form")),
			chromedp.SendKeys(chromedp.ID("username"), "alice"),
			chromedp.SendKeys(chromedp.ID("password"), "wrong"),
			chromedp.Click(chromedp.ID("login")),
			chromedp.WaitVisible(chromedp.ID("login-error")),
		)
		if msg := run(t, ctx, chromedp.Text(chromedp.ID("login-error"))); msg != "Wrong user name or password." {
			t.Errorf("login error %q", msg)
		}
		if c := sessionCookie(t, ctx, url); c != nil {
			t.Errorf("a failed login set the session cookie %s", c.Name)
		}
	})

	var oldCookie *network.Cookie
	t.Run("sign in", func(t *testing.T) {
		signIn(t, ctx, url, "alice")
		if name := run(t, ctx, chromedp.Text(chromedp.ID("user-name"))); name != "alice" {
			t.Errorf("signed in as %q, want alice", name)
		}
		screenshot(t, ctx, "signed-in.png")
		oldCookie = sessionCookie(t, ctx, url)
		if oldCookie == nil || !oldCookie.HTTPOnly || !oldCookie.Secure || oldCookie.Path != "/" || !oldCookie.Session {
			t.Fatalf("session cookie %+v: want HttpOnly, Secure (loopback keeps it), Path=/, a session cookie", oldCookie)
		}
		if status, body := apiMe(t, url, oldCookie); status != 200 || body != `{"id":"1","name":"alice","via":"session"}`+"\n" {
			t.Errorf("/api/me with the browser's cookie: %d %q", status, body)
		}
	})

	// The playground's tokens work beside the session: the access token
	// alone (the script omits cookies) and the refresh cookie, which the
	// script cannot read.
	t.Run("playground tokens", func(t *testing.T) {
		do(t, ctx, chromedp.Click(chromedp.ID("get-tokens")))
		first := waitToken(t, ctx, "none")
		do(t, ctx, chromedp.Click(chromedp.ID("call-me")))
		out := pollOutput(t, ctx, "GET /api/me")
		if !strings.Contains(out, "200") || !strings.Contains(out, `"via": "jwt"`) || !strings.Contains(out, `"name": "alice"`) {
			t.Errorf("playground /api/me output %q: want 200, alice via jwt", out)
		}
		do(t, ctx, chromedp.Click(chromedp.ID("refresh")))
		waitToken(t, ctx, first)
		if out := pollOutput(t, ctx, "POST /token/refresh"); !strings.Contains(out, "200") {
			t.Errorf("playground refresh output %q: want 200", out)
		}
		if doc := run(t, ctx, chromedp.Evaluate[string](`document.cookie`)); strings.Contains(doc, "refresh") || strings.Contains(doc, "session") {
			t.Errorf("document.cookie %q: scripts can read a credential cookie", doc)
		}
	})

	// DPoP (RFC 9449): the playground binds its tokens to a WebCrypto key
	// pair whose private key no script can read (extractable false, kept in
	// IndexedDB), signs a proof for every token request and API call, and a
	// copy of its access token is refused as Bearer.
	t.Run("playground DPoP tokens", func(t *testing.T) {
		do(t, ctx,
			chromedp.Navigate(url+"/"),
			chromedp.WaitVisible(chromedp.ID("token-form")),
			chromedp.Click(chromedp.ID("use-dpop")),
			chromedp.Click(chromedp.ID("get-tokens")),
		)
		token := waitToken(t, ctx, "none")
		if out := pollOutput(t, ctx, "POST /token"); !strings.Contains(out, "200") || !strings.Contains(out, `"token_type": "DPoP"`) {
			t.Errorf("playground POST /token output %q: want 200 and token_type DPoP", out)
		}
		if typ := run(t, ctx, chromedp.Text(chromedp.ID("token-type"))); typ != "DPoP" {
			t.Errorf("the page shows token type %q, want DPoP", typ)
		}
		// The page reports the key it holds: its private key is not
		// extractable.
		if got := run(t, ctx, chromedp.Text(chromedp.ID("dpop-extractable"))); got != "false" {
			t.Errorf("the page reports key.extractable %q, want false", got)
		}
		// The key itself, read from IndexedDB in the page: a private ECDSA
		// P-256 signing key that WebCrypto refuses to export, whose public
		// half is the key the token is bound to (cnf.jkt).
		key := storedDPoPKey(t, ctx)
		if key.Extractable || key.Type != "private" || key.Algorithm != "ECDSA P-256" || key.Usages != "sign" || key.Export != "InvalidAccessError" {
			t.Errorf("the stored DPoP key %+v: want a private, non-extractable ECDSA P-256 signing key whose export fails with InvalidAccessError", key)
		}
		jkt := key.thumbprint(t)
		if got := cnfJKT(t, token); got != jkt {
			t.Errorf("the token's cnf.jkt %q, want %q: the thumbprint of the browser's key", got, jkt)
		}
		if shown := run(t, ctx, chromedp.Text(chromedp.ID("dpop-jkt"))); shown != jkt {
			t.Errorf("the page shows thumbprint %q, want %q", shown, jkt)
		}

		do(t, ctx, chromedp.Click(chromedp.ID("call-me")))
		if out := pollOutput(t, ctx, "GET /api/me"); !strings.Contains(out, "200") || !strings.Contains(out, `"via": "jwt"`) || !strings.Contains(out, `"name": "alice"`) {
			t.Errorf("playground /api/me with DPoP, output %q: want 200, alice via jwt", out)
		}
		// A copy of the token sent as Bearer, from the page and from Go.
		want := []string{
			`Bearer realm="authkit", error="invalid_token", resource_metadata="` + url + `/.well-known/oauth-protected-resource"`,
			`DPoP realm="authkit", algs="ES256 ES384 ES512 EdDSA Ed25519 PS256 PS384 PS512 RS256 RS384 RS512"`,
		}
		do(t, ctx, chromedp.Click(chromedp.ID("call-me-bearer")))
		if out := pollOutput(t, ctx, "GET /api/me as Bearer"); !strings.Contains(out, "401") || !strings.Contains(out, "\nWWW-Authenticate: "+strings.Join(want, ", ")+"\n") {
			t.Errorf("playground /api/me with the token as Bearer, output %q: want 401 and WWW-Authenticate %q", out, want)
		}
		if status, challenges := apiMeBearer(t, url, token); status != 401 || !slices.Equal(challenges, want) {
			t.Errorf("/api/me with the copied token as Bearer: %d, WWW-Authenticate %q; want 401 and %q", status, challenges, want)
		}

		do(t, ctx, chromedp.Click(chromedp.ID("refresh")))
		refreshed := waitToken(t, ctx, token)
		if out := pollOutput(t, ctx, "POST /token/refresh"); !strings.Contains(out, "200") || !strings.Contains(out, `"token_type": "DPoP"`) {
			t.Errorf("playground refresh with DPoP, output %q: want 200 and token_type DPoP", out)
		}
		if got := cnfJKT(t, refreshed); got != jkt {
			t.Errorf("the refreshed token's cnf.jkt %q, want %q", got, jkt)
		}

		// After a reload the access token is gone, the refresh cookie and
		// the key stay: the bound refresh token refreshes only with a proof
		// by that key.
		do(t, ctx, chromedp.Reload(), chromedp.WaitVisible(chromedp.ID("token-form")))
		if run(t, ctx, chromedp.Evaluate[bool](`document.getElementById("use-dpop").checked`)) {
			t.Fatal("DPoP is checked after a reload; the test needs it unchecked")
		}
		do(t, ctx, chromedp.Click(chromedp.ID("refresh")))
		if out := pollOutput(t, ctx, "POST /token/refresh"); !strings.Contains(out, "400") || !strings.Contains(out, `"error": "invalid_dpop_proof"`) {
			t.Errorf("refresh of the bound token without a proof, output %q: want 400 invalid_dpop_proof", out)
		}
		do(t, ctx, chromedp.Click(chromedp.ID("use-dpop")), chromedp.Click(chromedp.ID("refresh")))
		again := waitToken(t, ctx, "none")
		if got := cnfJKT(t, again); got != jkt {
			t.Errorf("after a reload, the token's cnf.jkt %q, want %q: the key from IndexedDB", got, jkt)
		}
		do(t, ctx, chromedp.Click(chromedp.ID("call-me")))
		if out := pollOutput(t, ctx, "GET /api/me"); !strings.Contains(out, "200") || !strings.Contains(out, `"name": "alice"`) {
			t.Errorf("playground /api/me with DPoP after a reload, output %q: want 200, alice", out)
		}
		screenshot(t, ctx, "playground-dpop.png")
	})

	t.Run("log out", func(t *testing.T) {
		do(t, ctx,
			chromedp.Click(chromedp.ID("logout")),
			chromedp.WaitVisible(chromedp.ID("login-form")),
		)
		if c := sessionCookie(t, ctx, url); c != nil {
			t.Errorf("session cookie %s still in the browser after logout", c.Name)
		}
		screenshot(t, ctx, "signed-out-again.png")
		// The cookie the browser had is worth nothing now.
		if oldCookie != nil {
			if status, body := apiMe(t, url, oldCookie); status != 401 {
				t.Errorf("/api/me with the logged-out cookie: %d %q, want 401", status, body)
			}
		}
	})

	t.Run("log out everywhere", func(t *testing.T) {
		other := newBrowser(t)
		signIn(t, ctx, url, "alice")
		signIn(t, other, url, "alice")
		do(t, ctx,
			chromedp.Click(chromedp.ID("logout-everywhere")),
			chromedp.WaitVisible(chromedp.ID("login-form")),
		)
		// The same process: the bump is seen at once.
		do(t, other,
			chromedp.Reload(),
			chromedp.WaitVisible(chromedp.ID("login-form")),
		)
		if n := run(t, other, chromedp.Evaluate[int](`document.querySelectorAll("#signed-in").length`)); n != 0 {
			t.Error("the other browser still shows a signed-in user")
		}
	})

	// "Where you're signed in": the first browser ends the second's
	// session, which is logged out at its next request.
	t.Run("end another device", func(t *testing.T) {
		other := newBrowser(t)
		signIn(t, ctx, url, "alice")
		signIn(t, other, url, "alice")
		do(t, ctx, chromedp.Reload(), chromedp.WaitVisible(chromedp.ID("devices")))
		if n := run(t, ctx, chromedp.Evaluate[int](`document.querySelectorAll("li.device").length`)); n != 2 {
			t.Fatalf("the page lists %d devices, want this browser and the other", n)
		}
		run(t, ctx, chromedp.Evaluate[bool](`document.querySelector("li.device:not(.current) .end-device").click(), true`))
		run(t, ctx, chromedp.Poll[bool](`document.querySelectorAll("li.device").length === 1`, chromedp.WithPollingTimeout(stepTimeout)))
		do(t, other, chromedp.Reload(), chromedp.WaitVisible(chromedp.ID("login-form")))
		do(t, ctx, chromedp.Reload(), chromedp.WaitVisible(chromedp.ID("signed-in")))
	})

	console.check(t)
}

// newBrowser starts a fresh headless Chromium with its own profile and
// returns a chromedp context for one tab; the browser stops at the end of
// the test.
func newBrowser(t *testing.T) context.Context {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromiumPath),
		chromedp.Headless,
		chromedp.NoSandbox, // the tests run as root
		chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.NoFirstRun,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1000, 1000),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(allocCtx, chromedp.WithLogf(t.Logf))
	t.Cleanup(func() {
		cancel()
		cancelAlloc()
	})
	// The first action starts the browser; it must run on a context without
	// a timeout, which would stop the browser with it.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("starting %s: %v", chromiumPath, err)
	}
	return ctx
}

// do runs actions in the browser, within stepTimeout.
func do(t *testing.T, ctx context.Context, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	run(t, ctx, chromedp.Steps(actions...))
}

// run runs one action in the browser, within stepTimeout, and returns its
// value.
func run[T any](t *testing.T, ctx context.Context, a chromedp.Action[T]) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, stepTimeout)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// screenshot saves a PNG of the whole page and logs its path.
func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	dir := os.Getenv("AUTHKIT_SCREENSHOT_DIR")
	if dir == "" {
		dir = t.TempDir()
	}
	png := run(t, ctx, chromedp.FullScreenshot(100))
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", path)
}

// consoleLog collects what the page reports on its console.
type consoleLog struct {
	mu       sync.Mutex
	messages []chromedp.ConsoleMessage
}

func watchConsole(ctx context.Context) *consoleLog {
	l := &consoleLog{}
	messages := chromedp.Console(ctx) // subscribes now
	go func() {
		for m, err := range messages {
			if err != nil {
				return
			}
			l.mu.Lock()
			l.messages = append(l.messages, m)
			l.mu.Unlock()
		}
	}()
	return l
}

// check fails the test on an uncaught script error or a Content Security
// Policy violation. Failed requests (the expected 401s) are not errors here.
func (l *consoleLog) check(t *testing.T) {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, m := range l.messages {
		if m.IsException() || strings.Contains(m.Text, "Content Security Policy") {
			t.Errorf("browser console: %s", m)
		}
	}
}

// startDemo builds the demo (../demo, in the core module) and starts it on a
// free loopback port; it returns the URL the demo prints. The demo gets
// SIGINT at the end of the test.
func startDemo(t *testing.T, args ...string) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "demo")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Dir = filepath.Join("..", "demo")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building the demo: %v\n%s", err, out)
	}

	cmd := exec.Command(bin, append([]string{"-addr", "127.0.0.1:0"}, args...)...)
	stdout, stdoutW := io.Pipe() // closed once the demo has exited
	cmd.Stdout = stdoutW
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
		io.Copy(io.Discard, stdout)
	}()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGINT)
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			stdoutW.Close()
			if err != nil {
				t.Errorf("demo: %v; stderr:\n%s", err, stderr.String())
			}
		case <-time.After(20 * time.Second):
			cmd.Process.Kill()
			<-done
			stdoutW.Close()
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

// sessionCookieName is the demo's session cookie over plain HTTP.
const sessionCookieName = "__Host-session"

// signIn signs in through the page's form and waits for the signed-in view.
func signIn(t *testing.T, ctx context.Context, url, name string) {
	t.Helper()
	do(t, ctx,
		chromedp.Navigate(url+"/"),
		chromedp.WaitVisible(chromedp.ID("login-form")),
		chromedp.SendKeys(chromedp.ID("username"), name),
		chromedp.SendKeys(chromedp.ID("password"), name+"-password"),
		chromedp.Click(chromedp.ID("login")),
		chromedp.WaitVisible(chromedp.ID("signed-in")),
	)
}

// sessionCookie returns the browser's session cookie for url, or nil.
func sessionCookie(t *testing.T, ctx context.Context, url string) *network.Cookie {
	t.Helper()
	cookies := run(t, ctx, func(ctx context.Context, tg *chromedp.Target) ([]*network.Cookie, error) {
		res, err := cdp.Call(ctx, tg, network.GetCookies, network.GetCookiesParams{URLs: []string{url + "/"}})
		return res.Cookies, err
	})
	for _, c := range cookies {
		if c.Name == sessionCookieName {
			return c
		}
	}
	return nil
}

// apiMe calls /api/me with cookie from a Go client, outside the browser.
func apiMe(t *testing.T, url string, cookie *network.Cookie) (int, string) {
	t.Helper()
	req, err := http.NewRequest("GET", url+"/api/me", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.AddCookie(&http.Cookie{Name: cookie.Name, Value: cookie.Value})
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

// waitToken waits until the playground shows an access token other than
// old and returns it.
func waitToken(t *testing.T, ctx context.Context, old string) string {
	t.Helper()
	js := `(() => { const s = document.getElementById("access-token").textContent; return s !== ` + strconv.Quote(old) + ` && s; })()`
	return run(t, ctx, chromedp.Poll[string](js, chromedp.WithPollingTimeout(stepTimeout)))
}

// pollOutput waits until the playground's output starts with label and
// returns it.
func pollOutput(t *testing.T, ctx context.Context, label string) string {
	t.Helper()
	js := `(() => { const s = document.getElementById("output").textContent; return s.startsWith(` + strconv.Quote(label+" → ") + `) && s; })()`
	return run(t, ctx, chromedp.Poll[string](js, chromedp.WithPollingTimeout(stepTimeout)))
}

// apiMeBearer calls /api/me with token as a bearer token from a Go client,
// outside the browser, and returns the status and the WWW-Authenticate
// challenges.
func apiMeBearer(t *testing.T, url, token string) (int, []string) {
	t.Helper()
	req, err := http.NewRequest("GET", url+"/api/me", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode, resp.Header.Values("WWW-Authenticate")
}

// cnfJKT is the cnf.jkt claim of a JWT (not verified: the demo did).
func cnfJKT(t *testing.T, token string) string {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("access token %q is not a JWT", token)
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var c struct {
		Cnf struct {
			JKT string `json:"jkt"`
		} `json:"cnf"`
	}
	if err := json.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}
	return c.Cnf.JKT
}

// dpopKeyReport is what the page's IndexedDB holds as its DPoP key.
type dpopKeyReport struct {
	Extractable bool   `json:"extractable"` // of the private key
	Type        string `json:"type"`
	Algorithm   string `json:"algorithm"` // name and curve
	Usages      string `json:"usages"`
	Export      string `json:"export"` // the error of exporting the private key ("exported" if it worked)
	Crv, X, Y   string // the public key, as WebCrypto exports it
}

// storedDPoPKey reads the playground's DPoP key pair from IndexedDB in the
// page and tries to export its private key.
func storedDPoPKey(t *testing.T, ctx context.Context) dpopKeyReport {
	t.Helper()
	const js = `(async () => {
  const req = (r) => new Promise((ok, no) => { r.onsuccess = () => ok(r.result); r.onerror = () => no(r.error); });
  const db = await req(indexedDB.open("authkit-demo"));
  const pair = await req(db.transaction("keys").objectStore("keys").get("dpop"));
  db.close();
  const k = pair.privateKey;
  let exported = "exported";
  try { await crypto.subtle.exportKey("pkcs8", k); } catch (e) { exported = e.name; }
  try { await crypto.subtle.exportKey("jwk", k); exported = "exported"; } catch (_) {}
  const pub = await crypto.subtle.exportKey("jwk", pair.publicKey);
  return JSON.stringify({
    extractable: k.extractable, type: k.type, algorithm: k.algorithm.name + " " + k.algorithm.namedCurve,
    usages: k.usages.join(" "), export: exported, Crv: pub.crv, X: pub.x, Y: pub.y,
  });
})()`
	raw := run(t, ctx, chromedp.Evaluate[string](js, chromedp.EvalAwaitPromise))
	var r dpopKeyReport
	if err := json.Unmarshal([]byte(raw), &r); err != nil {
		t.Fatalf("the page's DPoP key %q: %v", raw, err)
	}
	return r
}

// thumbprint is the RFC 7638 SHA-256 thumbprint of the public EC key.
func (r dpopKeyReport) thumbprint(t *testing.T) string {
	t.Helper()
	if r.Crv != "P-256" || r.X == "" || r.Y == "" {
		t.Fatalf("the page's public DPoP key: crv %q, x %q, y %q", r.Crv, r.X, r.Y)
	}
	sum := sha256.Sum256([]byte(`{"crv":"` + r.Crv + `","kty":"EC","x":"` + r.X + `","y":"` + r.Y + `"}`))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}
