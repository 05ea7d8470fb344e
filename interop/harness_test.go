// Package interop verifies the tokens of real identity providers, run on
// 127.0.0.1, through the kit's middleware (issue 15). It is a nested module
// so that the providers' dependencies stay out of the core go.mod.
package interop

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/authkit-go/authkit"
)

// The audience the tests configure, for the providers that issue tokens for a
// resource (node-oidc-provider); zitadel's example OP uses client IDs instead.
const (
	apiAudience   = "https://api.example.test"
	otherAudience = "https://other.example.test"
)

// newVerifier is the only code here that calls the kit: a handler behind
// authkit.Require that verifies access tokens of issuer iss for audience aud
// with the keys at jwksURI (from the provider's discovery document). now is
// the kit's clock (nil: time.Now). The handler behind it answers 200 with the
// subject as the body and sets the header X-Handler, so a test sees both that
// the token was accepted and that the handler ran; a refusal carries the
// kit's error in X-Kit-Error.
//
// It, newTrustedVerifier and newDPoPVerifier (and protect, which they share)
// are the only functions of the module that call the kit, besides the MCP
// SDK's end-to-end test (mcp_test.go, through mcpauth).
func newVerifier(t testing.TB, iss, aud, jwksURI string, now func() time.Time) http.Handler {
	t.Helper()
	opts := []authkit.Option{
		authkit.WithIssuer(iss),
		authkit.WithAudience(aud),
		authkit.WithJWKSURL(t.Context(), jwksURI), authkit.WithInsecureJWKSURL(),
	}
	if now != nil {
		opts = append(opts, authkit.WithClock(now))
	}
	return protect(t, fmt.Sprintf("issuer %s, audience %s, JWKS %s", iss, aud, jwksURI), opts)
}

// newTrustedVerifier is newVerifier configured by the issuer URL alone
// (authkit.WithTrustedIssuer: OpenID discovery, http allowed on loopback)
// with the kit's preset profile; it waits until the kit has the issuer's
// keys (authkit.JWT.Ready).
func newTrustedVerifier(t testing.TB, iss, aud, profile string, now func() time.Time) http.Handler {
	t.Helper()
	opts := []authkit.Option{
		authkit.WithTrustedIssuer(t.Context(), authkit.TrustedIssuer{
			Issuer: iss, Audiences: []string{aud}, Profile: authkit.Preset(profile),
		}),
		authkit.WithInsecureJWKSURL(),
	}
	if now != nil {
		opts = append(opts, authkit.WithClock(now))
	}
	return protect(t, fmt.Sprintf("trusted issuer %s, audience %s, profile %s", iss, aud, profile), opts)
}

// newDPoPVerifier is a verifier whose issuer's tokens may
// (authkit.DPoPAllowed) or must (authkit.DPoPRequired) be DPoP-bound (RFC
// 9449): configured as newTrustedVerifier does (the RFC 9068 profile) with
// TrustedIssuer.DPoP when jwksURI is empty, else as newVerifier does (the
// issuer and jwksURI by hand) with authkit.WithDPoP.
func newDPoPVerifier(t testing.TB, iss, aud, jwksURI string, mode authkit.DPoPMode) http.Handler {
	t.Helper()
	if jwksURI == "" {
		return protect(t, fmt.Sprintf("trusted issuer %s, audience %s, %v", iss, aud, mode), []authkit.Option{
			authkit.WithTrustedIssuer(t.Context(), authkit.TrustedIssuer{
				Issuer: iss, Audiences: []string{aud}, DPoP: mode,
			}),
			authkit.WithInsecureJWKSURL(),
		})
	}
	return protect(t, fmt.Sprintf("issuer %s, audience %s, JWKS %s, %v", iss, aud, jwksURI, mode), []authkit.Option{
		authkit.WithIssuer(iss),
		authkit.WithAudience(aud),
		authkit.WithJWKSURL(t.Context(), jwksURI), authkit.WithInsecureJWKSURL(),
		authkit.WithDPoP(mode),
	})
}

// protect builds the access-token authenticator with opts (what names the
// configuration in messages), waits until it has the issuer's keys
// (authkit.JWT.Ready), and puts the test handler behind it (see
// newVerifier).
func protect(t testing.TB, what string, opts []authkit.Option) http.Handler {
	t.Helper()
	auth, err := authkit.NewJWT(func(_ context.Context, c *authkit.Claims) (string, error) {
		return c.Subject, nil
	}, opts...)
	if err != nil {
		t.Fatalf("NewJWT(%s): %v", what, err)
	}
	// NewJWT fetches the keys in the background: wait for them.
	for deadline := time.Now().Add(10 * time.Second); auth.Ready() != nil; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%s not ready: %v", what, auth.Ready())
		}
	}
	return authkit.Require(auth, authkit.WithErrorHandler(func(w http.ResponseWriter, r *http.Request, err error) {
		w.Header().Set("X-Kit-Error", err.Error()) // for the test's log only
		authkit.DefaultErrorHandler(w, r, err)
	}))(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sub, _ := authkit.UserFrom[string](r.Context())
		w.Header().Set("X-Handler", "called")
		_, _ = io.WriteString(w, sub)
	}))
}

