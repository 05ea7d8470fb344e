package server

// Tests of trust.go: the -trust-* flags, trusted issuers' tokens at
// /api/me, and the scope /api/scoped requires, with an in-process OpenID
// provider from authkittest standing in for the external issuer.

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/authkit-go/authkit/authkittest"
)

const insufficient = `Bearer realm="authkit", error="insufficient_scope", scope="demo:read"`

func TestParseConfigTrust(t *testing.T) {
	e := env(map[string]string{"AUTHKIT_TRUST_ISSUERS": "https://a.example, https://b.example/realms/x,"})
	c, err := parseConfig([]string{"-trust-audience", "api"}, e)
	if err != nil {
		t.Fatal(err)
	}
	if c.trust == nil || !slices.Equal(c.trust.issuers.urls, []string{"https://a.example", "https://b.example/realms/x"}) ||
		c.trust.audience != "api" || c.trust.profile != "rfc9068" || c.trust.insecureHTTP {
		t.Errorf("from the environment: %+v", c.trust)
	}
	c, err = parseConfig([]string{"-trust-issuer", "https://c.example", "-trust-issuer", "http://127.0.0.1:9/x",
		"-trust-audience", "api", "-trust-profile", "keycloak", "-trust-insecure-http"}, e)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(c.trust.issuers.urls, []string{"https://c.example", "http://127.0.0.1:9/x"}) ||
		c.trust.profile != "keycloak" || !c.trust.insecureHTTP {
		t.Errorf("flags over the environment: %+v", c.trust)
	}
}

// badTrustArgs are -trust-* combinations that end the demo with status 2
// and one line on stderr.
var badTrustArgs = [][]string{
	{"-trust-issuer", "https://id.example"}, // no audience
	{"-trust-audience", "api"},              // no issuer
	{"-trust-insecure-http"},                // no issuer
	{"-trust-profile", "keycloak"},          // no issuer
	{"-trust-issuer", "https://id.example", "-trust-audience", "api", "-trust-profile", "nonesuch"},
	{"-trust-issuer", "http://127.0.0.1:9", "-trust-audience", "api"},                        // http without the opt-in
	{"-trust-issuer", "http://id.example", "-trust-audience", "api", "-trust-insecure-http"}, // not loopback
	{"-trust-issuer", "ftp://id.example", "-trust-audience", "api"},
	{"-trust-issuer", "https://id.example?x=1", "-trust-audience", "api"},
	{"-trust-issuer", "id.example", "-trust-audience", "api"},
	{"-trust-issuer", "https://id.example", "-trust-issuer", "https://id.example", "-trust-audience", "api"},
}

func TestRunTrustUsageErrors(t *testing.T) {
	for _, args := range badTrustArgs {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			if code := Run(context.Background(), args, env(nil), &stdout, &stderr); code != exitUsage {
				t.Errorf("exit status %d, want %d", code, exitUsage)
			}
			checkOneLine(t, stderr.String())
		})
	}
	t.Run("environment without audience", func(t *testing.T) {
		var stdout, stderr bytes.Buffer
		e := env(map[string]string{"AUTHKIT_TRUST_ISSUERS": "https://id.example"})
		if code := Run(context.Background(), nil, e, &stdout, &stderr); code != exitUsage {
			t.Errorf("exit status %d, want %d", code, exitUsage)
		}
		checkOneLine(t, stderr.String())
	})
}

// newTrustApp is newTestApp with extra flags; it waits until the trusted
// issuers' keys are fetched.
func newTrustApp(t *testing.T, args ...string) http.Handler {
	t.Helper()
	_, key := writeKeyFile(t, "ec")
	cfg, err := parseConfig(append([]string{"-issuer", testIssuer}, args...), env(nil))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	a, err := newApp(ctx, cfg, key)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	if err := authkittest.WaitReady(a.apiBearer); err != nil {
		t.Fatal(err)
	}
	return a.routes()
}

