// Package mcpauth makes an authkit [authkit.JWT] the bearer-token check of a
// remote MCP server built with the official Go SDK
// (github.com/modelcontextprotocol/go-sdk): the MCP authorization
// specification's resource server, in a few lines.
//
//	j, err := authkit.NewJWT(toUser,
//		authkit.WithTrustedIssuer(ctx, authkit.TrustedIssuer{Issuer: "https://auth.example.com/"}),
//		authkit.WithResource(authkit.Resource{URL: "https://mcp.example.com/mcp", Scopes: []string{"tools:call"}}))
//	…
//	mux.Handle(j.ResourceMetadataHandler()) // RFC 9728, at /.well-known/oauth-protected-resource/mcp
//	mux.Handle("/mcp", mcpauth.Require(j, []string{"tools:call"})(mcp.NewStreamableHTTPHandler(getServer, nil)))
//
// Tokens are then accepted only if their issuer is trusted, their audience is
// the resource (RFC 8707) and they grant the scopes; tools read the token
// through the SDK's request (req.Extra.TokenInfo) and [User]. [ToolScopes],
// inside Require, scopes single tools:
//
//	mux.Handle("/mcp", mcpauth.Require(j, []string{"notes:read"})(
//		mcpauth.ToolScopes(j, map[string][]string{"write_note": {"notes:write"}})(handler)))
//
// It lives in a module of its own so that neither authkit nor its other
// adapters depend on the SDK.
package mcpauth

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/authkit-go/authkit"
	"github.com/modelcontextprotocol/go-sdk/auth"
)

// Require returns middleware for an MCP endpoint (the SDK's streamable HTTP
// handler) that lets a request through only when j accepts its bearer token
// and the token grants every one of scopes (none: any valid token). A
// refused request gets the kit's challenge ([authkit.DefaultErrorHandler],
// or opts' [authkit.WithErrorHandler]; opts are those of [authkit.Require]):
//
//   - no token: 401 Bearer realm, scope and resource_metadata (RFC 9728 §5.1)
//     when j has [authkit.WithResource], which the SDK's client follows to
//     the authorization servers;
//   - an invalid or expired token, one for another resource or an ID token:
//     401 with error="invalid_token" as well;
//   - too few scopes: 403 error="insufficient_scope" with the scope to ask
//     for (step-up, with the authorization servers already known);
//   - a malformed Authorization header: 400 invalid_request.
//
// An accepted request reaches next through the SDK's own
// [auth.RequireBearerToken], so the SDK sees the token as its
// [auth.TokenInfo] (see [Verifier] for what it holds) and binds MCP sessions
// to its user. The token is verified once. The middleware is safe for
// concurrent use; it panics at construction if j is nil or opts are invalid.
func Require[U any](j *authkit.JWT[U], scopes []string, opts ...authkit.Option) func(http.Handler) http.Handler {
	if j == nil {
		panic("mcpauth: nil JWT")
	}
	if len(scopes) > 0 {
		opts = append(opts, authkit.WithScopes(scopes...))
	}
	kit := authkit.Require[U](j, opts...)
	sdk := auth.RequireBearerToken(verified[U], &auth.RequireBearerTokenOptions{
		ResourceMetadataURL: j.ResourceMetadataURL(),
		// The kit checked exp with its leeway (at most a minute); the SDK
		// checks it again against the same clock.
		ClockSkew: time.Minute,
	})
	return func(next http.Handler) http.Handler { return kit(sdk(next)) }
}

// verified is the SDK's TokenVerifier behind Require: the token was verified
// by the kit's middleware just before, whose identity is in the context.
func verified[U any](ctx context.Context, _ string, _ *http.Request) (*auth.TokenInfo, error) {
	c, ok := authkit.ClaimsFrom(ctx)
	u, uok := authkit.UserFrom[U](ctx)
	if !ok || !uok { // cannot happen behind the kit's middleware; fail closed
		return nil, auth.ErrInvalidToken
	}
	return tokenInfo(u, c), nil
}

// Verifier returns j as the SDK's [auth.TokenVerifier], for
// [auth.RequireBearerToken] used directly. The [auth.TokenInfo] of an
// accepted token holds its scopes ([authkit.Claims.Scopes]), its expiry, the
// user ID (the token's issuer and subject: "iss sub", unique across
// issuers) and, in Extra, the user and the claims (see [User] and
// [Claims]). A refused token unwraps to [auth.ErrInvalidToken] (401), a
// malformed request to [auth.ErrOAuth] (400), and a failure (keys not yet
// fetched, a failing store or toUser) is an error of neither (500); the
// cause is logged, never returned, since the SDK writes the error's text in
// the body. Prefer [Require]: the SDK's own challenges carry neither the
// error code nor the realm of RFC 6750 §3, and its 403 does not say
// insufficient_scope.
func Verifier[U any](j *authkit.JWT[U]) auth.TokenVerifier {
	if j == nil {
		panic("mcpauth: nil JWT")
	}
	return func(ctx context.Context, token string, _ *http.Request) (*auth.TokenInfo, error) {
		u, c, err := j.Verify(ctx, token)
		switch {
		case err == nil:
			return tokenInfo(u, c), nil
		case errors.Is(err, authkit.ErrInvalidToken):
			slog.DebugContext(ctx, "mcpauth: token refused", "err", err)
			return nil, auth.ErrInvalidToken
		case errors.Is(err, authkit.ErrInvalidRequest):
			slog.DebugContext(ctx, "mcpauth: token refused", "err", err)
			return nil, auth.ErrOAuth
		default:
			slog.ErrorContext(ctx, "mcpauth: token verification failed", "err", err)
			return nil, errVerification
		}
	}
}

var errVerification = errors.New("token verification failed")

// The keys of the user and the claims in a TokenInfo's Extra.
const (
	userKey   = "authkit.user"
	claimsKey = "authkit.claims"
)

func tokenInfo[U any](u U, c *authkit.Claims) *auth.TokenInfo {
	return &auth.TokenInfo{
		Scopes:     c.Scopes(),
		Expiration: c.ExpiresAt,
		UserID:     c.Issuer + " " + c.Subject,
		Extra:      map[string]any{userKey: u, claimsKey: c},
	}
}

// User returns the user (toUser's result) of the token ti describes, as
// [Require] or [Verifier] put it there, and whether there is one. In a tool
// handler: mcpauth.User[*MyUser](req.Extra.TokenInfo).
func User[U any](ti *auth.TokenInfo) (U, bool) {
	if ti != nil {
		u, ok := ti.Extra[userKey].(U)
		return u, ok
	}
	var zero U
	return zero, false
}

// Claims returns the verified claims of the token ti describes, as
// [Require] or [Verifier] put them there.
func Claims(ti *auth.TokenInfo) (*authkit.Claims, bool) {
	if ti != nil {
		c, ok := ti.Extra[claimsKey].(*authkit.Claims)
		return c, ok
	}
	return nil, false
}
