package authkit_test

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/authkit-go/authkit"
)

// User is the program's own user type in these examples.
type User struct {
	ID   string
	Name string
}

// A fixed Ed25519 key and clock keep the examples' output deterministic.
var (
	exampleKey = ed25519.NewKeyFromSeed([]byte("authkit example key, 32 bytes!!!"))
	exampleNow = time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
)

// exampleToken signs an access token as an identity provider would.
func exampleToken(sub string, exp time.Time) string {
	enc := base64.RawURLEncoding
	h := enc.EncodeToString([]byte(`{"alg":"EdDSA","typ":"at+jwt","kid":"k1"}`))
	p := enc.EncodeToString(fmt.Appendf(nil,
		`{"iss":"https://id.example","sub":%q,"aud":"api","exp":%d,"iat":%d,"jti":"t1"}`,
		sub, exp.Unix(), exampleNow.Unix()))
	return h + "." + p + "." + enc.EncodeToString(ed25519.Sign(exampleKey, []byte(h+"."+p)))
}

func ExampleNewJWT() {
	auth, err := authkit.NewJWT(
		// Turn verified claims into the program's user; no database query.
		func(_ context.Context, c *authkit.Claims) (*User, error) {
			return &User{ID: c.Subject}, nil
		},
		authkit.WithIssuer("https://id.example"),
		authkit.WithAudience("api"),
		authkit.WithKey("k1", exampleKey.Public()),
		authkit.WithClock(func() time.Time { return exampleNow }),
	)
	if err != nil {
		panic(err)
	}
	api := authkit.Require(auth)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, _ := authkit.UserFrom[*User](r.Context())
		fmt.Fprintf(w, "hello, user %s", u.ID)
	}))

	for _, authz := range []string{
		"Bearer " + exampleToken("42", exampleNow.Add(5*time.Minute)),
		"Bearer " + exampleToken("42", exampleNow.Add(-time.Minute)), // expired
		"", // no credentials
		"Bearer a b",
	} {
		req := httptest.NewRequest("GET", "/api/me", nil)
		if authz != "" {
			req.Header.Set("Authorization", authz)
		}
		rec := httptest.NewRecorder()
		api.ServeHTTP(rec, req)
		fmt.Println(rec.Code, rec.Header().Get("WWW-Authenticate"), rec.Body.String())
	}
	// Output:
	// 200  hello, user 42
	// 401 Bearer realm="authkit", error="invalid_token" Unauthorized
	//
	// 401 Bearer realm="authkit" Unauthorized
	//
	// 400 Bearer realm="authkit", error="invalid_request" Bad Request
}

// An authenticator of the program's own, composed with a bearer-token one:
// Any answers with the first authenticator that finds its credentials.
func ExampleAny() {
	bearer, err := authkit.NewJWT(
		func(_ context.Context, c *authkit.Claims) (*User, error) { return &User{ID: c.Subject}, nil },
		authkit.WithIssuer("https://id.example"),
		authkit.WithAudience("api"),
		authkit.WithKey("k1", exampleKey.Public()),
		authkit.WithClock(func() time.Time { return exampleNow }),
	)
	if err != nil {
		panic(err)
	}
	apiKey := authkit.AuthenticatorFunc[*User](func(r *http.Request) (*User, error) {
		switch r.Header.Get("X-API-Key") {
		case "":
			return nil, authkit.ErrNoCredentials
		case "build-bot-key":
			return &User{ID: "bot"}, nil
		}
		return nil, authkit.ErrInvalidToken
	})
	h := authkit.Optional(authkit.Any(bearer, apiKey))(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u, ok := authkit.UserFrom[*User](r.Context()); ok {
			m, _ := authkit.MethodFrom(r.Context())
			fmt.Fprintf(w, "%s via %s", u.ID, m)
			return
		}
		fmt.Fprint(w, "anonymous")
	}))

	for _, hdr := range [][2]string{
		{"Authorization", "Bearer " + exampleToken("42", exampleNow.Add(time.Minute))},
		{"X-API-Key", "build-bot-key"},
		{"X-API-Key", "stolen?"},
		{},
	} {
		req := httptest.NewRequest("GET", "/", nil)
		if hdr[0] != "" {
			req.Header.Set(hdr[0], hdr[1])
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		fmt.Println(rec.Code, rec.Body.String())
	}
	// Output:
	// 200 42 via bearer
	// 200 bot via custom
	// 401 Unauthorized
	//
	// 200 anonymous
}

// Handlers that read the user can be tested without any token.
func ExampleContextWithUser() {
	me := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, ok := authkit.UserFrom[*User](r.Context())
		if !ok {
			http.Error(w, "no user", http.StatusUnauthorized)
			return
		}
		fmt.Fprintf(w, "name=%s", u.Name)
	})
	req := httptest.NewRequest("GET", "/me", nil)
	req = req.WithContext(authkit.ContextWithUser(req.Context(), &User{ID: "1", Name: "alice"}))
	rec := httptest.NewRecorder()
	me.ServeHTTP(rec, req)
	fmt.Println(rec.Body.String())

	// The type parameter must match the stored type exactly.
	_, ok := authkit.UserFrom[User](req.Context())
	fmt.Println("found as User (not *User):", ok)
	// Output:
	// name=alice
	// found as User (not *User): false
}
