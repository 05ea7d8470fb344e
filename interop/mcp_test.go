package interop

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/cookiejar"
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

// mcpWorld is a remote MCP server built with the official Go SDK, whose
// tokens come from node-oidc-provider (issue 16): one tool, "whoami", at
// /mcp behind mcpauth.Require (scope tools:call), the kit trusting the
// provider by its URL alone and binding tokens to the resource.
type mcpWorld struct {
	p        *nodeProvider
	srv      *httptest.Server
	resource string // http://127.0.0.1:PORT/mcp, a resource server.mjs knows
}

func newMCPWorld(t *testing.T, p *nodeProvider) *mcpWorld {
	t.Helper()
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	w := &mcpWorld{p: p, srv: srv, resource: srv.URL + "/mcp"}

	j, err := authkit.NewJWT(func(_ context.Context, c *authkit.Claims) (string, error) { return c.Subject, nil },
		authkit.WithTrustedIssuer(t.Context(), authkit.TrustedIssuer{Issuer: p.Issuer}),
		authkit.WithInsecureJWKSURL(), // the provider is http on the loopback
		authkit.WithResource(authkit.Resource{URL: w.resource, Scopes: []string{"tools:read", "tools:call"}}))
	if err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); j.Ready() != nil; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("issuer %s not ready: %v", p.Issuer, j.Ready())
		}
	}
	server := mcp.NewServer(&mcp.Implementation{Name: "interop", Version: "1"}, nil)
	mcp.AddTool(server, &mcp.Tool{Name: "whoami", Description: "the caller"},
		func(_ context.Context, req *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, struct{}, error) {
			u, _ := mcpauth.User[string](req.Extra.TokenInfo)
			c, _ := mcpauth.Claims(req.Extra.TokenInfo)
			text := u + " " + strings.Join(req.Extra.TokenInfo.Scopes, ",") + " " + c.Issuer
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: text}}}, struct{}{}, nil
		})
	mux.Handle(j.ResourceMetadataHandler())
	mux.Handle("/mcp", mcpauth.Require(j, []string{"tools:call"})(
		mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return server }, nil)))
	return w
}

// connect connects the SDK's client to the server with transport's HTTP
// client and, if h is not nil, the SDK's OAuth handler.
func (w *mcpWorld) connect(ctx context.Context, hc *http.Client, h auth.OAuthHandler) (*mcp.ClientSession, error) {
	client := mcp.NewClient(&mcp.Implementation{Name: "interop-client", Version: "1"}, nil)
	return client.Connect(ctx, &mcp.StreamableClientTransport{
		Endpoint: w.resource, HTTPClient: hc, OAuthHandler: h, MaxRetries: -1,
	}, nil)
}

// whoami lists the tools and calls whoami through cs, and returns its text.
func whoami(t *testing.T, cs *mcp.ClientSession) string {
	t.Helper()
	tools, err := cs.ListTools(t.Context(), nil)
	if err != nil || len(tools.Tools) != 1 || tools.Tools[0].Name != "whoami" {
		t.Fatalf("ListTools: %v, %v", tools, err)
	}
	res, err := cs.CallTool(t.Context(), &mcp.CallToolParams{Name: "whoami"})
	if err != nil || res.IsError || len(res.Content) != 1 {
		t.Fatalf("CallTool: %v, %v", res, err)
	}
	return res.Content[0].(*mcp.TextContent).Text
}

// bearerTransport sends a fixed access token.
type bearerTransport string

func (b bearerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+string(b))
	return http.DefaultTransport.RoundTrip(r)
}

// codeFetcher is the SDK's AuthorizationCodeFetcher for server.mjs: it
// follows the authorization URL's redirects (the provider's scripted login
// and consent) to the redirect URI and returns what it carries.
func codeFetcher(ctx context.Context, args *auth.AuthorizationArgs) (*auth.AuthorizationResult, error) {
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	next := args.URL
	for range 10 {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, next, nil)
		if err != nil {
			return nil, err
		}
		resp, err := c.Do(req)
		if err != nil {
			return nil, err
		}
		resp.Body.Close()
		loc, err := resp.Location()
		if err != nil {
			return nil, fmt.Errorf("GET %s: status %d: %w", next, resp.StatusCode, err)
		}
		if next = loc.String(); strings.HasPrefix(next, nodeRedirectURI) {
			q := loc.Query()
			if e := q.Get("error"); e != "" {
				return nil, fmt.Errorf("authorization error %s: %s", e, q.Get("error_description"))
			}
			return &auth.AuthorizationResult{Code: q.Get("code"), State: q.Get("state"), Iss: q.Get("iss")}, nil
		}
	}
	return nil, errors.New("no authorization response after 10 redirects")
}

