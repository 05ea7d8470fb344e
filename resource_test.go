package authkit

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
)

const (
	testResource    = "https://mcp.example.com/mcp"
	testResourceMD  = "https://mcp.example.com/.well-known/oauth-protected-resource/mcp"
	testResourceIss = "https://auth.test"
)

// resourceKit mints tokens of testResourceIss for any audience, and
// verifies them with a JWT configured with opts (a key for the issuer added).
type resourceKit struct {
	t   *testing.T
	key *ecdsa.PrivateKey
	j   *JWT[string]
}

func newResourceKit(t *testing.T, opts ...Option) *resourceKit {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	opts = append([]Option{WithIssuer(testResourceIss), WithKey("k1", key.Public())}, opts...)
	j, err := NewJWT(func(_ context.Context, c *Claims) (string, error) { return c.Subject, nil }, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return &resourceKit{t: t, key: key, j: j}
}

// token mints an access token of user "1" for aud, granting scopes.
func (k *resourceKit) token(aud string, scopes ...string) string {
	k.t.Helper()
	iss, err := NewIssuer(testResourceIss, aud, k.key, NewMemoryStore(), NewMemoryStore("1").Version,
		WithSigningKeyID("k1"),
		WithScopeLookup(func(context.Context, string) ([]string, error) { return scopes, nil }))
	if err != nil {
		k.t.Fatal(err)
	}
	p, err := iss.Issue(context.Background(), "1")
	if err != nil {
		k.t.Fatal(err)
	}
	return p.AccessToken
}

// TestResourceAudience: with WithResource and no configured audience, a
// token is accepted only when its aud names the resource, compared in
// canonical form (RFC 8707; RFC 3986 §6.2.2-3).
func TestResourceAudience(t *testing.T) {
	k := newResourceKit(t, WithResource(Resource{URL: testResource}))
	for _, c := range []struct {
		aud string
		ok  bool
	}{
		{testResource, true},
		{"HTTPS://MCP.Example.COM:443/mcp", true},
		{"https://mcp.example.com/m%63p", true},
		{"https://mcp.example.com/mcp/", false},
		{"https://mcp.example.com/", false},
		{"https://mcp.example.com/mcp?x", false},
		{"https://mcp.example.com:8443/mcp", false},
		{"http://mcp.example.com/mcp", false},
		{"https://evil.example/mcp", false},
		{"https://mcp.example.com.evil.example/mcp", false},
		{"mcp", false},
	} {
		_, _, err := k.j.Verify(context.Background(), k.token(c.aud))
		if (err == nil) != c.ok {
			t.Errorf("aud %q: err %v, want accepted %v", c.aud, err, c.ok)
		}
	}
	// Configured audiences replace the default, compared exactly.
	k2 := newResourceKit(t, WithResource(Resource{URL: testResource}), WithAudience("api"))
	if _, _, err := k2.j.Verify(context.Background(), k2.token(testResource)); err == nil {
		t.Error("a token for the resource was accepted where only \"api\" is configured")
	}
	if _, _, err := k2.j.Verify(context.Background(), k2.token("api")); err != nil {
		t.Errorf("a token for \"api\": %v", err)
	}
}

func TestCanonicalResource(t *testing.T) {
	for in, want := range map[string]string{
		"https://A.example":             "https://a.example/",
		"https://a.example:443/":        "https://a.example/",
		"http://a.example:80/x":         "http://a.example/x",
		"http://a.example:443/x":        "http://a.example:443/x",
		"https://a.example:/x":          "https://a.example/x",
		"https://a.example/%7euser%2f":  "https://a.example/~user%2F",
		"https://[::1]:443/x":           "https://[::1]/x",
		"HTTPS://a.example/P?Q=%7e%2fa": "https://a.example/P?Q=~%2Fa",
	} {
		if got, ok := canonicalResource(in); !ok || got != want {
			t.Errorf("canonicalResource(%q) = %q, %v; want %q", in, got, ok, want)
		}
	}
	for _, in := range []string{"mcp", "/mcp", "ftp://a.example/", "https://u@a.example/", "https://a.example/#f", "urn:x:y"} {
		if got, ok := canonicalResource(in); ok {
			t.Errorf("canonicalResource(%q) = %q, want none", in, got)
		}
	}
}

// TestResourceMetadata: the RFC 9728 document, at the §3.1 path of the
// resource, listing the own issuer then the trusted ones.
func TestResourceMetadata(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	k := newResourceKit(t,
		WithResource(Resource{URL: testResource, Scopes: []string{"tools:read", "tools:call"}, Name: "Example MCP"}),
		WithInsecureJWKSURL(),
		WithTrustedIssuer(ctx, TrustedIssuer{Issuer: "http://127.0.0.1:1/a"}), // the resource is its audience
		WithTrustedIssuer(ctx, TrustedIssuer{Issuer: "http://127.0.0.1:1/b", Audiences: []string{"b"}}))
	pattern, h := k.j.ResourceMetadataHandler()
	if want := "GET /.well-known/oauth-protected-resource/mcp"; pattern != want {
		t.Fatalf("pattern %q, want %q", pattern, want)
	}
	if got := k.j.ResourceMetadataURL(); got != testResourceMD {
		t.Fatalf("ResourceMetadataURL %q, want %q", got, testResourceMD)
	}
	mux := http.NewServeMux()
	mux.Handle(pattern, h)
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, testResourceMD, nil))
	if rec.Code != 200 || rec.Header().Get("Content-Type") != "application/json" || rec.Header().Get("Access-Control-Allow-Origin") != "*" {
		t.Fatalf("%d %v", rec.Code, rec.Header())
	}
	var doc map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"resource":                 testResource,
		"authorization_servers":    []any{testResourceIss, "http://127.0.0.1:1/a", "http://127.0.0.1:1/b"},
		"scopes_supported":         []any{"tools:read", "tools:call"},
		"bearer_methods_supported": []any{"header"},
		"resource_name":            "Example MCP",
	}
	if g, w := mustJSON(t, doc), mustJSON(t, want); g != w {
		t.Fatalf("metadata\n got %s\nwant %s", g, w)
	}
	for _, c := range []struct{ url, pattern, md string }{
		{"https://a.example", "GET /.well-known/oauth-protected-resource", "https://a.example/.well-known/oauth-protected-resource"},
		{"https://a.example/", "GET /.well-known/oauth-protected-resource", "https://a.example/.well-known/oauth-protected-resource"},
		{"http://127.0.0.1:8080/x/y/", "GET /.well-known/oauth-protected-resource/x/y/{$}", "http://127.0.0.1:8080/.well-known/oauth-protected-resource/x/y/"},
	} {
		j := newResourceKit(t, WithResource(Resource{URL: c.url})).j
		if p, _ := j.ResourceMetadataHandler(); p != c.pattern || j.ResourceMetadataURL() != c.md {
			t.Errorf("%s: pattern %q URL %q; want %q %q", c.url, p, j.ResourceMetadataURL(), c.pattern, c.md)
		}
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestResourceChallenges: every 401 of Require names the metadata
// (RFC 9728 §5.1) and the scopes the route requires (RFC 6750 §3), also
// through Any; a 403 names the missing scopes, a 400 neither.
func TestResourceChallenges(t *testing.T) {
	k := newResourceKit(t, WithResource(Resource{URL: testResource}))
	ok := http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})
	md := `, resource_metadata="` + testResourceMD + `"`
	for _, c := range []struct {
		name   string
		h      http.Handler
		token  string
		status int
		want   string
	}{
		{"no token", Require(k.j, WithScopes("tools:call"))(ok), "", 401, `Bearer realm="authkit", scope="tools:call"` + md},
		{"no token, no scopes", Require(k.j)(ok), "", 401, `Bearer realm="authkit"` + md},
		{"no token through Any", Require(Any[string](k.j))(ok), "", 401, `Bearer realm="authkit"` + md},
		{"another resource", Require(k.j, WithScopes("tools:call"))(ok), k.token("https://other.example/mcp", "tools:call"), 401,
			`Bearer realm="authkit", error="invalid_token", scope="tools:call"` + md},
		{"too few scopes", Require(k.j, WithScopes("tools:call", "tools:read"), WithRealm("mcp"))(ok), k.token(testResource, "tools:read"), 403,
			`Bearer realm="mcp", error="insufficient_scope", scope="tools:call tools:read"`},
		{"malformed", Require(k.j, WithScopes("tools:call"))(ok), "a b", 400, `Bearer realm="authkit", error="invalid_request"`},
		{"granted", Require(k.j, WithScopes("tools:call"))(ok), k.token(testResource, "tools:call", "x"), 200, ""},
	} {
		r := httptest.NewRequest(http.MethodGet, testResource, nil)
		if c.token != "" {
			r.Header.Set("Authorization", "Bearer "+c.token)
		}
		rec := httptest.NewRecorder()
		c.h.ServeHTTP(rec, r)
		if got := rec.Header().Get("WWW-Authenticate"); rec.Code != c.status || got != c.want {
			t.Errorf("%s: %d %s\nwant %d %s", c.name, rec.Code, got, c.status, c.want)
		}
	}
}

