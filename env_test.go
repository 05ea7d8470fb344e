package authkit

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alexedwards/scs/v2"
)

// env is the one HTTPS test environment: an application using the kit,
// served by an httptest TLS server, with an injected clock.
//
// With envConfig.sessions it serves the session routes (user "1" is alice,
// "2" is bob; see testUsers):
//
//	POST /login (form user=ID), POST /logout, GET /visit (an anonymous session
//	with a cart), GET|POST /me (Require), GET|POST /opt (Optional),
//	GET /slow (Require) and GET /slowvisit: handlers that block until released
//
// With envConfig.families and versions it serves the token service:
//
//	POST /token (form user=ID: the login), /token/refresh, /token/logout,
//	POST /logout-everywhere and GET /api/me (Require with the access token),
//	/.well-known/jwks.json
type env struct {
	t      testing.TB
	clock  *testClock
	srv    *httptest.Server
	client *http.Client // the server's own client: no cookie jar

	// The session part.
	sm                       *scs.SessionManager
	s                        *Session[*testUser]
	inner                    scs.Store     // the store inside the kit's wrapper
	versions                 *fakeVersions // the sessions' version check
	userErr                  atomic.Pointer[error]
	errMu                    sync.Mutex
	lastErr                  error // the last error the Require/Optional error handler saw
	slowStarted, slowRelease chan struct{}

	// The token part.
	iss     *Issuer
	store   *Store        // the token service's Store, when newTokenEnv made the env
	cache   *VersionCache // nil when envConfig.cache is off
	lookups atomic.Int64  // calls to the version store's lookup
	failing atomic.Bool   // the version store's lookup fails while set
	mu      sync.Mutex
	reused  []ReuseEvent
}

// envConfig says what an env serves.
type envConfig struct {
	sessions    scs.Store // serve the session routes over this store
	sessionOpts []Option  // for NewSession, after the env's clock and version check

	families   FamilyStore  // with versions: serve the token service
	versions   VersionStore // looked up through a counting, failable wrapper
	cache      bool         // put a VersionCache in front of versions
	issuerOpts []Option     // for NewIssuer, after the env's clock and reuse handler
}

// tokenEpoch is where the clock of an env with a token service starts: a
// whole second, so that stored times round-trip exactly through PostgreSQL.
// An env with sessions only starts at the real time, which scs's own store
// expiry counts in.
var tokenEpoch = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

func newEnv(t testing.TB, cfg envConfig) *env {
	t.Helper()
	start := time.Now()
	if cfg.families != nil {
		start = tokenEpoch
	}
	e := &env{t: t, clock: newTestClock(start)}
	mux := http.NewServeMux()
	if cfg.sessions != nil {
		e.addSessions(mux, cfg.sessions, cfg.sessionOpts)
	}
	if cfg.families != nil {
		e.addTokens(mux, cfg)
	}
	e.serve(mux)
	return e
}

// newSessionEnv serves the session routes over store.
func newSessionEnv(t testing.TB, store scs.Store, opts ...Option) *env {
	t.Helper()
	return newEnv(t, envConfig{sessions: store, sessionOpts: opts})
}

// newTokenEnv serves the token service over s, for families and versions.
func newTokenEnv(t testing.TB, s *Store, cfg envConfig) *env {
	t.Helper()
	cfg.families, cfg.versions = s, s
	e := newEnv(t, cfg)
	e.store = s
	return e
}

// serve serves h from a new TLS test server, in place of the env's routes.
func (e *env) serve(h http.Handler) {
	if e.srv != nil {
		e.srv.Close()
	}
	srv := httptest.NewTLSServer(h)
	e.srv, e.client = srv, srv.Client()
	e.t.Cleanup(srv.Close)
}

// ---- requests and answers -----------------------------------------------------

// response is an answer, read whole; oauth is its JSON body decoded as a
// token endpoint's (RFC 6749 §5).
type response struct {
	status  int
	header  http.Header
	cookies []*http.Cookie
	body    string
	oauth   struct {
		AccessToken  string `json:"access_token"`
		TokenType    string `json:"token_type"`
		ExpiresIn    *int64 `json:"expires_in"`
		RefreshToken string `json:"refresh_token"`
		Error        string `json:"error"`
	}
}