// TestMCPSDKNodeProvider: the official MCP Go SDK's server behind mcpauth and
// its client, with node-oidc-provider as the authorization server. The SDK's
// client, given nothing but a pre-registered client ID, follows the 401 to
// the resource metadata and the provider, gets a token for the resource and
// calls the tool; a client-credentials token works as a bearer; a token for
// another resource, an ID token and too few scopes are refused with the
// challenges of RFC 6750 §3 and RFC 9728 §5.1.
func TestMCPSDKNodeProvider(t *testing.T) {
	p := startNodeProvider(t)
	w := newMCPWorld(t, p)
	md := w.srv.URL + "/.well-known/oauth-protected-resource/mcp"

	t.Run("SDK OAuth flow", func(t *testing.T) {
		h, err := auth.NewAuthorizationCodeHandler(&auth.AuthorizationCodeHandlerConfig{
			PreregisteredClient:      &oauthex.ClientCredentials{ClientID: nodeAppClient, Issuer: p.Issuer},
			RedirectURL:              nodeRedirectURI,
			AuthorizationCodeFetcher: codeFetcher,
		})
		if err != nil {
			t.Fatal(err)
		}
		cs, err := w.connect(t.Context(), nil, h)
		if err != nil {
			t.Fatalf("connect: %v", err)
		}
		defer cs.Close()
		if got, want := whoami(t, cs), "alice tools:call "+p.Issuer; got != want {
			t.Fatalf("whoami = %q, want %q", got, want)
		}
	})

	t.Run("bearer token", func(t *testing.T) {
		tok := p.clientCredentials(t, "cc-es256", w.resource, "tools:read tools:call").AccessToken
		cs, err := w.connect(t.Context(), &http.Client{Transport: bearerTransport(tok)}, nil)
		if err != nil {
			t.Fatalf("connect: %v", err)
		}
		defer cs.Close()
		if got, want := whoami(t, cs), "cc-es256 tools:read,tools:call "+p.Issuer; got != want {
			t.Fatalf("whoami = %q, want %q", got, want)
		}
	})

	t.Run("no token: discovery", func(t *testing.T) {
		resp := mcpPost(t, w.resource, "")
		want := `Bearer realm="authkit", scope="tools:call", resource_metadata="` + md + `"`
		if got := resp.Header.Get("WWW-Authenticate"); resp.StatusCode != 401 || got != want {
			t.Fatalf("%d %s\nwant 401 %s", resp.StatusCode, got, want)
		}
		cs, err := oauthex.ParseWWWAuthenticate(resp.Header.Values("WWW-Authenticate"))
		if err != nil || len(cs) != 1 {
			t.Fatalf("challenges %v, %v", cs, err)
		}
		prm, err := oauthex.GetProtectedResourceMetadata(t.Context(), cs[0].Params["resource_metadata"], w.resource, http.DefaultClient)
		if err != nil {
			t.Fatal(err)
		}
		if prm.Resource != w.resource || !slices.Equal(prm.AuthorizationServers, []string{p.Issuer}) ||
			!slices.Equal(prm.ScopesSupported, []string{"tools:read", "tools:call"}) {
			t.Fatalf("metadata %+v", prm)
		}
		asm, err := auth.GetAuthServerMetadata(t.Context(), prm.AuthorizationServers[0], http.DefaultClient)
		if err != nil || asm == nil || asm.Issuer != p.Issuer {
			t.Fatalf("authorization server metadata %+v, %v", asm, err)
		}
	})

	t.Run("refused", func(t *testing.T) {
		tail := `, scope="tools:call", resource_metadata="` + md + `"`
		invalid := `Bearer realm="authkit", error="invalid_token"` + tail
		for _, c := range []struct {
			name, token string
			status      int
			want        string
		}{
			{"another resource", p.clientCredentials(t, "cc-es256", apiAudience, "api:read").AccessToken, 401, invalid},
			{"an ID token", p.authorizationCode(t, "alice").IDToken, 401, invalid},
			{"forged", flipSignature(t, p.clientCredentials(t, "cc-es256", w.resource, "tools:call").AccessToken), 401, invalid},
			{"too few scopes", p.clientCredentials(t, "cc-es256", w.resource, "tools:read").AccessToken, 403,
				`Bearer realm="authkit", error="insufficient_scope", scope="tools:call"`},
		} {
			t.Run(c.name, func(t *testing.T) {
				resp := mcpPost(t, w.resource, c.token)
				if got := resp.Header.Get("WWW-Authenticate"); resp.StatusCode != c.status || got != c.want {
					t.Fatalf("%d %s\nwant %d %s", resp.StatusCode, got, c.status, c.want)
				}
				if cs, err := w.connect(t.Context(), &http.Client{Transport: bearerTransport(c.token)}, nil); err == nil {
					cs.Close()
					t.Fatal("the SDK client connected")
				}
			})
		}
	})
}

// mcpPost sends an MCP initialize request to endpoint with token ("": none).
func mcpPost(t *testing.T, endpoint, token string) *http.Response {
	t.Helper()
	body := `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"c","version":"1"}}}`
	req := mustRequest(t, http.MethodPost, endpoint, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp
}
