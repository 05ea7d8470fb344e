package authkit

import (
	"context"
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// eventRecorder is a WithEvents hook that keeps every event.
type eventRecorder struct {
	mu     sync.Mutex
	events []Event
	all    []Event
}

func (er *eventRecorder) hook(_ context.Context, e Event) {
	er.mu.Lock()
	er.events = append(er.events, e)
	er.all = append(er.all, e)
	er.mu.Unlock()
}

// take returns the events since the last take, each as "type reason method
// issuer user op" (empty fields dropped).
func (er *eventRecorder) take() []string {
	er.mu.Lock()
	defer er.mu.Unlock()
	var out []string
	for _, e := range er.events {
		out = append(out, eventString(e))
	}
	er.events = nil
	return out
}

func eventString(e Event) string {
	return strings.Join(slices.DeleteFunc([]string{string(e.Type), e.ReasonName(), string(e.Method), e.Issuer, e.UserID, e.Op},
		func(s string) bool { return s == "" }), " ")
}

// expect checks that the events since the last take are exactly want.
func (er *eventRecorder) expect(t *testing.T, step string, want ...string) {
	t.Helper()
	if got := er.take(); !slices.Equal(got, want) {
		t.Errorf("%s: events\n  %q\nwant\n  %q", step, got, want)
	}
}

// allEventTypes is every EventType the package declares.
var allEventTypes = []EventType{
	EventAuthenticated, EventRefused, EventFailed,
	EventSessionLogin, EventSessionLogout, EventSessionTimeout, EventSessionRevoked,
	EventRefreshRotated, EventRefreshReused, EventFamilyRevoked, EventVersionBumped, EventVersionNotified,
	EventKeysFetched, EventKeysFetchFailed, EventKeysRefetch,
	EventCacheHit, EventCacheMiss, EventStoreCall,
}

// postgresEventTypes are the event types only the PostgreSQL Store emits
// (TestPostgresEvents).
var postgresEventTypes = []EventType{EventVersionNotified, EventStoreCall}

// TestEventSequence drives every event type through the kit's real paths,
// one step at a time, and checks the exact events of each step.
func TestEventSequence(t *testing.T) {
	rec := &eventRecorder{}
	ev := WithEvents(rec.hook)
	const iss = "https://issuer.test"
	clock := newTestClock(time.Now())

	// Keys, the token cache and the guard.
	signer := newTestSigner(t, "k1")
	srv := newJWKSServer(t, jwksOf(t, signer))
	jwt := mustJWKSAuth(t, srv, clock, ev)
	rec.expect(t, "NewJWT", "keys.fetched "+iss)
	require := Require[string](jwt, ev)
	serve := func(h func(http.Handler) http.Handler, req *http.Request) int {
		rr := httptest.NewRecorder()
		h(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {})).ServeHTTP(rr, req)
		return rr.Code
	}
	good := signer.token(t, clock.Now(), "")
	serve(require, bearerRequest(good))
	rec.expect(t, "first request", "cache.miss "+iss, "authenticated bearer "+iss+" alice")
	serve(require, bearerRequest(good))
	rec.expect(t, "same token", "cache.hit "+iss, "authenticated bearer "+iss+" alice")
	serve(require, httptest.NewRequest("GET", "/", nil))
	rec.expect(t, "no credentials", "refused no_credentials bearer")
	serve(require, bearerRequest(signer.token(t, clock.Now().Add(-time.Hour), "")))
	rec.expect(t, "expired", "cache.miss "+iss, "refused expired bearer")
	serve(require, bearerRequest(good[:len(good)-4]+"AAAA"))
	rec.expect(t, "bad signature", "cache.miss "+iss, "refused invalid_token bearer")
	twice := bearerRequest(good)
	twice.Header.Add("Authorization", "Bearer x")
	serve(require, twice)
	rec.expect(t, "two headers", "refused invalid_request bearer")
	serve(Require[string](jwt, ev, WithScopes("admin")), bearerRequest(good))
	rec.expect(t, "scope", "cache.hit "+iss, "refused insufficient_scope bearer")
	other := newTestSigner(t, "k2")
	serve(require, bearerRequest(other.token(t, clock.Now(), "")))
	rec.expect(t, "unknown kid", "keys.fetched "+iss, "keys.refetch "+iss, "cache.miss "+iss, "refused invalid_token bearer")
	srv.fail(http.StatusServiceUnavailable)
	clock.Advance(2 * time.Minute) // past the miss interval
	serve(require, bearerRequest(other.token(t, clock.Now(), "")))
	rec.expect(t, "unknown kid, failing server", "keys.fetch_failed "+iss, "keys.refetch "+iss, "cache.miss "+iss, "refused invalid_token bearer")
	serve(Require[string](AuthenticatorFunc[string](func(*http.Request) (string, error) {
		return "", fmt.Errorf("lookup: %w", errStoreDeadline)
	}), ev), httptest.NewRequest("GET", "/", nil))
	rec.expect(t, "store timeout", "failed store_unavailable custom")

	// The token service.
	store := NewMemoryStore("alice", "bob")
	vc, err := NewVersionCache(store, ev)
	if err != nil {
		t.Fatal(err)
	}
	failing := false
	lookup := func(ctx context.Context, id string) (int64, error) {
		if failing {
			return 0, errStoreDown
		}
		return vc.Lookup(ctx, id)
	}
	is, err := NewIssuer("https://auth.test", "api", testKeys().ec256, store, lookup, ev,
		WithRefreshRetryWindow(0), WithReuseHandler(func(context.Context, ReuseEvent) {}))
	if err != nil {
		t.Fatal(err)
	}
	post := func(h http.Handler, rt string) int {
		req := httptest.NewRequest("POST", "/token", strings.NewReader(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		rr := httptest.NewRecorder()
		h.ServeHTTP(rr, req)
		return rr.Code
	}
	pair, err := is.Issue(t.Context(), "alice")
	if err != nil {
		t.Fatal(err)
	}
	rec.expect(t, "Issue")
	if code := post(is.RefreshHandler(), pair.RefreshToken); code != 200 {
		t.Fatalf("refresh: %d", code)
	}
	rec.expect(t, "refresh", "refresh.rotated https://auth.test alice")
	post(is.RefreshHandler(), pair.RefreshToken)
	rec.expect(t, "reuse", "refresh.reused revoked refresh https://auth.test alice",
		"refresh.family_revoked refresh https://auth.test alice", "refused revoked refresh")
	post(is.RefreshHandler(), "")
	rec.expect(t, "no token", "refused invalid_request refresh")
	pair, err = is.Issue(t.Context(), "alice")
	if err != nil {
		t.Fatal(err)
	}
	failing = true
	post(is.RefreshHandler(), pair.RefreshToken)
	rec.expect(t, "failing lookup", "failed error refresh")
	failing = false
	post(is.LogoutHandler(), pair.RefreshToken)
	rec.expect(t, "logout on this device", "refresh.family_revoked refresh https://auth.test alice")
	if _, err := vc.Bump(t.Context(), "bob"); err != nil {
		t.Fatal(err)
	}
	rec.expect(t, "bump", "version.bumped bob")

	// Sessions.
	e := newSessionEnv(t, NewMemoryStore().Sessions(), ev)
	sreq := Require[*testUser](e.s, ev)
	mux := http.NewServeMux()
	mux.Handle("POST /login", e.s.LoadAndSave(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := e.s.Login(r.Context(), r.FormValue("user")); err != nil {
			http.Error(w, "login", 500)
		}
	})))
	mux.Handle("POST /logout", e.s.LoadAndSave(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = e.s.Logout(r.Context())
	})))
	mux.Handle("/me", sreq(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {})))
	e.serve(mux)
	b := e.browser()
	login := func() {
		t.Helper()
		if r := e.do(b, "POST", "/login", nil, url.Values{"user": {"1"}}); r.status != 200 {
			t.Fatalf("login: %d %s", r.status, r.body)
		}
	}
	cross := http.Header{"Sec-Fetch-Site": {"cross-site"}}
	login()
	rec.expect(t, "login", "session.login session 1")
	e.do(b, "GET", "/me", nil, nil)
	rec.expect(t, "session request", "authenticated session")
	e.do(b, "POST", "/me", cross, nil)
	rec.expect(t, "cross-origin request", "refused cross_origin session")
	e.do(b, "POST", "/login", cross, url.Values{"user": {"1"}})
	rec.expect(t, "cross-origin login", "refused cross_origin session")
	e.versions.set("1", 4)
	e.do(b, "GET", "/me", nil, nil)
	rec.expect(t, "version bumped", "session.revoked revoked session 1", "refused revoked session")
	login()
	e.clock.Advance(defaultSessionIdleTimeout)
	e.do(b, "GET", "/me", nil, nil)
	rec.expect(t, "idle", "session.login session 1", "session.timeout expired session 1", "refused expired session")
	login()
	unknown := error(ErrUnknownUser)
	e.userErr.Store(&unknown)
	e.do(b, "GET", "/me", nil, nil)
	e.userErr.Store(nil)
	rec.expect(t, "unknown user", "session.login session 1", "session.revoked unknown_user session 1", "refused unknown_user session")
	login()
	e.do(b, "POST", "/logout", nil, nil)
	rec.expect(t, "logout", "session.login session 1", "session.logout session 1")

	seen := map[EventType]bool{}
	for _, ev := range rec.all {
		seen[ev.Type] = true
		if ev.Type == EventCacheMiss && ev.Duration <= 0 {
			t.Errorf("a cache miss without the duration of its verification: %+v", ev)
		}
	}
	for _, typ := range allEventTypes {
		if !seen[typ] && !slices.Contains(postgresEventTypes, typ) {
			t.Errorf("event type %s never emitted", typ)
		}
	}
}

