package mcpauth_test

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"

	"github.com/authkit-go/authkit"
	"github.com/authkit-go/authkit/authkittest"
	"github.com/authkit-go/authkit/mcpauth"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// An MCP server going from no auth to "tokens of my provider, scoped per
// tool": the lines between the markers, with authkittest's in-process
// provider standing in for the real one (which needs no
// WithInsecureJWKSURL: it is https). Every token must be for this server
// (its audience the resource URL) and grant notes:read; write_note needs
// notes:write too, else the call gets 403 insufficient_scope with
// scope="notes:write", from which the SDK's client steps up.
func Example_toolScopes() {
	ctx := context.Background()
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	defer srv.Close()
	provider := authkittest.NewProvider("rfc9068", srv.URL+"/mcp")
	defer provider.Close()
	server := mcp.NewServer(&mcp.Implementation{Name: "notes", Version: "1"}, nil)
	for _, name := range []string{"read_note", "write_note"} {
		mcp.AddTool(server, &mcp.Tool{Name: name}, func(context.Context, *mcp.CallToolRequest, struct{}) (*mcp.CallToolResult, struct{}, error) {
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: name + " done"}}}, struct{}{}, nil
		})
	}
	handler := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return server }, nil)

	// --- from here: the auth ---
	j, err := authkit.NewJWT(func(_ context.Context, c *authkit.Claims) (string, error) { return c.Subject, nil },
		authkit.WithTrustedIssuer(ctx, authkit.TrustedIssuer{Issuer: provider.Issuer}), authkit.WithInsecureJWKSURL(),
		authkit.WithResource(authkit.Resource{URL: srv.URL + "/mcp", Scopes: []string{"notes:read", "notes:write"}}))
	if err != nil {
		log.Fatal(err)
	}
	mux.Handle(j.ResourceMetadataHandler())
	mux.Handle("/mcp", mcpauth.Require(j, []string{"notes:read"})(
		mcpauth.ToolScopes(j, map[string][]string{"write_note": {"notes:write"}})(handler)))
	// --- to here ---

	if err := authkittest.WaitReady(j); err != nil { // the provider's keys are fetched in the background
		log.Fatal(err)
	}
	for _, scopes := range [][]string{{"notes:read"}, {"notes:read", "notes:write"}} {
		client := mcp.NewClient(&mcp.Implementation{Name: "client", Version: "1"}, nil)
		cs, err := client.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: srv.URL + "/mcp", MaxRetries: -1,
			HTTPClient: &http.Client{Transport: bearer(provider.AccessToken("alice", authkittest.Scopes(scopes...)))}}, nil)
		if err != nil {
			log.Fatal(err)
		}
		for _, tool := range []string{"read_note", "write_note"} {
			if res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: tool}); err != nil {
				fmt.Println(scopes, tool, "refused")
			} else {
				fmt.Println(scopes, res.Content[0].(*mcp.TextContent).Text)
			}
		}
		cs.Close()
	}
	// Output:
	// [notes:read] read_note done
	// [notes:read] write_note refused
	// [notes:read notes:write] read_note done
	// [notes:read notes:write] write_note done
}
