package adapters_test

// Real routers, real requests: for chi, echo (v4) and gin, a bearer token
// is accepted and the framework's handler reads the user through
// authkit.UserFrom; a refused request gets the exact RFC 6750 answer and the
// handler is not called.
// A session-cookie round trip goes through each framework too: login sets
// the cookie through the session middleware's writer, the next request is
// authenticated by it, logout ends it.

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authkit-go/authkit"
	"github.com/authkit-go/authkit/adapters"
	"github.com/gin-gonic/gin"
	"github.com/go-chi/chi/v5"
	"github.com/labstack/echo/v4"
)

func init() { gin.SetMode(gin.ReleaseMode) }

// User is the application's user type in these tests.
type User struct{ ID, Name string }

var users = map[string]*User{"1": {"1", "alice"}, "2": {"2", "bob"}}

const (
	testIssuer   = "https://id.example"
	testAudience = "api"
	testKID      = "k1"

	// sessionCookieName is the name NewSessionManager gives the session
	// cookie by default.
	sessionCookieName = "__Host-session"
)

var testKey = func() *ecdsa.PrivateKey {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic(err)
	}
	return k
}()

// newAuth returns the bearer-token authenticator of the tests.
func newAuth(t testing.TB) *authkit.JWT[*User] {
	t.Helper()
	auth, err := authkit.NewJWT(
		func(_ context.Context, c *authkit.Claims) (*User, error) {
			u, ok := users[c.Subject]
			if !ok {
				return nil, authkit.ErrUnknownUser
			}
			return u, nil
		},
		authkit.WithIssuer(testIssuer),
		authkit.WithAudience(testAudience),
		authkit.WithKey(testKID, testKey.Public()),
	)
	if err != nil {
		t.Fatal(err)
	}
	return auth
}

// token signs an ES256 access token for sub with the standard library, as
// an identity provider would.
func token(t testing.TB, sub string, ttl time.Duration) string {
	t.Helper()
	enc := base64.RawURLEncoding
	now := time.Now()
	h := enc.EncodeToString([]byte(`{"alg":"ES256","typ":"at+jwt","kid":"` + testKID + `"}`))
	p := enc.EncodeToString(fmt.Appendf(nil,
		`{"iss":%q,"sub":%q,"aud":%q,"exp":%d,"iat":%d,"jti":%q}`,
		testIssuer, sub, testAudience, now.Add(ttl).Unix(), now.Add(min(ttl, 0)).Unix()-1, rand.Text()))
	digest := sha256.Sum256([]byte(h + "." + p))
	r, s, err := ecdsa.Sign(rand.Reader, testKey, digest[:])
	if err != nil {
		t.Fatal(err)
	}
	sig := make([]byte, 64)
	r.FillBytes(sig[:32])
	s.FillBytes(sig[32:])
	return h + "." + p + "." + enc.EncodeToString(sig)
}

// whoami is what every framework's handler answers: the user and how the
// request was authenticated.
func whoami(ctx context.Context) string {
	u, ok := authkit.UserFrom[*User](ctx)
	if !ok {
		return "anonymous"
	}
	m, _ := authkit.MethodFrom(ctx)
	return fmt.Sprintf("%s (%s) via %s", u.Name, u.ID, m)
}

// routers builds each framework's router with the /me route behind
// authkit.Require, counting the calls of its handler.
var routers = map[string]func(auth authkit.Authenticator[*User], calls *atomic.Int32) http.Handler{
	"chi": func(auth authkit.Authenticator[*User], calls *atomic.Int32) http.Handler {
		r := chi.NewRouter()
		r.Use(authkit.Require(auth))
		r.Get("/me", func(w http.ResponseWriter, r *http.Request) {
			calls.Add(1)
			io.WriteString(w, whoami(r.Context()))
		})
		return r
	},
	"echo": func(auth authkit.Authenticator[*User], calls *atomic.Int32) http.Handler {
		e := echo.New()
		e.Use(echo.WrapMiddleware(authkit.Require(auth)))
		e.GET("/me", func(c echo.Context) error {
			calls.Add(1)
			return c.String(http.StatusOK, whoami(c.Request().Context()))
		})
		return e
	},
	"gin": func(auth authkit.Authenticator[*User], calls *atomic.Int32) http.Handler {
		r := gin.New()
		r.Use(adapters.Gin(authkit.Require(auth)))
		r.GET("/me", func(c *gin.Context) {
			calls.Add(1)
			c.String(http.StatusOK, whoami(c.Request.Context()))
		})
		return r
	},
}

