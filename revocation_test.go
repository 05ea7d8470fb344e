package authkit

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
)

// Revocation that stays revoked: nothing that lowers a version brings back
// a credential a bump revoked.

// TestRemoveAddStaysRevoked: a removed user keeps its version, and adding
// it again continues above it, so that neither a credential revoked by a
// bump nor one issued before the removal comes back.
func TestRemoveAddStaysRevoked(t *testing.T) {
	forEachBackend(t, func(t *testing.T, kind backend) {
		ctx := context.Background()
		s := kind.open(t, "1")
		if _, err := s.Bump(ctx, "1"); err != nil { // revokes everything at 0
			t.Fatal(err)
		}
		if err := s.Remove(ctx, "1"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Version(ctx, "1"); !errors.Is(err, ErrUnknownUser) {
			t.Fatalf("removed user: %v", err)
		}
		if _, err := s.Bump(ctx, "1"); !errors.Is(err, ErrUnknownUser) {
			t.Fatalf("bumping a removed user: %v", err)
		}
		for range 2 { // a second Add changes nothing
			if err := s.Add(ctx, "1"); err != nil {
				t.Fatal(err)
			}
			if v, err := s.Version(ctx, "1"); v != 2 || err != nil {
				t.Fatalf("after Remove and Add: version %d, %v; want 2 (above the 1 before removal)", v, err)
			}
		}
	})
}

// TestBumpRevokesFamiliesInStorage: a bump marks the user's refresh
// families revoked in the store, so that a version lowered later (a
// restored backup, a re-created users row) cannot revive them; other users'
// families are untouched.
func TestBumpRevokesFamiliesInStorage(t *testing.T) {
	forEachBackend(t, func(t *testing.T, kind backend) {
		ctx := context.Background()
		s := kind.open(t, "1", "2")
		now := time.Now().Truncate(time.Second)
		for _, f := range []RefreshFamily{
			{ID: "f1", UserID: "1", CreatedAt: now, ExpiresAt: now.Add(time.Hour), LastUsedAt: now},
			{ID: "f2", UserID: "2", CreatedAt: now, ExpiresAt: now.Add(time.Hour), LastUsedAt: now},
		} {
			if err := s.CreateFamily(ctx, f, [32]byte{1}); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := s.Bump(ctx, "1"); err != nil {
			t.Fatal(err)
		}
		if f, _, _ := storedFamily(t, s, "f1"); f.RevokedAt.IsZero() {
			t.Error("the bumped user's family is not revoked in storage")
		}
		if f, _, _ := storedFamily(t, s, "f2"); !f.RevokedAt.IsZero() {
			t.Error("another user's family was revoked")
		}
		if _, err := s.RotateFamily(ctx, "f1", [32]byte{1}, [32]byte{2}, now); !errors.Is(err, ErrFamilyNotRotated) {
			t.Errorf("rotating the revoked family: %v", err)
		}
	})
}

// TestPostgresRecreatedUsersRowStaysRevoked: with WithUsersTable, deleting
// and re-creating the user's row puts its version column back at its
// default; the kit's floor keeps the version where the last bump left it.
func TestPostgresRecreatedUsersRowStaysRevoked(t *testing.T) {
	ctx := context.Background()
	db := newPGDB(t)
	if _, err := db.Exec(`CREATE TABLE users (id bigint PRIMARY KEY)`); err != nil {
		t.Fatal(err)
	}
	db.Exec(`INSERT INTO users VALUES (1)`)
	s := db.migrated(WithUsersTable("users", "id", "token_version"))
	for want := int64(1); want <= 2; want++ {
		if v, err := s.Bump(ctx, "1"); v != want || err != nil {
			t.Fatalf("Bump = %d, %v; want %d", v, err, want)
		}
	}
	if _, err := db.Exec(`DELETE FROM users WHERE id = 1; INSERT INTO users VALUES (1)`); err != nil {
		t.Fatal(err)
	}
	if v, err := s.Version(ctx, "1"); v != 2 || err != nil {
		t.Fatalf("re-created row: version %d, %v; want 2", v, err)
	}
	if v, err := s.Bump(ctx, "1"); v != 3 || err != nil {
		t.Fatalf("Bump after re-creation = %d, %v; want 3", v, err)
	}
	// A restart (a second store over the same tables) sees the same.
	if v, err := db.reopen().store(WithUsersTable("users", "id", "token_version")).Version(ctx, "1"); v != 3 || err != nil {
		t.Fatalf("after restart: version %d, %v", v, err)
	}
}

// TestVersionCacheRefusesLowerVersion: a store that answers a version below
// one this cache has seen has lost a bump; the lookup fails closed (500),
// it is not "unknown user" and not the lower version.
func TestVersionCacheRefusesLowerVersion(t *testing.T) {
	ctx := context.Background()
	fv := newFakeVersions(map[string]int64{"1": 3})
	c, err := NewVersionCache(fv)
	if err != nil {
		t.Fatal(err)
	}
	if v, err := c.Lookup(ctx, "1"); v != 3 || err != nil {
		t.Fatalf("Lookup = %d, %v", v, err)
	}
	fv.set("1", 1)
	c.Forget("1")
	v, err := c.Lookup(ctx, "1")
	if err == nil || errors.Is(err, ErrUnknownUser) {
		t.Fatalf("a version gone down from 3 to 1: %d, %v", v, err)
	}
	rec := httptest.NewRecorder()
	DefaultErrorHandler(rec, httptest.NewRequest("GET", "/", nil), err)
	if rec.Code != http.StatusInternalServerError {
		t.Errorf("status %d, want 500", rec.Code)
	}
	// A bump through the cache counts as seen too.
	fv.set("1", 3)
	c.Forget("1")
	if v, err := c.Bump(ctx, "1"); v != 4 || err != nil {
		t.Fatalf("Bump = %d, %v", v, err)
	}
	fv.set("1", 3)
	if _, err := c.Lookup(ctx, "1"); err == nil {
		t.Error("a version below the bumped one was accepted")
	}
}

// TestIssueAndLoginReadUncached: a bump made elsewhere (not through this
// cache) is recorded by the next Issue and Login even while the cache
// still holds the old version, so the fresh credential is not refused once
// the cache refreshes.
func TestIssueAndLoginReadUncached(t *testing.T) {
	ctx := context.Background()
	fv := newFakeVersions(map[string]int64{"1": 0})
	c, err := NewVersionCache(fv, WithCacheTTL(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := c.Lookup(ctx, "1"); v != 0 {
		t.Fatalf("Lookup = %d", v)
	}
	fv.set("1", 1) // another instance bumps
	s := NewMemoryStore("1")
	i, err := NewIssuer("https://issuer.test", "api", []byte(rand.Text()+rand.Text()), s, c.Lookup)
	if err != nil {
		t.Fatal(err)
	}
	pair, err := i.Issue(ctx, "1")
	if err != nil {
		t.Fatal(err)
	}
	if pair.Version != 1 {
		t.Errorf("Issue recorded version %d, want 1 (the store's, not the cached 0)", pair.Version)
	}
	if v, _ := c.Lookup(ctx, "1"); v != 1 {
		t.Errorf("after the uncached read the cache answers %d, want 1", v)
	}

	fv.set("1", 2)
	sm := NewSessionManager(nil)
	sess, err := NewSession(sm, func(_ context.Context, id string) (string, error) { return id, nil }, WithVersionCheck(c.Lookup))
	if err != nil {
		t.Fatal(err)
	}
	var version int64
	h := sess.LoadAndSave(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := sess.Login(r.Context(), "1"); err != nil {
			t.Error(err)
		}
		version = sm.GetInt64(r.Context(), sessionVersionKey)
	}))
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "https://app.test/", nil))
	if version != 2 {
		t.Errorf("Login recorded version %d, want 2", version)
	}
}

