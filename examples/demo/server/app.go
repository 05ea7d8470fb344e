package server

import (
	"bytes"
	"context"
	"database/sql"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io"
	"io/fs"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/alexedwards/scs/v2"
	"github.com/authkit-go/authkit"
	_ "github.com/jackc/pgx/v5/stdlib" // driver "pgx" for -database-url
)

//go:embed web
var webFiles embed.FS

// app holds what the handlers share. It is built once by newApp and only
// read afterwards, so the handlers are safe for concurrent use.
type app struct {
	cfg      config
	users    *userStore
	key      *signingKey
	db       *sql.DB                 // nil without -database-url
	store    *authkit.Store          // sessions, token versions, refresh families
	versions *authkit.VersionCache   // users' token versions, cached
	issuer   *authkit.Issuer         // mints access and refresh tokens
	bearer   *authkit.JWT[*User]     // accepts the demo's access tokens
	sessions *authkit.Session[*User] // cookie sessions on scs
	sm       *scs.SessionManager     // the sessions' manager (RememberMe at login)
	page     *template.Template      // web/index.html
	static   http.Handler            // web/static/*

	// apiBearer accepts the demo's tokens and those of -trust-issuer, for
	// /api/me and /api/scoped (trust.go).
	apiBearer *authkit.JWT[*User]

	events authkit.Option // WithEvents: the log and the extensions' hooks (logging.go)
}

// jwts returns the demo's access-token authenticators, each once.
func (a *app) jwts() []*authkit.JWT[*User] {
	if a.apiBearer == a.bearer {
		return []*authkit.JWT[*User]{a.bearer}
	}
	return []*authkit.JWT[*User]{a.bearer, a.apiBearer}
}

// demoUserIDs are the IDs of the demo's users (see newUserStore).
var demoUserIDs = []string{"1", "2"}

// refreshFamilyLifetime is the kit's default absolute lifetime of a
// refresh-token family (7 days); the demo extends it to -refresh-ttl when
// that is longer.
const refreshFamilyLifetime = 7 * 24 * time.Hour

