package mcpauth_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/authkit-go/authkit"
	"github.com/authkit-go/authkit/mcpauth"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/modelcontextprotocol/go-sdk/oauthex"
	"golang.org/x/oauth2"
)

// newNotesWorld is an MCP server at /notes with two tools: read_note, which
// needs the endpoint's scope notes:read, and write_note, which needs
// notes:write as well (mcpauth.ToolScopes).
func newNotesWorld(t *testing.T) *world {
	t.Helper()
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	w := &world{t: t, srv: srv, resource: srv.URL + "/notes"}
	w.key, _ = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	j, err := authkit.NewJWT(func(_ context.Context, c *authkit.Claims) (string, error) { return c.Subject, nil },
		authkit.WithIssuer(issuerURL), authkit.WithKey("k1", w.key.Public()),
		authkit.WithResource(authkit.Resource{URL: w.resource, Scopes: []string{"notes:read", "notes:write"}}))
	if err != nil {
		t.Fatal(err)
	}
	server := mcp.NewServer(&mcp.Implementation{Name: "notes", Version: "1"}, nil)
	for _, name := range []string{"read_note", "write_note"} {
		mcp.AddTool(server, &mcp.Tool{Name: name},
			func(context.Context, *mcp.CallToolRequest, struct{}) (*mcp.CallToolResult, struct{}, error) {
				return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: name + " done"}}}, struct{}{}, nil
			})
	}
	mux.Handle(j.ResourceMetadataHandler())
	mux.Handle("/notes", mcpauth.Require(j, []string{"notes:read"})(
		mcpauth.ToolScopes(j, map[string][]string{"write_note": {"notes:write"}})(
			mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return server }, nil))))
	return w
}

// TestToolScopes is the case table of ToolScopes on the wire: a call of a
// scoped tool without its scope is refused with the 403 scope challenge,
// alone, in a batch, or hidden behind a member name that differs only in
// case (which the SDK ignores and encoding/json's struct decoding does
// not); everything else reaches the SDK.
func TestToolScopes(t *testing.T) {
	w := newNotesWorld(t)
	read := w.token(w.resource, "notes:read")
	both := w.token(w.resource, "notes:read", "notes:write")
	call := func(name string) string {
		return `{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"` + name + `","arguments":{}}}`
	}
	const challenge = `Bearer realm="authkit", error="insufficient_scope", scope="notes:write"`
	for _, c := range []struct {
		name, token, body string
		refused           bool
	}{
		{"scoped tool, no scope", read, call("write_note"), true},
		{"scoped tool in a batch", read, "[" + call("read_note") + "," + call("write_note") + "]", true},
		{"scoped tool, a case twin after it", read,
			`{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"write_note","Name":"read_note"}}`, true},
		{"scoped tool, escaped name", read, call(`write\u005fnote`), true},
		{"scoped tool, with its scope", both, call("write_note"), false},
		{"unscoped tool", read, call("read_note"), false},
		{"another method", read, `{"jsonrpc":"2.0","id":2,"method":"tools/list"}`, false},
		{"a case twin of the method", read, `{"jsonrpc":"2.0","id":2,"Method":"tools/call","params":{"name":"write_note"}}`, false},
		{"not JSON", read, `{"method":"tools/call"`, false},
	} {
		resp := w.postBody("/notes", c.token, c.body)
		got := resp.Header.Get("WWW-Authenticate")
		if c.refused && (resp.StatusCode != 403 || got != challenge) {
			t.Errorf("%s: %d %s, want 403 %s", c.name, resp.StatusCode, got, challenge)
		}
		if !c.refused && resp.StatusCode == 403 {
			t.Errorf("%s: 403 %s, want the SDK's answer", c.name, got)
		}
	}
}

// TestToolScopesSDK: the SDK's client lists both tools and calls read_note
// with a notes:read token but cannot call write_note; given an OAuth
// handler, it answers the 403 with a step-up authorization for exactly
// the challenged scope and its retry succeeds.
func TestToolScopesSDK(t *testing.T) {
	w := newNotesWorld(t)
	cs, err := w.connect("/notes", w.token(w.resource, "notes:read"))
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close()
	if tools, err := cs.ListTools(t.Context(), nil); err != nil || len(tools.Tools) != 2 {
		t.Fatalf("ListTools: %v, %v", tools, err)
	}
	if res, err := cs.CallTool(t.Context(), &mcp.CallToolParams{Name: "read_note"}); err != nil || res.IsError {
		t.Fatalf("read_note: %v, %v", res, err)
	}
	if res, err := cs.CallTool(t.Context(), &mcp.CallToolParams{Name: "write_note"}); err == nil {
		t.Fatalf("write_note without notes:write: %v", res)
	}

	h := &stepUp{w: w, scopes: []string{"notes:read"}}
	client := mcp.NewClient(&mcp.Implementation{Name: "client", Version: "1"}, nil)
	cs2, err := client.Connect(t.Context(), &mcp.StreamableClientTransport{Endpoint: w.resource, OAuthHandler: h, MaxRetries: -1}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cs2.Close()
	res, err := cs2.CallTool(t.Context(), &mcp.CallToolParams{Name: "write_note"})
	if err != nil || res.IsError || res.Content[0].(*mcp.TextContent).Text != "write_note done" {
		t.Fatalf("write_note after step-up: %v, %v", res, err)
	}
	if h.challenged != "notes:write" {
		t.Fatalf("step-up for scope %q, want notes:write", h.challenged)
	}
}

// stepUp is an OAuth handler for the SDK's client that mints its token
// itself: it starts with scopes and, at a 403 insufficient_scope, adds the
// challenged scope (what a real handler gets from its authorization server).
type stepUp struct {
	w          *world
	mu         sync.Mutex
	scopes     []string
	challenged string
}

func (s *stepUp) TokenSource(context.Context) (oauth2.TokenSource, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return oauth2.StaticTokenSource(&oauth2.Token{AccessToken: s.w.token(s.w.resource, s.scopes...), TokenType: "Bearer"}), nil
}

func (s *stepUp) Authorize(_ context.Context, _ *http.Request, resp *http.Response) error {
	defer resp.Body.Close()
	cs, err := oauthex.ParseWWWAuthenticate(resp.Header.Values("WWW-Authenticate"))
	if err != nil || len(cs) != 1 || cs[0].Params["error"] != "insufficient_scope" {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.challenged = cs[0].Params["scope"]
	s.scopes = append(s.scopes, strings.Fields(s.challenged)...)
	return nil
}

// postBody posts a JSON-RPC body to path with token.
func (w *world) postBody(path, token, body string) *http.Response {
	w.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, w.srv.URL+path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		w.t.Fatal(err)
	}
	resp.Body.Close()
	return resp
}
