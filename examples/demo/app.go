package main

import (
	"bytes"
	"context"
	"embed"
	"encoding/json"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"

	"github.com/authkit-go/authkit"
)

//go:embed web
var webFiles embed.FS

// app holds what the handlers share. It is built once by newApp and only
// read afterwards, so the handlers are safe for concurrent use.
type app struct {
	cfg    config
	users  *userStore
	key    *signingKey
	jwks   []byte              // the public JWK Set
	bearer *authkit.JWT[*User] // accepts the demo's access tokens
	page   *template.Template  // web/index.html
	static http.Handler        // web/static/*
	// PHASE 2: the session authenticator (authkit.NewSession, on scs with
	// memstore or postgresstore), the token issuer (authkit.NewIssuer with
	// a.key.signer), the version store and its cache go here; with
	// -database-url they share one *sql.DB, closed in Close.
}

// newApp builds the demo's authenticators and pages. cfg.issuer must be set.
func newApp(_ context.Context, cfg config, key *signingKey) (*app, error) {
	a := &app{cfg: cfg, users: newUserStore(), key: key}

	// PHASE 2: with cfg.databaseURL, open it (driver "pgx") and create the
	// tables; ctx bounds that start-up work.

	var err error
	if a.jwks, err = jwkSet(key); err != nil {
		return nil, fmt.Errorf("JWK Set: %w", err)
	}
	// PHASE 2: take the keys from the issuer instead, with
	// authkit.WithTokensFrom(issuer), and serve issuer.JWKSHandler().
	a.bearer, err = authkit.NewJWT(a.userFromClaims,
		authkit.WithIssuer(cfg.issuer),
		authkit.WithAudience(cfg.audience),
		authkit.WithKey(key.kid, key.signer.Public()),
		authkit.WithMaxTokenLifetime(cfg.accessTTL),
	)
	if err != nil {
		return nil, err
	}

	if a.page, err = template.ParseFS(webFiles, "web/index.html"); err != nil {
		return nil, err
	}
	static, err := fs.Sub(webFiles, "web/static")
	if err != nil {
		return nil, err
	}
	a.static = http.StripPrefix("/static/", http.FileServerFS(static))
	return a, nil
}

// Close releases what newApp opened.
func (a *app) Close() error {
	// PHASE 2: close the database.
	return nil
}

// userFromClaims turns a verified access token into the user it names. The
// token is enough: the demo only checks that the user still exists.
func (a *app) userFromClaims(_ context.Context, c *authkit.Claims) (*User, error) {
	u, ok := a.users.byUserID(c.Subject)
	if !ok {
		return nil, authkit.ErrUnknownUser
	}
	return u, nil
}

// routes returns the demo's HTTP handler.
//
// The whole mux sits behind the standard library's cross-origin protection:
// it lets safe methods (GET, HEAD, OPTIONS) and non-browser clients through,
// and refuses (403) a state-changing request that a browser sends from
// another origin, which is what keeps the cookie-authenticated POST routes
// safe from CSRF.
func (a *app) routes() http.Handler {
	mux := http.NewServeMux()

	// Public routes.
	mux.HandleFunc("GET /healthz", a.healthz)
	mux.HandleFunc("GET /.well-known/jwks.json", a.jwksJSON)
	mux.Handle("GET /static/", a.static)
	// PHASE 2: wrap in authkit.Optional(a.sessions), so that the page shows
	// the signed-in user.
	mux.HandleFunc("GET /{$}", a.index)

	// The API: a bearer token (PHASE 2: or a session) is required.
	// PHASE 2: authkit.Require(authkit.Any(a.bearer, a.sessions)).
	mux.Handle("GET /api/me", authkit.Require(a.bearer)(http.HandlerFunc(a.me)))

	// PHASE 2: session routes.
	//   POST /session/login     form username, password → 303 to /; wrong credentials → 401 (the page, with an error)
	//   POST /session/logout    ends this session → 303 to /
	mux.HandleFunc("POST /session/login", notYet)
	mux.HandleFunc("POST /session/logout", notYet)

	// PHASE 2: token routes.
	//   POST /token             JSON {"username","password"} → issuer.Issue + issuer.WriteTokens
	//   POST /token/refresh     issuer.RefreshHandler()
	//   POST /token/logout      issuer.LogoutHandler()
	mux.HandleFunc("POST /token", notYet)
	mux.HandleFunc("POST /token/refresh", notYet)
	mux.HandleFunc("POST /token/logout", notYet)

	// PHASE 2: POST /logout-everywhere, behind
	// authkit.Require(authkit.Any(a.bearer, a.sessions)): bump the caller's
	// version; 303 to / for a form post.
	mux.HandleFunc("POST /logout-everywhere", notYet)

	return http.NewCrossOriginProtection().Handler(mux)
}

// notYet answers the routes of the demo contract that are not built yet.
func notYet(w http.ResponseWriter, _ *http.Request) {
	http.Error(w, "not implemented yet", http.StatusNotImplemented)
}

func (a *app) healthz(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Write([]byte("ok"))
}

func (a *app) jwksJSON(w http.ResponseWriter, _ *http.Request) {
	h := w.Header()
	h.Set("Content-Type", "application/jwk-set+json")
	h.Set("Cache-Control", "public, max-age=300")
	w.Write(a.jwks)
}

// pageData is what web/index.html shows.
type pageData struct {
	User  *User  // the signed-in user; nil when signed out
	Error string // a message above the login form, e.g. after a failed login
}

// index serves the page: a login form, or the signed-in user with the
// logout buttons; and the token playground.
func (a *app) index(w http.ResponseWriter, r *http.Request) {
	u, _ := authkit.UserFrom[*User](r.Context())
	a.renderPage(w, http.StatusOK, pageData{User: u})
}

// renderPage writes the page with status.
func (a *app) renderPage(w http.ResponseWriter, status int, data pageData) {
	var buf bytes.Buffer
	if err := a.page.Execute(&buf, data); err != nil {
		slog.Error("demo: rendering the page", "err", err)
		http.Error(w, http.StatusText(http.StatusInternalServerError), http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	// The page shows who is signed in: never cache it. Scripts and styles
	// come only from /static/, never inline.
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Security-Policy", "default-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

// me answers GET /api/me with the authenticated user and how they came in.
func (a *app) me(w http.ResponseWriter, r *http.Request) {
	u, ok := authkit.UserFrom[*User](r.Context())
	if !ok { // cannot happen behind Require; fail closed all the same
		http.Error(w, http.StatusText(http.StatusUnauthorized), http.StatusUnauthorized)
		return
	}
	method, _ := authkit.MethodFrom(r.Context())
	writeJSON(w, http.StatusOK, map[string]string{"id": u.ID, "name": u.Name, "via": via(method)})
}

// via names an authentication method the way /api/me reports it.
func via(m authkit.Method) string {
	switch m {
	case authkit.MethodBearer:
		return "jwt"
	case authkit.MethodSession:
		return "session"
	}
	return string(m)
}

// writeJSON writes v as a JSON response with status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		slog.Error("demo: encoding JSON", "err", err)
		http.Error(w, http.StatusText(http.StatusInternalServerError), http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}
