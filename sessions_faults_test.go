package authkit

// Issue 10, sessions and faults: item 5 (zero values at request time),
// item 9 (forged session cookies cost no store read), item 10 (re-login
// races, clearing the anonymous session), item 15 (bounded store calls).

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alexedwards/scs/v2"
	"github.com/alexedwards/scs/v2/memstore"
)

// captureLog sends slog's default output to a buffer for the test.
func captureLog(t *testing.T) *bytes.Buffer {
	t.Helper()
	var buf bytes.Buffer
	prev := slog.Default()
	slog.SetDefault(slog.New(slog.NewTextHandler(&buf, nil)))
	t.Cleanup(func() { slog.SetDefault(prev) })
	return &buf
}

// TestZeroValuesFailClosed (item 5): a zero Session used through
// LoadAndSave, Require and Optional, a zero JWT, and Any over zero values
// answer 500 with a log line at request time, never a panic.
func TestZeroValuesFailClosed(t *testing.T) {
	var zs Session[*testUser]
	var zj JWT[*testUser]
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { t.Error("handler reached") })
	cases := map[string]func() http.Handler{
		"Session.LoadAndSave":      func() http.Handler { return zs.LoadAndSave(ok) },
		"Require(zero Session)":    func() http.Handler { return Require[*testUser](&zs)(ok) },
		"Optional(zero Session)":   func() http.Handler { return Optional[*testUser](&zs)(ok) },
		"Require(zero JWT)":        func() http.Handler { return Require[*testUser](&zj)(ok) },
		"Any(zero JWT, zero Sess)": func() http.Handler { return Require(Any[*testUser](&zj, &zs))(ok) },
		"Any(zero Session, JWT)":   func() http.Handler { return Optional(Any[*testUser](&zs, &zj))(ok) },
	}
	for name, build := range cases {
		t.Run(name, func(t *testing.T) {
			logs := captureLog(t)
			for _, cookie := range []string{"", defaultSessionCookieName + "=" + strings.Repeat("A", 43)} {
				req := httptest.NewRequest("POST", "https://example.test/", nil)
				req.Header.Set("Authorization", "Bearer a.b.c")
				if cookie != "" {
					req.Header.Set("Cookie", cookie)
				}
				rec := httptest.NewRecorder()
				if err := noPanic(t, name, func() error { build().ServeHTTP(rec, req); return nil }); err != nil {
					return
				}
				if rec.Code != 500 {
					t.Errorf("cookie %q: status %d, want 500", cookie, rec.Code)
				}
				if strings.Contains(rec.Body.String(), "NewSession") || strings.Contains(rec.Body.String(), "NewJWT") {
					t.Errorf("the body leaks detail: %q", rec.Body)
				}
			}
			if !strings.Contains(logs.String(), "level=ERROR") {
				t.Errorf("no error logged: %q", logs)
			}
		})
	}

	t.Run("Login and Logout of a zero Session", func(t *testing.T) {
		req := httptest.NewRequest("POST", "https://example.test/", nil)
		for what, f := range map[string]func() error{
			"Login":        func() error { return zs.Login(req.Context(), "1") },
			"Logout":       func() error { return zs.Logout(req.Context()) },
			"Authenticate": func() error { _, err := zs.Authenticate(req); return err },
		} {
			if err := noPanic(t, what, f); err == nil || errors.Is(err, ErrNoCredentials) {
				t.Errorf("%s: %v, want a failure", what, err)
			}
		}
	})

	// A typed nil is refused when the middleware is built, as a nil is.
	for name, f := range map[string]func(){
		"Any((*JWT)(nil))":         func() { Any[*testUser]((*JWT[*testUser])(nil)) },
		"Any((*Session)(nil))":     func() { Any[*testUser]((*Session[*testUser])(nil)) },
		"Require((*Session)(nil))": func() { Require[*testUser]((*Session[*testUser])(nil)) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: no panic at construction", name)
				}
			}()
			f()
		}()
	}
}

// TestReloginInFlightKeepsNewCookie (item 10): a request that loaded the
// session before a re-login and changes it after must not send the old,
// dead cookie back (which would overwrite the new one and log the user
// out): its update matched no row, so no cookie is written.
func TestReloginInFlightKeepsNewCookie(t *testing.T) {
	forEachBackend(t, func(t *testing.T, kind backend) {
		e := newSessionEnv(t, kind.open(t).Sessions())
		c := e.browser()
		old := e.login(c, "1")
		slow := make(chan response, 1)
		go func() { slow <- e.do(c, "GET", "/slow", nil, nil) }()
		<-e.slowStarted
		fresh := e.login(c, "1") // the same browser logs in again meanwhile
		if fresh == old {
			t.Fatal("re-login kept the token")
		}
		e.slowRelease <- struct{}{}
		r := <-slow
		wantStatus(t, r, 200, "slow done")
		if line := sessionCookieLine(t, r.header); line != "" {
			t.Fatalf("the in-flight request set %q", line)
		}
		if got := e.jarToken(c); got != fresh {
			t.Fatalf("the browser holds %q, want the new cookie", got)
		}
		wantStatus(t, e.do(c, "GET", "/me", nil, nil), 200, "alice via session")
	})
}