// accepted asserts that h lets token through to the handler as subject sub.
func accepted(t *testing.T, h http.Handler, token, sub string) {
	t.Helper()
	if token == "" {
		t.Fatal("no token")
	}
	rec := serve(h, token)
	if rec.Code != http.StatusOK || rec.Header().Get("X-Handler") != "called" {
		t.Fatalf("status %d, handler called: %t; want 200 and the handler (token header %s)",
			rec.Code, rec.Header().Get("X-Handler") != "", header(token))
	}
	if got := rec.Body.String(); got != sub {
		t.Fatalf("subject %q, want %q", got, sub)
	}
}

// refused asserts that h answers 401 invalid_token and never calls the handler.
func refused(t *testing.T, h http.Handler, token string) {
	t.Helper()
	if token == "" {
		t.Fatal("no token")
	}
	rec := serve(h, token)
	if rec.Header().Get("X-Handler") != "" {
		t.Fatalf("the handler ran (status %d, subject %q): the token was accepted", rec.Code, rec.Body.String())
	}
	if rec.Code != http.StatusUnauthorized {
		t.Fatalf("status %d, want 401", rec.Code)
	}
	if got := rec.Header().Get("WWW-Authenticate"); !strings.Contains(got, `error="invalid_token"`) {
		t.Fatalf("WWW-Authenticate %q, want error=\"invalid_token\"", got)
	}
	t.Logf("401: %s", rec.Header().Get("X-Kit-Error"))
}

func serve(h http.Handler, token string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodGet, "http://api.example.test/me", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

// tokens is what a provider yields for the tests.
type tokens struct {
	Access   string        // an access token for the audience under test
	Subject  string        // its sub
	ID       string        // an ID token of the same flow
	Refresh  string        // a refresh token of the same flow
	Lifetime time.Duration // exp − iat of the access token: a clock past it (and the leeway) sees it expired
}

// discovery is the part of an OpenID Provider Metadata document (OpenID
// Connect Discovery 1.0 §3) the tests use; Raw is all of it.
type discovery struct {
	Issuer                string `json:"issuer"`
	JWKSURI               string `json:"jwks_uri"`
	TokenEndpoint         string `json:"token_endpoint"`
	AuthorizationEndpoint string `json:"authorization_endpoint"`
	Raw                   map[string]any
}

// discover fetches issuer's discovery document and checks that its issuer is
// exactly the configured one (Discovery §4.3).
func discover(t testing.TB, issuer string) discovery {
	t.Helper()
	u := strings.TrimSuffix(issuer, "/") + "/.well-known/openid-configuration"
	body := httpDo(t, http.DefaultClient, mustRequest(t, http.MethodGet, u, nil), http.StatusOK)
	var d discovery
	if err := json.Unmarshal(body, &d); err != nil {
		t.Fatalf("discovery %s: %v", u, err)
	}
	if err := json.Unmarshal(body, &d.Raw); err != nil {
		t.Fatalf("discovery %s: %v", u, err)
	}
	if d.Issuer != issuer {
		t.Fatalf("discovery %s: issuer %q, want %q", u, d.Issuer, issuer)
	}
	if d.JWKSURI == "" || d.TokenEndpoint == "" {
		t.Fatalf("discovery %s: no jwks_uri or token_endpoint: %s", u, body)
	}
	return d
}

// tokenResponse is an RFC 6749 §5.1 access token response.
type tokenResponse struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int64  `json:"expires_in"`
	RefreshToken string `json:"refresh_token"`
	IDToken      string `json:"id_token"`
	Scope        string `json:"scope"`
}

