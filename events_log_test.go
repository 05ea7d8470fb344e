package authkit

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

// syncBuffer is a log destination for concurrent writers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// credentialPieces returns what of a credential must never be logged: the
// value, each of its dot-separated segments, the jti of a JWT.
func credentialPieces(value string) []string {
	out := []string{value}
	for _, seg := range strings.Split(value, ".") {
		if len(seg) >= 8 {
			out = append(out, seg)
		}
	}
	if segs := strings.Split(value, "."); len(segs) == 3 {
		if p, err := base64.RawURLEncoding.DecodeString(segs[1]); err == nil {
			var c struct{ Jti string }
			if json.Unmarshal(p, &c) == nil && c.Jti != "" {
				out = append(out, c.Jti)
			}
		}
	}
	return out
}

// secretPieces returns a secret's bytes and its usual encodings.
func secretPieces(secret []byte) []string {
	return []string{string(secret), hex.EncodeToString(secret), base64.StdEncoding.EncodeToString(secret),
		base64.RawStdEncoding.EncodeToString(secret), base64.URLEncoding.EncodeToString(secret),
		base64.RawURLEncoding.EncodeToString(secret)}
}

func randomSecret(t *testing.T) []byte {
	t.Helper()
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

// TestEventsCarryNoCredentials feeds known tokens, cookies, refresh tokens
// and secrets through every path that emits or logs, with LogEvents and the
// default logger at debug level, and checks that no log line and no event
// holds any of their pieces.
func TestEventsCarryNoCredentials(t *testing.T) {
	var logs syncBuffer
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	prev := slog.Default()
	slog.SetDefault(logger) // DefaultErrorHandler's and the key sources' own lines too
	t.Cleanup(func() { slog.SetDefault(prev) })
	rec := &eventRecorder{}
	logHook := LogEvents(logger, slog.LevelDebug)
	ev := WithEvents(func(ctx context.Context, e Event) { rec.hook(ctx, e); logHook(ctx, e) })

	var forbidden []string
	keep := func(values ...string) {
		for _, v := range values {
			forbidden = append(forbidden, credentialPieces(v)...)
		}
	}
	accessSecret, refreshSecret, sessionSecret := randomSecret(t), randomSecret(t), randomSecret(t)
	for _, s := range [][]byte{accessSecret, refreshSecret, sessionSecret} {
		forbidden = append(forbidden, secretPieces(s)...)
	}

	// Access tokens: header, cookie, twice, expired, forged.
	jwt := newTestJWT(t, ev, WithKey("k1", accessSecret), WithTokenCookie("at"))
	send := func(h func(http.Handler) http.Handler, req *http.Request) {
		h(http.NotFoundHandler()).ServeHTTP(httptest.NewRecorder(), req)
	}
	require := Require[*testUser](jwt, ev)
	hs := func(c obj) string {
		return buildToken(headerFor("HS256", "k1").String(), c.String(), signHS256(accessSecret))
	}
	good, expired := hs(baseClaims()), hs(baseClaims().set("iat", nowPlus(-4000)).set("exp", nowPlus(-3600)))
	forged := good[:len(good)-6] + "AAAAAA"
	keep(good, expired, forged)
	for _, tok := range []string{good, good, expired, forged, "garbage-token-value-1234"} {
		send(require, bearerRequest(tok))
	}
	keep("garbage-token-value-1234")
	cookieReq := httptest.NewRequest("POST", "/x", nil)
	cookieReq.Header.Set("Sec-Fetch-Site", "cross-site")
	cookieReq.AddCookie(&http.Cookie{Name: "at", Value: good})
	send(require, cookieReq)
	both := bearerRequest(expired)
	both.AddCookie(&http.Cookie{Name: "at", Value: expired})
	send(require, both)
	send(Require[*testUser](jwt, ev, WithScopes("admin")), bearerRequest(good))

	// Refresh tokens: rotated, reused, in the cookie, in a broken body, twice in a form.
	store := NewMemoryStore("alice")
	is, err := NewIssuer("https://auth.test", "api", refreshSecret, store, store.Version, ev, WithRefreshRetryWindow(0))
	if err != nil {
		t.Fatal(err)
	}
	pair, err := is.Issue(t.Context(), "alice")
	if err != nil {
		t.Fatal(err)
	}
	keep(pair.AccessToken, pair.RefreshToken)
	post := func(h http.Handler, contentType, body string, cookie string) {
		req := httptest.NewRequest("POST", "/token/refresh", strings.NewReader(body))
		if contentType != "" {
			req.Header.Set("Content-Type", contentType)
		}
		if cookie != "" {
			req.AddCookie(&http.Cookie{Name: defaultRefreshCookieName, Value: cookie})
		}
		rr := httptest.NewRecorder()
		h.ServeHTTP(rr, req)
		for _, c := range rr.Result().Cookies() {
			keep(c.Value)
		}
		var out struct{ AccessToken, RefreshToken string }
		_ = json.Unmarshal(rr.Body.Bytes(), &out)
		keep(out.AccessToken, out.RefreshToken)
	}
	form := func(rt string) string {
		return url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}.Encode()
	}
	const formType = "application/x-www-form-urlencoded"
	post(is.RefreshHandler(), formType, form(pair.RefreshToken), "")
	post(is.RefreshHandler(), formType, form(pair.RefreshToken), "") // reuse
	post(is.RefreshHandler(), formType, form(pair.RefreshToken)+"&refresh_token="+pair.RefreshToken, "")
	post(is.RefreshHandler(), "application/json", `{"refresh_token":"`+pair.RefreshToken+`"`, "")
	post(is.RefreshHandler(), "application/json", `{"refresh_token":"`+pair.RefreshToken+`x"}`, "")
	post(is.RefreshHandler(), "", "", pair.RefreshToken)
	pair2, err := is.Issue(t.Context(), "alice")
	if err != nil {
		t.Fatal(err)
	}
	keep(pair2.AccessToken, pair2.RefreshToken)
	post(is.LogoutHandler(), "", "", pair2.RefreshToken)
	post(is.RefreshHandler(), "application/json", `{"refresh_token":"`+pair2.RefreshToken+`"}`, "") // revoked
	vc, err := NewVersionCache(store, ev)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := vc.Bump(t.Context(), "alice"); err != nil {
		t.Fatal(err)
	}

	// Sessions: login, the cookie forged, sent twice, timed out, logged out.
	e := newSessionEnv(t, NewMemoryStore().Sessions(), ev, WithSessionSecret(sessionSecret))
	mux := http.NewServeMux()
	mux.Handle("POST /login", e.s.LoadAndSave(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = e.s.Login(r.Context(), "1")
	})))
	mux.Handle("POST /logout", e.s.LoadAndSave(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = e.s.Logout(r.Context())
	})))
	mux.Handle("/me", Require[*testUser](e.s, ev)(http.NotFoundHandler()))
	e.serve(mux)
	b := e.browser()
	e.do(b, "POST", "/login", nil, nil)
	cookie := e.jarToken(b)
	keep(cookie)
	e.do(b, "GET", "/me", nil, nil)
	e.do(b, "POST", "/me", http.Header{"Sec-Fetch-Site": {"cross-site"}}, nil)
	forgedCookie := cookie[:len(cookie)-4] + "AAAA"
	keep(forgedCookie)
	e.do(e.bare(), "GET", "/me", withCookie(forgedCookie), nil)
	e.do(e.bare(), "GET", "/me", http.Header{"Cookie": {defaultSessionCookieName + "=" + cookie + "; " + defaultSessionCookieName + "=" + cookie}}, nil)
	e.clock.Advance(defaultSessionIdleTimeout)
	e.do(b, "GET", "/me", nil, nil)
	e.do(b, "POST", "/login", nil, nil)
	keep(e.jarToken(b))
	e.do(b, "POST", "/logout", nil, nil)

	// What was logged and emitted.
	var haystack strings.Builder
	haystack.WriteString(logs.String())
	for _, e := range rec.all {
		fmt.Fprintf(&haystack, "%+v\n", e)
		if e.Err != nil {
			haystack.WriteString(e.Err.Error() + "\n")
		}
	}
	all := haystack.String()
	for _, p := range forbidden {
		if p != "" && strings.Contains(all, p) {
			t.Errorf("a credential piece %q was logged or emitted", p)
		}
	}
	// The run reached the paths it meant to.
	for _, want := range []string{"event=refused", "reason=expired", "reason=cross_origin", "reason=invalid_request",
		"event=refresh.reused", "event=session.timeout", "event=session.logout", "event=version.bumped", "event=cache.hit"} {
		if !strings.Contains(all, want) {
			t.Errorf("no %q in the log:\n%s", want, all)
		}
	}
	if t.Failed() {
		t.Logf("log:\n%s", all)
	}
}

