package mcpauth_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/authkit-go/authkit"
	"github.com/authkit-go/authkit/mcpauth"
	"github.com/modelcontextprotocol/go-sdk/auth"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/modelcontextprotocol/go-sdk/oauthex"
)

const issuerURL = "https://auth.test"

// world is an MCP server behind mcpauth: an SDK server with one tool,
// "whoami", at /mcp (the resource) needing the scope tools:call, and one
// at /sdk behind the SDK's own middleware with Verifier; its tokens come
// from the kit's Issuer.
type world struct {
	t        *testing.T
	srv      *httptest.Server
	resource string
	key      *ecdsa.PrivateKey
}

func newWorld(t *testing.T) *world {
	t.Helper()
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	w := &world{t: t, srv: srv, resource: srv.URL + "/mcp"}
	w.key, _ = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)

	j, err := authkit.NewJWT(func(_ context.Context, c *authkit.Claims) (string, error) { return "user-" + c.Subject, nil },
		authkit.WithIssuer(issuerURL),
		authkit.WithKey("k1", w.key.Public()),
		authkit.WithResource(authkit.Resource{URL: w.resource, Scopes: []string{"tools:call"}}))
	if err != nil {
		t.Fatal(err)
	}
	server := mcp.NewServer(&mcp.Implementation{Name: "test", Version: "1"}, nil)
	mcp.AddTool(server, &mcp.Tool{Name: "whoami", Description: "the caller"},
		func(_ context.Context, req *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, struct{}, error) {
			u, _ := mcpauth.User[string](req.Extra.TokenInfo)
			c, _ := mcpauth.Claims(req.Extra.TokenInfo)
			text := u + " " + strings.Join(req.Extra.TokenInfo.Scopes, ",") + " " + c.Issuer
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: text}}}, struct{}{}, nil
		})
	h := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return server }, nil)

	mux.Handle(j.ResourceMetadataHandler())
	mux.Handle("/mcp", mcpauth.Require(j, []string{"tools:call"})(h))
	mux.Handle("/sdk", auth.RequireBearerToken(mcpauth.Verifier(j), &auth.RequireBearerTokenOptions{
		ResourceMetadataURL: j.ResourceMetadataURL(), Scopes: []string{"tools:call"},
	})(h))
	return w
}

// token mints an access token of user "1" for aud with scopes.
func (w *world) token(aud string, scopes ...string) string {
	w.t.Helper()
	iss, err := authkit.NewIssuer(issuerURL, aud, w.key, authkit.NewMemoryStore(), authkit.NewMemoryStore("1").Version,
		authkit.WithSigningKeyID("k1"),
		authkit.WithScopeLookup(func(context.Context, string) ([]string, error) { return scopes, nil }))
	if err != nil {
		w.t.Fatal(err)
	}
	p, err := iss.Issue(context.Background(), "1")
	if err != nil {
		w.t.Fatal(err)
	}
	return p.AccessToken
}

// idToken signs an OpenID Connect ID token (typ JWT) for the resource with
// the issuer's key: the right issuer, audience, key and scope, the wrong
// kind of token.
func (w *world) idToken() string {
	now := time.Now().Unix()
	header := `{"alg":"ES256","kid":"k1","typ":"JWT"}`
	payload, _ := json.Marshal(map[string]any{"iss": issuerURL, "sub": "1", "aud": w.resource, "iat": now, "exp": now + 300,
		"nonce": "n", "scope": "tools:call"})
	in := b64([]byte(header)) + "." + b64(payload)
	sum := sha256.Sum256([]byte(in))
	r, s, err := ecdsa.Sign(rand.Reader, w.key, sum[:])
	if err != nil {
		w.t.Fatal(err)
	}
	sig := make([]byte, 64)
	r.FillBytes(sig[:32])
	s.FillBytes(sig[32:])
	return in + "." + b64(sig)
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// bearer is a RoundTripper that sends token.
type bearer string

func (b bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+string(b))
	return http.DefaultTransport.RoundTrip(r)
}

func (w *world) connect(path, token string) (*mcp.ClientSession, error) {
	client := mcp.NewClient(&mcp.Implementation{Name: "client", Version: "1"}, nil)
	return client.Connect(context.Background(), &mcp.StreamableClientTransport{
		Endpoint:   w.srv.URL + path,
		HTTPClient: &http.Client{Transport: bearer(token)},
		MaxRetries: -1,
	}, nil)
}

// TestRoundTrip: the SDK's client lists and calls the tool with a token for
// the resource, through Require and through Verifier in the SDK's own
// middleware; the tool sees the user, the scopes and the claims.
func TestRoundTrip(t *testing.T) {
	w := newWorld(t)
	for _, path := range []string{"/mcp", "/sdk"} {
		cs, err := w.connect(path, w.token(w.resource, "tools:call", "other"))
		if err != nil {
			t.Fatalf("%s: connect: %v", path, err)
		}
		tools, err := cs.ListTools(context.Background(), nil)
		if err != nil || len(tools.Tools) != 1 || tools.Tools[0].Name != "whoami" {
			t.Fatalf("%s: ListTools: %v %v", path, tools, err)
		}
		res, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "whoami"})
		if err != nil || res.IsError {
			t.Fatalf("%s: CallTool: %v %v", path, res, err)
		}
		if got, want := res.Content[0].(*mcp.TextContent).Text, "user-1 tools:call,other "+issuerURL; got != want {
			t.Fatalf("%s: whoami = %q, want %q", path, got, want)
		}
		cs.Close()
	}
}