// logoutEverywhere bumps the user of the access token at, through the
// env's /logout-everywhere.
func (e *env) logoutEverywhere(at string) {
	e.t.Helper()
	req := e.request("POST", "/logout-everywhere", "", "")
	req.Header.Set("Authorization", "Bearer "+at)
	if r := e.send(req); r.status != http.StatusNoContent {
		e.t.Fatalf("logout everywhere: %d %s", r.status, r.body)
	}
}

// TestReuseAfterBump: reuse is detected regardless of the version check. A
// rotated refresh token replayed after a bump is refused (by its version)
// and reported as reuse, once per family, though the bump revoked the
// family already; the family's current token presented after the bump is
// not reuse, and neither is a retry (the token just rotated, within the
// retry window). The kit's stores record the reuse in the family;
// another FamilyStore, which a bump through another VersionStore leaves
// live, has it revoked.
func TestReuseAfterBump(t *testing.T) {
	forEachBackend(t, func(t *testing.T, kind backend) {
		t.Run("kit store", func(t *testing.T) {
			e, s := suiteEnv(t, kind, envConfig{cache: true})
			testReuseAfterBump(t, e, s)
		})
		t.Run("another family store", func(t *testing.T) {
			s := kind.open(t, "1", "2")
			e := newEnv(t, envConfig{families: struct{ FamilyStore }{s}, versions: newFakeVersions(map[string]int64{"1": 0, "2": 0}), cache: true})
			e.store = s
			testReuseAfterBump(t, e, s)
		})
	})
}