// TestResourceVerify: Verify checks a token as Require does and returns its
// scopes; Claims.Scopes is the request's own copy.
func TestResourceVerify(t *testing.T) {
	k := newResourceKit(t, WithResource(Resource{URL: testResource}))
	u, c, err := k.j.Verify(context.Background(), k.token(testResource, "a", "b"))
	if err != nil || u != "1" || !slices.Equal(c.Scopes(), []string{"a", "b"}) {
		t.Fatalf("Verify: %q %v %v", u, c, err)
	}
	c.Scopes()[0] = "changed"
	if c.Scopes()[0] != "a" {
		t.Fatal("Scopes shares its slice")
	}
	if _, _, err := k.j.Verify(context.Background(), "x.y.z"); err == nil {
		t.Fatal("a garbage token verified")
	}
}

func TestWithResourceRefused(t *testing.T) {
	for _, c := range []struct {
		r    Resource
		want string
	}{
		{Resource{URL: "https://a.example/mcp?x=1"}, "no query"},
		{Resource{URL: "https://a.example/mcp#f"}, "no query or fragment"},
		{Resource{URL: "ftp://a.example/"}, "not an http"},
		{Resource{URL: "https://u:p@a.example/"}, "no user info"},
		{Resource{URL: "/mcp"}, "not an http"},
		{Resource{URL: "https://a.example/", Scopes: []string{"a b"}}, "scope-token"},
	} {
		_, err := NewJWT(func(_ context.Context, c *Claims) (string, error) { return "", nil },
			WithIssuer("https://auth.test"), WithKey("k", randomSecret(t)), WithResource(c.r))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v, want %q", c.r, err, c.want)
		}
	}
	// Without WithResource the audiences stay required.
	_, err := NewJWT(func(_ context.Context, c *Claims) (string, error) { return "", nil },
		WithInsecureJWKSURL(), WithTrustedIssuer(context.Background(), TrustedIssuer{Issuer: "http://127.0.0.1:1"}))
	if err == nil || !strings.Contains(err.Error(), "no audience") {
		t.Errorf("a trusted issuer without audience: %v", err)
	}
}
