package server

import (
	"net/http"

	"github.com/authkit-go/authkit"
)

// The demo as an OAuth protected resource (RFC 9728): its base URL is the
// resource, its own issuer and every -trust-issuer the authorization
// servers, and its 401 challenges name the metadata.

// resourceOption configures the demo's bearer authenticator as the
// resource. Its own tokens (-audience) and the trusted issuers'
// (-trust-audience) keep their configured audiences.
func (a *app) resourceOption() authkit.Option {
	return authkit.WithResource(authkit.Resource{URL: a.cfg.issuer, Scopes: []string{"demo:read"}, Name: "authkit demo"})
}

// resourceRoutes adds GET /.well-known/oauth-protected-resource.
func (a *app) resourceRoutes(mux *http.ServeMux) {
	mux.Handle(a.bearer.ResourceMetadataHandler())
}