// TestLoginClearsAnonymousSession (item 10): with WithFreshSessionAtLogin,
// Login drops what the anonymous session held (an attacker's return_to);
// without it the data survives, as documented.
func TestLoginClearsAnonymousSession(t *testing.T) {
	forEachBackend(t, func(t *testing.T, kind backend) {
		for _, fresh := range []bool{false, true} {
			var opts []Option
			if fresh {
				opts = append(opts, WithFreshSessionAtLogin())
			}
			e := newSessionEnv(t, kind.open(t).Sessions(), opts...)
			c := e.browser()
			wantStatus(t, e.do(c, "GET", "/visit", nil, nil), 200, "visited")
			tok := e.login(c, "1")
			ctx, err := e.sm.Load(t.Context(), scsToken(tok))
			if err != nil {
				t.Fatal(err)
			}
			if got := e.sm.GetString(ctx, "cart"); (got == "") != fresh {
				t.Errorf("fresh=%v: cart %q after login", fresh, got)
			}
			if e.sm.GetString(ctx, sessionUserKey) != "1" {
				t.Errorf("fresh=%v: the login itself was lost", fresh)
			}
			wantStatus(t, e.do(c, "GET", "/me", nil, nil), 200, "alice via session")
		}
	})
	if _, err := NewSession(NewSessionManager(nil), func(context.Context, string) (*testUser, error) { return nil, nil },
		WithFreshSessionAtLogin(), WithFreshSessionAtLogin()); err == nil {
		t.Error("WithFreshSessionAtLogin twice accepted")
	}
}

// scsToken is the scs token inside a session cookie's value.
func scsToken(cookie string) string {
	token, _, _ := strings.Cut(cookie, ".")
	return token
}

// randomCookie returns a well-formed session cookie value that was never
// issued: a random scs token, alone (the old shape) or with a random MAC.
func randomCookie(withMAC bool) string {
	v := rand.Text() + rand.Text() // 52 base32 characters, all base64url
	v = v[:43]
	if withMAC {
		v += "." + (rand.Text() + rand.Text())[:22]
	}
	return v
}

// TestForgedSessionCookiesCostNoStoreRead (item 9): well-formed random
// session cookies are refused without a store read, while a genuine one
// still costs exactly one.
func TestForgedSessionCookiesCostNoStoreRead(t *testing.T) {
	counting := &countingStore{Store: memstore.NewWithCleanupInterval(0)}
	e := newSessionEnv(t, counting)
	c := e.browser()
	tok := e.login(c, "1")
	counting.reset()
	const n = 1000
	for i := range n {
		for _, path := range []string{"/me", "/opt"} {
			r := e.do(e.bare(), "GET", path, withCookie(randomCookie(i%2 == 0)), nil)
			if r.status == 200 && r.body != "anonymous" {
				t.Fatalf("a forged cookie got %d %q", r.status, r.body)
			}
		}
	}
	if f := counting.finds.Load(); f != 0 {
		t.Fatalf("%d forged cookies cost %d store reads, want 0", 2*n, f)
	}
	// A forged MAC on a genuine token is refused too, without a read.
	forged := scsToken(tok) + "." + (rand.Text() + rand.Text())[:22]
	wantStatus(t, e.do(e.bare(), "GET", "/me", withCookie(forged), nil), 401, "")
	counting.want(t, 0, 0, 0)
	wantStatus(t, e.do(c, "GET", "/me", nil, nil), 200, "alice via session")
	counting.want(t, 1, 0, 0)
}