// TestEventReasons checks that every refusal sentinel is an event's Reason,
// the most specific one, with a distinct label; and that a refusal that does
// not match a sentinel is a failure.
func TestEventReasons(t *testing.T) {
	cases := []struct {
		err  error
		want string
	}{
		{ErrNoCredentials, "no_credentials"},
		{invalidRequest("x"), "invalid_request"},
		{invalidToken("x"), "invalid_token"},
		{expiredToken("x"), "expired"},
		{revokedToken("x"), "revoked"},
		{&sessionEnded{expiredToken("x")}, "expired"},
		{invalidTokenCause("user", ErrUnknownUser), "unknown_user"},
		{&authError{kind: ErrCrossOrigin}, "cross_origin"},
		{&authError{kind: ErrNotReady, msg: "x"}, "not_ready"},
		{&scopeError{scope: "a"}, "insufficient_scope"},
		{invalidProof("x"), "invalid_dpop_proof"},
		{&dpopError{err: invalidProof("x")}, "invalid_dpop_proof"},
		{errStoreDeadline, "store_unavailable"},
		{errStoreDown, "error"},
	}
	labels := map[string]bool{}
	for _, c := range cases {
		rec := &eventRecorder{}
		h := Require[string](AuthenticatorFunc[string](func(*http.Request) (string, error) { return "", c.err }), WithEvents(rec.hook))
		h(http.NotFoundHandler()).ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/p", nil))
		if len(rec.all) != 1 {
			t.Fatalf("%v: %d events", c.err, len(rec.all))
		}
		e := rec.all[0]
		if got := e.ReasonName(); got != c.want {
			t.Errorf("%v: reason %q, want %q", c.err, got, c.want)
		}
		if wantType := EventRefused; c.want == "error" || c.want == "store_unavailable" {
			if e.Type != EventFailed || e.Err != c.err {
				t.Errorf("%v: %s with Err %v, want a failure carrying the error", c.err, e.Type, e.Err)
			}
		} else if e.Type != wantType || e.Err != nil || !errors.Is(c.err, e.Reason) {
			t.Errorf("%v: %+v", c.err, e)
		}
		if e.Path != "/p" || e.Method != MethodCustom || e.Duration <= 0 {
			t.Errorf("%v: path %q method %q duration %v", c.err, e.Path, e.Method, e.Duration)
		}
		labels[c.want] = true
	}
	if len(labels) != len(reasons)+1 {
		t.Errorf("%d labels for %d sentinels: %v", len(labels), len(reasons), labels)
	}

	// Every sentinel errors.go declares is a reason, or is not a refusal
	// of a request.
	notRefusals := map[string]string{
		"ErrUnknownDevice":    "Store.EndDevice's answer to the program",
		"ErrFamilyNotFound":   "a FamilyStore's answer to the Issuer, which refuses the token as invalid",
		"ErrFamilyNotRotated": "a FamilyStore's answer to the Issuer, which refuses the token as revoked (reuse) or invalid",
	}
	isReason := map[error]bool{}
	for _, r := range reasons {
		isReason[r.err] = true
	}
	for name, err := range sentinels(t) {
		if _, ok := notRefusals[name]; ok == isReason[err] {
			t.Errorf("%s: a reason %v, listed as no refusal %v: every sentinel must be exactly one", name, isReason[err], ok)
		}
	}
}