// roundTrip sends req with c and reads the answer.
func (e *env) roundTrip(c *http.Client, req *http.Request) response {
	e.t.Helper()
	res, err := c.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	r := response{status: res.StatusCode, header: res.Header, cookies: res.Cookies(), body: string(b)}
	if len(b) > 0 && strings.HasPrefix(res.Header.Get("Content-Type"), "application/json") {
		if err := json.Unmarshal(b, &r.oauth); err != nil {
			e.t.Fatalf("body %q: %v", b, err)
		}
	}
	return r
}

// do sends a request as a browser does, with c: headers hdr and, when form
// is set, a form body.
func (e *env) do(c *http.Client, method, path string, hdr http.Header, form url.Values) response {
	e.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, e.srv.URL+path, body)
	if err != nil {
		e.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for k, vs := range hdr {
		req.Header[k] = vs
	}
	return e.roundTrip(c, req)
}

// request builds a request with a body of contentType and cookies.
func (e *env) request(method, path, contentType, body string, cookies ...*http.Cookie) *http.Request {
	e.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, e.srv.URL+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for _, c := range cookies {
		req.AddCookie(c)
	}
	return req
}

// send sends req with the env's client.
func (e *env) send(req *http.Request) response {
	e.t.Helper()
	return e.roundTrip(e.client, req)
}

// browser returns a browser-like client: a cookie jar, redirects not followed.
func (e *env) browser() *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{
		Transport:     e.srv.Client().Transport,
		Jar:           jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// bare returns a client without a jar, for hand-made Cookie headers.
func (e *env) bare() *http.Client {
	c := e.browser()
	c.Jar = nil
	return c
}

// wantStatus checks an answer's status and, when body is set, its body.
func wantStatus(t testing.TB, r response, status int, body string) {
	t.Helper()
	if r.status != status || body != "" && r.body != body {
		t.Fatalf("got %d %q, want %d %q", r.status, r.body, status, body)
	}
}

// wantOAuthError checks an RFC 6749 §5.2 error answer.
func wantOAuthError(t testing.TB, r response, status int, code string) {
	t.Helper()
	if r.status != status || r.oauth.Error != code {
		t.Fatalf("got %d %q, want %d with error %q", r.status, r.body, status, code)
	}
	if r.oauth.AccessToken != "" || r.oauth.RefreshToken != "" {
		t.Fatalf("error answer carries a token: %s", r.body)
	}
	if got := r.header.Get("Cache-Control"); got != "no-store" {
		t.Errorf("Cache-Control = %q, want no-store", got)
	}
	if got := r.header.Get("Content-Type"); got != "application/json" {
		t.Errorf("Content-Type = %q", got)
	}
	for _, c := range r.cookies {
		if c.Name == defaultRefreshCookieName && c.Value != "" {
			t.Fatalf("error answer sets a refresh cookie: %v", c)
		}
	}
}

// ---- the session part -----------------------------------------------------------

func (e *env) addSessions(mux *http.ServeMux, store scs.Store, opts []Option) {
	e.t.Helper()
	e.inner = store
	e.versions = newFakeVersions(map[string]int64{"1": 3, "2": 0})
	e.slowStarted, e.slowRelease = make(chan struct{}, 1), make(chan struct{})
	e.sm = NewSessionManager(store)
	opts = append([]Option{WithClock(e.clock.Now), WithVersionCheck(e.versions.Version)}, opts...)
	s, err := NewSession(e.sm, e.loadUser, opts...)
	if err != nil {
		e.t.Fatal(err)
	}
	e.s = s
	e.sessionRoutes(mux)
}

func (e *env) loadUser(_ context.Context, id string) (*testUser, error) {
	if err := e.userErr.Load(); err != nil {
		return nil, *err
	}
	u, ok := testUsers[id]
	if !ok {
		return nil, fmt.Errorf("user %s: %w", id, ErrUnknownUser)
	}
	return u, nil
}

func (e *env) recordErr(w http.ResponseWriter, r *http.Request, err error) {
	e.errMu.Lock()
	e.lastErr = err
	e.errMu.Unlock()
	DefaultErrorHandler(w, r, err)
}

// takeErr returns (and forgets) the last error the error handler saw.
func (e *env) takeErr() error {
	e.errMu.Lock()
	defer e.errMu.Unlock()
	err := e.lastErr
	e.lastErr = nil
	return err
}

func (e *env) sessionRoutes(mux *http.ServeMux) {
	s, sm := e.s, e.sm
	require := Require[*testUser](s, WithErrorHandler(e.recordErr))
	optional := Optional[*testUser](s, WithErrorHandler(e.recordErr))
	me := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, ok := UserFrom[*testUser](r.Context())
		m, _ := MethodFrom(r.Context())
		if !ok {
			fmt.Fprint(w, "anonymous")
			return
		}
		fmt.Fprintf(w, "%s via %s", u.Name, m)
	})
	mux.Handle("POST /login", s.LoadAndSave(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := s.Login(r.Context(), r.FormValue("user")); err != nil {
			DefaultErrorHandler(w, r, err)
			return
		}
		http.Redirect(w, r, "/", http.StatusSeeOther)
	})))
	mux.Handle("POST /logout", s.LoadAndSave(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := s.Logout(r.Context()); err != nil {
			DefaultErrorHandler(w, r, err)
			return
		}
		http.Redirect(w, r, "/", http.StatusSeeOther)
	})))
	// An anonymous session with application data (a cart).
	mux.Handle("GET /visit", s.LoadAndSave(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sm.Put(r.Context(), "cart", "apples")
		fmt.Fprint(w, "visited")
	})))
	mux.Handle("GET /me", require(me))
	mux.Handle("POST /me", require(me))
	mux.Handle("GET /opt", optional(me))
	mux.Handle("POST /opt", optional(me))
	// A handler that blocks until released, then changes the session (so
	// its request commits): protected, and for an anonymous session.
	slow := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e.slowStarted <- struct{}{}
		<-e.slowRelease
		sm.Put(r.Context(), "late", "write")
		fmt.Fprint(w, "slow done")
	})
	mux.Handle("GET /slow", require(slow))
	mux.Handle("GET /slowvisit", s.LoadAndSave(slow))
}