func TestFrameworks(t *testing.T) {
	auth := newAuth(t)
	for name, build := range routers {
		t.Run(name, func(t *testing.T) {
			var calls atomic.Int32
			srv := httptest.NewServer(build(auth, &calls))
			defer srv.Close()

			for _, tc := range []struct {
				name    string
				authz   string // Authorization header, "" for none
				status  int
				body    string // exact body when the handler runs
				wwwAuth string // exact WWW-Authenticate
				calls   int32  // handler calls expected
			}{
				{"bearer token", "Bearer " + token(t, "1", time.Minute), 200, "alice (1) via bearer", "", 1},
				{"another user", "Bearer " + token(t, "2", time.Minute), 200, "bob (2) via bearer", "", 1},
				{"no credentials", "", 401, "", `Bearer realm="authkit"`, 0},
				{"expired token", "Bearer " + token(t, "1", -time.Minute), 401, "", `Bearer realm="authkit", error="invalid_token"`, 0},
				{"unknown user", "Bearer " + token(t, "9", time.Minute), 401, "", `Bearer realm="authkit", error="invalid_token"`, 0},
				{"malformed header", "Bearer a b", 400, "", `Bearer realm="authkit", error="invalid_request"`, 0},
			} {
				t.Run(tc.name, func(t *testing.T) {
					before := calls.Load()
					req, _ := http.NewRequest("GET", srv.URL+"/me", nil)
					if tc.authz != "" {
						req.Header.Set("Authorization", tc.authz)
					}
					resp, err := srv.Client().Do(req)
					if err != nil {
						t.Fatal(err)
					}
					body, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					if resp.StatusCode != tc.status {
						t.Errorf("status %d, want %d; body %q", resp.StatusCode, tc.status, body)
					}
					if got := resp.Header.Get("WWW-Authenticate"); got != tc.wwwAuth {
						t.Errorf("WWW-Authenticate %q, want %q", got, tc.wwwAuth)
					}
					if tc.body != "" && string(body) != tc.body {
						t.Errorf("body %q, want %q", body, tc.body)
					}
					if got := calls.Load() - before; got != tc.calls {
						t.Errorf("handler called %d times, want %d", got, tc.calls)
					}
				})
			}
		})
	}
}

// On a refusal the gin chain is aborted: later handlers do not run, and an
// earlier middleware sees the abort and the status.
func TestGinAborts(t *testing.T) {
	var after atomic.Int32
	var seen string
	r := gin.New()
	r.Use(func(c *gin.Context) {
		c.Next()
		seen = fmt.Sprintf("aborted=%v status=%d", c.IsAborted(), c.Writer.Status())
	})
	r.Use(adapters.Gin(authkit.Require(newAuth(t))))
	r.Use(func(c *gin.Context) { after.Add(1) })
	r.GET("/me", func(c *gin.Context) { after.Add(1) })

	rec := httptest.NewRecorder()
	r.ServeHTTP(rec, httptest.NewRequest("GET", "/me", nil))
	if rec.Code != 401 || rec.Header().Get("WWW-Authenticate") != `Bearer realm="authkit"` {
		t.Errorf("%d %q", rec.Code, rec.Header().Get("WWW-Authenticate"))
	}
	if after.Load() != 0 {
		t.Errorf("%d later handlers ran after the refusal", after.Load())
	}
	if seen != "aborted=true status=401" {
		t.Errorf("the earlier middleware saw %s", seen)
	}
}

// With authkit.Optional, a request without credentials goes on anonymously,
// and one with a bad token is still refused.
func TestGinOptional(t *testing.T) {
	r := gin.New()
	r.Use(adapters.Gin(authkit.Optional(newAuth(t))))
	r.GET("/", func(c *gin.Context) { c.String(200, whoami(c.Request.Context())) })
	for _, tc := range []struct {
		authz  string
		status int
		body   string
	}{
		{"", 200, "anonymous"},
		{"Bearer " + token(t, "1", time.Minute), 200, "alice (1) via bearer"},
		{"Bearer " + token(t, "1", -time.Minute), 401, "Unauthorized\n"},
	} {
		req := httptest.NewRequest("GET", "/", nil)
		if tc.authz != "" {
			req.Header.Set("Authorization", tc.authz)
		}
		rec := httptest.NewRecorder()
		r.ServeHTTP(rec, req)
		if rec.Code != tc.status || rec.Body.String() != tc.body {
			t.Errorf("Authorization %.20q: %d %q, want %d %q", tc.authz, rec.Code, rec.Body, tc.status, tc.body)
		}
	}
}