func testReuseAfterBump(t *testing.T, e *env, s *Store) {
	at, rt1 := e.mustTokenLogin("1")
	_, rt2 := e.mustRefresh(rt1)
	_, retry1 := e.mustTokenLogin("1") // a second device, refreshed just before the bump
	_, retry2 := e.mustRefresh(retry1)
	e.clock.Advance(defaultRefreshRetryWindow / 2)
	e.logoutEverywhere(at)

	// Within the retry window, the token just rotated is a retry: refused
	// (its version), not reuse.
	wantOAuthError(t, e.refresh(retry1), http.StatusBadRequest, "invalid_grant")
	if ev := e.reuseEvents(); len(ev) != 0 {
		t.Fatalf("a retry after the bump reported as reuse: %+v", ev)
	}
	e.clock.Advance(defaultRefreshRetryWindow)
	// The current token of a family: revoked, not reused.
	for _, rt := range []string{rt2, retry2} {
		wantOAuthError(t, e.refresh(rt), http.StatusBadRequest, "invalid_grant")
	}
	if ev := e.reuseEvents(); len(ev) != 0 {
		t.Fatalf("current tokens after the bump reported as reuse: %+v", ev)
	}
	// The rotated one, twice: reuse, reported once.
	for range 2 {
		wantOAuthError(t, e.refresh(rt1), http.StatusBadRequest, "invalid_grant")
	}
	ev := e.reuseEvents()
	if len(ev) != 1 {
		t.Fatalf("%d reuse events, want 1: %+v", len(ev), ev)
	}
	fam := claim(t, rt1, "fam")
	if ev[0].UserID != "1" || ev[0].FamilyID != fam || ev[0].TokenID != claim(t, rt1, "jti") || !ev[0].DetectedAt.Equal(e.clock.Now()) {
		t.Errorf("event %+v", ev[0])
	}
	if f, cur, ok := storedFamily(t, s, fam); !ok || f.RevokedAt.IsZero() || cur != jtiHash(t, rt2) {
		t.Errorf("store holds %+v current %x ok %v; want revoked, current = rt2", f, cur, ok)
	}
	// The current token after the reuse: no second report.
	wantOAuthError(t, e.refresh(rt2), http.StatusBadRequest, "invalid_grant")
	if n := len(e.reuseEvents()); n != 1 {
		t.Errorf("%d reuse events after the current token, want 1", n)
	}
}

// instance is one process of the application in TestRestartStaysRevoked:
// a version cache, an Issuer and the two authenticators over store, and a
// TLS server with POST /login (user 1's session) and GET /me (a session).
type instance struct {
	cache *VersionCache
	iss   *Issuer
	jwt   *JWT[string]
	srv   *httptest.Server
	jar   http.CookieJar
	self  func(context.Context, string) (string, error)
}

func startInstance(t *testing.T, s *Store, key crypto.Signer, clock *testClock, jar http.CookieJar) *instance {
	t.Helper()
	in := &instance{jar: jar, self: func(_ context.Context, id string) (string, error) { return id, nil }}
	cache, err := NewVersionCache(s)
	if err != nil {
		t.Fatal(err)
	}
	in.cache = cache
	if in.iss, err = NewIssuer("https://auth.test", "api", key, s, cache.Lookup, WithClock(clock.Now)); err != nil {
		t.Fatal(err)
	}
	if in.jwt, err = NewJWT(func(_ context.Context, c *Claims) (string, error) { return c.Subject, nil },
		WithTokensFrom(in.iss), WithVersionCheck(cache.Lookup), WithClock(clock.Now)); err != nil {
		t.Fatal(err)
	}
	sess, err := NewSession(NewSessionManager(s.Sessions()), in.self, WithVersionCheck(cache.Lookup))
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("POST /login", sess.LoadAndSave(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := sess.Login(r.Context(), "1"); err != nil {
			DefaultErrorHandler(w, r, err)
		}
	})))
	mux.Handle("GET /me", Require[string](sess)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, _ := UserFrom[string](r.Context())
		io.WriteString(w, u)
	})))
	in.srv = httptest.NewTLSServer(mux)
	t.Cleanup(in.srv.Close)
	return in
}