// TestLogEventsLevelsAndRateLimit checks the adapter's levels and that a
// flood of refusals is cut to the burst, the next line saying how many were
// dropped, while failures are all logged.
func TestLogEventsLevelsAndRateLimit(t *testing.T) {
	var logs syncBuffer
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	clock := newTestClock(time.Unix(1e9, 0))
	el := newEventLog(logger, slog.LevelInfo, clock.Now)
	ctx := context.Background()
	for range 1000 {
		el.log(ctx, Event{Type: EventRefused, Reason: ErrInvalidToken, Method: MethodBearer})
	}
	for range 30 {
		el.log(ctx, Event{Type: EventFailed, Err: errStoreDown})
	}
	clock.Advance(time.Second)
	el.log(ctx, Event{Type: EventRefused, Reason: ErrTokenExpired})
	for _, e := range []Event{{Type: EventAuthenticated, UserID: "u"}, {Type: EventCacheHit}, {Type: EventRefreshReused}, {Type: EventKeysFetchFailed}, {Type: EventSessionLogin}} {
		el.log(ctx, e)
	}
	out := logs.String()
	count := func(s string) int { return strings.Count(out, s) }
	if n := count("event=refused"); n != logRefusalBurst+1 {
		t.Errorf("%d refusal lines, want %d", n, logRefusalBurst+1)
	}
	if !strings.Contains(out, fmt.Sprintf("suppressed=%d reason=expired", 1000-logRefusalBurst)) {
		t.Errorf("no line reports the %d suppressed refusals:\n%s", 1000-logRefusalBurst, out)
	}
	if n := count("level=ERROR msg=\"authkit: failed\""); n != 30 {
		t.Errorf("%d failure lines at error, want 30", n)
	}
	for _, want := range []string{
		`level=INFO msg="authkit: refused" event=refused reason=invalid_token method=bearer`,
		`level=INFO msg="authkit: authenticated" event=authenticated user=u`,
		`level=DEBUG msg="authkit: cache.hit"`,
		`level=WARN msg="authkit: refresh.reused"`,
		`level=ERROR msg="authkit: keys.fetch_failed"`,
		`level=INFO msg="authkit: session.login"`,
		`err="store down (test)"`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("no %q in\n%s", want, out)
		}
	}
	quiet := newEventLog(slog.New(slog.NewTextHandler(&logs, nil)), slog.LevelDebug, clock.Now)
	before := len(logs.String())
	quiet.log(ctx, Event{Type: EventAuthenticated})
	if len(logs.String()) != before {
		t.Error("an authenticated event at debug was logged by an info logger")
	}
}
