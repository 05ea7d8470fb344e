package server

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"flag"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/authkit-go/authkit"
)

// env returns a getenv over m.
func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestParseConfigDefaults(t *testing.T) {
	c, err := parseConfig(nil, env(nil))
	if err != nil {
		t.Fatal(err)
	}
	want := config{addr: "127.0.0.1:8080", audience: "authkit-demo", accessTTL: 5 * time.Minute, refreshTTL: 24 * time.Hour,
		dbTimeout: 10 * time.Second, grace: 10 * time.Second}
	if c != want {
		t.Errorf("defaults: got %+v, want %+v", c, want)
	}
}

func TestParseConfigEnvironmentAndFlags(t *testing.T) {
	e := env(map[string]string{
		"AUTHKIT_ADDR":        "127.0.0.1:9000",
		"DATABASE_URL":        "postgres://db/x",
		"AUTHKIT_SIGNING_KEY": "/keys/env.pem",
	})
	c, err := parseConfig(nil, e)
	if err != nil {
		t.Fatal(err)
	}
	if c.addr != "127.0.0.1:9000" || c.databaseURL != "postgres://db/x" || c.signingKey != "/keys/env.pem" {
		t.Errorf("from the environment: got %+v", c)
	}

	c, err = parseConfig([]string{
		"-addr", "[::1]:0", "-database-url", "postgres://db/y", "-signing-key", "/keys/flag.pem",
		"-issuer", "https://id.example", "-audience", "api", "-access-ttl", "90s", "-refresh-ttl", "1h",
	}, e)
	if err != nil {
		t.Fatal(err)
	}
	want := config{
		addr: "[::1]:0", databaseURL: "postgres://db/y", signingKey: "/keys/flag.pem",
		issuer: "https://id.example", audience: "api", accessTTL: 90 * time.Second, refreshTTL: time.Hour,
		dbTimeout: 10 * time.Second, grace: 10 * time.Second,
	}
	if c != want {
		t.Errorf("flags over the environment: got %+v, want %+v", c, want)
	}
}

// badArgs are command lines that must end the demo with status 2 and one
// line on stderr. The process-level test runs them through the binary too.
var badArgs = [][]string{
	{"-no-such-flag"},
	{"-access-ttl", "soon"},
	{"-access-ttl", "0s"},
	{"-access-ttl", "2h"},
	{"-access-ttl", "1.5s"},
	{"-refresh-ttl", "-1h"},
	{"-refresh-ttl", "10ms"},
	{"-audience", ""},
	{"-addr", ""},
	{"extra-argument"},
	{"-signing-key", "/nonexistent/key.pem"},
}

func TestRunUsageErrors(t *testing.T) {
	for _, args := range badArgs {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := Run(context.Background(), args, env(nil), &stdout, &stderr)
			if code != exitUsage {
				t.Errorf("exit status %d, want %d", code, exitUsage)
			}
			checkOneLine(t, stderr.String())
			if stdout.Len() != 0 {
				t.Errorf("stdout: %q, want nothing", stdout.String())
			}
		})
	}
}

// checkOneLine checks that s is exactly one line starting with "demo: ".
func checkOneLine(t *testing.T, s string) {
	t.Helper()
	if !strings.HasPrefix(s, "demo: ") || !strings.HasSuffix(s, "\n") || strings.Count(s, "\n") != 1 {
		t.Errorf("stderr %q: want one line starting with \"demo: \"", s)
	}
}

// TestRunTextMetrics: in the core build, -metrics serves the kit's
// counters in the Prometheus text format on a listener of its own.
func TestRunTextMetrics(t *testing.T) {
	p, urls := startRun(t, []string{"-addr", "127.0.0.1:0", "-metrics", "127.0.0.1:0"}, []string{listening, "authkit demo metrics on "})
	app, metrics := urls[0], urls[1]
	for range 2 {
		resp, err := http.Get(app + "/api/me")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("/api/me: %d", resp.StatusCode)
		}
	}
	resp, err := http.Get(metrics)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/plain; version=0.0.4; charset=utf-8" {
		t.Fatalf("%s: %d %q", metrics, resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	for _, want := range []string{
		"# TYPE authkit_decisions_total counter\n",
		"authkit_decisions_total{authkit_outcome=\"refused\",authkit_reason=\"no_credentials\"} 2\n",
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("metrics lack %q:\n%s", want, body)
		}
	}
	p.stop(t)
}

