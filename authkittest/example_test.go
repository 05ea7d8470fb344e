package authkittest_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/authkit-go/authkit"
	"github.com/authkit-go/authkit/authkittest"
)

// A handler test that goes through the real verification path: a
// Keycloak-style provider, the route's own Require and scope.
func Example() {
	p := authkittest.NewProvider("keycloak", "orders-api")
	defer p.Close()

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	auth, err := authkit.NewJWT(func(_ context.Context, c *authkit.Claims) (string, error) {
		return c.Subject, nil
	}, p.Options(ctx)...)
	if err != nil {
		panic(err)
	}
	if err := authkittest.WaitReady(auth); err != nil {
		panic(err)
	}
	orders := authkit.Require(auth, authkit.WithScopes("orders:read"))(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, _ := authkit.UserFrom[string](r.Context())
		fmt.Fprintf(w, "orders of %s", u)
	}))

	for _, tok := range []string{
		p.AccessToken("alice", authkittest.Scopes("orders:read")),
		p.AccessToken("alice"),                                // no scope: 403
		p.AccessToken("alice", authkittest.Expired()),         // 401
		p.IDToken("alice", authkittest.Scopes("orders:read")), // an ID token: 401
	} {
		r := httptest.NewRequest("GET", "/orders", nil)
		r.Header.Set("Authorization", "Bearer "+tok)
		w := httptest.NewRecorder()
		orders.ServeHTTP(w, r)
		fmt.Println(w.Code, strings.TrimSpace(w.Body.String()))
	}
	// Output:
	// 200 orders of alice
	// 403 Forbidden
	// 401 Unauthorized
	// 401 Unauthorized
}