// TestSessionCookieKeySharedAcrossProcesses (item 9): two "processes" (two
// Stores, managers and Sessions on one PostgreSQL database) agree on the
// generated key, kept once in the database, so a genuine session works on
// both; two processes with the application's secret agree likewise on any
// shared store, and a process with another key refuses the cookie.
func TestSessionCookieKeySharedAcrossProcesses(t *testing.T) {
	t.Run("postgres", func(t *testing.T) {
		db := newPGDB(t)
		a := newSessionEnv(t, db.sessions())
		b := newSessionEnv(t, db.reopen().sessions())
		tok := a.login(a.browser(), "1")
		wantStatus(t, b.do(b.bare(), "GET", "/me", withCookie(tok), nil), 200, "alice via session")
		wantStatus(t, a.do(a.bare(), "GET", "/me", withCookie(tok), nil), 200, "alice via session")
		tok2 := b.login(b.browser(), "2")
		wantStatus(t, a.do(a.bare(), "GET", "/me", withCookie(tok2), nil), 200, "bob via session")
		var n int
		if err := db.QueryRow(`SELECT count(*) FROM authkit_keys`).Scan(&n); err != nil || n != 1 {
			t.Fatalf("authkit_keys: %d rows, %v", n, err)
		}
	})
	t.Run("WithSessionSecret", func(t *testing.T) {
		shared := memstore.NewWithCleanupInterval(0)
		secret := []byte(rand.Text() + rand.Text())
		a := newSessionEnv(t, shared, WithSessionSecret(secret))
		b := newSessionEnv(t, shared, WithSessionSecret(secret))
		other := newSessionEnv(t, shared) // a generated key of its own
		tok := a.login(a.browser(), "1")
		wantStatus(t, b.do(b.bare(), "GET", "/me", withCookie(tok), nil), 200, "alice via session")
		wantStatus(t, other.do(other.bare(), "GET", "/me", withCookie(tok), nil), 401, "")
	})
	t.Run("weak secrets refused", func(t *testing.T) {
		for _, s := range [][]byte{nil, []byte("short"), bytes.Repeat([]byte{'a'}, 40)} {
			if _, err := NewSession(NewSessionManager(nil), func(context.Context, string) (*testUser, error) { return nil, nil }, WithSessionSecret(s)); err == nil {
				t.Errorf("WithSessionSecret(%q) accepted", s)
			}
		}
	})
}

// blockingStore is an scs store whose reads, while block is set, never
// answer and ignore their context: a hung database.
type blockingStore struct {
	scs.Store
	block   atomic.Bool
	release chan struct{}
}

func (b *blockingStore) Find(k string) ([]byte, bool, error) {
	if b.block.Load() {
		<-b.release
	}
	return b.Store.Find(k)
}

// blockingVersions is a VersionStore whose lookups never answer while block
// is set, whatever their context says.
type blockingVersions struct {
	block   atomic.Bool
	release chan struct{}
	calls   atomic.Int64
}

func (b *blockingVersions) Version(ctx context.Context, id string) (int64, error) {
	b.calls.Add(1)
	if b.block.Load() {
		<-b.release
	}
	return 3, nil
}
func (b *blockingVersions) Bump(context.Context, string) (int64, error) { return 4, nil }

// within fails the test unless f returns within d.
func within[T any](t *testing.T, d time.Duration, what string, f func() T) T {
	t.Helper()
	done := make(chan T, 1)
	go func() { done <- f() }()
	select {
	case v := <-done:
		return v
	case <-time.After(d):
		t.Fatalf("%s: no answer within %v", what, d)
		panic("unreachable")
	}
}

// want503 checks the answer to a store that did not answer in time.
func want503(t *testing.T, r response) {
	t.Helper()
	if r.status != 503 || r.header.Get("Retry-After") == "" || strings.Contains(r.body, "alice") {
		t.Fatalf("got %d %q (Retry-After %q), want 503 with Retry-After", r.status, r.body, r.header.Get("Retry-After"))
	}
}