// TestRefusals is the case table of Require: every refusal answers the
// challenge RFC 6750 §3 and RFC 9728 §5.1 prescribe (the metadata in the
// 401s, the scope to step up to in the 403s), and the SDK's client
// cannot connect.
func TestRefusals(t *testing.T) {
	w := newWorld(t)
	md := w.srv.URL + "/.well-known/oauth-protected-resource/mcp"
	tail := `, scope="tools:call", resource_metadata="` + md + `"`
	for _, c := range []struct {
		name   string
		token  string
		status int
		want   string
	}{
		{"no token", "", 401, `Bearer realm="authkit"` + tail},
		{"another resource", w.token(w.srv.URL+"/other", "tools:call"), 401, `Bearer realm="authkit", error="invalid_token"` + tail},
		{"another host", w.token("https://evil.example/mcp", "tools:call"), 401, `Bearer realm="authkit", error="invalid_token"` + tail},
		{"an ID token", w.idToken(), 401, `Bearer realm="authkit", error="invalid_token"` + tail},
		{"forged", w.token(w.resource, "tools:call") + "x", 401, `Bearer realm="authkit", error="invalid_token"` + tail},
		{"too few scopes", w.token(w.resource, "tools:read"), 403, `Bearer realm="authkit", error="insufficient_scope", scope="tools:call"`},
		{"no scope", w.token(w.resource), 403, `Bearer realm="authkit", error="insufficient_scope", scope="tools:call"`},
	} {
		resp := w.post("/mcp", c.token)
		if got := resp.Header.Get("WWW-Authenticate"); resp.StatusCode != c.status || got != c.want {
			t.Errorf("%s: %d %s\nwant %d %s", c.name, resp.StatusCode, got, c.status, c.want)
		}
		if c.token != "" {
			if cs, err := w.connect("/mcp", c.token); err == nil {
				cs.Close()
				t.Errorf("%s: the SDK client connected", c.name)
			}
		}
	}
}

// post sends an MCP initialize request to path with token ("": none).
func (w *world) post(path, token string) *http.Response {
	w.t.Helper()
	body := `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"c","version":"1"}}}`
	req, _ := http.NewRequest(http.MethodPost, w.srv.URL+path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		w.t.Fatal(err)
	}
	resp.Body.Close()
	return resp
}

// TestDiscovery: the SDK's own discovery code follows the 401's
// resource_metadata to the metadata, which names the resource and its
// authorization server.
func TestDiscovery(t *testing.T) {
	w := newWorld(t)
	resp := w.post("/mcp", "")
	cs, err := oauthex.ParseWWWAuthenticate(resp.Header.Values("WWW-Authenticate"))
	if err != nil || len(cs) != 1 || cs[0].Scheme != "bearer" {
		t.Fatalf("challenges %v, %v", cs, err)
	}
	prm, err := oauthex.GetProtectedResourceMetadata(context.Background(), cs[0].Params["resource_metadata"], w.resource, w.srv.Client())
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(prm.AuthorizationServers, []string{issuerURL}) || !slices.Equal(prm.ScopesSupported, []string{"tools:call"}) ||
		!slices.Equal(prm.BearerMethodsSupported, []string{"header"}) {
		t.Fatalf("metadata %+v", prm)
	}
	if got := cs[0].Params["scope"]; got != "tools:call" {
		t.Fatalf("scope %q", got)
	}
}

// TestVerifier: through the SDK's own middleware, Verifier refuses what
// Require refuses (with the SDK's challenge) and keeps causes out of the
// body.
func TestVerifier(t *testing.T) {
	w := newWorld(t)
	for _, c := range []struct {
		name   string
		token  string
		status int
	}{
		{"another resource", w.token(w.srv.URL+"/other", "tools:call"), 401},
		{"an ID token", w.idToken(), 401},
		{"too few scopes", w.token(w.resource, "tools:read"), 403},
	} {
		resp := w.post("/sdk", c.token)
		if resp.StatusCode != c.status || !strings.Contains(resp.Header.Get("WWW-Authenticate"), "resource_metadata=") {
			t.Errorf("%s: %d %q, want %d with resource_metadata", c.name, resp.StatusCode, resp.Header.Get("WWW-Authenticate"), c.status)
		}
	}
	_, err := mcpauth.Verifier(newJWTFor(t, w))(context.Background(), "a.b.c", nil)
	if err == nil || err.Error() != auth.ErrInvalidToken.Error() {
		t.Errorf("garbage: %v, want exactly %v", err, auth.ErrInvalidToken)
	}
}

func newJWTFor(t *testing.T, w *world) *authkit.JWT[string] {
	j, err := authkit.NewJWT(func(_ context.Context, c *authkit.Claims) (string, error) { return c.Subject, nil },
		authkit.WithIssuer(issuerURL), authkit.WithKey("k1", w.key.Public()), authkit.WithResource(authkit.Resource{URL: w.resource}))
	if err != nil {
		t.Fatal(err)
	}
	return j
}
