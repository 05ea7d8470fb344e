package authkit_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/authkit-go/authkit"
)

// Example_refreshTokens shows the whole life of a login with access and
// refresh tokens: login, a protected call, refresh, reuse detection, logout
// on one device, and logout everywhere. The key and the clock are fixed so
// that the output is the same on every run; a real program loads its key
// from a file or a KMS and leaves the clocks alone.
func Example_refreshTokens() {
	key := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, ed25519.SeedSize))
	now := func() time.Time { return time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC) }

	// Families and versions: in memory here; NewPostgresStore in
	// production. The cache fronts every version lookup; bumping through it
	// is "log out everywhere".
	store := authkit.NewMemoryStore("alice")
	cache, err := authkit.NewVersionCache(store, authkit.WithClock(now))
	if err != nil {
		panic(err)
	}
	iss, err := authkit.NewIssuer("https://auth.example.com", "https://api.example.com", key,
		store, cache.Lookup,
		authkit.WithSigningKeyID("2030-01"),
		authkit.WithClock(now),
		authkit.WithReuseHandler(func(_ context.Context, e authkit.ReuseEvent) {
			fmt.Println("  reuse detected: family of", e.UserID, "revoked")
		}))
	if err != nil {
		panic(err)
	}
	// The API accepts the issuer's access tokens and checks the version on
	// every request, so that logout everywhere reaches access tokens too.
	jwt, err := authkit.NewJWT(
		func(_ context.Context, c *authkit.Claims) (string, error) { return c.Subject, nil },
		authkit.WithTokensFrom(iss), authkit.WithVersionCheck(cache.Lookup), authkit.WithClock(now))
	if err != nil {
		panic(err)
	}
	requireUser := authkit.Require(jwt)

	mux := http.NewServeMux()
	mux.HandleFunc("POST /token", func(w http.ResponseWriter, r *http.Request) {
		if r.FormValue("username") != "alice" || r.FormValue("password") != "alice-password" {
			http.Error(w, "wrong credentials", http.StatusUnauthorized)
			return
		}
		pair, err := iss.Issue(r.Context(), "alice")
		if err != nil {
			http.Error(w, "failed", http.StatusInternalServerError)
			return
		}
		iss.WriteTokens(w, r, pair)
	})
	mux.Handle("POST /token/refresh", iss.RefreshHandler())
	mux.Handle("POST /token/logout", iss.LogoutHandler())
	mux.Handle("POST /logout-everywhere", requireUser(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		user, _ := authkit.UserFrom[string](r.Context())
		if _, err := cache.Bump(r.Context(), user); err != nil {
			http.Error(w, "failed", http.StatusInternalServerError)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})))
	mux.Handle("GET /api/me", requireUser(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		user, _ := authkit.UserFrom[string](r.Context())
		fmt.Fprint(w, user)
	})))
	mux.Handle("GET /.well-known/jwks.json", iss.JWKSHandler())

	// call sends a request to the mux and returns the answer.
	call := func(method, path, bearer, contentType, body string) answer {
		r := httptest.NewRequest(method, path, strings.NewReader(body))
		if contentType != "" {
			r.Header.Set("Content-Type", contentType)
		}
		if bearer != "" {
			r.Header.Set("Authorization", "Bearer "+bearer)
		}
		w := httptest.NewRecorder()
		mux.ServeHTTP(w, r)
		a := answer{status: w.Code, raw: strings.TrimSpace(w.Body.String()), cookies: w.Result().Cookies()}
		_ = json.Unmarshal(w.Body.Bytes(), &a.json)
		return a
	}
	login := func() (access, refresh string) {
		a := call("POST", "/token", "", "application/x-www-form-urlencoded", "username=alice&password=alice-password")
		fmt.Println("login:", a.status, "token_type", a.json["token_type"], "expires_in", a.json["expires_in"])
		return a.str("access_token"), a.str("refresh_token")
	}
	refresh := func(token string) answer {
		return call("POST", "/token/refresh", "", "application/json", `{"refresh_token":"`+token+`"}`)
	}

	fmt.Println("JWK Set:", call("GET", "/.well-known/jwks.json", "", "", "").raw)

	access1, refresh1 := login()
	a := call("GET", "/api/me", access1, "", "")
	fmt.Println("GET /api/me:", a.status, a.raw)

	a = refresh(refresh1)
	access2, refresh2 := a.str("access_token"), a.str("refresh_token")
	fmt.Println("refresh:", a.status, "new tokens:", access2 != access1 && refresh2 != refresh1)
	c := a.cookies[0]
	fmt.Println("  cookie:", c.Name, "Path="+c.Path, "HttpOnly", c.HttpOnly, "Secure", c.Secure, "SameSite=Strict", c.SameSite == http.SameSiteStrictMode)
	a = call("GET", "/api/me", access2, "", "")
	fmt.Println("GET /api/me with the new access token:", a.status, a.raw)

	// Presented again before its successor is used, refresh1 would be a
	// retry (WithRefreshRetryWindow) and get refresh2 again; once refresh2
	// is used, refresh1 is reuse.
	a = refresh(refresh2)
	refresh3 := a.str("refresh_token")
	fmt.Println("refresh with the new token:", a.status)
	a = refresh(refresh1)
	fmt.Println("refresh with the used token again:", a.status, a.raw)
	a = refresh(refresh3)
	fmt.Println("refresh with the newest token:", a.status, a.raw)

	_, refresh4 := login()
	a = call("POST", "/token/logout", "", "application/json", `{"refresh_token":"`+refresh4+`"}`)
	fmt.Println("logout on this device:", a.status)
	a = refresh(refresh4)
	fmt.Println("refresh after logout:", a.status, a.raw)

	access4, refresh4 := login()
	a = call("POST", "/logout-everywhere", access4, "", "")
	fmt.Println("logout everywhere:", a.status)
	a = refresh(refresh4)
	fmt.Println("refresh after logout everywhere:", a.status, a.raw)
	fmt.Println("GET /api/me after logout everywhere:", call("GET", "/api/me", access4, "", "").status)

	// Output:
	// JWK Set: {"keys":[{"alg":"EdDSA","crv":"Ed25519","kid":"2030-01","kty":"OKP","use":"sig","x":"6kpsY-KcUgq-9VB7Ey7F-ZVHdq6-vnuSQh7qaRRG0iw"}]}
	// login: 200 token_type Bearer expires_in 900
	// GET /api/me: 200 alice
	// refresh: 200 new tokens: true
	//   cookie: __Secure-authkit-refresh Path=/token HttpOnly true Secure true SameSite=Strict true
	// GET /api/me with the new access token: 200 alice
	// refresh with the new token: 200
	//   reuse detected: family of alice revoked
	// refresh with the used token again: 400 {"error":"invalid_grant"}
	// refresh with the newest token: 400 {"error":"invalid_grant"}
	// login: 200 token_type Bearer expires_in 900
	// logout on this device: 204
	// refresh after logout: 400 {"error":"invalid_grant"}
	// login: 200 token_type Bearer expires_in 900
	// logout everywhere: 204
	// refresh after logout everywhere: 400 {"error":"invalid_grant"}
	// GET /api/me after logout everywhere: 401
}