// TestStoreCallsBounded (item 15): a session store or a version store that
// never answers fails the request closed with 503 and Retry-After within the
// store timeout; the version cache's shared lookup ends then too, so the
// user's next request asks afresh instead of joining a lookup that hangs.
func TestStoreCallsBounded(t *testing.T) {
	const bound = 50 * time.Millisecond
	t.Run("session store", func(t *testing.T) {
		bs := &blockingStore{Store: memstore.NewWithCleanupInterval(0), release: make(chan struct{})}
		defer close(bs.release)
		e := newSessionEnv(t, bs, WithStoreTimeout(bound))
		c := e.browser()
		e.login(c, "1")
		bs.block.Store(true)
		for _, path := range []string{"/me", "/opt"} {
			want503(t, within(t, 2*time.Second, path, func() response { return e.do(c, "GET", path, nil, nil) }))
		}
		bs.block.Store(false)
		wantStatus(t, e.do(c, "GET", "/me", nil, nil), 200, "alice via session")
	})

	t.Run("version cache", func(t *testing.T) {
		bv := &blockingVersions{release: make(chan struct{})}
		defer close(bv.release)
		cache, err := NewVersionCache(bv, WithStoreTimeout(bound))
		if err != nil {
			t.Fatal(err)
		}
		bv.block.Store(true)
		start := time.Now()
		err = within(t, 2*time.Second, "Lookup", func() error { _, err := cache.Lookup(t.Context(), "1"); return err })
		if !errors.Is(err, ErrStoreUnavailable) {
			t.Fatalf("Lookup: %v, want ErrStoreUnavailable", err)
		}
		if d := time.Since(start); d > 20*bound {
			t.Errorf("Lookup took %v", d)
		}
		// The next lookup is not stuck behind the hung one: it asks again.
		_ = within(t, 2*time.Second, "second Lookup", func() error { _, err := cache.Lookup(t.Context(), "1"); return err })
		if n := bv.calls.Load(); n != 2 {
			t.Errorf("%d store calls, want 2 (the hung lookup was joined)", n)
		}

		// Through a session: 503 with Retry-After.
		e := newSessionEnv(t, memstore.NewWithCleanupInterval(0))
		if e.s, err = NewSession(e.sm, e.loadUser, WithVersionCheck(cache.Lookup)); err != nil {
			t.Fatal(err)
		}
		mux := http.NewServeMux()
		e.sessionRoutes(mux)
		e.serve(mux)
		c := e.browser()
		bv.block.Store(false)
		e.login(c, "1")
		bv.block.Store(true)
		cache.Forget("1")
		want503(t, within(t, 2*time.Second, "/me", func() response { return e.do(c, "GET", "/me", nil, nil) }))
	})

	t.Run("token endpoint answer", func(t *testing.T) {
		rec := httptest.NewRecorder()
		DefaultTokenErrorHandler(rec, httptest.NewRequest("POST", "/token/refresh", nil), &storeTimeoutError{errStoreDown})
		if rec.Code != 503 || rec.Header().Get("Retry-After") == "" || !strings.Contains(rec.Body.String(), "temporarily_unavailable") || strings.Contains(rec.Body.String(), "test") {
			t.Fatalf("%d %q %v", rec.Code, rec.Body, rec.Header())
		}
	})

	t.Run("options", func(t *testing.T) {
		if _, err := NewVersionCache(&blockingVersions{}, WithStoreTimeout(0)); err == nil {
			t.Error("WithStoreTimeout(0) accepted")
		}
		if _, err := NewJWT(toTestUser, WithStoreTimeout(time.Second)); err == nil || !strings.Contains(err.Error(), "WithStoreTimeout applies to") {
			t.Errorf("NewJWT(WithStoreTimeout): %v", err)
		}
	})
}

// TestPGStoreCallsBounded (item 15): a statement of the PostgreSQL store
// that waits on a lock held elsewhere gives up at the store timeout with
// ErrStoreUnavailable, and cancels its query.
func TestPostgresStoreCallsBounded(t *testing.T) {
	db := newPGDB(t)
	db.migrated()
	s, err := NewPostgresStore(db.DB, WithStoreTimeout(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	// Setup and the check afterwards go through a store with the default
	// bound, so that a loaded machine cannot fail them; only the call under
	// the held lock has the short one.
	roomy := db.store()
	if err := roomy.Add(ctx, "u"); err != nil {
		t.Fatal(err)
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `SELECT version FROM authkit_token_versions WHERE user_id = 'u' FOR UPDATE`); err != nil {
		t.Fatal(err)
	}
	var holder int
	if err := tx.QueryRowContext(ctx, `SELECT pg_backend_pid()`).Scan(&holder); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	err = within(t, 3*time.Second, "Bump", func() error { _, err := s.Bump(ctx, "u"); return err })
	if !errors.Is(err, ErrStoreUnavailable) {
		t.Fatalf("Bump under a held lock: %v, want ErrStoreUnavailable", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("Bump took %v", d)
	}
	// The query was cancelled, not left waiting for the lock. (A row lock
	// is waited for as a transactionid lock, so ask who the holder blocks;
	// the cancel request travels apart from the query and may land late.)
	for deadline := time.Now().Add(2 * time.Second); ; {
		var waiting int
		if err := db.QueryRowContext(ctx, `SELECT count(*) FROM pg_stat_activity WHERE $1 = ANY(pg_blocking_pids(pid))`, holder).Scan(&waiting); err != nil {
			t.Fatal(err)
		}
		if waiting == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d statements still wait for the lock", waiting)
		}
		time.Sleep(10 * time.Millisecond)
	}
	tx.Rollback()
	if v, err := roomy.Bump(ctx, "u"); err != nil || v != 1 {
		t.Fatalf("Bump after the lock: %d, %v", v, err)
	}
}
