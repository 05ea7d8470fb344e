package authkit

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
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
)

// This file tests the Issuer end to end over HTTPS (httptest TLS server):
// every R-case of SECURITY.md §5, run against each family/version store
// (the in-memory ones here, PostgreSQL in refresh_pg_test.go), with an
// injected clock.

// storeKit is one family store and one version store under test, with a way
// to look at what the family store holds.
type storeKit struct {
	families FamilyStore
	version  VersionLookup
	bump     func(ctx context.Context, userID string) (int64, error)
	remove   func(t *testing.T, userID string)
	// family returns the stored family, its current jti hash, and whether
	// it exists.
	family func(t *testing.T, id string) (RefreshFamily, [32]byte, bool)
}

func memoryKit(t *testing.T, users ...string) storeKit {
	fs := NewMemoryStore()
	vs := NewMemoryStore(users...)
	return storeKit{
		families: fs,
		version:  vs.Version,
		bump:     vs.Bump,
		remove:   func(_ *testing.T, id string) { _ = vs.Remove(context.Background(), id) },
		family: func(_ *testing.T, id string) (RefreshFamily, [32]byte, bool) {
			m := memoryOf(fs)
			m.mu.Lock()
			defer m.mu.Unlock()
			f, ok := m.families[id]
			if !ok {
				return RefreshFamily{}, [32]byte{}, false
			}
			return f.RefreshFamily, f.current, true
		},
	}
}

// env is a running token service: login (/token), refresh, logout, logout
// everywhere, a protected API and the JWK Set, on an httptest TLS server.
type env struct {
	t       *testing.T
	kit     storeKit
	clock   *testClock
	iss     *Issuer
	cache   *VersionCache // nil when the cache is off
	lookups atomic.Int64  // calls to the store's VersionLookup
	failing atomic.Bool   // the VersionLookup fails while set

	mu     sync.Mutex
	reused []ReuseEvent

	srv    *httptest.Server
	client *http.Client
}

type envConfig struct {
	cache bool
	opts  []Option
}

func newEnv(t *testing.T, kit storeKit, cfg envConfig) *env {
	t.Helper()
	e := &env{t: t, kit: kit, clock: newTestClock(time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC))}
	storeLookup := func(ctx context.Context, userID string) (int64, error) {
		e.lookups.Add(1)
		if e.failing.Load() {
			return 0, errStoreDown
		}
		return kit.version(ctx, userID)
	}
	lookup := VersionLookup(storeLookup)
	bump := kit.bump
	if cfg.cache {
		c, err := NewVersionCache(versionFuncs{storeLookup, kit.bump}, WithClock(e.clock.Now))
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
	}, cfg.opts...)
	e.iss, err = NewIssuer("https://auth.test", "api", key, kit.families, lookup, opts...)
	if err != nil {
		t.Fatal(err)
	}
	jwt, err := NewJWT(func(_ context.Context, c *Claims) (string, error) { return c.Subject, nil },
		WithTokensFrom(e.iss), WithClock(e.clock.Now), WithVersionCheck(lookup))
	if err != nil {
		t.Fatal(err)
	}
	requireJWT := Require[string](jwt)

	mux := http.NewServeMux()
	mux.HandleFunc("POST /token", func(w http.ResponseWriter, r *http.Request) {
		// The application checks the password; here the form names the user.
		pair, err := e.iss.Issue(r.Context(), r.FormValue("user"))
		switch {
		case errors.Is(err, ErrUnknownUser):
			http.Error(w, "unknown user", http.StatusUnauthorized)
		case err != nil:
			http.Error(w, "failed", http.StatusInternalServerError)
		default:
			e.iss.WriteTokens(w, pair)
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
	e.srv = httptest.NewTLSServer(mux)
	t.Cleanup(e.srv.Close)
	e.client = e.srv.Client()
	return e
}

// resp is a decoded answer of the token endpoints.
type resp struct {
	status  int
	header  http.Header
	cookies []*http.Cookie
	raw     string
	body    struct {
		AccessToken  string `json:"access_token"`
		TokenType    string `json:"token_type"`
		ExpiresIn    *int64 `json:"expires_in"`
		RefreshToken string `json:"refresh_token"`
		Error        string `json:"error"`
	}
}

func (e *env) do(req *http.Request) resp {
	e.t.Helper()
	res, err := e.client.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	r := resp{status: res.StatusCode, header: res.Header, cookies: res.Cookies(), raw: string(b)}
	if len(b) > 0 && strings.HasPrefix(res.Header.Get("Content-Type"), "application/json") {
		if err := json.Unmarshal(b, &r.body); err != nil {
			e.t.Fatalf("body %q: %v", b, err)
		}
	}
	return r
}

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

func (e *env) login(user string) resp {
	e.t.Helper()
	return e.do(e.request("POST", "/token", "application/x-www-form-urlencoded", "user="+url.QueryEscape(user)))
}

// mustLogin logs user in and returns the access and refresh tokens.
func (e *env) mustLogin(user string) (string, string) {
	e.t.Helper()
	r := e.login(user)
	if r.status != http.StatusOK || r.body.AccessToken == "" || r.body.RefreshToken == "" {
		e.t.Fatalf("login %s: %d %s", user, r.status, r.raw)
	}
	return r.body.AccessToken, r.body.RefreshToken
}

// refresh posts rt in a JSON body.
func (e *env) refresh(rt string) resp {
	e.t.Helper()
	body, _ := json.Marshal(map[string]string{"refresh_token": rt})
	return e.do(e.request("POST", "/token/refresh", "application/json", string(body)))
}

// refreshCookie posts rt in the refresh cookie.
func (e *env) refreshCookie(rt string) resp {
	e.t.Helper()
	return e.do(e.request("POST", "/token/refresh", "", "", &http.Cookie{Name: defaultRefreshCookieName, Value: rt}))
}

func (e *env) mustRefresh(rt string) (string, string) {
	e.t.Helper()
	r := e.refresh(rt)
	if r.status != http.StatusOK || r.body.AccessToken == "" || r.body.RefreshToken == "" {
		e.t.Fatalf("refresh: %d %s", r.status, r.raw)
	}
	return r.body.AccessToken, r.body.RefreshToken
}

// me calls the protected API with at as bearer token and returns the status
// and the body.
func (e *env) me(at string) (int, string) {
	e.t.Helper()
	req := e.request("GET", "/api/me", "", "")
	req.Header.Set("Authorization", "Bearer "+at)
	r := e.do(req)
	return r.status, r.raw
}

func (e *env) reuseEvents() []ReuseEvent {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]ReuseEvent(nil), e.reused...)
}

