package server

// The demo contract (DESIGN.md "Demo contract"), phase 2: sessions, tokens
// and logout everywhere. testContract runs over real HTTP against any base
// URL, so the same checks run in process (httptest) and against the demo
// binary, with memory stores and with PostgreSQL.

import (
	"crypto/rand"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"
)

const (
	challenge = `Bearer realm="authkit"`
	refused   = `Bearer realm="authkit", error="invalid_token"`
)

// client is a browser-like HTTP client of one demo: it keeps cookies and
// does not follow redirects, so that tests see the 303s.
type client struct {
	t    *testing.T
	base string
	hc   *http.Client
}

func newClient(t *testing.T, base string) *client {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &client{t: t, base: base, hc: &http.Client{
		Jar:           jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Timeout:       30 * time.Second,
	}}
}

// on returns a client of another demo that shares c's cookies.
func (c *client) on(base string) *client {
	return &client{t: c.t, base: base, hc: c.hc}
}

func (c *client) do(method, path string, header http.Header, body string) (*http.Response, string) {
	c.t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, c.base+path, r)
	if err != nil {
		c.t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	return doRequest(c.t, c.hc, req)
}

func (c *client) postForm(path string, v url.Values) (*http.Response, string) {
	c.t.Helper()
	return c.do("POST", path, http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}, v.Encode())
}

func (c *client) postJSON(path string, v any, header http.Header) (*http.Response, string) {
	c.t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		c.t.Fatal(err)
	}
	h := http.Header{"Content-Type": {"application/json"}}
	for k, vs := range header {
		h[k] = vs
	}
	return c.do("POST", path, h, string(b))
}

// login signs in through the form and checks the answer.
func (c *client) login(name string) {
	c.t.Helper()
	resp, body := c.postForm("/session/login", url.Values{"username": {name}, "password": {name + "-password"}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/" {
		c.t.Fatalf("login %s: %d, Location %q; want 303 to /; body %q", name, resp.StatusCode, resp.Header.Get("Location"), body)
	}
}

// tokens is a /token or /token/refresh answer.
type tokens struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int    `json:"expires_in"`
	RefreshToken string `json:"refresh_token"`
}

// getTokens logs in at /token and checks the answer.
func (c *client) getTokens(name string) tokens {
	c.t.Helper()
	resp, body := c.postJSON("/token", map[string]string{"username": name, "password": name + "-password"}, nil)
	return c.checkTokens(resp, body)
}

func (c *client) checkTokens(resp *http.Response, body string) tokens {
	c.t.Helper()
	if resp.StatusCode != 200 {
		c.t.Fatalf("%s: %d %q, want 200", resp.Request.URL.Path, resp.StatusCode, body)
	}
	var tok tokens
	if err := json.Unmarshal([]byte(body), &tok); err != nil {
		c.t.Fatalf("%s: %q: %v", resp.Request.URL.Path, body, err)
	}
	rc := cookieNamed(resp, "__Secure-authkit-refresh")
	// A refresh by cookie (no body) answers with the new refresh token in the
	// HttpOnly cookie only, never in the body where scripts could read it.
	if resp.Request.URL.Path == "/token/refresh" && resp.Request.ContentLength == 0 {
		if tok.RefreshToken != "" {
			c.t.Errorf("%s by cookie: the body %q carries the refresh token", resp.Request.URL.Path, body)
		}
		if rc != nil {
			tok.RefreshToken = rc.Value
		}
	}
	if tok.AccessToken == "" || tok.TokenType != "Bearer" || tok.ExpiresIn != 300 || tok.RefreshToken == "" {
		c.t.Errorf("%s: %q: want an access token, Bearer, expires_in 300 and a refresh token", resp.Request.URL.Path, body)
	}
	if cc := resp.Header.Get("Cache-Control"); cc != "no-store" {
		c.t.Errorf("%s: Cache-Control %q, want no-store", resp.Request.URL.Path, cc)
	}
	if rc == nil || rc.Value != tok.RefreshToken || rc.Path != "/token" || !rc.Secure || !rc.HttpOnly || rc.SameSite != http.SameSiteStrictMode {
		c.t.Errorf("%s: refresh cookie %v: want the body's refresh token, Path=/token, Secure, HttpOnly, SameSite=Strict", resp.Request.URL.Path, rc)
	}
	return tok
}