// answer is a response of the example's server.
type answer struct {
	status  int
	raw     string
	json    map[string]any
	cookies []*http.Cookie
}

func (a answer) str(name string) string {
	s, _ := a.json[name].(string)
	return s
}

// ExampleIssuer_Revoke composes "log out on this device" into an
// application's own logout handler, next to ending a server-side session,
// and then redirects: Revoke revokes the refresh-token family, and the
// handler clears the cookie (its default name and path) and sets the status.
func ExampleIssuer_Revoke() {
	key := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, ed25519.SeedSize))
	versions := authkit.NewMemoryStore("alice")
	iss, err := authkit.NewIssuer("https://auth.example.com", "https://api.example.com", key,
		authkit.NewMemoryStore(), versions.Version)
	if err != nil {
		panic(err)
	}
	logout := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// End the session here too (the session authenticator's logout).
		if c, err := r.Cookie("__Secure-authkit-refresh"); err == nil {
			if err := iss.Revoke(r.Context(), c.Value); err != nil && !errors.Is(err, authkit.ErrInvalidToken) {
				http.Error(w, "logout failed", http.StatusInternalServerError)
				return
			}
		}
		http.SetCookie(w, &http.Cookie{Name: "__Secure-authkit-refresh", Path: "/token", MaxAge: -1,
			HttpOnly: true, Secure: true, SameSite: http.SameSiteStrictMode})
		http.Redirect(w, r, "/", http.StatusSeeOther)
	})

	pair, err := iss.Issue(context.Background(), "alice")
	if err != nil {
		panic(err)
	}
	r := httptest.NewRequest("POST", "/token/logout", nil)
	r.AddCookie(&http.Cookie{Name: "__Secure-authkit-refresh", Value: pair.RefreshToken})
	w := httptest.NewRecorder()
	logout.ServeHTTP(w, r)
	fmt.Println(w.Code, w.Header().Get("Location"))
	fmt.Println(w.Header().Get("Set-Cookie"))
	_, err = iss.Refresh(context.Background(), pair.RefreshToken)
	fmt.Println("refresh afterwards:", errors.Is(err, authkit.ErrTokenRevoked))

	// Output:
	// 303 /
	// __Secure-authkit-refresh=; Path=/token; Max-Age=0; HttpOnly; Secure; SameSite=Strict
	// refresh afterwards: true
}