// wantGrantError checks an RFC 6749 §5.2 error answer.
func wantOAuthError(t *testing.T, r resp, status int, code string) {
	t.Helper()
	if r.status != status || r.body.Error != code {
		t.Fatalf("got %d %q, want %d with error %q", r.status, r.raw, status, code)
	}
	if r.body.AccessToken != "" || r.body.RefreshToken != "" {
		t.Fatalf("error answer carries a token: %s", r.raw)
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

// tokenParts decodes a compact token's header and claims.
func tokenParts(t *testing.T, tok string) (map[string]any, map[string]any) {
	t.Helper()
	seg := strings.Split(tok, ".")
	if len(seg) != 3 {
		t.Fatalf("token %q has %d segments", tok, len(seg))
	}
	var out [2]map[string]any
	for i := range out {
		b, err := base64.RawURLEncoding.DecodeString(seg[i])
		if err != nil {
			t.Fatal(err)
		}
		d := json.NewDecoder(bytes.NewReader(b))
		d.UseNumber()
		if err := d.Decode(&out[i]); err != nil {
			t.Fatal(err)
		}
	}
	return out[0], out[1]
}

func claim(t *testing.T, tok, name string) string {
	t.Helper()
	_, c := tokenParts(t, tok)
	return fmt.Sprint(c[name])
}

func jtiHash(t *testing.T, tok string) [32]byte {
	t.Helper()
	return hashTokenID(claim(t, tok, "jti"))
}

// runRefreshSuite runs every R-case against the stores newKit returns
// (a fresh pair per subtest, knowing users "1" and "2").
func runRefreshSuite(t *testing.T, newKit func(t *testing.T) storeKit) {
	t.Run("R-1 rotation", func(t *testing.T) {
		e := newEnv(t, newKit(t), envConfig{cache: true})
		at1, rt1 := e.mustLogin("1")

		// By cookie, as a browser does.
		r := e.refreshCookie(rt1)
		if r.status != http.StatusOK {
			t.Fatalf("refresh: %d %s", r.status, r.raw)
		}
		if r.body.TokenType != "Bearer" || r.body.ExpiresIn == nil || *r.body.ExpiresIn != 900 {
			t.Errorf("body %s: want token_type Bearer, expires_in 900", r.raw)
		}
		if got := r.header.Get("Cache-Control"); got != "no-store" {
			t.Errorf("Cache-Control = %q", got)
		}
		if got := r.header.Get("Pragma"); got != "no-cache" {
			t.Errorf("Pragma = %q", got)
		}
		// A token that came in the HttpOnly cookie goes back only in the
		// cookie, never in the body where scripts could read it.
		if r.body.RefreshToken != "" {
			t.Errorf("refresh by cookie echoed the refresh token in the body: %s", r.raw)
		}
		rt2, at2 := refreshCookieValue(t, r), r.body.AccessToken
		if rt2 == rt1 || at2 == at1 || claim(t, rt2, "jti") == claim(t, rt1, "jti") {
			t.Fatal("refresh returned the same tokens")
		}
		if claim(t, rt2, "fam") != claim(t, rt1, "fam") {
			t.Error("the new refresh token left the family")
		}
		var setCookie string
		for _, v := range r.header.Values("Set-Cookie") {
			if strings.HasPrefix(v, defaultRefreshCookieName+"=") {
				setCookie = v
			}
		}
		want := defaultRefreshCookieName + "=" + rt2 + "; Path=/token; Max-Age=86400; HttpOnly; Secure; SameSite=Strict"
		if setCookie != want {
			t.Errorf("Set-Cookie = %q\nwant        %q", setCookie, want)
		}
		if st, body := e.me(at2); st != http.StatusOK || body != "1" {
			t.Errorf("new access token: %d %q", st, body)
		}
		// The store holds the hash of the new token's jti, nothing else.
		f, cur, ok := e.kit.family(t, claim(t, rt2, "fam"))
		if !ok || cur != jtiHash(t, rt2) || !f.RevokedAt.IsZero() || f.UserID != "1" {
			t.Fatalf("store holds %+v current %x ok %v", f, cur, ok)
		}
		if !f.LastUsedAt.Equal(e.clock.Now()) {
			t.Errorf("LastUsedAt = %v, want %v", f.LastUsedAt, e.clock.Now())
		}

		// By JSON body, as a native client does; the single-use old token
		// is refused.
		_, rt3 := e.mustRefresh(rt2)
		if rt3 == rt2 {
			t.Fatal("same token")
		}
		e.clock.Advance(defaultRefreshRetryWindow + time.Second) // no longer a retry (refresh_faults_test.go)
		wantOAuthError(t, e.refresh(rt2), http.StatusBadRequest, "invalid_grant")
	})

	t.Run("R-2 reuse revokes the family", func(t *testing.T) {
		e := newEnv(t, newKit(t), envConfig{cache: true})
		_, rt1 := e.mustLogin("1")
		_, rt2 := e.mustRefresh(rt1)
		at3, rt3 := e.mustRefresh(rt2)
		_, other := e.mustLogin("1") // another device: another family

		e.clock.Advance(time.Minute)
		r := e.refreshCookie(rt1)
		wantOAuthError(t, r, http.StatusBadRequest, "invalid_grant")
		// The cookie that carried the refused token is cleared.
		cleared := false
		for _, c := range r.cookies {
			cleared = cleared || (c.Name == defaultRefreshCookieName && c.MaxAge < 0 && c.Path == "/token")
		}
		if !cleared {
			t.Errorf("refused cookie not cleared: %v", r.header.Values("Set-Cookie"))
		}
		for _, rt := range []string{rt2, rt3, rt1} {
			wantOAuthError(t, e.refresh(rt), http.StatusBadRequest, "invalid_grant")
		}
		fam := claim(t, rt1, "fam")
		f, cur, ok := e.kit.family(t, fam)
		if !ok || f.RevokedAt.IsZero() || cur != jtiHash(t, rt3) {
			t.Fatalf("store holds %+v current %x ok %v; want revoked, current = rt3", f, cur, ok)
		}
		ev := e.reuseEvents()
		if len(ev) != 1 {
			t.Fatalf("%d reuse events, want 1: %+v", len(ev), ev)
		}
		if ev[0].UserID != "1" || ev[0].FamilyID != fam || ev[0].TokenID != claim(t, rt1, "jti") ||
			!ev[0].DetectedAt.Equal(e.clock.Now()) || !ev[0].TokenIssuedAt.Equal(e.clock.Now().Add(-time.Minute)) {
			t.Errorf("event %+v", ev[0])
		}
		// Reuse revokes the family, not the user: the other device's family
		// and unexpired access tokens live on.
		e.mustRefresh(other)
		if st, _ := e.me(at3); st != http.StatusOK {
			t.Errorf("access token after reuse: %d", st)
		}
	})

	t.Run("R-3 version bump, failing and unknown user", func(t *testing.T) {
		e := newEnv(t, newKit(t), envConfig{cache: true})
		at, rt := e.mustLogin("1")
		_, rtB := e.mustLogin("2")
		req := e.request("POST", "/logout-everywhere", "", "")
		req.Header.Set("Authorization", "Bearer "+at)
		if r := e.do(req); r.status != http.StatusNoContent {
			t.Fatalf("logout everywhere: %d %s", r.status, r.raw)
		}
		// Through the cache's Bump, the bump is seen at once, not after the TTL.
		wantOAuthError(t, e.refresh(rt), http.StatusBadRequest, "invalid_grant")
		if st, _ := e.me(at); st != http.StatusUnauthorized {
			t.Errorf("access token after bump: %d, want 401", st)
		}
		e.mustRefresh(rtB) // another user is untouched
		// A new login gets the new version and works.
		at2, rt2 := e.mustLogin("1")
		if claim(t, at2, "ver") != "1" || claim(t, rt2, "ver") != "1" {
			t.Errorf("ver after bump: %s %s", claim(t, at2, "ver"), claim(t, rt2, "ver"))
		}
		e.mustRefresh(rt2)

		// Disabled user: refused, not an error.
		_, rt3 := e.mustLogin("2")
		e.kit.remove(t, "2")
		e.cache.Forget("2")
		wantOAuthError(t, e.refresh(rt3), http.StatusBadRequest, "invalid_grant")
		if r := e.login("2"); r.status != http.StatusUnauthorized {
			t.Errorf("login of a removed user: %d", r.status)
		}
		if r := e.login("nobody"); r.status != http.StatusUnauthorized {
			t.Errorf("login of an unknown user: %d", r.status)
		}
	})

	t.Run("R-3 lookup fails closed, called once per refresh", func(t *testing.T) {
		e := newEnv(t, newKit(t), envConfig{cache: false})
		_, rt := e.mustLogin("1")
		for n := 0; n < 3; n++ {
			before := e.lookups.Load()
			_, rt = e.mustRefresh(rt)
			if got := e.lookups.Load() - before; got != 1 {
				t.Fatalf("refresh %d called VersionLookup %d times, want 1", n, got)
			}
		}
		e.failing.Store(true)
		fam := claim(t, rt, "fam")
		_, before, _ := e.kit.family(t, fam)
		for _, r := range []resp{e.refresh(rt), e.refreshCookie(rt)} {
			wantOAuthError(t, r, http.StatusInternalServerError, "server_error")
			if len(r.header.Values("Set-Cookie")) != 0 {
				t.Errorf("failed refresh sets cookies: %v", r.header.Values("Set-Cookie"))
			}
		}
		if r := e.login("1"); r.status != http.StatusInternalServerError || strings.Contains(r.raw, "token") {
			t.Errorf("login with a failing lookup: %d %s", r.status, r.raw)
		}
		// Nothing was rotated: the store is unchanged and the token works
		// once the store is back.
		if _, after, _ := e.kit.family(t, fam); after != before {
			t.Error("a failed refresh rotated the family")
		}
		e.failing.Store(false)
		e.mustRefresh(rt)
	})

	t.Run("R-4 idle expiry", func(t *testing.T) {
		e := newEnv(t, newKit(t), envConfig{cache: true, opts: []Option{WithRefreshTokenTTL(10 * time.Minute)}})
		_, rt := e.mustLogin("1")
		e.clock.Advance(10*time.Minute - time.Second)
		_, rt = e.mustRefresh(rt) // used within the idle period: fine
		e.clock.Advance(10 * time.Minute)
		wantOAuthError(t, e.refresh(rt), http.StatusBadRequest, "invalid_grant")
		if len(e.reuseEvents()) != 0 {
			t.Error("expiry reported as reuse")
		}
	})

	t.Run("R-4 absolute expiry", func(t *testing.T) {
		e := newEnv(t, newKit(t), envConfig{cache: true, opts: []Option{
			WithRefreshTokenTTL(10 * time.Minute), WithRefreshFamilyLifetime(time.Hour)}})
		start := e.clock.Now()
		_, rt := e.mustLogin("1")
		n := 0
		for {
			e.clock.Advance(time.Minute)
			r := e.refresh(rt)
			if r.status != http.StatusOK {
				wantOAuthError(t, r, http.StatusBadRequest, "invalid_grant")
				break
			}
			rt = r.body.RefreshToken
			// No refresh token outlives its family.
			if exp := claim(t, rt, "exp"); exp > fmt.Sprint(start.Add(time.Hour).Unix()) {
				t.Fatalf("refresh token exp %s after the family's end", exp)
			}
			n++
		}
		if got := e.clock.Now().Sub(start); got != time.Hour || n != 59 {
			t.Fatalf("refused after %v and %d refreshes, want 1h and 59", got, n)
		}
	})

	t.Run("R-5 type separation", func(t *testing.T) {
		e := newEnv(t, newKit(t), envConfig{cache: true})
		at, rt := e.mustLogin("1")
		if st, _ := e.me(rt); st != http.StatusUnauthorized {
			t.Errorf("refresh token as bearer token: %d, want 401", st)
		}
		wantOAuthError(t, e.refresh(at), http.StatusBadRequest, "invalid_grant")
		wantOAuthError(t, e.refreshCookie(at), http.StatusBadRequest, "invalid_grant")
		h, _ := tokenParts(t, at)
		hr, c := tokenParts(t, rt)
		if h["typ"] != "at+jwt" || hr["typ"] != "rt+jwt" || c["aud"] != "https://auth.test" || h["kid"] != hr["kid"] || h["kid"] == "" {
			t.Errorf("headers %v %v, refresh aud %v", h, hr, c["aud"])
		}
		e.mustRefresh(rt) // none of this touched the family
	})

	t.Run("R-6 tampering", func(t *testing.T) {
		e := newEnv(t, newKit(t), envConfig{cache: true})
		_, rt := e.mustLogin("1")
		_, rtOther := e.mustLogin("2")
		var tampered []string
		// Every byte of header and payload, and a sample of the signature.
		for i := 0; i < len(rt); i++ {
			if rt[i] == '.' || (i > strings.LastIndexByte(rt, '.') && i%7 != 0) {
				continue
			}
			b := []byte(rt)
			b[i] ^= 0x01
			tampered = append(tampered, string(b))
		}
		seg := strings.Split(rt, ".")
		_, claims := tokenParts(t, rt)
		for name, v := range map[string]any{
			"fam": claim(t, rtOther, "fam"), "sub": "2", "ver": 7, "exp": json.Number("9999999999"), "aud": "api",
		} {
			c := make(map[string]any)
			for k, v := range claims {
				c[k] = v
			}
			c[name] = v
			p, _ := json.Marshal(c)
			tampered = append(tampered, seg[0]+"."+base64.RawURLEncoding.EncodeToString(p)+"."+seg[2])
		}
		// Signed by another key under the same kid.
		other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		h, _ := tokenParts(t, rt)
		forger, err := NewIssuer("https://auth.test", "api", other, NewMemoryStore(),
			NewMemoryStore("1").Version, WithSigningKeyID(h["kid"].(string)))
		if err != nil {
			t.Fatal(err)
		}
		forged, err := forger.Issue(context.Background(), "1")
		if err != nil {
			t.Fatal(err)
		}
		tampered = append(tampered, forged.RefreshToken, rt+"=", " "+rt, strings.Replace(rt, ".", "..", 1))
		for _, tok := range tampered {
			if r := e.refresh(tok); r.status != http.StatusBadRequest || r.body.AccessToken != "" {
				t.Fatalf("tampered token %q: %d %s", tok, r.status, r.raw)
			}
		}
		if ev := e.reuseEvents(); len(ev) != 0 {
			t.Fatalf("tampered tokens raised reuse events: %+v", ev)
		}
		// Nothing was revoked: both genuine tokens still work.
		e.mustRefresh(rt)
		e.mustRefresh(rtOther)
	})

	t.Run("R-7 fifty concurrent refreshes", func(t *testing.T) {
		// Strict, without retries; with them, refresh_faults_test.go.
		e := newEnv(t, newKit(t), envConfig{cache: true, opts: []Option{WithRefreshRetryWindow(0)}})
		_, rt := e.mustLogin("1")
		const n = 50
		results := make([]resp, n)
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
					t.Error(err)
					return
				}
				defer res.Body.Close()
				b, _ := io.ReadAll(res.Body)
				results[i].status, results[i].raw = res.StatusCode, string(b)
				_ = json.Unmarshal(b, &results[i].body)
			}()
		}
		start.Done()
		done.Wait()
		var winners []string
		for _, r := range results {
			switch {
			case r.status == http.StatusOK && r.body.RefreshToken != "":
				winners = append(winners, r.body.RefreshToken)
			case r.status == http.StatusBadRequest && r.body.Error == "invalid_grant":
			default:
				t.Errorf("unexpected answer %d %s", r.status, r.raw)
			}
		}
		if len(winners) != 1 {
			t.Fatalf("%d successful refreshes, want exactly 1", len(winners))
		}
		// Strict policy: the losers' attempts were reuse, so the family is
		// revoked; the store holds the one successor's hash, and no
		// successor is live.
		f, cur, ok := e.kit.family(t, claim(t, rt, "fam"))
		if !ok || f.RevokedAt.IsZero() || cur != jtiHash(t, winners[0]) {
			t.Fatalf("store holds %+v current %x ok %v; want revoked with the winner's hash", f, cur, ok)
		}
		wantOAuthError(t, e.refresh(winners[0]), http.StatusBadRequest, "invalid_grant")
		if ev := e.reuseEvents(); len(ev) != 1 {
			t.Errorf("%d reuse events, want 1", len(ev))
		}
	})

	t.Run("R-8 logout", func(t *testing.T) {
		e := newEnv(t, newKit(t), envConfig{cache: true})
		_, rt := e.mustLogin("1")
		_, rtOther := e.mustLogin("1")
		r := e.do(e.request("POST", "/token/logout", "", "", &http.Cookie{Name: defaultRefreshCookieName, Value: rt}))
		if r.status != http.StatusNoContent || r.header.Get("Cache-Control") != "no-store" {
			t.Fatalf("logout: %d %v", r.status, r.header)
		}
		want := defaultRefreshCookieName + "=; Path=/token; Max-Age=0; HttpOnly; Secure; SameSite=Strict"
		if got := r.header.Get("Set-Cookie"); got != want {
			t.Errorf("Set-Cookie = %q, want %q", got, want)
		}
		if f, _, _ := e.kit.family(t, claim(t, rt, "fam")); f.RevokedAt.IsZero() {
			t.Error("family not revoked")
		}
		wantOAuthError(t, e.refresh(rt), http.StatusBadRequest, "invalid_grant")
		if len(e.reuseEvents()) != 0 {
			t.Error("refresh after logout reported as reuse")
		}
		e.mustRefresh(rtOther) // only this device logged out
		// Logging out again, or without a token, is not an error.
		for _, req := range []*http.Request{
			e.request("POST", "/token/logout", "application/json", `{"refresh_token":"`+rt+`"}`),
			e.request("POST", "/token/logout", "", ""),
			e.request("POST", "/token/logout", "", "", &http.Cookie{Name: defaultRefreshCookieName, Value: "garbage"}),
		} {
			if r := e.do(req); r.status != http.StatusNoContent {
				t.Errorf("logout again: %d %s", r.status, r.raw)
			}
		}
	})

	t.Run("R-8 logout everywhere", func(t *testing.T) {
		e := newEnv(t, newKit(t), envConfig{cache: true})
		at1, rt1 := e.mustLogin("1")
		_, rt2 := e.mustLogin("1")
		_, rt3 := e.mustRefresh(rt2)
		req := e.request("POST", "/logout-everywhere", "", "")
		req.Header.Set("Authorization", "Bearer "+at1)
		if r := e.do(req); r.status != http.StatusNoContent {
			t.Fatalf("logout everywhere: %d", r.status)
		}
		for _, rt := range []string{rt1, rt3} {
			wantOAuthError(t, e.refresh(rt), http.StatusBadRequest, "invalid_grant")
		}
		if st, _ := e.me(at1); st != http.StatusUnauthorized {
			t.Errorf("access token after logout everywhere: %d", st)
		}
	})

	t.Run("browser flow with a cookie jar", func(t *testing.T) {
		e := newEnv(t, newKit(t), envConfig{cache: true})
		jar, _ := cookiejar.New(nil)
		e.client.Jar = jar
		e.mustLogin("1")
		u, _ := url.Parse(e.srv.URL + "/token/refresh")
		if cs := jar.Cookies(u); len(cs) != 1 || cs[0].Name != defaultRefreshCookieName {
			t.Fatalf("jar holds %v for /token/refresh", cs)
		}
		api, _ := url.Parse(e.srv.URL + "/api/me")
		if cs := jar.Cookies(api); len(cs) != 0 {
			t.Errorf("refresh cookie sent to /api/me: %v", cs)
		}
		for range 3 {
			if r := e.do(e.request("POST", "/token/refresh", "", "")); r.status != http.StatusOK {
				t.Fatalf("cookie refresh: %d %s", r.status, r.raw)
			}
		}
		if r := e.do(e.request("POST", "/token/logout", "", "")); r.status != http.StatusNoContent {
			t.Fatalf("logout: %d", r.status)
		}
		if cs := jar.Cookies(u); len(cs) != 0 {
			t.Errorf("cookie left after logout: %v", cs)
		}
		wantOAuthError(t, e.do(e.request("POST", "/token/refresh", "", "")), http.StatusBadRequest, "invalid_request")
	})
}