// get answers GET path with header through h.
func get(h http.Handler, path string, header http.Header) *httptest.ResponseRecorder {
	req := httptest.NewRequest("GET", path, nil)
	for k, v := range header {
		req.Header[k] = v
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

// ownToken gets an access token of the demo for name through POST /token.
func ownToken(t *testing.T, h http.Handler, name string) string {
	t.Helper()
	req := httptest.NewRequest("POST", "/token", strings.NewReader(`{"username":"`+name+`","password":"`+name+`-password"}`))
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if rec.Code != 200 || json.Unmarshal(rec.Body.Bytes(), &tok) != nil || tok.AccessToken == "" {
		t.Fatalf("POST /token as %s: %d %s", name, rec.Code, rec.Body)
	}
	return tok.AccessToken
}

type wantResp struct {
	status  int
	wwwAuth string
	body    string // exact, without the newline; "" to skip
}

func check(t *testing.T, rec *httptest.ResponseRecorder, w wantResp) {
	t.Helper()
	if rec.Code != w.status || rec.Header().Get("WWW-Authenticate") != w.wwwAuth ||
		(w.body != "" && rec.Body.String() != w.body+"\n") {
		t.Errorf("got %d, WWW-Authenticate %q, body %q; want %d, %q, %q",
			rec.Code, rec.Header().Get("WWW-Authenticate"), rec.Body, w.status, w.wwwAuth, w.body)
	}
}

// TestScoped: the demo's tokens for alice carry demo:read, bob's none; a
// session has no scopes.
func TestScoped(t *testing.T) {
	h := newTrustApp(t)
	alice, bob := ownToken(t, h, "alice"), ownToken(t, h, "bob")
	check(t, get(h, "/api/scoped", bearer(alice)), wantResp{200, "", `{"id":"1","name":"alice","via":"jwt"}`})
	check(t, get(h, "/api/scoped", bearer(bob)), wantResp{403, insufficient, ""})
	// Without a token: 401, whose challenge names the scope the route needs
	// and the resource metadata (RFC 9728 §5.1).
	check(t, get(h, "/api/scoped", nil), wantResp{401, `Bearer realm="authkit", scope="demo:read", resource_metadata="http://authkit-demo.test/.well-known/oauth-protected-resource"`, ""})
	check(t, get(h, "/api/me", bearer(bob)), wantResp{200, "", `{"id":"2","name":"bob","via":"jwt"}`})
}

// TestTrustedIssuers: two external providers, each trusted by URL alone;
// their tokens reach /api/me with "iss", judged by their own scope at
// /api/scoped; their ID tokens, expired tokens and tokens for another
// audience are refused; the demo's own tokens still work.
func TestTrustedIssuers(t *testing.T) {
	kc := authkittest.NewProvider("keycloak", "demo-api")
	defer kc.Close()
	kc2 := authkittest.NewProvider("keycloak", "demo-api")
	defer kc2.Close()
	h := newTrustApp(t, "-trust-issuer", kc.Issuer, "-trust-issuer", kc2.Issuer,
		"-trust-audience", "demo-api", "-trust-profile", "keycloak", "-trust-insecure-http")

	untrusted := authkittest.NewProvider("keycloak", "demo-api")
	defer untrusted.Close()

	carol := kc.AccessToken("carol-id", authkittest.Claim("name", "Carol"), authkittest.Scopes(demoScope))
	check(t, get(h, "/api/me", bearer(carol)), wantResp{200, "", `{"id":"carol-id","iss":"` + kc.Issuer + `","name":"Carol","via":"jwt"}`})
	check(t, get(h, "/api/scoped", bearer(carol)), wantResp{200, "", ""})
	// Without "name", Keycloak's preferred_username (here the subject) names
	// the user; a subject "1" of another issuer is not the demo's alice.
	one := kc2.AccessToken("1")
	check(t, get(h, "/api/me", bearer(one)), wantResp{200, "", `{"id":"1","iss":"` + kc2.Issuer + `","name":"1","via":"jwt"}`})
	check(t, get(h, "/api/scoped", bearer(one)), wantResp{403, insufficient, ""})

	for name, tok := range map[string]string{
		"ID token":            kc.IDToken("carol-id", authkittest.Scopes(demoScope)),
		"expired":             kc.AccessToken("carol-id", authkittest.Expired()),
		"another audience":    kc.AccessToken("carol-id", authkittest.Audience("other-api")),
		"issuer B's key":      kc2.AccessToken("carol-id", authkittest.Claim("iss", kc.Issuer)),
		"an untrusted issuer": untrusted.AccessToken("x"),
	} {
		t.Run(name, func(t *testing.T) {
			check(t, get(h, "/api/me", bearer(tok)), wantResp{401, withMetadata(testIssuer, refused), ""})
		})
	}
	alice := ownToken(t, h, "alice")
	check(t, get(h, "/api/me", bearer(alice)), wantResp{200, "", `{"id":"1","name":"alice","via":"jwt"}`})
	check(t, get(h, "/api/scoped", bearer(alice)), wantResp{200, "", ""})
}

// TestE2ETrustedIssuer runs the demo binary with -trust-issuer from the
// environment, pointed at an in-process provider over loopback http.
func TestE2ETrustedIssuer(t *testing.T) {
	p := authkittest.NewProvider("rfc9068", "demo-api")
	defer p.Close()
	d := startDemo(t, []string{"AUTHKIT_TRUST_ISSUERS=" + p.Issuer}, "-trust-audience", "demo-api", "-trust-insecure-http")
	tok := p.AccessToken("ext-1", authkittest.Scopes(demoScope))
	var resp *http.Response
	var body string
	for deadline := time.Now().Add(startTimeout); ; time.Sleep(20 * time.Millisecond) {
		resp, body = d.do("GET", "/api/me", bearer(tok), nil)
		if resp.StatusCode != http.StatusServiceUnavailable || time.Now().After(deadline) {
			break // 503 until discovery has run
		}
	}
	if want := `{"id":"ext-1","iss":"` + p.Issuer + `","name":"ext-1","via":"jwt"}` + "\n"; resp.StatusCode != 200 || body != want {
		t.Errorf("/api/me: %d %q, want 200 %q", resp.StatusCode, body, want)
	}
	if resp, _ := d.do("GET", "/api/scoped", bearer(tok), nil); resp.StatusCode != 200 {
		t.Errorf("/api/scoped with demo:read: %d", resp.StatusCode)
	}
	resp, _ = d.do("GET", "/api/scoped", bearer(p.AccessToken("ext-1")), nil)
	if resp.StatusCode != 403 || resp.Header.Get("WWW-Authenticate") != insufficient {
		t.Errorf("/api/scoped without scope: %d %q", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
	}
	if resp, _ := d.do("GET", "/api/me", bearer(p.IDToken("ext-1")), nil); resp.StatusCode != 401 {
		t.Errorf("ID token: %d, want 401", resp.StatusCode)
	}

	t.Run("usage errors", func(t *testing.T) {
		for _, args := range badTrustArgs[:3] {
			code, stdout, stderr := runDemo(t, nil, args...)
			if code != 2 || stdout != "" {
				t.Errorf("%q: exit status %d, stdout %q; want 2, nothing", args, code, stdout)
			}
			checkOneLine(t, stderr)
		}
	})
}

func TestRunHelpTrust(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := Run(context.Background(), []string{"-h"}, env(nil), &stdout, &stderr); code != exitOK {
		t.Errorf("-h: exit status %d, want 0", code)
	}
	for _, f := range []string{"-trust-issuer", "AUTHKIT_TRUST_ISSUERS", "-trust-audience", "-trust-profile", "-trust-insecure-http"} {
		if !strings.Contains(stdout.String(), f) {
			t.Errorf("-h does not mention %s", f)
		}
	}
}