// tokenRequest posts form to a token endpoint, with HTTP Basic client
// authentication when secret is not empty (else client_id in the form).
func tokenRequest(t testing.TB, endpoint, clientID, secret string, form url.Values) tokenResponse {
	t.Helper()
	if secret == "" {
		form.Set("client_id", clientID)
	}
	req := mustRequest(t, http.MethodPost, endpoint, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if secret != "" {
		req.SetBasicAuth(url.QueryEscape(clientID), url.QueryEscape(secret)) // RFC 6749 §2.3.1
	}
	body := httpDo(t, http.DefaultClient, req, http.StatusOK)
	var tr tokenResponse
	if err := json.Unmarshal(body, &tr); err != nil {
		t.Fatalf("token response: %v: %s", err, body)
	}
	if tr.AccessToken == "" {
		t.Fatalf("token response without access_token: %s", body)
	}
	return tr
}

// authClient is an HTTP client for scripted authorization-code flows: it keeps
// cookies and does not follow redirects, so each step is visible.
func authClient(t testing.TB) *http.Client {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{
		Jar:           jar,
		Timeout:       10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// redirect does req with c and returns the Location of its redirect,
// resolved against the request URL.
func redirect(t testing.TB, c *http.Client, req *http.Request) *url.URL {
	t.Helper()
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	resp.Body.Close()
	if resp.StatusCode < 300 || resp.StatusCode > 399 {
		t.Fatalf("%s %s: status %d, want a redirect: %s", req.Method, req.URL, resp.StatusCode, body)
	}
	loc, err := resp.Location()
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	return loc
}

func httpDo(t testing.TB, c *http.Client, req *http.Request, want int) []byte {
	t.Helper()
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	if resp.StatusCode != want {
		t.Fatalf("%s %s: status %d, want %d: %s", req.Method, req.URL, resp.StatusCode, want, body)
	}
	return body
}

func mustRequest(t testing.TB, method, u string, body io.Reader) *http.Request {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		t.Fatal(err)
	}
	return req
}

// pkce returns a fresh RFC 7636 code verifier and its S256 challenge.
func pkce() (verifier, challenge string) {
	verifier = rand.Text() + rand.Text()
	sum := sha256.Sum256([]byte(verifier))
	return verifier, base64.RawURLEncoding.EncodeToString(sum[:])
}

func randomText() string { return rand.Text() }

// flipSignature returns token with one bit of its signature changed.
func flipSignature(t testing.TB, token string) string {
	t.Helper()
	i := strings.LastIndexByte(token, '.')
	sig, err := base64.RawURLEncoding.DecodeString(token[i+1:])
	if err != nil || len(sig) == 0 {
		t.Fatalf("signature of %q: %v", token, err)
	}
	sig[len(sig)/2] ^= 0x01
	return token[:i+1] + base64.RawURLEncoding.EncodeToString(sig)
}

// jwtParts decodes a JWS compact token's header and claims (no verification).
func jwtParts(t testing.TB, token string) (header, claims map[string]any) {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWS compact token: %d segments", len(parts))
	}
	for i, dst := range []*map[string]any{&header, &claims} {
		b, err := base64.RawURLEncoding.DecodeString(parts[i])
		if err != nil {
			t.Fatalf("segment %d: %v", i, err)
		}
		if err := json.Unmarshal(b, dst); err != nil {
			t.Fatalf("segment %d: %v", i, err)
		}
	}
	return header, claims
}

// header is a token's JOSE header as text, for messages; "(not a JWT)" else.
func header(token string) string {
	seg, _, ok := strings.Cut(token, ".")
	if !ok {
		return "(not a JWT)"
	}
	b, err := base64.RawURLEncoding.DecodeString(seg)
	if err != nil {
		return "(not a JWT)"
	}
	return string(b)
}

// lifetime is a JWT's exp − iat.
func lifetime(t testing.TB, token string) time.Duration {
	t.Helper()
	_, c := jwtParts(t, token)
	exp, ok1 := c["exp"].(float64)
	iat, ok2 := c["iat"].(float64)
	if !ok1 || !ok2 || exp <= iat {
		t.Fatalf("token without a sane exp and iat: exp %v, iat %v", c["exp"], c["iat"])
	}
	return time.Duration(exp-iat) * time.Second
}

// expiredClock is a clock that sees a token of that lifetime, issued now,
// expired: past the kit's largest leeway (1 min) with a margin.
func expiredClock(lifetime time.Duration) func() time.Time {
	return func() time.Time { return time.Now().Add(lifetime + 2*time.Minute) }
}

// describe logs a JWT's header and claims, for the report.
func describe(t testing.TB, what, token string) {
	t.Helper()
	if strings.Count(token, ".") != 2 {
		t.Logf("%s: opaque (%d chars)", what, len(token))
		return
	}
	h, c := jwtParts(t, token)
	hb, _ := json.Marshal(h)
	cb, _ := json.Marshal(c)
	t.Logf("%s: header %s claims %s", what, hb, cb)
}

// required reports whether the interop tests must run rather than skip
// (AUTHKIT_INTEROP_REQUIRED=1, as CI sets it).
func required() bool { return os.Getenv("AUTHKIT_INTEROP_REQUIRED") == "1" }

// skipOrFail skips the test with the reason, or fails it when the interop
// tests are required.
func skipOrFail(t testing.TB, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if required() {
		t.Fatalf("%s (AUTHKIT_INTEROP_REQUIRED=1)", msg)
	}
	t.Skipf("%s; set AUTHKIT_INTEROP_REQUIRED=1 to fail instead", msg)
}

var errNoReadyLine = errors.New("exited before printing its ready line")