func TestRefreshMemory(t *testing.T) {
	runRefreshSuite(t, func(t *testing.T) storeKit { return memoryKit(t, "1", "2") })
}

func TestRefreshRequestValidation(t *testing.T) {
	e := newEnv(t, memoryKit(t, "1"), envConfig{cache: true})
	_, rt := e.mustLogin("1")
	ck := &http.Cookie{Name: defaultRefreshCookieName, Value: rt}
	body := `{"refresh_token":"` + rt + `"}`
	for _, tc := range []struct {
		name string
		req  *http.Request
	}{
		{"no token", e.request("POST", "/token/refresh", "", "")},
		{"cookie and body", e.request("POST", "/token/refresh", "application/json", body, ck)},
		{"cookie twice", e.request("POST", "/token/refresh", "", "", ck, ck)},
		{"form body", e.request("POST", "/token/refresh", "application/x-www-form-urlencoded", "refresh_token="+rt)},
		{"text/plain body", e.request("POST", "/token/refresh", "text/plain", body)},
		{"no content type", e.request("POST", "/token/refresh", "", body)},
		{"duplicate member", e.request("POST", "/token/refresh", "application/json", `{"refresh_token":"x","refresh_token":"`+rt+`"}`)},
		{"token not a string", e.request("POST", "/token/refresh", "application/json", `{"refresh_token":["`+rt+`"]}`)},
		{"empty token", e.request("POST", "/token/refresh", "application/json", `{"refresh_token":""}`)},
		{"wrong grant_type", e.request("POST", "/token/refresh", "application/json", `{"grant_type":"password","refresh_token":"`+rt+`"}`)},
		{"array body", e.request("POST", "/token/refresh", "application/json", `["`+rt+`"]`)},
		{"trailing data", e.request("POST", "/token/refresh", "application/json", body+"{}")},
		{"body too large", e.request("POST", "/token/refresh", "application/json", `{"refresh_token":"`+rt+`","x":"`+strings.Repeat("a", maxRefreshBody)+`"}`)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantOAuthError(t, e.do(tc.req), http.StatusBadRequest, "invalid_request")
		})
	}
	// A JSON body without refresh_token leaves the token to the cookie.
	if r := e.do(e.request("POST", "/token/refresh", "application/json", `{}`)); r.status != http.StatusBadRequest || r.body.Error != "invalid_request" {
		t.Errorf("{} without a cookie: %d %s", r.status, r.raw)
	}
	r := e.do(e.request("POST", "/token/refresh", "application/json", `{"client_id":"app"}`, ck))
	if r.status != http.StatusOK {
		t.Fatalf("JSON body without token, and the cookie: %d %s", r.status, r.raw)
	}
	rt = refreshCookieValue(t, r)
	ck = &http.Cookie{Name: defaultRefreshCookieName, Value: rt}
	body = `{"refresh_token":"` + rt + `"}`
	for _, path := range []string{"/token/refresh", "/token/logout"} {
		r := e.do(e.request("GET", path, "", "", ck))
		if r.status != http.StatusMethodNotAllowed || r.header.Get("Allow") != "POST" {
			t.Errorf("GET %s: %d Allow %q", path, r.status, r.header.Get("Allow"))
		}
	}
	if r := e.do(e.request("POST", "/token/logout", "application/json", body, ck)); r.status != http.StatusBadRequest {
		t.Errorf("logout with cookie and body: %d", r.status)
	}
	// A grant_type of refresh_token and unknown members are fine; none of
	// the refused requests consumed the token.
	r = e.do(e.request("POST", "/token/refresh", "application/json; charset=utf-8",
		`{"grant_type":"refresh_token","client_id":"app","refresh_token":"`+rt+`"}`))
	if r.status != http.StatusOK {
		t.Fatalf("valid request: %d %s", r.status, r.raw)
	}
}