// TestRunExtension: an extension's flags parse with the demo's, its hook
// receives the kit's events, Observe gets the demo's caches, and its stop
// runs at shutdown.
func TestRunExtension(t *testing.T) {
	var flagValue string
	var mu sync.Mutex
	var events []authkit.EventType
	var observed, stopped bool
	ext := Extension{
		Flags: func(fs *flag.FlagSet) { fs.StringVar(&flagValue, "metrics", "", "test") },
		Start: func(ctx context.Context, stdout io.Writer) (func(context.Context, authkit.Event), func(), error) {
			return func(_ context.Context, e authkit.Event) {
					mu.Lock()
					events = append(events, e.Type)
					mu.Unlock()
				}, func() {
					mu.Lock()
					stopped = true
					mu.Unlock()
				}, nil
		},
		Observe: func(versions *authkit.VersionCache, jwts ...*authkit.JWT[*User]) {
			observed = versions != nil && len(jwts) == 1 && jwts[0] != nil
		},
	}
	p, urls := startRun(t, []string{"-addr", "127.0.0.1:0", "-metrics", "x"}, []string{listening}, ext)
	url := urls[0]
	resp, err := http.Get(url + "/api/me")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	p.stop(t)
	mu.Lock()
	defer mu.Unlock()
	if flagValue != "x" || !observed || !stopped || !slices.Contains(events, authkit.EventRefused) {
		t.Errorf("flag %q, observed %v, stopped %v, events %v", flagValue, observed, stopped, events)
	}
}

func TestRunHelp(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := Run(context.Background(), []string{"-h"}, env(nil), &stdout, &stderr); code != exitOK {
		t.Errorf("-h: exit status %d, want 0", code)
	}
	for _, f := range []string{"-addr", "-database-url", "-signing-key", "-issuer", "-audience", "-access-ttl", "-refresh-ttl"} {
		if !strings.Contains(stdout.String(), f) {
			t.Errorf("-h does not mention %s:\n%s", f, stdout.String())
		}
	}
	if stderr.Len() != 0 {
		t.Errorf("-h: stderr %q", stderr.String())
	}
}

func TestRunServesUntilCanceled(t *testing.T) {
	p, urls := startRun(t, []string{"-addr", "127.0.0.1:0"}, []string{listening})
	url := urls[0]
	resp, err := http.Get(url + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("/healthz: %d", resp.StatusCode)
	}
	p.stop(t)
}

// inProcess is the demo run by Run in this process, as a test drives it.
type inProcess struct {
	stdout, stderr *lockedBuffer
	cancel         context.CancelFunc
	done           chan int
}

// startRun runs Run with args and exts until the test stops it, and waits
// until stdout has a line starting with each of prefixes; it returns the
// rest of each such line.
func startRun(t *testing.T, args []string, prefixes []string, exts ...Extension) (*inProcess, []string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	p := &inProcess{stdout: &lockedBuffer{}, stderr: &lockedBuffer{}, cancel: cancel, done: make(chan int, 1)}
	go func() { p.done <- Run(ctx, args, env(nil), p.stdout, p.stderr, exts...) }()
	found := make([]string, len(prefixes))
	for deadline := time.Now().Add(10 * time.Second); slices.Contains(found, "") && time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		for _, l := range strings.Split(p.stdout.String(), "\n") {
			for i, prefix := range prefixes {
				if rest, ok := strings.CutPrefix(l, prefix); ok {
					found[i] = rest
				}
			}
		}
	}
	if slices.Contains(found, "") {
		cancel()
		t.Fatalf("stdout lacks %q; stdout %q, stderr %q", prefixes, p.stdout, p.stderr)
	}
	return p, found
}