// sentinels returns the package's sentinel errors by name: the exported
// Err* variables errors.go declares.
func sentinels(t *testing.T) map[string]error {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), "errors.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]error{
		"ErrNoCredentials": ErrNoCredentials, "ErrInvalidRequest": ErrInvalidRequest, "ErrInvalidToken": ErrInvalidToken,
		"ErrTokenExpired": ErrTokenExpired, "ErrTokenRevoked": ErrTokenRevoked, "ErrUnknownUser": ErrUnknownUser,
		"ErrCrossOrigin": ErrCrossOrigin, "ErrNotReady": ErrNotReady, "ErrInsufficientScope": ErrInsufficientScope,
		"ErrStoreUnavailable": ErrStoreUnavailable, "ErrInvalidDPoPProof": ErrInvalidDPoPProof,
		"ErrUnknownDevice": ErrUnknownDevice, "ErrFamilyNotFound": ErrFamilyNotFound, "ErrFamilyNotRotated": ErrFamilyNotRotated,
	}
	out := map[string]error{}
	for _, d := range f.Decls {
		g, ok := d.(*ast.GenDecl)
		if !ok || g.Tok != token.VAR {
			continue
		}
		for _, spec := range g.Specs {
			for _, n := range spec.(*ast.ValueSpec).Names {
				if !n.IsExported() || !strings.HasPrefix(n.Name, "Err") {
					continue
				}
				err, ok := byName[n.Name]
				if !ok {
					t.Errorf("errors.go declares %s: add it to sentinels (and to reasons, or to notRefusals)", n.Name)
					continue
				}
				out[n.Name] = err
			}
		}
	}
	if len(out) != len(byName) {
		t.Errorf("errors.go declares %d sentinels, sentinels knows %d", len(out), len(byName))
	}
	return out
}