// stampOnWrite stands in for a middleware that must see the response start
// before it is sent, as a session middleware does to set its cookie: it
// hands on a writer that adds a header at the first WriteHeader or Write,
// and adds another after the handler returned if nothing was written.
func stampOnWrite(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sw := &stampWriter{ResponseWriter: w}
		next.ServeHTTP(sw, r)
		if !sw.started {
			w.Header().Set("X-Stamp", "after")
		}
	})
}

type stampWriter struct {
	http.ResponseWriter
	started bool
}

func (w *stampWriter) start() {
	if !w.started {
		w.started = true
		w.Header().Set("X-Stamp", "before-first-write")
	}
}
func (w *stampWriter) WriteHeader(code int)        { w.start(); w.ResponseWriter.WriteHeader(code) }
func (w *stampWriter) Write(b []byte) (int, error) { w.start(); return w.ResponseWriter.Write(b) }

// Every way a gin handler writes goes through the writer the middleware
// handed on.
func TestGinUsesTheMiddlewaresWriter(t *testing.T) {
	for name, handler := range map[string]gin.HandlerFunc{
		"String":          func(c *gin.Context) { c.String(200, "hi") },
		"JSON":            func(c *gin.Context) { c.JSON(200, gin.H{"a": 1}) },
		"Status":          func(c *gin.Context) { c.Status(204) },
		"AbortWithStatus": func(c *gin.Context) { c.AbortWithStatus(403) },
		"Writer.Write":    func(c *gin.Context) { c.Writer.Write([]byte("raw")) },
		"WriteString":     func(c *gin.Context) { c.Writer.WriteString("str") },
		"Flush":           func(c *gin.Context) { c.Writer.Flush() },
		"Header then body": func(c *gin.Context) {
			c.Header("X-App", "1")
			c.Data(201, "text/plain", []byte("made"))
		},
	} {
		t.Run(name, func(t *testing.T) {
			r := gin.New()
			r.Use(adapters.Gin(stampOnWrite))
			r.GET("/", handler)
			rec := httptest.NewRecorder()
			r.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
			if got := rec.Header().Get("X-Stamp"); got != "before-first-write" {
				t.Errorf("X-Stamp %q: the handler's response did not go through the middleware's writer (status %d)", got, rec.Code)
			}
		})
	}

	// A handler that writes nothing: the middleware finishes the response
	// after it, as a session middleware commits after the handler.
	r := gin.New()
	r.Use(adapters.Gin(stampOnWrite))
	r.GET("/", func(c *gin.Context) {})
	rec := httptest.NewRecorder()
	r.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	if got := rec.Header().Get("X-Stamp"); rec.Code != 200 || got != "after" {
		t.Errorf("empty handler: %d, X-Stamp %q; want 200, after", rec.Code, got)
	}
}

func TestGinNil(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("Gin(nil) did not panic")
		}
	}()
	adapters.Gin(nil)
}

// sessionRouters builds each framework's router with the session routes:
// POST /login (the form's user ID) and POST /logout through
// Session.LoadAndSave, GET /me behind authkit.Require.
var sessionRouters = map[string]func(sess *authkit.Session[*User]) http.Handler{
	"chi": func(sess *authkit.Session[*User]) http.Handler {
		r := chi.NewRouter()
		r.With(sess.LoadAndSave).Post("/login", func(w http.ResponseWriter, r *http.Request) {
			if err := sess.Login(r.Context(), r.FormValue("user")); err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
			io.WriteString(w, "logged in")
		})
		r.With(sess.LoadAndSave).Post("/logout", func(w http.ResponseWriter, r *http.Request) {
			if err := sess.Logout(r.Context()); err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
			io.WriteString(w, "logged out")
		})
		r.With(authkit.Require(sess)).Get("/me", func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, whoami(r.Context()))
		})
		return r
	},
	"echo": func(sess *authkit.Session[*User]) http.Handler {
		e := echo.New()
		e.POST("/login", func(c echo.Context) error {
			if err := sess.Login(c.Request().Context(), c.FormValue("user")); err != nil {
				return err
			}
			return c.String(http.StatusOK, "logged in")
		}, echo.WrapMiddleware(sess.LoadAndSave))
		e.POST("/logout", func(c echo.Context) error {
			if err := sess.Logout(c.Request().Context()); err != nil {
				return err
			}
			return c.String(http.StatusOK, "logged out")
		}, echo.WrapMiddleware(sess.LoadAndSave))
		e.GET("/me", func(c echo.Context) error {
			return c.String(http.StatusOK, whoami(c.Request().Context()))
		}, echo.WrapMiddleware(authkit.Require(sess)))
		return e
	},
	"gin": func(sess *authkit.Session[*User]) http.Handler {
		r := gin.New()
		r.POST("/login", adapters.Gin(sess.LoadAndSave), func(c *gin.Context) {
			if err := sess.Login(c.Request.Context(), c.PostForm("user")); err != nil {
				c.String(http.StatusInternalServerError, err.Error())
				return
			}
			c.String(http.StatusOK, "logged in")
		})
		r.POST("/logout", adapters.Gin(sess.LoadAndSave), func(c *gin.Context) {
			if err := sess.Logout(c.Request.Context()); err != nil {
				c.String(http.StatusInternalServerError, err.Error())
				return
			}
			c.String(http.StatusOK, "logged out")
		})
		r.GET("/me", adapters.Gin(authkit.Require(sess)), func(c *gin.Context) {
			c.String(http.StatusOK, whoami(c.Request.Context()))
		})
		return r
	},
}

