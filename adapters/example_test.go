package adapters_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/authkit-go/authkit"
	"github.com/authkit-go/authkit/adapters"
	"github.com/gin-gonic/gin"
)

func ExampleGin() {
	// Any authenticator works; this one knows a single API key.
	auth := authkit.AuthenticatorFunc[*User](func(r *http.Request) (*User, error) {
		switch r.Header.Get("X-API-Key") {
		case "":
			return nil, authkit.ErrNoCredentials
		case "alice-key":
			return &User{ID: "1", Name: "alice"}, nil
		}
		return nil, authkit.ErrInvalidToken
	})

	r := gin.New()
	r.Use(adapters.Gin(authkit.Require(auth)))
	r.GET("/me", func(c *gin.Context) {
		u, _ := authkit.UserFrom[*User](c.Request.Context())
		c.String(http.StatusOK, "hello, %s", u.Name)
	})

	for _, key := range []string{"alice-key", ""} {
		req := httptest.NewRequestWithContext(context.Background(), "GET", "/me", nil)
		if key != "" {
			req.Header.Set("X-API-Key", key)
		}
		rec := httptest.NewRecorder()
		r.ServeHTTP(rec, req)
		fmt.Println(rec.Code, rec.Header().Get("WWW-Authenticate"), rec.Body.String())
	}
	// Output:
	// 200  hello, alice
	// 401 Bearer realm="authkit" Unauthorized
}
