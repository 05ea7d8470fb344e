package authkit_test

// The README's "Your identity provider" snippets, compiled. They are not
// run (they would reach the providers); authkittest's tests run the same
// configuration against an in-process provider of each preset.

import (
	"context"
	"net/http"

	"github.com/authkit-go/authkit"
)

var (
	ctx    = context.Background()
	mux    = http.NewServeMux()
	orders http.Handler
	toUser = func(_ context.Context, c *authkit.Claims) (*User, error) { return &User{ID: c.Subject}, nil }
)

// Auth0: the issuer is the tenant's domain with its trailing slash; the
// audience is the API identifier (never the client ID, which Auth0's ID
// tokens carry).
func ExampleWithTrustedIssuer_auth0() {
	auth, err := authkit.NewJWT(toUser, authkit.WithTrustedIssuer(ctx, authkit.TrustedIssuer{
		Issuer:    "https://YOUR_TENANT.eu.auth0.com/",
		Audiences: []string{"https://orders.example.com"},
		Profile:   authkit.Preset("auth0"),
	}))
	if err != nil {
		panic(err)
	}
	mux.Handle("GET /orders", authkit.Require(auth, authkit.WithScopes("read:orders"))(orders))
}

// Keycloak: the issuer is the realm's URL; the audience is what an
// audience mapper adds to the client's access tokens ("account" by default).
func ExampleWithTrustedIssuer_keycloak() {
	auth, err := authkit.NewJWT(toUser, authkit.WithTrustedIssuer(ctx, authkit.TrustedIssuer{
		Issuer:    "https://keycloak.example.com/realms/myrealm",
		Audiences: []string{"orders-api"},
		Profile:   authkit.Preset("keycloak"),
	}))
	if err != nil {
		panic(err)
	}
	mux.Handle("GET /orders", authkit.Require(auth)(orders))
}

// Microsoft Entra ID (v2.0 tokens): the issuer with "{tenant}" and the
// allowed tenants' IDs (one is enough for a single-tenant API); the audience
// is the API's application (client) ID.
func ExampleWithTrustedIssuer_entra() {
	auth, err := authkit.NewJWT(toUser, authkit.WithTrustedIssuer(ctx, authkit.TrustedIssuer{
		Issuer:    "https://login.microsoftonline.com/{tenant}/v2.0",
		Tenants:   []string{"YOUR_TENANT_ID", "A_CUSTOMER_TENANT_ID"},
		Audiences: []string{"YOUR_API_CLIENT_ID"},
		Profile:   authkit.Preset("entra"),
	}))
	if err != nil {
		panic(err)
	}
	mux.Handle("GET /orders", authkit.Require(auth, authkit.WithScopes("Orders.Read"))(orders))
}