func TestFrameworksSessionRoundTrip(t *testing.T) {
	for name, build := range sessionRouters {
		t.Run(name, func(t *testing.T) {
			sess, err := authkit.NewSession(authkit.NewSessionManager(nil), func(_ context.Context, id string) (*User, error) {
				u, ok := users[id]
				if !ok {
					return nil, authkit.ErrUnknownUser
				}
				return u, nil
			})
			if err != nil {
				t.Fatal(err)
			}
			srv := httptest.NewTLSServer(build(sess))
			defer srv.Close()
			c := srv.Client()
			if c.Jar, err = cookiejar.New(nil); err != nil {
				t.Fatal(err)
			}
			send := func(method, path string, header http.Header, form string) (*http.Response, string) {
				t.Helper()
				req, _ := http.NewRequest(method, srv.URL+path, strings.NewReader(form))
				if form != "" {
					req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				}
				for k, v := range header {
					req.Header[k] = v
				}
				resp, err := c.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				defer resp.Body.Close()
				b, _ := io.ReadAll(resp.Body)
				return resp, string(b)
			}

			if resp, _ := send("GET", "/me", nil, ""); resp.StatusCode != 401 || resp.Header.Get("WWW-Authenticate") != `Bearer realm="authkit"` {
				t.Errorf("/me before login: %d %q, want 401", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
			}

			resp, body := send("POST", "/login", nil, "user=2")
			if resp.StatusCode != 200 || body != "logged in" {
				t.Fatalf("login: %d %q", resp.StatusCode, body)
			}
			var cookie *http.Cookie
			for _, ck := range resp.Cookies() {
				if ck.Name == sessionCookieName {
					cookie = ck
				}
			}
			if cookie == nil || !cookie.Secure || !cookie.HttpOnly || cookie.Path != "/" || cookie.SameSite != http.SameSiteLaxMode {
				t.Fatalf("login set the session cookie %v: want %s, Secure, HttpOnly, Path=/, SameSite=Lax", cookie, sessionCookieName)
			}
			if cc := resp.Header.Get("Cache-Control"); cc != "no-store" {
				t.Errorf("login: Cache-Control %q, want no-store", cc)
			}

			if resp, body := send("GET", "/me", nil, ""); resp.StatusCode != 200 || body != "bob (2) via session" {
				t.Errorf("/me with the cookie: %d %q, want 200 \"bob (2) via session\"", resp.StatusCode, body)
			}

			// A cross-site POST with the cookie is refused before the handler.
			if resp, body := send("POST", "/logout", http.Header{"Sec-Fetch-Site": {"cross-site"}}, ""); resp.StatusCode != 403 {
				t.Errorf("cross-site logout: %d %q, want 403", resp.StatusCode, body)
			}
			if resp, _ := send("GET", "/me", nil, ""); resp.StatusCode != 200 {
				t.Errorf("/me after the refused cross-site logout: %d, want 200", resp.StatusCode)
			}

			if resp, body := send("POST", "/logout", nil, ""); resp.StatusCode != 200 || body != "logged out" {
				t.Errorf("logout: %d %q", resp.StatusCode, body)
			}
			if resp, _ := send("GET", "/me", nil, ""); resp.StatusCode != 401 {
				t.Errorf("/me after logout: %d, want 401", resp.StatusCode)
			}
			// The old cookie, replayed without the jar, is dead.
			c.Jar = nil
			if resp, _ := send("GET", "/me", http.Header{"Cookie": {cookie.Name + "=" + cookie.Value}}, ""); resp.StatusCode != 401 {
				t.Errorf("/me with the logged-out cookie: %d, want 401", resp.StatusCode)
			}
		})
	}
}