// TestWithEventsOption checks the option's checks.
func TestWithEventsOption(t *testing.T) {
	h := func(context.Context, Event) {}
	if _, err := NewVersionCache(NewMemoryStore(), WithEvents(nil)); err == nil {
		t.Error("WithEvents(nil) accepted")
	}
	if _, err := NewVersionCache(NewMemoryStore(), WithEvents(h), WithEvents(h)); err == nil {
		t.Error("WithEvents given twice accepted")
	}
}

// ctxMark marks the context of a store call in TestPostgresEvents.
type ctxMark struct{}

// TestPostgresEvents checks the PostgreSQL Store's events: one
// EventStoreCall per call, on the caller's context, with its failure (not
// for a row that is not there); and, for a bump on one instance, an
// EventVersionNotified with the notification's lag on every instance's
// Store.
func TestPostgresEvents(t *testing.T) {
	p := newPGDB(t)
	var mu sync.Mutex
	var marks []any
	recA, recB := &eventRecorder{}, &eventRecorder{}
	hookA := func(ctx context.Context, e Event) {
		if e.Type == EventStoreCall {
			mu.Lock()
			marks = append(marks, ctx.Value(ctxMark{}))
			mu.Unlock()
			if e.Duration <= 0 {
				t.Errorf("%s: duration %v", e.Op, e.Duration)
			}
		}
		recA.hook(ctx, e)
	}
	a := p.migrated(WithEvents(hookA))
	b := p.reopen().store(WithEvents(recB.hook))
	ctx := context.WithValue(t.Context(), ctxMark{}, "caller")
	recA.take() // Migrate is not a bounded call: none expected, but ignore

	if err := a.Add(ctx, "1"); err != nil {
		t.Fatal(err)
	}
	recA.expect(t, "Add", "store.call user.add")
	if _, err := a.b.(*postgresStore).Version(ctx, "nobody"); !errors.Is(err, ErrUnknownUser) {
		t.Fatalf("Version of an unknown user: %v", err)
	}
	recA.expect(t, "unknown user", "store.call version.lookup")
	if n := len(recA.all); n > 0 && recA.all[n-1].Err != nil {
		t.Errorf("finding no row reported as a failure: %v", recA.all[n-1].Err)
	}
	if _, _, err := a.Sessions().(interface {
		FindCtx(context.Context, string) ([]byte, bool, error)
	}).FindCtx(ctx, "no such session"); err != nil {
		t.Fatal(err)
	}
	recA.expect(t, "session find", "store.call session.find")

	ca, err := NewVersionCache(a)
	if err != nil {
		t.Fatal(err)
	}
	cb, err := NewVersionCache(b)
	if err != nil {
		t.Fatal(err)
	}
	listenerPIDs(t, p, a, 2)
	if v, err := cb.Lookup(ctx, "1"); err != nil || v != 0 {
		t.Fatalf("Lookup = %d, %v", v, err)
	}
	recB.expect(t, "B's lookup", "store.call version.lookup")
	if _, err := ca.Bump(ctx, "1"); err != nil {
		t.Fatal(err)
	}
	for _, r := range []struct {
		name string
		rec  *eventRecorder
		want []string
	}{{"A", recA, []string{"store.call version.bump", "version.notified 1"}}, {"B", recB, []string{"version.notified 1"}}} {
		deadline := time.Now().Add(propagationBound)
		for {
			r.rec.mu.Lock()
			n := len(r.rec.events)
			r.rec.mu.Unlock()
			if n >= len(r.want) || time.Now().After(deadline) {
				break
			}
			time.Sleep(time.Millisecond)
		}
		r.rec.mu.Lock()
		for _, e := range r.rec.events {
			if e.Type == EventVersionNotified && (e.Duration <= 0 || e.Duration > propagationBound) {
				t.Errorf("%s: notification lag %v", r.name, e.Duration)
			}
		}
		r.rec.mu.Unlock()
		// The notification may reach A's listener before A's bump returns.
		if got := r.rec.take(); !slices.Equal(slices.Sorted(slices.Values(got)), r.want) {
			t.Errorf("%s after the bump: events %q, want %q in any order", r.name, got, r.want)
		}
	}

	// A failing call: the pool is closed.
	recC := &eventRecorder{}
	cdb := p.reopen()
	c := cdb.store(WithEvents(recC.hook))
	cdb.Close()
	if _, err := c.b.(*postgresStore).Version(ctx, "1"); err == nil {
		t.Fatal("Version on a closed pool succeeded")
	}
	recC.expect(t, "closed pool", "store.call version.lookup")
	if len(recC.all) > 0 && recC.all[0].Err == nil {
		t.Error("a failed store call without its error")
	}

	mu.Lock()
	defer mu.Unlock()
	for i, m := range marks {
		if m != "caller" {
			t.Errorf("store call %d: the hook got a context without the caller's values (%v)", i, m)
		}
	}
	if len(marks) < 4 {
		t.Errorf("%d store calls seen by A's hook, want at least 4", len(marks))
	}
}