// failingFamilies fails every operation.
type failingFamilies struct{ FamilyStore }

func (failingFamilies) RotateFamily(context.Context, string, [32]byte, [32]byte, time.Time) (RefreshFamily, error) {
	return RefreshFamily{}, errStoreDown
}

func (failingFamilies) RevokeFamily(context.Context, string, time.Time) (bool, error) {
	return false, errStoreDown
}

func TestRefreshStoreFailure(t *testing.T) {
	kit := memoryKit(t, "1")
	kit.families = failingFamilies{kit.families}
	e := newEnv(t, kit, envConfig{})
	_, rt := e.mustLogin("1")
	wantOAuthError(t, e.refresh(rt), http.StatusInternalServerError, "server_error")
	r := e.do(e.request("POST", "/token/logout", "", "", &http.Cookie{Name: defaultRefreshCookieName, Value: rt}))
	wantOAuthError(t, r, http.StatusInternalServerError, "server_error")
	if len(r.header.Values("Set-Cookie")) != 0 {
		t.Error("a failed logout cleared the cookie")
	}
}

// flakySigner is a signer (a remote KMS, say) that can be made to fail.
type flakySigner struct {
	crypto.Signer
	fail *atomic.Bool
}

func (f flakySigner) Sign(r io.Reader, d []byte, opts crypto.SignerOpts) ([]byte, error) {
	if f.fail.Load() {
		return nil, errors.New("KMS unavailable (test)")
	}
	return f.Signer.Sign(r, d, opts)
}