// withCookie is a header carrying the session cookie with the given value.
func withCookie(value string) http.Header {
	return http.Header{"Cookie": {defaultSessionCookieName + "=" + value}}
}

// login logs userID in with the browser c and returns its session token.
func (e *env) login(c *http.Client, userID string) string {
	e.t.Helper()
	r := e.do(c, "POST", "/login", nil, url.Values{"user": {userID}})
	if r.status != http.StatusSeeOther {
		e.t.Fatalf("login: status %d %q, want 303", r.status, r.body)
	}
	tok := e.jarToken(c)
	if tok == "" {
		e.t.Fatal("login: no session cookie in the jar")
	}
	return tok
}

// jarToken returns the session token in c's jar, or "".
func (e *env) jarToken(c *http.Client) string {
	u, _ := url.Parse(e.srv.URL)
	for _, ck := range c.Jar.Cookies(u) {
		if ck.Name == defaultSessionCookieName {
			return ck.Value
		}
	}
	return ""
}

// storeKey is the key under which a store holds token (HashTokenInStore).
func storeKey(token string) string {
	h := sha256.Sum256([]byte(scsToken(token)))
	return base64.RawURLEncoding.EncodeToString(h[:])
}

// stored reports whether the store holds a live session for token.
func (e *env) stored(token string) bool {
	e.t.Helper()
	_, found, err := e.inner.Find(storeKey(token))
	if err != nil {
		e.t.Fatal(err)
	}
	return found
}

// sessionCookieLine returns the one Set-Cookie line for the session cookie,
// or "" if there is none; more than one fails the test.
func sessionCookieLine(t testing.TB, h http.Header) string {
	t.Helper()
	var lines []string
	for _, l := range h.Values("Set-Cookie") {
		if strings.HasPrefix(l, defaultSessionCookieName+"=") {
			lines = append(lines, l)
		}
	}
	switch len(lines) {
	case 0:
		return ""
	case 1:
		return lines[0]
	}
	t.Fatalf("%d session Set-Cookie lines: %q", len(lines), lines)
	return ""
}