// stop cancels the run and reports whether it returned exitOK in time.
func (p *inProcess) stop(t *testing.T) {
	t.Helper()
	p.cancel()
	select {
	case code := <-p.done:
		if code != exitOK {
			t.Errorf("exit status %d after cancel; stderr %q", code, p.stderr)
		}
	case <-time.After(stopTimeout):
		t.Fatal("Run did not return after its context was canceled")
	}
}

const listening = "authkit demo listening on "

func TestLoadSigningKey(t *testing.T) {
	for kind, alg := range map[string]string{"ec": "ES256", "ed25519": "EdDSA", "rsa": "RS256"} {
		t.Run(kind, func(t *testing.T) {
			_, key := writeKeyFile(t, kind)
			if key.alg != alg {
				t.Errorf("alg %q, want %q", key.alg, alg)
			}
			if len(key.kid) != 43 { // base64url of a SHA-256
				t.Errorf("kid %q is not a SHA-256 thumbprint", key.kid)
			}
		})
	}

	t.Run("fresh", func(t *testing.T) {
		k1, err := loadSigningKey("")
		if err != nil {
			t.Fatal(err)
		}
		k2, _ := loadSigningKey("")
		if k1.alg != "ES256" || k1.kid == k2.kid {
			t.Errorf("fresh keys: alg %q, kids %q and %q: want ES256 and two different keys", k1.alg, k1.kid, k2.kid)
		}
	})

	// The kid is the RFC 7638 thumbprint, computed here by hand.
	t.Run("thumbprint", func(t *testing.T) {
		_, key := writeKeyFile(t, "ec")
		pub := key.signer.Public().(*ecdsa.PublicKey)
		raw, err := pub.Bytes() // 0x04 || X || Y
		if err != nil {
			t.Fatal(err)
		}
		enc := base64.RawURLEncoding
		canon := `{"crv":"P-256","kty":"EC","x":"` + enc.EncodeToString(raw[1:33]) + `","y":"` + enc.EncodeToString(raw[33:]) + `"}`
		sum := sha256.Sum256([]byte(canon))
		if want := enc.EncodeToString(sum[:]); key.kid != want {
			t.Errorf("kid %q, want the thumbprint %q", key.kid, want)
		}
	})
}

func TestLoadSigningKeyErrors(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	pkcs8 := func(k any) []byte {
		der, err := x509.MarshalPKCS8PrivateKey(k)
		if err != nil {
			t.Fatal(err)
		}
		return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	}
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	rsa1024, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	p256, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	sec1, _ := x509.MarshalECPrivateKey(p256)

	for name, path := range map[string]string{
		"missing":     filepath.Join(dir, "nope.pem"),
		"empty":       write("empty.pem", nil),
		"not PEM":     write("garbage.pem", []byte("hello")),
		"SEC1 block":  write("sec1.pem", pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: sec1})),
		"bad DER":     write("der.pem", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte{1, 2, 3}})),
		"P-384":       write("p384.pem", pkcs8(p384)),
		"RSA 1024":    write("rsa1024.pem", pkcs8(rsa1024)),
		"two blocks":  write("two.pem", append(pkcs8(p256), pkcs8(p256)...)),
		"public key":  write("pub.pem", pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: mustPKIX(t, &p256.PublicKey)})),
		"a directory": dir,
	} {
		t.Run(name, func(t *testing.T) {
			if k, err := loadSigningKey(path); err == nil {
				t.Errorf("loaded a %s key from %s; want an error", k.alg, name)
			}
			var stdout, stderr bytes.Buffer
			if code := Run(context.Background(), []string{"-signing-key", path}, env(nil), &stdout, &stderr); code != exitUsage {
				t.Errorf("run: exit status %d, want %d", code, exitUsage)
			}
			checkOneLine(t, stderr.String())
		})
	}
}

