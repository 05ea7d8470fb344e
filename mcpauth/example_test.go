package mcpauth_test

import (
	"context"
	"log"
	"net/http"

	"github.com/authkit-go/authkit"
	"github.com/authkit-go/authkit/mcpauth"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// An MCP server that accepts the access tokens of one provider, for itself
// only, and requires the scope tools:call.
func Example() {
	ctx := context.Background()
	server := mcp.NewServer(&mcp.Implementation{Name: "example", Version: "1"}, nil)

	j, err := authkit.NewJWT(func(_ context.Context, c *authkit.Claims) (string, error) { return c.Subject, nil },
		authkit.WithTrustedIssuer(ctx, authkit.TrustedIssuer{Issuer: "https://auth.example.com/"}),
		authkit.WithResource(authkit.Resource{URL: "https://mcp.example.com/mcp", Scopes: []string{"tools:call"}}))
	if err != nil {
		log.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle(j.ResourceMetadataHandler()) // GET /.well-known/oauth-protected-resource/mcp
	mux.Handle("/mcp", mcpauth.Require(j, []string{"tools:call"})(
		mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return server }, nil)))
	_ = http.ListenAndServe // serve mux over TLS
}