// TestRefreshSignerFailure: a signer failing during a refresh leaves the
// presented token valid, so the client can retry.
func TestRefreshSignerFailure(t *testing.T) {
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	fail := new(atomic.Bool)
	vs := NewMemoryStore("1")
	iss, err := NewIssuer("https://auth.test", "api", flakySigner{ec, fail}, NewMemoryStore(), vs.Version)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	pair, _ := iss.Issue(ctx, "1")
	fail.Store(true)
	if _, err := iss.Refresh(ctx, pair.RefreshToken); err == nil || errors.Is(err, ErrInvalidToken) {
		t.Fatalf("refresh with a failing signer: %v", err)
	}
	fail.Store(false)
	if _, err := iss.Refresh(ctx, pair.RefreshToken); err != nil {
		t.Fatalf("retry after the signer recovered: %v", err)
	}
}

func TestJWKSHandler(t *testing.T) {
	e := newEnv(t, memoryKit(t, "1"), envConfig{})
	at, _ := e.mustLogin("1")
	r := e.do(e.request("GET", "/.well-known/jwks.json", "", ""))
	if r.status != http.StatusOK || r.header.Get("Content-Type") != "application/jwk-set+json" ||
		r.header.Get("Cache-Control") != "public, max-age=300" {
		t.Fatalf("GET jwks: %d %v", r.status, r.header)
	}
	if strings.Contains(r.raw, `"d"`) {
		t.Fatalf("JWK Set holds a private key: %s", r.raw)
	}
	// A verifier configured from the served JSON accepts the access token.
	j, err := NewJWT(func(_ context.Context, c *Claims) (string, error) { return c.Subject, nil },
		WithIssuer("https://auth.test"), WithAudience("api"), WithJWKSet([]byte(r.raw)), WithClock(e.clock.Now))
	if err != nil {
		t.Fatal(err)
	}
	req := httptest.NewRequest("GET", "/", nil)
	req.Header.Set("Authorization", "Bearer "+at)
	if u, err := j.Authenticate(req); err != nil || u != "1" {
		t.Fatalf("token from the JWKS: %q %v", u, err)
	}
	if r := e.do(e.request("POST", "/.well-known/jwks.json", "", "")); r.status != http.StatusMethodNotAllowed {
		t.Errorf("POST jwks: %d", r.status)
	}
	if r := e.do(e.request("HEAD", "/.well-known/jwks.json", "", "")); r.status != http.StatusOK || r.raw != "" {
		t.Errorf("HEAD jwks: %d %q", r.status, r.raw)
	}
}