func mustPKIX(t *testing.T, pub any) []byte {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func TestUserStoreCheck(t *testing.T) {
	s := newUserStore()
	for _, tc := range []struct {
		name, password string
		wantID         string // "" for refused
	}{
		{"alice", "alice-password", "1"},
		{"bob", "bob-password", "2"},
		{"alice", "bob-password", ""},
		{"alice", "", ""},
		{"Alice", "alice-password", ""},
		{"carol", "no such user", ""}, // the dummy hash's password
		{"", "", ""},
	} {
		u, ok := s.check(tc.name, tc.password)
		switch {
		case tc.wantID == "" && ok:
			t.Errorf("check(%q, %q) accepted user %v", tc.name, tc.password, u)
		case tc.wantID != "" && (!ok || u.ID != tc.wantID || u.Name != tc.name):
			t.Errorf("check(%q, %q) = %v, %v; want user %s", tc.name, tc.password, u, ok, tc.wantID)
		}
	}
}

// newTestApp returns the demo's handler with a fresh key and the issuer
// testIssuer, in process.
func newTestApp(t *testing.T) (http.Handler, *signingKey) {
	t.Helper()
	_, key := writeKeyFile(t, "ec")
	cfg, err := parseConfig([]string{"-issuer", testIssuer}, env(nil))
	if err != nil {
		t.Fatal(err)
	}
	a, err := newApp(context.Background(), cfg, key)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	return a.routes(), key
}

func TestRoutes(t *testing.T) {
	h, key := newTestApp(t)
	_, otherKey := writeKeyFile(t, "ec")
	token := func(k *signingKey, iss, aud, sub string, ttl time.Duration) string {
		return signAccessToken(t, k, iss, aud, sub, ttl)
	}
	challenge := withMetadata(testIssuer, `Bearer realm="authkit"`)
	refused := withMetadata(testIssuer, `Bearer realm="authkit", error="invalid_token"`)

	for _, tc := range []struct {
		name     string
		method   string
		path     string
		header   http.Header
		status   int
		wwwAuth  string // exact WWW-Authenticate, "" for none
		body     string // exact body, "" to skip
		contains string // a substring of the body, "" to skip
		ctype    string // Content-Type prefix, "" to skip
	}{
		{name: "healthz", method: "GET", path: "/healthz", status: 200, body: "ok", ctype: "text/plain"},
		{name: "page", method: "GET", path: "/", status: 200, contains: `<form method="post" action="/session/login" id="login-form">`, ctype: "text/html"},
		{name: "no other page", method: "GET", path: "/nope", status: 404},
		{name: "script", method: "GET", path: "/static/app.js", status: 200, contains: "/token/refresh", ctype: "text/javascript"},
		{name: "jwks", method: "GET", path: "/.well-known/jwks.json", status: 200, contains: `"kid":"` + key.kid + `"`, ctype: "application/jwk-set+json"},
		{name: "me without token", method: "GET", path: "/api/me", status: 401, wwwAuth: challenge},
		{name: "me with token", method: "GET", path: "/api/me",
			header: bearer(token(key, testIssuer, "authkit-demo", "1", time.Minute)),
			status: 200, body: `{"id":"1","name":"alice","via":"jwt"}` + "\n", ctype: "application/json"},
		{name: "me as bob", method: "GET", path: "/api/me",
			header: bearer(token(key, testIssuer, "authkit-demo", "2", time.Minute)),
			status: 200, body: `{"id":"2","name":"bob","via":"jwt"}` + "\n"},
		{name: "expired token", method: "GET", path: "/api/me",
			header: bearer(token(key, testIssuer, "authkit-demo", "1", -time.Minute)), status: 401, wwwAuth: refused},
		{name: "unknown user", method: "GET", path: "/api/me",
			header: bearer(token(key, testIssuer, "authkit-demo", "3", time.Minute)), status: 401, wwwAuth: refused},
		{name: "wrong audience", method: "GET", path: "/api/me",
			header: bearer(token(key, testIssuer, "other", "1", time.Minute)), status: 401, wwwAuth: refused},
		{name: "wrong issuer", method: "GET", path: "/api/me",
			header: bearer(token(key, "http://evil.example", "authkit-demo", "1", time.Minute)), status: 401, wwwAuth: refused},
		{name: "another key", method: "GET", path: "/api/me",
			header: bearer(token(otherKey, testIssuer, "authkit-demo", "1", time.Minute)), status: 401, wwwAuth: refused},
		{name: "lifetime over access-ttl", method: "GET", path: "/api/me",
			header: bearer(token(key, testIssuer, "authkit-demo", "1", time.Hour)), status: 401, wwwAuth: refused},
		{name: "cross-origin POST", method: "POST", path: "/session/login",
			header: http.Header{"Sec-Fetch-Site": {"cross-site"}}, status: 403},
		{name: "cross-origin POST by Origin", method: "POST", path: "/logout-everywhere",
			header: http.Header{"Origin": {"http://evil.example"}}, status: 403},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest(tc.method, tc.path, nil)
			for k, v := range tc.header {
				req.Header[k] = v
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != tc.status {
				t.Errorf("status %d, want %d; body %q", rec.Code, tc.status, rec.Body)
			}
			if got := rec.Header().Get("WWW-Authenticate"); got != tc.wwwAuth {
				t.Errorf("WWW-Authenticate %q, want %q", got, tc.wwwAuth)
			}
			if tc.body != "" && rec.Body.String() != tc.body {
				t.Errorf("body %q, want %q", rec.Body, tc.body)
			}
			if tc.contains != "" && !strings.Contains(rec.Body.String(), tc.contains) {
				t.Errorf("body does not contain %q:\n%s", tc.contains, rec.Body)
			}
			if got := rec.Header().Get("Content-Type"); !strings.HasPrefix(got, tc.ctype) {
				t.Errorf("Content-Type %q, want %q…", got, tc.ctype)
			}
		})
	}
}