// TestParseNotification: the payload of a bump notification, and an older
// kit's.
func TestParseNotification(t *testing.T) {
	for _, c := range []struct {
		payload, user string
		sent          int64 // Unix µs; 0: none
	}{
		{"1767225600123456 alice", "alice", 1767225600123456},
		{"1767225600123456 user with spaces", "user with spaces", 1767225600123456},
		{"1767225600123456 ", "", 1767225600123456},
		{"alice", "alice", 0},
		{"123 bob", "123 bob", 0},                           // an older kit's ID with a space: not 16 digits
		{"0767225600123456 bob", "0767225600123456 bob", 0}, // a leading zero: not a time the kit writes
		{"+767225600123456 bob", "+767225600123456 bob", 0}, // a sign
		{"17672256001234x6 bob", "17672256001234x6 bob", 0}, // not digits
		{"", "", 0},
	} {
		user, sent := parseNotification(c.payload)
		if user != c.user || (c.sent == 0) != sent.IsZero() || c.sent != 0 && sent.UnixMicro() != c.sent {
			t.Errorf("%q: %q at %v, want %q at %d", c.payload, user, sent, c.user, c.sent)
		}
	}
}

// TestCacheSizes: what JWT.CacheSize and VersionCache.Len report.
func TestCacheSizes(t *testing.T) {
	k := clientKey(t)
	j, err := NewJWT(func(_ context.Context, c *Claims) (string, error) { return c.Subject, nil },
		WithIssuer(testIssuer), WithAudience(testAudience), WithKey("k1", testKeys().ec256), WithClock(fixedClock), WithDPoP(DPoPAllowed))
	if err != nil {
		t.Fatal(err)
	}
	if tokens, bytes, proofs := j.CacheSize(); tokens != 0 || bytes != 0 || proofs != 0 {
		t.Fatalf("empty: %d %d %d", tokens, bytes, proofs)
	}
	h := Require[string](j)(http.NotFoundHandler())
	tok := boundToken(k.jkt)
	for range 3 {
		call(h, "GET", dpopURL, "DPoP "+tok, k.proof(k.header(), newProofClaims("GET", dpopURL, tok, testNow)))
	}
	bearer := esToken(baseHeader(), baseClaims())
	call(h, "GET", dpopURL, "Bearer "+bearer)
	want := 0
	for _, tok := range []string{tok, bearer} {
		want += strings.LastIndexByte(tok, '.') + len(tok) + tokenCacheEntryCost
	}
	tokens, bytes, proofs := j.CacheSize()
	if tokens != 2 || proofs != 3 || bytes != want {
		t.Errorf("after two tokens and three proofs: %d tokens, %d bytes, %d proofs", tokens, bytes, proofs)
	}
	if tokens, bytes, _ := (*JWT[string])(nil).CacheSize(); tokens != 0 || bytes != 0 {
		t.Error("a nil JWT reports a cache")
	}

	vc, err := NewVersionCache(newFakeVersions(map[string]int64{"1": 1, "2": 2}))
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"1", "2", "1"} {
		if _, err := vc.Lookup(t.Context(), id); err != nil {
			t.Fatal(err)
		}
	}
	if n := vc.Len(); n != 2 {
		t.Errorf("VersionCache.Len = %d after two users, want 2", n)
	}
	vc.Forget("1")
	if n := vc.Len(); n != 1 {
		t.Errorf("VersionCache.Len = %d after Forget, want 1", n)
	}
}