// newApp builds the demo's stores, authenticators and pages. cfg.issuer must
// be set. With cfg.databaseURL, sessions, token versions and refresh
// families live in PostgreSQL (tables created if missing); ctx bounds that
// start-up work. hooks receive the kit's events beside the log.
func newApp(ctx context.Context, cfg config, key *signingKey, hooks ...func(context.Context, authkit.Event)) (_ *app, err error) {
	a := &app{cfg: cfg, users: newUserStore(), key: key, events: eventsOption(hooks)}
	defer func() {
		if err != nil {
			a.Close()
		}
	}()

	// The Store's own sessions, in memory too: the kit indexes them per
	// user, for GET /api/sessions.
	var sessionStore scs.Store
	if cfg.databaseURL == "" {
		a.store = authkit.NewMemoryStore(demoUserIDs...)
		sessionStore = a.store.Sessions()
	} else {
		if a.db, err = sql.Open("pgx", cfg.databaseURL); err != nil {
			return nil, fmt.Errorf("database: %w", err)
		}
		// The pool: every request costs at most a few short statements
		// (a session read, a version lookup per user per 5 s, a refresh's
		// rotation), so dbPoolSize connections serve thousands of requests a
		// second; keeping them all idle avoids reconnecting under load (with
		// database/sql's default of 2 idle connections the demo opened a
		// connection per waiting request). Requests beyond the pool wait,
		// bounded by the kit's store timeout (5 s): 503, not a pile-up of
		// connections.
		a.db.SetMaxOpenConns(dbPoolSize)
		a.db.SetMaxIdleConns(dbPoolSize)
		a.db.SetConnMaxIdleTime(5 * time.Minute)
		// Start-up waits for the database at most cfg.dbTimeout per step,
		// so that a hung database fails the start instead of hanging it.
		startCtx, cancel := context.WithTimeout(ctx, cfg.dbTimeout)
		defer cancel()
		if err := a.db.PingContext(startCtx); err != nil {
			return nil, fmt.Errorf("database: %w", err)
		}
		if a.store, err = authkit.NewPostgresStore(a.db, a.events); err != nil {
			return nil, err
		}
		// Migrate runs under an advisory lock: several demo processes
		// starting together on one database are safe.
		if err := a.store.Migrate(startCtx); err != nil {
			return nil, err
		}
		for _, id := range demoUserIDs { // a known user keeps its version
			if err := a.store.Add(startCtx, id); err != nil {
				return nil, err
			}
		}
		sessionStore = a.store.Sessions()
	}

	// Every check of a version goes through the cache: a user costs at most
	// one store query per TTL (5 seconds), and a bump on another process
	// reaches this one within it.
	if a.versions, err = authkit.NewVersionCache(a.store, a.events); err != nil {
		return nil, err
	}

	// The refresh cookie keeps the kit's default name, __Secure-authkit-refresh,
	// and path, /token (both token routes): the Issuer accepts only __Secure-
	// or __Host- names. Browsers and Go's cookiejar treat http://127.0.0.1 and
	// http://localhost as secure origins, so the Secure cookie works there;
	// on any other plain-HTTP host it would not come back.
	a.issuer, err = authkit.NewIssuer(cfg.issuer, cfg.audience, key.signer, a.store, a.versions.Lookup,
		authkit.WithSigningKeyID(key.kid),
		authkit.WithAccessTokenTTL(cfg.accessTTL),
		authkit.WithRefreshTokenTTL(cfg.refreshTTL),
		authkit.WithRefreshFamilyLifetime(max(cfg.refreshTTL, refreshFamilyLifetime)),
		// A refresh that carries another user's session is refused
		// (SECURITY.md R-5); /token/refresh loads the session for this.
		authkit.WithRefreshSessionUser(a.sessionUser),
		// The demo's contract (DESIGN.md): a rotated token presented again is
		// 400 invalid_grant and revokes its family, at once. The kit's default
		// answers an immediate retry of a lost response with the same
		// successor instead; the demo keeps the strict contract.
		authkit.WithRefreshRetryWindow(0),
		authkit.WithScopeLookup(demoScopes),
		a.events,
	)
	if err != nil {
		return nil, fmt.Errorf("token issuer: %w", err)
	}
	a.bearer, err = authkit.NewJWT(a.userFromClaims,
		authkit.WithTokensFrom(a.issuer),
		authkit.WithVersionCheck(a.versions.Lookup),
		a.resourceOption(),
		a.events,
		// DPoP-bound tokens (RFC 9449) with their proof, beside bearer ones;
		// a bound token sent as Bearer is refused.
		authkit.WithDPoP(authkit.DPoPAllowed),
	)
	if err != nil {
		return nil, err
	}
	if a.apiBearer, err = a.newAPIBearer(ctx); err != nil {
		return nil, err
	}

	sm := authkit.NewSessionManager(sessionStore)
	var sessionOpts []authkit.Option
	if isPlainHTTP(cfg.issuer) && !isLoopback(cfg.issuer) {
		// The demo serves plain HTTP on a host that is not loopback: a
		// Secure cookie with the __Host- prefix would not come back, so the
		// demo opts out (loudly named) and the cookie travels in the clear.
		// On loopback browsers treat http:// as a secure context and keep
		// the secure names, as the refresh cookie does.
		// Never do this in production: serve HTTPS and keep the defaults.
		sm.Cookie.Name = "authkit-demo-session"
		sm.Cookie.Secure = false
		sessionOpts = append(sessionOpts, authkit.WithInsecureSessionCookie())
	}
	sessionOpts = append(sessionOpts, authkit.WithVersionCheck(a.versions.Lookup), a.events,
		authkit.WithRememberMe(rememberFor, rememberFor)) // the login form's "Remember me"
	a.sm = sm
	if a.sessions, err = authkit.NewSession(sm, a.loadUser, sessionOpts...); err != nil {
		return nil, fmt.Errorf("sessions: %w", err)
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

// isPlainHTTP reports whether the demo's URL (the issuer, by default
// http://<addr>) is plain HTTP.
func isPlainHTTP(issuer string) bool {
	return len(issuer) >= 7 && issuer[:7] == "http://"
}

// isLoopback reports whether the host of the URL u is 127.0.0.1 (any of
// 127/8), localhost or [::1], which browsers treat as secure for cookies.
func isLoopback(u string) bool {
	pu, err := url.Parse(u)
	if err != nil {
		return false
	}
	h := pu.Hostname()
	if h == "localhost" || strings.HasSuffix(h, ".localhost") {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

// dbPoolSize is the most PostgreSQL connections one demo process opens.
const dbPoolSize = 32

// Close releases what newApp opened. Call it after the server has stopped.
func (a *app) Close() error {
	if a.store != nil {
		a.store.Close()
	}
	if a.db != nil {
		return a.db.Close()
	}
	return nil
}

// loadUser turns the user ID a session holds into the user.
func (a *app) loadUser(_ context.Context, id string) (*User, error) {
	u, ok := a.users.byUserID(id)
	if !ok {
		return nil, authkit.ErrUnknownUser
	}
	return u, nil
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
	mux.Handle("GET /.well-known/jwks.json", a.issuer.JWKSHandler())
	a.resourceRoutes(mux)
	mux.Handle("GET /static/", a.static)
	// The page shows the signed-in user, if any; a refused session (logged
	// out everywhere, expired) shows the login form and clears the cookie.
	mux.Handle("GET /{$}", authkit.Optional(a.sessions, a.events)(http.HandlerFunc(a.index)))

	// Either way of logging in, bearer token first: a presented but
	// invalid token is refused even next to a valid session cookie.
	either := authkit.Require(authkit.Any(a.bearer, a.sessions), a.events)
	a.apiRoutes(mux) // GET /api/me, GET /api/scoped
	mux.Handle("POST /logout-everywhere", either(http.HandlerFunc(a.logoutEverywhere)))
	a.deviceRoutes(mux, either) // GET /api/sessions, DELETE /api/sessions/{id}

	// Session routes: they call Login and Logout outside Require, so the
	// session is loaded and saved by LoadAndSave.
	mux.Handle("POST /session/login", a.sessions.LoadAndSave(http.HandlerFunc(a.sessionLogin)))
	mux.Handle("POST /session/logout", a.sessions.LoadAndSave(http.HandlerFunc(a.sessionLogout)))

	// Token routes. The refresh cookie's path, /token, covers all three.
	mux.HandleFunc("POST /token", a.token)
	mux.Handle("POST /token/refresh", a.sessions.LoadAndSave(a.issuer.RefreshHandler()))
	mux.Handle("POST /token/logout", a.issuer.LogoutHandler())

	return logRequests(http.NewCrossOriginProtection().Handler(mux))
}

// maxFormBytes bounds the bodies of the login routes.
const maxFormBytes = 4 << 10

// sessionLogin answers POST /session/login: a form with username and
// password. Right: a new session (a fresh token, against fixation) and 303
// to the page. Wrong: the page with an error, 401.
func (a *app) sessionLogin(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		a.renderPage(w, http.StatusBadRequest, pageData{Error: "The form could not be read."})
		return
	}
	u, ok := a.users.check(r.PostForm.Get("username"), r.PostForm.Get("password"))
	if !ok {
		a.renderPage(w, http.StatusUnauthorized, pageData{Error: "Wrong user name or password."})
		return
	}
	if r.PostForm.Get("remember") != "" {
		a.sm.RememberMe(r.Context(), true) // a persistent cookie, 30 days
	}
	if err := a.sessions.Login(r.Context(), u.ID); err != nil {
		authkit.DefaultErrorHandler(w, r, err)
		return
	}
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

// sessionLogout answers POST /session/logout: it ends this session (if any)
// and sends the browser back to the page.
func (a *app) sessionLogout(w http.ResponseWriter, r *http.Request) {
	if err := a.sessions.Logout(r.Context()); err != nil {
		authkit.DefaultErrorHandler(w, r, err)
		return
	}
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

// logoutEverywhere answers POST /logout-everywhere for a caller signed in
// either way: it bumps the user's token version, which ends every session
// and refresh token of the user (on this process at once, on others sharing
// the database at once too: the PostgreSQL store notifies their version
// caches, whose TTL is the fallback), and every access token too,
// since the bearer authenticator checks versions. A form post (the page's
// button) is sent back to the page with 303; an API caller gets 204.
func (a *app) logoutEverywhere(w http.ResponseWriter, r *http.Request) {
	u, ok := authkit.UserFrom[*User](r.Context())
	if !ok { // cannot happen behind Require; fail closed all the same
		http.Error(w, http.StatusText(http.StatusUnauthorized), http.StatusUnauthorized)
		return
	}
	if _, err := a.versions.Bump(r.Context(), u.ID); err != nil {
		authkit.DefaultErrorHandler(w, r, err)
		return
	}
	if method, _ := authkit.MethodFrom(r.Context()); method == authkit.MethodSession {
		// The bump already refuses this session; logging it out too deletes
		// it now and clears the cookie in this response.
		if err := a.sessions.Logout(r.Context()); err != nil {
			authkit.DefaultErrorHandler(w, r, err)
			return
		}
	}
	if r.Header.Get("Content-Type") == "application/x-www-form-urlencoded" {
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusNoContent)
}

// token answers POST /token: JSON {"username","password"} (the resource
// owner password grant's shape, RFC 6749 §4.3, kept to the two members the
// demo needs). Right: a new token pair, written by the issuer. Wrong
// credentials: 400 {"error":"invalid_grant"}, as RFC 6749 §5.2 says and as
// the issuer's refresh endpoint answers; a malformed request: 400
// {"error":"invalid_request"}.
//
// It also takes the RFC 6749 §4.3.2 form: grant_type=password with username
// and password (application/x-www-form-urlencoded, as OAuth clients such as
// golang.org/x/oauth2 send it); another grant_type is 400
// unsupported_grant_type, a parameter sent twice 400 invalid_request
// (§3.2); client_id and scope are ignored (the demo has one public client
// and fixed scopes).
func (a *app) token(w http.ResponseWriter, r *http.Request) {
	var creds struct {
		Username string `json:"username"`
		Password string `json:"password"`
	}
	body := http.MaxBytesReader(w, r.Body, maxFormBytes)
	switch mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt {
	case "application/x-www-form-urlencoded":
		b, err := io.ReadAll(body)
		form, perr := url.ParseQuery(string(b))
		if err != nil || perr != nil || hasRepeated(form) {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_request"})
			return
		}
		if form.Get("grant_type") != "password" {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "unsupported_grant_type"})
			return
		}
		creds.Username, creds.Password = form.Get("username"), form.Get("password")
	default:
		dec := json.NewDecoder(body)
		dec.DisallowUnknownFields()
		if mt != "application/json" || dec.Decode(&creds) != nil || dec.More() {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_request"})
			return
		}
	}
	u, ok := a.users.check(creds.Username, creds.Password)
	if !ok {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_grant"})
		return
	}
	pair, ok := a.issueTokens(w, r, u.ID)
	if !ok {
		return
	}
	a.issuer.WriteTokens(w, r, pair) // a browser gets the refresh token in the cookie only
}

// issueTokens issues the pair of POST /token for userID: bound to the key of
// the request's DPoP proof when it carries one (token_type DPoP), bearer
// tokens otherwise. A refused proof is 400 invalid_dpop_proof (RFC 9449
// §5); a failure 500. It writes the error itself and reports ok false.
func (a *app) issueTokens(w http.ResponseWriter, r *http.Request, userID string) (*authkit.TokenPair, bool) {
	pair, err := a.issuer.IssueForRequest(r, userID)
	switch {
	case errors.Is(err, authkit.ErrInvalidDPoPProof):
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_dpop_proof"})
		return nil, false
	case err != nil:
		slog.Error("demo: issuing tokens", "err", err)
		writeJSON(w, http.StatusInternalServerError, map[string]string{"error": "server_error"})
		return nil, false
	}
	return pair, true
}

// hasRepeated reports whether a form sends a parameter more than once,
// which RFC 6749 §3.2 forbids.
func hasRepeated(form url.Values) bool {
	for _, v := range form {
		if len(v) > 1 {
			return true
		}
	}
	return false
}

// sessionUser is the demo's WithRefreshSessionUser: the ID of the user whose
// live session the request carries, or "" when it carries none (no cookie,
// or one the kit refuses: expired, logged out). A failing store is an
// error, and the refresh fails closed.
func (a *app) sessionUser(r *http.Request) (string, error) {
	u, err := a.sessions.Authenticate(r)
	switch {
	case err == nil:
		return u.ID, nil
	case errors.Is(err, authkit.ErrNoCredentials), errors.Is(err, authkit.ErrInvalidToken):
		return "", nil
	}
	return "", err
}

// healthz answers GET /healthz: 200 "ok" while the process serves and its
// store answers (a PostgreSQL ping within healthTimeout), 503 "unavailable"
// when it does not, so that a load balancer stops sending requests every
// session route would fail. Without -database-url the store is in memory and
// always answers. There is no separate readiness route: the demo is ready
// when it listens.
func (a *app) healthz(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	if a.db != nil {
		ctx, cancel := context.WithTimeout(r.Context(), healthTimeout)
		defer cancel()
		if err := a.db.PingContext(ctx); err != nil {
			slog.Error("demo: health check: the database does not answer", "err", err)
			h.Set("Retry-After", "5")
			w.WriteHeader(http.StatusServiceUnavailable)
			w.Write([]byte("unavailable"))
			return
		}
	}
	w.Write([]byte("ok"))
}

// healthTimeout bounds the health check's ping.
const healthTimeout = 2 * time.Second

// pageData is what web/index.html shows.
type pageData struct {
	User    *User    // the signed-in user; nil when signed out
	Error   string   // a message above the login form, e.g. after a failed login
	Devices []device // where the user is signed in ("Where you're signed in")
}

// index serves the page: a login form, or the signed-in user with the
// logout buttons; and the token playground.
func (a *app) index(w http.ResponseWriter, r *http.Request) {
	u, _ := authkit.UserFrom[*User](r.Context())
	data := pageData{User: u}
	if u != nil {
		ds, err := a.devices(r)
		if err != nil {
			authkit.DefaultErrorHandler(w, r, err)
			return
		}
		data.Devices = ds
	}
	a.renderPage(w, http.StatusOK, data)
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

// me answers GET /api/me (and GET /api/scoped) with the authenticated user
// and how they came in, and the issuer of a trusted issuer's token.
func (a *app) me(w http.ResponseWriter, r *http.Request) {
	u, ok := authkit.UserFrom[*User](r.Context())
	if !ok { // cannot happen behind Require; fail closed all the same
		http.Error(w, http.StatusText(http.StatusUnauthorized), http.StatusUnauthorized)
		return
	}
	method, _ := authkit.MethodFrom(r.Context())
	body := map[string]string{"id": u.ID, "name": u.Name, "via": via(method)}
	if u.Issuer != "" {
		body["iss"] = u.Issuer
	}
	writeJSON(w, http.StatusOK, body)
}

// via names an authentication method the way /api/me reports it.
func via(m authkit.Method) string {
	switch m {
	case authkit.MethodBearer, authkit.MethodDPoP:
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