// checkSetCookie checks every attribute of the session cookie a response sets
// (cleared: the logout form) and the caching headers around it (S7, S11).
func checkSetCookie(t testing.TB, r response, cleared bool) string {
	t.Helper()
	line := sessionCookieLine(t, r.header)
	if line == "" {
		t.Fatalf("no session Set-Cookie (status %d)", r.status)
	}
	parts := strings.Split(line, "; ")
	value := strings.TrimPrefix(parts[0], defaultSessionCookieName+"=")
	attrs := map[string]bool{}
	for _, p := range parts[1:] {
		k, _, _ := strings.Cut(p, "=")
		attrs[k] = true
	}
	for _, want := range []string{"Path=/", "Secure", "HttpOnly", "SameSite=Lax"} {
		if !strings.Contains("; "+strings.Join(parts[1:], "; ")+"; ", "; "+want+"; ") {
			t.Errorf("Set-Cookie %q lacks %s", line, want)
		}
	}
	if attrs["Domain"] {
		t.Errorf("Set-Cookie %q has a Domain", line)
	}
	if cleared {
		if value != "" || !strings.Contains(line, "; Max-Age=0") || !strings.Contains(line, "Expires=Thu, 01 Jan 1970 00:00:01 GMT") {
			t.Errorf("Set-Cookie %q does not clear the cookie", line)
		}
	} else {
		if !validSessionToken(scsToken(value)) {
			t.Errorf("Set-Cookie value %q is not a session token", value)
		}
		if attrs["Max-Age"] || attrs["Expires"] {
			t.Errorf("Set-Cookie %q is persistent", line)
		}
	}
	if got := r.header.Values("Cache-Control"); len(got) != 1 || got[0] != "no-store" {
		t.Errorf("Cache-Control = %q, want [no-store]", got)
	}
	if !hasVaryCookie(r.header) {
		t.Errorf("Vary = %q, want Cookie", r.header.Values("Vary"))
	}
	return value
}

func hasVaryCookie(h http.Header) bool {
	for _, v := range h.Values("Vary") {
		if v == "Cookie" {
			return true
		}
	}
	return false
}

// ---- the token part -------------------------------------------------------------

func (e *env) addTokens(mux *http.ServeMux, cfg envConfig) {
	t := e.t
	t.Helper()
	storeLookup := func(ctx context.Context, userID string) (int64, error) {
		e.lookups.Add(1)
		if e.failing.Load() {
			return 0, errStoreDown
		}
		return cfg.versions.Version(ctx, userID)
	}
	lookup := VersionLookup(storeLookup)
	bump := cfg.versions.Bump
	if cfg.cache {
		c, err := NewVersionCache(versionFuncs{storeLookup, cfg.versions.Bump}, WithClock(e.clock.Now))
		if err != nil {
			t.Fatal(err)
		}
		e.cache, lookup, bump = c, c.Lookup, c.Bump
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	opts := append([]Option{
		WithClock(e.clock.Now),
		WithReuseHandler(func(_ context.Context, ev ReuseEvent) {
			e.mu.Lock()
			e.reused = append(e.reused, ev)
			e.mu.Unlock()
		}),
	}, cfg.issuerOpts...)
	e.iss, err = NewIssuer("https://auth.test", "api", key, cfg.families, lookup, opts...)
	if err != nil {
		t.Fatal(err)
	}
	jwt, err := NewJWT(func(_ context.Context, c *Claims) (string, error) { return c.Subject, nil },
		WithTokensFrom(e.iss), WithClock(e.clock.Now), WithVersionCheck(lookup))
	if err != nil {
		t.Fatal(err)
	}
	e.tokenRoutes(mux, Require[string](jwt), bump)
}

func (e *env) tokenRoutes(mux *http.ServeMux, requireJWT func(http.Handler) http.Handler, bump func(context.Context, string) (int64, error)) {
	mux.HandleFunc("POST /token", func(w http.ResponseWriter, r *http.Request) {
		// The application checks the password; here the form names the user.
		pair, err := e.iss.Issue(r.Context(), r.FormValue("user"))
		switch {
		case errors.Is(err, ErrUnknownUser):
			http.Error(w, "unknown user", http.StatusUnauthorized)
		case err != nil:
			http.Error(w, "failed", http.StatusInternalServerError)
		default:
			e.iss.WriteTokens(w, r, pair)
		}
	})
	mux.Handle("/token/refresh", e.iss.RefreshHandler())
	mux.Handle("/token/logout", e.iss.LogoutHandler())
	mux.Handle("POST /logout-everywhere", requireJWT(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		uid, _ := UserFrom[string](r.Context())
		if _, err := bump(r.Context(), uid); err != nil {
			http.Error(w, "failed", http.StatusInternalServerError)
			return
		}
		e.iss.clearRefreshCookie(w)
		w.WriteHeader(http.StatusNoContent)
	})))
	mux.Handle("GET /api/me", requireJWT(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		uid, _ := UserFrom[string](r.Context())
		io.WriteString(w, uid)
	})))
	mux.Handle("/.well-known/jwks.json", e.iss.JWKSHandler())
}