// me calls /api/me and returns the status, the WWW-Authenticate header and
// the body.
func (c *client) me(header http.Header) (int, string, string) {
	c.t.Helper()
	resp, body := c.do("GET", "/api/me", header, "")
	return resp.StatusCode, resp.Header.Get("WWW-Authenticate"), body
}

// refresh presents token in a JSON body (not the cookie).
func refreshWith(t *testing.T, base, token string) (*http.Response, string) {
	t.Helper()
	c := &client{t: t, base: base, hc: http.DefaultClient}
	return c.postJSON("/token/refresh", map[string]string{"refresh_token": token}, nil)
}

func cookieNamed(resp *http.Response, name string) *http.Cookie {
	for _, c := range resp.Cookies() {
		if c.Name == name {
			return c
		}
	}
	return nil
}

func wantMe(t *testing.T, c *client, header http.Header, want string) {
	t.Helper()
	if status, _, body := c.me(header); status != 200 || body != want+"\n" {
		t.Errorf("/api/me: %d %q, want 200 %s", status, body, want)
	}
}

func wantMeRefused(t *testing.T, c *client, header http.Header, wwwAuth string) {
	t.Helper()
	if status, got, body := c.me(header); status != 401 || !isChallenge(got, c.base, wwwAuth) {
		t.Errorf("/api/me: %d, WWW-Authenticate %q, body %q; want 401, %s", status, got, body, wwwAuth)
	}
}

func wantInvalidGrant(t *testing.T, resp *http.Response, body string) {
	t.Helper()
	if resp.StatusCode != 400 || strings.TrimSpace(body) != `{"error":"invalid_grant"}` {
		t.Errorf("%s: %d %q, want 400 {\"error\":\"invalid_grant\"}", resp.Request.URL.Path, resp.StatusCode, body)
	}
}