// rsaKey is generated once: RSA key generation is slow.
var rsaKey = sync.OnceValue(func() *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	return k
})

// opaqueSigner hides the concrete key type, as a KMS or HSM key does.
type opaqueSigner struct{ s crypto.Signer }

func (o opaqueSigner) Public() crypto.PublicKey { return o.s.Public() }
func (o opaqueSigner) Sign(r io.Reader, d []byte, opts crypto.SignerOpts) ([]byte, error) {
	return o.s.Sign(r, d, opts)
}

// TestIssuedTokensRoundTrip checks, for each kind of key, that NewJWT (set
// up from the issuer, and from its JWK Set where there is one) accepts
// exactly the access tokens the issuer mints, with the claims it wrote.
func TestIssuedTokensRoundTrip(t *testing.T) {
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ec384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	_, ed, _ := ed25519.GenerateKey(rand.Reader)
	secret := make([]byte, 32)
	rand.Read(secret)
	for _, tc := range []struct {
		name, alg string
		key       any
		opts      []Option
		jwks      bool
	}{
		{"ES256", "ES256", ec, nil, true},
		{"ES384", "ES384", ec384, nil, true},
		{"EdDSA", "EdDSA", ed, nil, true},
		{"RS256", "RS256", rsaKey(), nil, true},
		{"PS256", "PS256", rsaKey(), []Option{WithSigningAlgorithm("PS256")}, true},
		{"HS256", "HS256", secret, nil, false},
		{"opaque ES256 signer", "ES256", opaqueSigner{ec}, nil, true},
		{"opaque RS256 signer", "RS256", opaqueSigner{rsaKey()}, nil, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clock := newTestClock(time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC))
			vs := NewMemoryStore("u1")
			vs.Bump(context.Background(), "u1")
			iss, err := NewIssuer("https://auth.test", "api", tc.key, NewMemoryStore(), vs.Version,
				append(tc.opts, WithClock(clock.Now), WithSigningKeyID("k1"))...)
			if err != nil {
				t.Fatal(err)
			}
			pair, err := iss.Issue(context.Background(), "u1")
			if err != nil {
				t.Fatal(err)
			}
			h, c := tokenParts(t, pair.AccessToken)
			if fmt.Sprint(h) != fmt.Sprint(map[string]any{"alg": tc.alg, "kid": "k1", "typ": "at+jwt"}) {
				t.Errorf("header %v", h)
			}
			now := clock.Now().Unix()
			want := map[string]string{"iss": "https://auth.test", "sub": "u1", "aud": "api", "ver": "1",
				"iat": fmt.Sprint(now), "exp": fmt.Sprint(now + 900)}
			for k, v := range want {
				if fmt.Sprint(c[k]) != v {
					t.Errorf("claim %s = %v, want %s", k, c[k], v)
				}
			}
			if len(c) != 7 || fmt.Sprint(c["jti"]) == "" {
				t.Errorf("claims %v: want exactly iss sub aud exp iat jti ver", c)
			}
			configs := [][]Option{{WithTokensFrom(iss)}}
			if tc.jwks {
				configs = append(configs, []Option{WithIssuer("https://auth.test"), WithAudience("api"), WithJWKSet(iss.jwks)})
			} else if got := string(iss.jwks); got != `{"keys":[]}` {
				t.Errorf("HMAC issuer publishes %s", got)
			}
			for _, opts := range configs {
				j, err := NewJWT(func(_ context.Context, c *Claims) (*Claims, error) { return c, nil },
					append(opts, WithClock(clock.Now))...)
				if err != nil {
					t.Fatal(err)
				}
				for _, tok := range []string{pair.AccessToken, pair.RefreshToken} {
					req := httptest.NewRequest("GET", "/", nil)
					req.Header.Set("Authorization", "Bearer "+tok)
					got, err := j.Authenticate(req)
					if tok == pair.RefreshToken {
						if !errors.Is(err, ErrInvalidToken) {
							t.Errorf("refresh token accepted as access token: %v", err)
						}
						continue
					}
					if err != nil {
						t.Fatalf("access token refused: %v", err)
					}
					if got.Subject != "u1" || got.Version != 1 || got.ID == "" || got.extra != nil ||
						!got.ExpiresAt.Equal(time.Unix(now+900, 0)) {
						t.Errorf("claims %+v", got)
					}
				}
			}
		})
	}
}