// tokenLogin logs user in at POST /token.
func (e *env) tokenLogin(user string) response {
	e.t.Helper()
	return e.send(e.request("POST", "/token", "application/x-www-form-urlencoded", "user="+url.QueryEscape(user)))
}

// mustTokenLogin logs user in and returns the access and refresh tokens.
func (e *env) mustTokenLogin(user string) (string, string) {
	e.t.Helper()
	r := e.tokenLogin(user)
	if r.status != http.StatusOK || r.oauth.AccessToken == "" || r.oauth.RefreshToken == "" {
		e.t.Fatalf("login %s: %d %s", user, r.status, r.body)
	}
	return r.oauth.AccessToken, r.oauth.RefreshToken
}

// refresh posts rt in a JSON body.
func (e *env) refresh(rt string) response {
	e.t.Helper()
	body, _ := json.Marshal(map[string]string{"refresh_token": rt})
	return e.send(e.request("POST", "/token/refresh", "application/json", string(body)))
}

// refreshCookie posts rt in the refresh cookie.
func (e *env) refreshCookie(rt string) response {
	e.t.Helper()
	return e.send(e.request("POST", "/token/refresh", "", "", &http.Cookie{Name: defaultRefreshCookieName, Value: rt}))
}

func (e *env) mustRefresh(rt string) (string, string) {
	e.t.Helper()
	r := e.refresh(rt)
	if r.status != http.StatusOK || r.oauth.AccessToken == "" || r.oauth.RefreshToken == "" {
		e.t.Fatalf("refresh: %d %s", r.status, r.body)
	}
	return r.oauth.AccessToken, r.oauth.RefreshToken
}

// api calls GET /api/me with at as bearer token and returns the status and
// the body.
func (e *env) api(at string) (int, string) {
	e.t.Helper()
	req := e.request("GET", "/api/me", "", "")
	req.Header.Set("Authorization", "Bearer "+at)
	r := e.send(req)
	return r.status, r.body
}

func (e *env) reuseEvents() []ReuseEvent {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]ReuseEvent(nil), e.reused...)
}

// refreshCookieValue returns the refresh token that r set in the refresh
// cookie.
func refreshCookieValue(t testing.TB, r response) string {
	t.Helper()
	for _, c := range r.cookies {
		if c.Name == defaultRefreshCookieName && c.Value != "" {
			return c.Value
		}
	}
	t.Fatalf("no refresh cookie in the answer: %v", r.cookies)
	return ""
}

// refreshAtOnce presents rt in n refresh requests released together, and
// returns their answers in order.
func (e *env) refreshAtOnce(rt string, n int) []response {
	e.t.Helper()
	results := make([]response, n)
	var start, done sync.WaitGroup
	start.Add(1)
	for i := range n {
		done.Add(1)
		go func() {
			defer done.Done()
			req := e.request("POST", "/token/refresh", "application/json", `{"refresh_token":"`+rt+`"}`)
			start.Wait()
			res, err := e.client.Do(req)
			if err != nil {
				e.t.Error(err)
				return
			}
			defer res.Body.Close()
			b, _ := io.ReadAll(res.Body)
			results[i].status, results[i].body = res.StatusCode, string(b)
			_ = json.Unmarshal(b, &results[i].oauth)
		}()
	}
	start.Done()
	done.Wait()
	return results
}