// testContract checks the phase-2 routes of the demo at base.
func testContract(t *testing.T, base string) {
	t.Run("bearer errors", func(t *testing.T) {
		c := newClient(t, base)
		wantMeRefused(t, c, nil, challenge)
		wantMeRefused(t, c, bearer("not-a-token"), refused)
		if status, got, _ := c.me(http.Header{"Authorization": {"Bearer a", "Bearer b"}}); status != 400 || got != `Bearer realm="authkit", error="invalid_request"` {
			t.Errorf("two Authorization headers: %d %q, want 400 invalid_request", status, got)
		}
		resp, _ := c.do("POST", "/logout-everywhere", nil, "")
		if resp.StatusCode != 401 || !isChallenge(resp.Header.Get("WWW-Authenticate"), base, challenge) {
			t.Errorf("/logout-everywhere without credentials: %d %q, want 401", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
		}
	})

	t.Run("session", func(t *testing.T) {
		c := newClient(t, base)
		resp, body := c.postForm("/session/login", url.Values{"username": {"alice"}, "password": {"wrong"}})
		if resp.StatusCode != 401 || !strings.Contains(body, `id="login-error">Wrong user name or password.</p>`) || !strings.Contains(body, `id="login-form"`) {
			t.Errorf("wrong password: %d, want 401 and the form with the error:\n%s", resp.StatusCode, body)
		}
		if len(resp.Cookies()) != 0 {
			t.Errorf("wrong password set cookies %v", resp.Cookies())
		}

		resp, _ = c.postForm("/session/login", url.Values{"username": {"alice"}, "password": {"alice-password"}})
		if resp.StatusCode != 303 || resp.Header.Get("Location") != "/" {
			t.Fatalf("login: %d to %q, want 303 to /", resp.StatusCode, resp.Header.Get("Location"))
		}
		// On loopback the secure name and attribute stay (DESIGN "Cookies",
		// TestE2ELoopbackCookies); the in-process app's issuer is another
		// plain-HTTP host, which opts out.
		sc := cookieNamed(resp, "__Host-session")
		if sc == nil {
			sc = cookieNamed(resp, "authkit-demo-session")
		}
		if sc == nil || sc.Value == "" || !sc.HttpOnly || sc.Secure != strings.HasPrefix(sc.Name, "__Host-") || sc.Path != "/" || sc.SameSite != http.SameSiteLaxMode || sc.MaxAge != 0 || !sc.Expires.IsZero() {
			t.Fatalf("session cookie %v: want HttpOnly, Secure with the __Host- name, Path=/, SameSite=Lax, no expiry", sc)
		}
		old := http.Header{"Cookie": {sc.Name + "=" + sc.Value}}

		_, page := c.do("GET", "/", nil, "")
		if !strings.Contains(page, `Signed in as <strong id="user-name">alice</strong>`) || strings.Contains(page, `id="login-form"`) {
			t.Errorf("the page after login does not show alice signed in:\n%s", page)
		}
		wantMe(t, c, nil, `{"id":"1","name":"alice","via":"session"}`)
		// A bearer token comes first: an invalid one is refused even next
		// to a valid session.
		wantMeRefused(t, c, bearer("not-a-token"), refused)

		resp, _ = c.postForm("/session/logout", nil)
		if resp.StatusCode != 303 || resp.Header.Get("Location") != "/" {
			t.Errorf("logout: %d to %q, want 303 to /", resp.StatusCode, resp.Header.Get("Location"))
		}
		wantMeRefused(t, c, nil, challenge)
		_, page = c.do("GET", "/", nil, "")
		if !strings.Contains(page, `id="login-form"`) {
			t.Errorf("the page after logout shows no login form:\n%s", page)
		}
		// The old cookie, replayed, names a deleted session.
		anon := newClient(t, base)
		if status, _, body := anon.me(old); status != 401 {
			t.Errorf("/api/me with the logged-out cookie: %d %q, want 401", status, body)
		}
	})

	t.Run("tokens", func(t *testing.T) {
		c := newClient(t, base)
		resp, body := c.postJSON("/token", map[string]string{"username": "bob", "password": "alice-password"}, nil)
		wantInvalidGrant(t, resp, body)
		resp, body = c.postJSON("/token", map[string]any{"username": "bob", "password": 1}, nil)
		if resp.StatusCode != 400 || strings.TrimSpace(body) != `{"error":"invalid_request"}` {
			t.Errorf("malformed /token: %d %q, want 400 invalid_request", resp.StatusCode, body)
		}

		first := c.getTokens("bob")
		wantMe(t, c, bearer(first.AccessToken), `{"id":"2","name":"bob","via":"jwt"}`)

		// The refresh cookie (Path=/token) carries the refresh token.
		resp, body = c.do("POST", "/token/refresh", nil, "")
		second := c.checkTokens(resp, body)
		if second.RefreshToken == first.RefreshToken || second.AccessToken == first.AccessToken {
			t.Error("refresh returned the same tokens")
		}
		wantMe(t, c, bearer(second.AccessToken), `{"id":"2","name":"bob","via":"jwt"}`)

		// Reusing the rotated token is refused and revokes the family: the
		// successor dies with it.
		resp, body = refreshWith(t, base, first.RefreshToken)
		wantInvalidGrant(t, resp, body)
		resp, body = refreshWith(t, base, second.RefreshToken)
		wantInvalidGrant(t, resp, body)

		// Logout on this device revokes the family and clears the cookie.
		third := c.getTokens("bob")
		resp, body = c.do("POST", "/token/logout", nil, "")
		if resp.StatusCode != 204 {
			t.Errorf("/token/logout: %d %q, want 204", resp.StatusCode, body)
		}
		if rc := cookieNamed(resp, "__Secure-authkit-refresh"); rc == nil || rc.MaxAge >= 0 {
			t.Errorf("/token/logout: refresh cookie %v, want it cleared", rc)
		}
		resp, body = refreshWith(t, base, third.RefreshToken)
		wantInvalidGrant(t, resp, body)
	})

	t.Run("logout everywhere", func(t *testing.T) {
		browser := newClient(t, base) // alice's session
		browser.login("alice")
		api := newClient(t, base) // alice's tokens
		tok := api.getTokens("alice")
		bob := newClient(t, base)
		bob.login("bob")
		bobTok := bob.getTokens("bob")

		resp, _ := browser.postForm("/logout-everywhere", nil)
		if resp.StatusCode != 303 || resp.Header.Get("Location") != "/" {
			t.Errorf("logout everywhere (form): %d to %q, want 303 to /", resp.StatusCode, resp.Header.Get("Location"))
		}
		wantMeRefused(t, browser, nil, challenge)
		wantMeRefused(t, api, bearer(tok.AccessToken), refused)
		resp, body := api.do("POST", "/token/refresh", nil, "")
		wantInvalidGrant(t, resp, body)
		// Bob is untouched.
		wantMe(t, bob, nil, `{"id":"2","name":"bob","via":"session"}`)
		wantMe(t, bob, bearer(bobTok.AccessToken), `{"id":"2","name":"bob","via":"jwt"}`)
		// Alice can sign in again.
		browser.login("alice")
		wantMe(t, browser, nil, `{"id":"1","name":"alice","via":"session"}`)

		// An API caller with a bearer token gets 204.
		resp, body = bob.do("POST", "/logout-everywhere", bearer(bobTok.AccessToken), "")
		if resp.StatusCode != 204 || body != "" {
			t.Errorf("logout everywhere (bearer): %d %q, want 204", resp.StatusCode, body)
		}
		wantMeRefused(t, bob, bearer(bobTok.AccessToken), refused)
		anon := newClient(t, base) // without bob's (stale) bearer header
		anon.hc.Jar = bob.hc.Jar
		wantMeRefused(t, anon, nil, challenge)
		resp, body = refreshWith(t, base, bobTok.RefreshToken)
		wantInvalidGrant(t, resp, body)
	})
}

func TestContract(t *testing.T) {
	h, _ := newTestApp(t)
	srv := httptest.NewServer(h)
	defer srv.Close()
	testContract(t, srv.URL)
}

func TestE2EContract(t *testing.T) {
	p := startDemo(t, nil)
	testContract(t, p.URL)
}

// testDatabase returns TEST_DATABASE_URL with the search_path set to a
// fresh schema that is dropped when the test ends, or skips the test.
func testDatabase(t *testing.T) string {
	t.Helper()
	dsn := os.Getenv("TEST_DATABASE_URL")
	if dsn == "" {
		t.Skip("TEST_DATABASE_URL is not set: skipping the PostgreSQL test (e.g. TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/test?sslmode=disable)")
	}
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	schema := "demo_" + strings.ToLower(rand.Text())
	if _, err := db.Exec("CREATE SCHEMA " + schema); err != nil {
		db.Close()
		t.Fatalf("creating schema %s: %v", schema, err)
	}
	t.Cleanup(func() { // registered first: runs after the demos stopped
		if _, err := db.Exec("DROP SCHEMA " + schema + " CASCADE"); err != nil {
			t.Errorf("dropping schema %s: %v", schema, err)
		}
		db.Close()
	})
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

func TestE2EContractPostgres(t *testing.T) {
	dsn := testDatabase(t)
	p := startDemo(t, nil, "-database-url", dsn)
	testContract(t, p.URL)
}

// propagationBound is the generous bound on how long a bump on one process
// takes to reach another: PostgreSQL notifies the other's version cache at
// once (its TTL, 5 s, is the fallback while the listener is down).
const propagationBound = time.Second

// Two processes sharing a database and a signing key share sessions and
// refresh families, and logging out everywhere on one reaches the other
// at once (by notification, well under the version cache's TTL).
func TestE2ELogoutEverywhereAcrossProcesses(t *testing.T) {
	dsn := testDatabase(t)
	args, _ := sharedArgs(t, dsn)
	ps := startDemos(t, 2, nil, args...)
	first := newClient(t, ps[0].URL)
	second := first.on(ps[1].URL) // the same cookie jar: cookies ignore ports

	// A session and tokens made on the first process work on the second,
	// which thereby caches alice's current version.
	first.login("alice")
	tok := first.getTokens("alice")
	wantMe(t, second, nil, `{"id":"1","name":"alice","via":"session"}`)
	wantMe(t, second, bearer(tok.AccessToken), `{"id":"1","name":"alice","via":"jwt"}`)
	resp, body := second.do("POST", "/token/refresh", nil, "")
	tok = second.checkTokens(resp, body)
	sessionCookie := first.hc.Jar.Cookies(&url.URL{Scheme: "http", Host: strings.TrimPrefix(ps[1].URL, "http://"), Path: "/"})
	if len(sessionCookie) != 1 {
		t.Fatalf("cookies for /: %v, want the session cookie", sessionCookie)
	}
	session := http.Header{"Cookie": {sessionCookie[0].String()}}
	anon := newClient(t, ps[1].URL)

	resp, body = first.do("POST", "/logout-everywhere", bearer(tok.AccessToken), "")
	if resp.StatusCode != 204 {
		t.Fatalf("logout everywhere on the first process: %d %q", resp.StatusCode, body)
	}
	bumped := time.Now()
	// On the first process: at once.
	wantMeRefused(t, first, bearer(tok.AccessToken), refused)

	// On the second: at once. Poll until every credential is
	// refused; a refresh that still succeeds rotates, so keep the successor.
	deadline := bumped.Add(propagationBound)
	var sessionGone, refreshGone, accessGone time.Duration
	for sessionGone == 0 || refreshGone == 0 || accessGone == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("after %v the second process still accepts alice: session refused after %v, refresh after %v, access token after %v (0: not yet)",
				time.Since(bumped), sessionGone, refreshGone, accessGone)
		}
		if sessionGone == 0 {
			if status, _, _ := anon.me(session); status == 401 {
				sessionGone = time.Since(bumped)
			}
		}
		if accessGone == 0 {
			if status, _, _ := anon.me(bearer(tok.AccessToken)); status == 401 {
				accessGone = time.Since(bumped)
			}
		}
		if refreshGone == 0 {
			resp, body := refreshWith(t, ps[1].URL, tok.RefreshToken)
			switch resp.StatusCode {
			case 200:
				if err := json.Unmarshal([]byte(body), &tok); err != nil {
					t.Fatal(err)
				}
			case 400:
				wantInvalidGrant(t, resp, body)
				refreshGone = time.Since(bumped)
			default:
				t.Fatalf("refresh on the second process: %d %q", resp.StatusCode, body)
			}
		}
		time.Sleep(2 * time.Millisecond)
	}
	t.Logf("logout everywhere reached the second process: session refused after %v, refresh token after %v, access token after %v (bound %v)",
		sessionGone.Round(time.Millisecond), refreshGone.Round(time.Millisecond), accessGone.Round(time.Millisecond), propagationBound)

	// Signing in again works on either process.
	first.login("alice")
	wantMe(t, second, nil, `{"id":"1","name":"alice","via":"session"}`)
}