// TestClaimsWrittenByTheKit: a user ID is data, never structure (C9).
func TestClaimsWrittenByTheKit(t *testing.T) {
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	evil := "1\",\"admin\":true,\"sub\":\"0\\\u0001\n</script>é"
	vs := NewMemoryStore(evil)
	iss, err := NewIssuer("https://auth.test", "api", ec, NewMemoryStore(), vs.Version)
	if err != nil {
		t.Fatal(err)
	}
	pair, err := iss.Issue(context.Background(), evil)
	if err != nil {
		t.Fatal(err)
	}
	j, _ := NewJWT(func(_ context.Context, c *Claims) (*Claims, error) { return c, nil }, WithTokensFrom(iss))
	req := httptest.NewRequest("GET", "/", nil)
	req.Header.Set("Authorization", "Bearer "+pair.AccessToken)
	c, err := j.Authenticate(req)
	if err != nil {
		t.Fatal(err)
	}
	if c.Subject != evil || c.extra != nil {
		t.Fatalf("sub %q extra %v", c.Subject, c.extra)
	}
	next, err := iss.Refresh(context.Background(), pair.RefreshToken)
	if err != nil || next.UserID != evil {
		t.Fatalf("refresh: %v", err)
	}
	for _, bad := range []string{"", "a\x00b", "\xff", strings.Repeat("a", 1025)} {
		_ = vs.Add(context.Background(), bad)
		if _, err := iss.Issue(context.Background(), bad); err == nil {
			t.Errorf("Issue(%q) succeeded", bad)
		}
	}
}

func TestNewIssuerValidation(t *testing.T) {
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	fs, vs := NewMemoryStore(), NewMemoryStore().Version
	for _, tc := range []struct {
		name           string
		issuer, aud    string
		key            any
		families       FamilyStore
		versions       VersionLookup
		opts           []Option
		wantErrContain string
	}{
		{"public key", "i", "a", &ec.PublicKey, fs, vs, nil, "private key"},
		{"short secret", "i", "a", make([]byte, 16), fs, vs, nil, "at least 32"},
		{"nil key", "i", "a", nil, fs, vs, nil, "nil signing key"},
		{"alg mismatch", "i", "a", ec, fs, vs, []Option{WithSigningAlgorithm("RS256")}, "does not go with"},
		{"none", "i", "a", ec, fs, vs, []Option{WithSigningAlgorithm("none")}, "does not go with"},
		{"no issuer", "", "a", ec, fs, vs, nil, "issuer"},
		{"no audience", "i", "", ec, fs, vs, nil, "audience"},
		{"nil store", "i", "a", ec, nil, vs, nil, "FamilyStore"},
		{"nil lookup", "i", "a", ec, fs, nil, nil, "VersionLookup"},
		{"same audiences", "i", "i", ec, fs, vs, nil, "refresh audience must differ"},
		{"same audiences by option", "i", "a", ec, fs, vs, []Option{WithRefreshAudience("a")}, "refresh audience must differ"},
		{"access TTL too long", "i", "a", ec, fs, vs, []Option{WithAccessTokenTTL(2 * time.Hour)}, "at most"},
		{"fractional TTL", "i", "a", ec, fs, vs, []Option{WithAccessTokenTTL(1500 * time.Millisecond)}, "whole number"},
		{"refresh TTL beyond family", "i", "a", ec, fs, vs, []Option{WithRefreshFamilyLifetime(time.Hour)}, "longer than the family"},
		{"cookie without prefix", "i", "a", ec, fs, vs, []Option{WithRefreshCookie("rt", "/token")}, "__Secure-"},
		{"__Host- cookie with a path", "i", "a", ec, fs, vs, []Option{WithRefreshCookie("__Host-rt", "/token")}, "path /"},
		{"cookie bad name", "i", "a", ec, fs, vs, []Option{WithRefreshCookie("__Secure-r t", "/token")}, "invalid"},
		{"cookie relative path", "i", "a", ec, fs, vs, []Option{WithRefreshCookie("__Secure-rt", "token")}, "must start with /"},
		{"duplicate kid", "i", "a", ec, fs, vs, []Option{WithSigningKeyID("k"), WithAdditionalKey("k", &ec.PublicKey)}, "duplicate key ID"},
		{"nil reuse handler", "i", "a", ec, fs, vs, []Option{WithReuseHandler(nil)}, "WithReuseHandler"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewIssuer(tc.issuer, tc.aud, tc.key, tc.families, tc.versions, tc.opts...)
			if err == nil || !strings.Contains(err.Error(), tc.wantErrContain) {
				t.Fatalf("err = %v, want one containing %q", err, tc.wantErrContain)
			}
		})
	}
}