func TestPageHeaders(t *testing.T) {
	h, _ := newTestApp(t)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	for name, want := range map[string]string{
		"Cache-Control":           "no-store",
		"Content-Security-Policy": "default-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
		"X-Content-Type-Options":  "nosniff",
	} {
		if got := rec.Header().Get(name); got != want {
			t.Errorf("%s: %q, want %q", name, got, want)
		}
	}
	// No inline script: the CSP would block it.
	if strings.Contains(rec.Body.String(), "<script>") {
		t.Error("the page has an inline script")
	}
}

// The signed-in view, rendered directly (contract_test.go reaches it
// through a session).
func TestPageSignedIn(t *testing.T) {
	_, key := writeKeyFile(t, "ec")
	cfg, _ := parseConfig([]string{"-issuer", testIssuer}, env(nil))
	a, err := newApp(context.Background(), cfg, key)
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	a.renderPage(rec, http.StatusOK, pageData{User: &User{ID: "1", Name: "<alice>"}})
	body := rec.Body.String()
	for _, want := range []string{
		`<strong id="user-name">&lt;alice&gt;</strong>`,
		`<form method="post" action="/session/logout" id="logout-form">`,
		`<form method="post" action="/logout-everywhere" id="logout-everywhere-form">`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("signed-in page lacks %s", want)
		}
	}
	if strings.Contains(body, `id="login-form"`) {
		t.Error("signed-in page shows the login form")
	}

	rec = httptest.NewRecorder()
	a.renderPage(rec, http.StatusUnauthorized, pageData{Error: "Wrong user name or password."})
	if rec.Code != http.StatusUnauthorized || !strings.Contains(rec.Body.String(), `<p class="error" role="alert" id="login-error">Wrong user name or password.</p>`) {
		t.Errorf("failed-login page: %d\n%s", rec.Code, rec.Body)
	}
}

func TestJWKSIsPublic(t *testing.T) {
	for _, kind := range []string{"ec", "ed25519", "rsa"} {
		_, key := writeKeyFile(t, kind)
		cfg, _ := parseConfig([]string{"-issuer", testIssuer}, env(nil))
		a, err := newApp(context.Background(), cfg, key)
		if err != nil {
			t.Fatal(err)
		}
		rec := httptest.NewRecorder()
		a.issuer.JWKSHandler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/.well-known/jwks.json", nil))
		b := rec.Body.Bytes()
		if rec.Code != http.StatusOK {
			t.Fatalf("%s: JWKS: %d %s", kind, rec.Code, b)
		}
		var set struct{ Keys []map[string]any }
		if err := json.Unmarshal(b, &set); err != nil || len(set.Keys) != 1 {
			t.Fatalf("%s: %s: %v", kind, b, err)
		}
		k := set.Keys[0]
		if k["kid"] != key.kid || k["alg"] != key.alg || k["use"] != "sig" {
			t.Errorf("%s: kid/alg/use %v/%v/%v, want %s/%s/sig", kind, k["kid"], k["alg"], k["use"], key.kid, key.alg)
		}
		for _, private := range []string{"d", "p", "q", "dp", "dq", "qi"} {
			if _, ok := k[private]; ok {
				t.Errorf("%s: the JWK Set publishes the private parameter %q", kind, private)
			}
		}
	}
}