// TestE2ERevocationPropagation (issue 11): two processes on one database;
// 50 times, alice signs in on A (a session and a token pair), B accepts all
// three credentials (and so caches her version), then "log out everywhere"
// on A. Each time it measures how soon B refuses the session, the refresh
// token and the access token (B has the version check on), each polled on
// its own, and prints min/median/p99/max over the bumps. The bound (1 s,
// the TTL being 5 s) is generous, so that this is not a timing test.
func TestE2ERevocationPropagation(t *testing.T) {
	dsn := testDatabase(t)
	args, _ := sharedArgs(t, dsn)
	ps := startDemos(t, 2, nil, args...)
	a := newClient(t, ps[0].URL)
	b := a.on(ps[1].URL) // the same cookie jar: cookies ignore ports
	const bumps = 50
	kinds := []string{"the session", "the refresh token", "the access token", "all three"}
	got := make([][]time.Duration, len(kinds))
	for range bumps {
		a.login("alice")
		tok := a.getTokens("alice")
		wantMe(t, b, nil, `{"id":"1","name":"alice","via":"session"}`)
		wantMe(t, b, bearer(tok.AccessToken), `{"id":"1","name":"alice","via":"jwt"}`)
		resp, body := refreshWith(t, ps[1].URL, tok.RefreshToken)
		tok = b.checkTokens(resp, body)
		cookies := a.hc.Jar.Cookies(&url.URL{Scheme: "http", Host: strings.TrimPrefix(ps[1].URL, "http://"), Path: "/"})
		if len(cookies) != 1 {
			t.Fatalf("cookies for /: %v, want the session cookie", cookies)
		}
		session := http.Header{"Cookie": {cookies[0].String()}}
		if t.Failed() {
			return
		}

		resp, body = a.do("POST", "/logout-everywhere", bearer(tok.AccessToken), "")
		if resp.StatusCode != 204 {
			t.Fatalf("logout everywhere on A: %d %q", resp.StatusCode, body)
		}
		bumped := time.Now()
		refreshToken := tok.RefreshToken
		polls := []func() (bool, error){
			func() (bool, error) { return refusedOn(ps[1].URL, session) },
			func() (bool, error) {
				code, body, err := post(ps[1].URL+"/token/refresh", `{"refresh_token":"`+refreshToken+`"}`)
				switch {
				case err != nil:
					return false, err
				case code == 200: // not yet: it rotated, keep the successor
					var next tokens
					if err := json.Unmarshal([]byte(body), &next); err != nil || next.RefreshToken == "" {
						return false, fmt.Errorf("refresh answered 200 %q", body)
					}
					refreshToken = next.RefreshToken
					return false, nil
				case code == 400 && strings.TrimSpace(body) == `{"error":"invalid_grant"}`:
					return true, nil
				}
				return false, fmt.Errorf("refresh answered %d %q", code, body)
			},
			func() (bool, error) { return refusedOn(ps[1].URL, bearer(tok.AccessToken)) },
		}
		took := make([]time.Duration, len(polls))
		errs := make([]error, len(polls))
		var wg sync.WaitGroup
		for i, poll := range polls {
			wg.Go(func() {
				for {
					done, err := poll()
					took[i] = time.Since(bumped)
					switch {
					case err != nil:
						errs[i] = err
						return
					case done:
						return
					case took[i] > propagationBound:
						errs[i] = fmt.Errorf("B still accepts %s %v after the bump", kinds[i], took[i])
						return
					}
					time.Sleep(time.Millisecond)
				}
			})
		}
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			t.Fatal(err)
		}
		for i, d := range took {
			got[i] = append(got[i], d)
		}
		got[3] = append(got[3], slices.Max(took))
	}
	for i, ds := range got {
		slices.Sort(ds)
		t.Logf("B refused %s after a bump on A: min %v, median %v, p99 %v, max %v (%d bumps, bound %v)", kinds[i],
			ds[0].Round(10*time.Microsecond), ds[len(ds)/2].Round(10*time.Microsecond), ds[(len(ds)*99+99)/100-1].Round(10*time.Microsecond),
			ds[len(ds)-1].Round(10*time.Microsecond), len(ds), propagationBound)
	}
}

// refusedOn reports whether GET base/api/me with header is refused (401),
// an error for anything but 200 or 401.
func refusedOn(base string, header http.Header) (bool, error) {
	req, err := http.NewRequest("GET", base+"/api/me", nil)
	if err != nil {
		return false, err
	}
	req.Header = header.Clone()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return false, err
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, resp.Body)
	switch resp.StatusCode {
	case 401:
		return true, nil
	case 200:
		return false, nil
	}
	return false, fmt.Errorf("/api/me answered %d", resp.StatusCode)
}

// post sends a JSON body to url and returns the status and the body.
func post(url, body string) (int, string, error) {
	resp, err := http.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}