// TestKeyRotation: after the signing key changes, refresh tokens signed by
// the previous key (kept with WithAdditionalKey) still refresh, the JWK Set
// publishes both, and the new tokens carry the new kid.
func TestKeyRotation(t *testing.T) {
	oldKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	_, newKey, _ := ed25519.GenerateKey(rand.Reader)
	fs, vs := NewMemoryStore(), NewMemoryStore("1")
	before, err := NewIssuer("https://auth.test", "api", oldKey, fs, vs.Version, WithSigningKeyID("old"))
	if err != nil {
		t.Fatal(err)
	}
	pair, _ := before.Issue(context.Background(), "1")
	after, err := NewIssuer("https://auth.test", "api", newKey, fs, vs.Version,
		WithSigningKeyID("new"), WithAdditionalKey("old", &oldKey.PublicKey))
	if err != nil {
		t.Fatal(err)
	}
	next, err := after.Refresh(context.Background(), pair.RefreshToken)
	if err != nil {
		t.Fatal(err)
	}
	if h, _ := tokenParts(t, next.AccessToken); h["kid"] != "new" || h["alg"] != "EdDSA" {
		t.Errorf("header %v", h)
	}
	var set struct{ Keys []struct{ Kid, Alg string } }
	if err := json.Unmarshal(after.jwks, &set); err != nil || len(set.Keys) != 2 ||
		set.Keys[0].Kid != "new" || set.Keys[1].Kid != "old" || set.Keys[1].Alg != "ES256" {
		t.Errorf("JWK Set %s (%v)", after.jwks, err)
	}
	// The default kid is the key's RFC 7638 thumbprint.
	def, err := NewIssuer("https://auth.test", "api", oldKey, fs, vs.Version)
	if err != nil {
		t.Fatal(err)
	}
	p, _ := def.Issue(context.Background(), "1")
	if h, _ := tokenParts(t, p.AccessToken); len(fmt.Sprint(h["kid"])) != 43 {
		t.Errorf("default kid %v, want a 43-character thumbprint", h["kid"])
	}
}

// TestRefreshErrors checks the errors of the programmatic API.
func TestRefreshErrors(t *testing.T) {
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	clock := newTestClock(time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC))
	vs := NewMemoryStore("1")
	iss, _ := NewIssuer("https://auth.test", "api", ec, NewMemoryStore(), vs.Version, WithClock(clock.Now), WithRefreshRetryWindow(0))
	ctx := context.Background()
	p1, _ := iss.Issue(ctx, "1")
	p2, _ := iss.Refresh(ctx, p1.RefreshToken)
	if _, err := iss.Refresh(ctx, p1.RefreshToken); !errors.Is(err, ErrInvalidToken) || !errors.Is(err, ErrTokenRevoked) {
		t.Errorf("reuse: %v", err)
	}
	if _, err := iss.Refresh(ctx, p2.RefreshToken); !errors.Is(err, ErrTokenRevoked) {
		t.Errorf("revoked family: %v", err)
	}
	p3, _ := iss.Issue(ctx, "1")
	clock.Advance(defaultRefreshTokenTTL)
	if _, err := iss.Refresh(ctx, p3.RefreshToken); !errors.Is(err, ErrTokenExpired) {
		t.Errorf("expired: %v", err)
	}
	if _, err := iss.Issue(ctx, "2"); !errors.Is(err, ErrUnknownUser) {
		t.Errorf("unknown user: %v", err)
	}
	if err := iss.Revoke(ctx, "junk"); !errors.Is(err, ErrInvalidToken) {
		t.Errorf("revoke junk: %v", err)
	}
}

// refreshCookieValue returns the refresh token that r set in the refresh
// cookie.
func refreshCookieValue(t *testing.T, r resp) string {
	t.Helper()
	for _, c := range r.cookies {
		if c.Name == defaultRefreshCookieName && c.Value != "" {
			return c.Value
		}
	}
	t.Fatalf("no refresh cookie in the answer: %v", r.cookies)
	return ""
}

// TestRefreshCookieCrossOrigin: a sibling site cannot make the browser spend
// (or revoke) the refresh cookie; a token in the body is not a browser's
// ambient credential and is not checked.
func TestRefreshCookieCrossOrigin(t *testing.T) {
	e := newEnv(t, memoryKit(t, "alice"), envConfig{})
	_, rt := e.mustLogin("alice")
	ck := &http.Cookie{Name: defaultRefreshCookieName, Value: rt}
	for _, path := range []string{"/token/refresh", "/token/logout"} {
		req := e.request("POST", path, "", "", ck)
		req.Header.Set("Sec-Fetch-Site", "same-site")
		r := e.do(req)
		wantOAuthError(t, r, http.StatusForbidden, "invalid_request")
	}
	// Nothing was spent or revoked: the same token still refreshes, same-origin.
	req := e.request("POST", "/token/refresh", "", "", ck)
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	if r := e.do(req); r.status != http.StatusOK {
		t.Fatalf("same-origin refresh by cookie after refused cross-origin ones: %d %s", r.status, r.raw)
	}
}