// TestHealthzReportsTheStore (issue 10, item 16): /healthz is 503 while the
// database does not answer, 200 while it does.
func TestHealthzReportsTheStore(t *testing.T) {
	dsn := testDatabase(t)
	_, key := writeKeyFile(t, "ec")
	cfg, err := parseConfig([]string{"-issuer", testIssuer, "-database-url", dsn}, env(nil))
	if err != nil {
		t.Fatal(err)
	}
	a, err := newApp(context.Background(), cfg, key)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	h := a.routes()
	get := func() int {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", "/healthz", nil))
		return rec.Code
	}
	if code := get(); code != 200 {
		t.Fatalf("/healthz with the database up: %d", code)
	}
	if s := a.db.Stats(); s.MaxOpenConnections != dbPoolSize {
		t.Errorf("pool of %d connections, want %d", s.MaxOpenConnections, dbPoolSize)
	}
	a.db.Close() // the store stops answering
	if code := get(); code != 503 {
		t.Fatalf("/healthz with the database gone: %d, want 503", code)
	}
}

// TestStartupDatabaseDeadline (item 16): a database that accepts
// connections but never answers fails the start within -db-timeout.
func TestStartupDatabaseDeadline(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close() // hold it open, say nothing
		}
	}()
	_, key := writeKeyFile(t, "ec")
	cfg, err := parseConfig([]string{"-issuer", testIssuer, "-db-timeout", "300ms",
		"-database-url", "postgres://u@" + ln.Addr().String() + "/db?sslmode=disable"}, env(nil))
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if a, err := newApp(context.Background(), cfg, key); err == nil {
		a.Close()
		t.Fatal("started on a database that never answers")
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("start-up gave up after %v, want about 300ms", d)
	}
}

// TestBrowserGetsNoRefreshTokenInBody (item 17): POST /token from a browser
// (Fetch Metadata headers) puts the refresh token in the cookie only; other
// clients get it in the body too.
func TestBrowserGetsNoRefreshTokenInBody(t *testing.T) {
	h, _ := newTestApp(t)
	for _, browser := range []bool{false, true} {
		req := httptest.NewRequest("POST", "/token", strings.NewReader(`{"username":"alice","password":"alice-password"}`))
		req.Header.Set("Content-Type", "application/json")
		if browser {
			req.Header.Set("Sec-Fetch-Mode", "cors")
			req.Header.Set("Sec-Fetch-Site", "same-origin")
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		var body map[string]any
		if rec.Code != 200 || json.Unmarshal(rec.Body.Bytes(), &body) != nil || body["access_token"] == nil {
			t.Fatalf("browser=%v: %d %q", browser, rec.Code, rec.Body)
		}
		if _, inBody := body["refresh_token"]; inBody == browser {
			t.Errorf("browser=%v: refresh_token in the body: %v", browser, inBody)
		}
		if !strings.Contains(rec.Header().Get("Set-Cookie"), "__Secure-authkit-refresh=") || rec.Header().Get("Cache-Control") != "no-store" {
			t.Errorf("browser=%v: headers %v", browser, rec.Header())
		}
	}
}

// -log-level sets the least level logged (info by default: one line per
// request and per decision); a name slog does not know is a usage error.
func TestParseConfigLogLevel(t *testing.T) {
	c, err := parseConfig([]string{"-log-level", "warn"}, env(nil))
	if err != nil || c.logLevel != slog.LevelWarn {
		t.Fatalf("-log-level warn: %v, %v", c.logLevel, err)
	}
	if _, err := parseConfig([]string{"-log-level", "loud"}, env(nil)); err == nil {
		t.Fatal("-log-level loud accepted")
	}
}