// session sends POST /login or GET /me with the instance's cookie jar
// (shared by the instances: cookies ignore ports) and returns the status.
func (in *instance) session(t *testing.T, method, path string) int {
	t.Helper()
	c := in.srv.Client()
	c.Jar = in.jar
	req, _ := http.NewRequest(method, in.srv.URL+path, nil)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestRestartStaysRevoked: a session, a refresh token and an access token
// revoked by a bump stay refused after a restart with the same signing
// key: in PostgreSQL the bumped version, the revoked family and the
// deleted session are in the database (a second store on the same
// schema); in memory everything is forgotten, versions back at 0, so the
// Issuer refuses its own access tokens issued before it was built (the
// sessions and families are gone). Tokens issued after the restart, in its
// first second too, are accepted.
func TestRestartStaysRevoked(t *testing.T) {
	forEachBackend(t, func(t *testing.T, kind backend) {
		ctx := context.Background()
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		clock := newTestClock(time.Now().Truncate(time.Second))
		jar, _ := cookiejar.New(nil)
		s := kind.open(t, "1")
		a := startInstance(t, s, key, clock, jar)
		pair, err := a.iss.Issue(ctx, "1")
		if err != nil {
			t.Fatal(err)
		}
		if st := a.session(t, "POST", "/login"); st != http.StatusOK {
			t.Fatalf("login: %d", st)
		}
		if st := a.session(t, "GET", "/me"); st != http.StatusOK {
			t.Fatalf("session before the bump: %d", st)
		}
		if _, _, err := a.jwt.Verify(ctx, pair.AccessToken); err != nil {
			t.Fatalf("access token before the bump: %v", err)
		}
		if _, err := s.Bump(ctx, "1"); err != nil {
			t.Fatal(err)
		}

		// The restart: a new process, a second later, with the same key.
		clock.Advance(time.Second)
		restarted := NewMemoryStore("1")
		if kind.reopen != nil {
			restarted = kind.reopen(t, s)
		}
		b := startInstance(t, restarted, key, clock, jar)
		if _, _, err := b.jwt.Verify(ctx, pair.AccessToken); !errors.Is(err, ErrTokenRevoked) {
			t.Errorf("the revoked access token after the restart: %v, want ErrTokenRevoked", err)
		}
		if _, err := b.iss.Refresh(ctx, pair.RefreshToken); !errors.Is(err, ErrInvalidToken) {
			t.Errorf("the revoked refresh token after the restart: %v, want ErrInvalidToken", err)
		}
		if st := b.session(t, "GET", "/me"); st != http.StatusUnauthorized {
			t.Errorf("the revoked session after the restart: %d, want 401", st)
		}
		fresh, err := b.iss.Issue(ctx, "1")
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := b.jwt.Verify(ctx, fresh.AccessToken); err != nil {
			t.Errorf("an access token issued after the restart: %v", err)
		}
		if _, err := b.iss.Refresh(ctx, fresh.RefreshToken); err != nil {
			t.Errorf("a refresh token issued after the restart: %v", err)
		}
	})
}

// queryCounter is a pgx tracer that counts the statements a pool sends.
type queryCounter struct{ n atomic.Int64 }

func (q *queryCounter) TraceQueryStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryStartData) context.Context {
	q.n.Add(1)
	return ctx
}
func (q *queryCounter) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

// TestPostgresQueriesPerRequest counts, at the driver, the statements a
// request costs in PostgreSQL once the version cache holds the user: a
// bearer token none (the version check is a cache hit), a session exactly
// one (its own read; the cache answers its version check). A cache miss
// costs one more: the counter sees the version lookup.
func TestPostgresQueriesPerRequest(t *testing.T) {
	ctx := context.Background()
	p := newPGDB(t)
	cfg, err := pgx.ParseConfig(p.dsn)
	if err != nil {
		t.Fatal(err)
	}
	queries := new(queryCounter)
	cfg.Tracer = queries
	db := stdlib.OpenDB(*cfg)
	t.Cleanup(func() { db.Close() })
	s, err := NewPostgresStore(db)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.Add(ctx, "1"); err != nil {
		t.Fatal(err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	jar, _ := cookiejar.New(nil)
	in := startInstance(t, s, key, newTestClock(time.Now()), jar)
	pair, err := in.iss.Issue(ctx, "1")
	if err != nil {
		t.Fatal(err)
	}
	bearerReq := func() {
		req := httptest.NewRequest("GET", "/", nil)
		req.Header.Set("Authorization", "Bearer "+pair.AccessToken)
		rec := httptest.NewRecorder()
		Require[string](in.jwt)(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})).ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			t.Fatalf("bearer request: %d", rec.Code)
		}
	}
	if st := in.session(t, "POST", "/login"); st != http.StatusOK {
		t.Fatalf("login: %d", st)
	}
	bearerReq()              // warm: the token cached
	listenerPIDs(t, p, s, 1) // the listener's own statements are done
	if st := in.session(t, "GET", "/me"); st != http.StatusOK {
		t.Fatalf("session: %d", st)
	}
	perRequest := func(name string, want int64, request func()) {
		t.Helper()
		for range 5 {
			before := queries.n.Load()
			request()
			if got := queries.n.Load() - before; got != want {
				t.Errorf("%s: %d statements, want %d", name, got, want)
			}
		}
	}
	perRequest("bearer, cache warm", 0, bearerReq)
	perRequest("session, cache warm", 1, func() {
		if st := in.session(t, "GET", "/me"); st != http.StatusOK {
			t.Fatalf("session: %d", st)
		}
	})
	perRequest("bearer, cache cold", 1, func() { in.cache.Forget("1"); bearerReq() })
}
