package authkit

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alexedwards/scs/postgresstore"
	"github.com/alexedwards/scs/v2"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
)

// S10: the table holds hashes of the tokens, never the tokens.
func TestPostgresSessionTokensHashedAtRest(t *testing.T) {
	db := newPGDB(t)
	e := newSessionEnv(t, db.sessions())
	var tokens []string
	for _, id := range []string{"1", "2", "1"} {
		tokens = append(tokens, e.login(e.browser(), id))
	}
	rows, err := db.Query("SELECT token, data FROM sessions")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	keys := map[string]bool{}
	for rows.Next() {
		var key string
		var data []byte
		if err := rows.Scan(&key, &data); err != nil {
			t.Fatal(err)
		}
		keys[key] = true
		for _, tok := range tokens {
			if key == tok || bytes.Contains(data, []byte(tok)) || strings.Contains(key, tok) {
				t.Fatalf("the raw token %q is in the table", tok)
			}
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if len(keys) != len(tokens) {
		t.Fatalf("%d rows for %d sessions", len(keys), len(tokens))
	}
	for _, tok := range tokens {
		if !keys[storeKey(tok)] {
			t.Fatalf("no row under the hash of %q", tok)
		}
	}
}

// The control for TestSessionNoResurrection: scs with a bare postgresstore
// does re-insert a logged-out session from a request in flight (case S4a),
// so the test's harness can see the failure it guards against.
func TestPostgresBareScsResurrectsLoggedOutSessions(t *testing.T) {
	db := newPGDB(t)
	db.migrated()
	sm := scs.New()
	sm.Store = postgresstore.NewWithCleanupInterval(db.DB, 0)
	sm.HashTokenInStore = true
	started, release := make(chan struct{}), make(chan struct{})
	mux := http.NewServeMux()
	mux.HandleFunc("POST /login", func(w http.ResponseWriter, r *http.Request) {
		_ = sm.RenewToken(r.Context())
		sm.Put(r.Context(), "user", "1")
	})
	mux.HandleFunc("POST /logout", func(w http.ResponseWriter, r *http.Request) { _ = sm.Destroy(r.Context()) })
	mux.HandleFunc("GET /slow", func(w http.ResponseWriter, r *http.Request) {
		started <- struct{}{}
		<-release
		sm.Put(r.Context(), "late", "write")
	})
	e := newEnv(t, envConfig{})
	e.serve(sm.LoadAndSave(mux))
	c := e.browser()
	e.do(c, "POST", "/login", nil, nil)
	u, _ := url.Parse(e.srv.URL)
	tok := c.Jar.Cookies(u)[0].Value
	done := make(chan struct{})
	go func() {
		defer close(done)
		req, _ := http.NewRequest("GET", e.srv.URL+"/slow", nil)
		req.AddCookie(&http.Cookie{Name: "session", Value: tok})
		resp, err := e.bare().Do(req)
		if err == nil {
			resp.Body.Close()
		}
	}()
	<-started
	e.do(c, "POST", "/logout", nil, nil)
	var n int
	db.QueryRow("SELECT count(*) FROM sessions WHERE token = $1", storeKey(tok)).Scan(&n)
	if n != 0 {
		t.Fatal("logout did not delete the row")
	}
	release <- struct{}{}
	<-done
	db.QueryRow("SELECT count(*) FROM sessions WHERE token = $1", storeKey(tok)).Scan(&n)
	if n != 1 {
		t.Fatal("bare scs did not resurrect the session: the resurrection test proves nothing")
	}
}

// With the database gone mid-test, a request with a session fails closed
// (5xx, never a panic, never an anonymous 200); when it is back, the same
// session works again without a restart.
func TestPostgresSessionStoreFailure(t *testing.T) {
	db := newPGDB(t)
	e := newSessionEnv(t, db.sessions())
	c := e.browser()
	tok := e.login(c, "1")
	schema := db.schema

	if _, err := db.Exec("ALTER TABLE " + schema + ".sessions RENAME TO sessions_away"); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"/me", "/opt"} {
		r := e.do(c, "GET", path, nil, nil)
		if r.status < 500 || strings.Contains(r.body, "alice") || strings.Contains(r.body, "anonymous") {
			t.Fatalf("%s without the table: %d %q", path, r.status, r.body)
		}
	}
	r := e.do(e.browser(), "POST", "/login", nil, url.Values{"user": {"2"}})
	if r.status < 500 || sessionCookieLine(t, r.header) != "" {
		t.Fatalf("login without the table: %d, Set-Cookie %q", r.status, r.header.Values("Set-Cookie"))
	}
	if r := e.do(c, "POST", "/logout", nil, nil); r.status < 500 {
		t.Fatalf("logout without the table: %d", r.status)
	}

	if _, err := db.Exec("ALTER TABLE " + schema + ".sessions_away RENAME TO sessions"); err != nil {
		t.Fatal(err)
	}
	wantStatus(t, e.do(c, "GET", "/me", nil, nil), 200, "alice via session")
	if !e.stored(tok) {
		t.Fatal("session lost")
	}

	// A closed pool fails closed too.
	db.Close()
	if r := e.do(c, "GET", "/me", nil, nil); r.status < 500 {
		t.Fatalf("closed pool: %d %q", r.status, r.body)
	}
}

func TestPostgresSessionStoreCleanup(t *testing.T) {
	db := newPGDB(t)
	pg := db.migrated()
	pg.b.(*postgresStore).cfg.cleanup = 20 * time.Millisecond
	store := pg.Sessions().(*postgresSessions)
	if err := store.Commit("expired", []byte("x"), time.Now().Add(-time.Hour)); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		var n int
		if err := db.QueryRow("SELECT count(*) FROM sessions").Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the cleanup goroutine did not delete the expired row")
		}
		time.Sleep(10 * time.Millisecond)
	}
	stopped := make(chan struct{})
	go func() {
		var wg sync.WaitGroup
		for range 3 { // postgresstore's own StopCleanup blocks on its second call
			wg.Go(pg.Close)
		}
		wg.Wait()
		close(stopped)
	}()
	select {
	case <-stopped:
	case <-time.After(10 * time.Second):
		t.Fatal("StopCleanup blocked")
	}
	// Without cleanup the store works, and expired rows stay invisible.
	if err := store.Commit("old", []byte("x"), time.Now().Add(-time.Hour)); err != nil {
		t.Fatal(err)
	}
	if _, found, err := store.Find("old"); found || err != nil {
		t.Fatalf("expired row found: %v %v", found, err)
	}
	noCleanup := db.store()
	noCleanup.Close() // before Sessions: nothing to stop
	noCleanup.Sessions()
	noCleanup.Close()
	noCleanup.Close()
}

// The conditional writes: an insert never overwrites, an update never
// inserts and never revives an expired row.
func TestPostgresSessionStoreConditionalWrites(t *testing.T) {
	store := newPGDB(t).sessions()
	ctx := context.Background()
	later := time.Now().Add(time.Hour)
	if err := store.updateCtx(ctx, "k", []byte("a"), later); !errors.Is(err, errSessionGone) {
		t.Fatalf("update of a missing row: %v, want errSessionGone", err)
	}
	if _, found, _ := store.Find("k"); found {
		t.Fatal("update inserted a row")
	}
	if err := store.insertCtx(ctx, "k", []byte("b"), later); err != nil {
		t.Fatal(err)
	}
	if err := store.insertCtx(ctx, "k", []byte("c"), later); err == nil {
		t.Fatal("insert overwrote an existing row")
	}
	if err := store.updateCtx(ctx, "k", []byte("d"), later); err != nil {
		t.Fatal(err)
	}
	if b, _, _ := store.Find("k"); string(b) != "d" {
		t.Fatalf("data %q after update", b)
	}
	if err := store.Commit("gone", []byte("e"), time.Now().Add(-time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := store.updateCtx(ctx, "gone", []byte("f"), later); !errors.Is(err, errSessionGone) {
		t.Fatalf("update of an expired row: %v, want errSessionGone", err)
	}
	if _, found, _ := store.Find("gone"); found {
		t.Fatal("update revived an expired row")
	}
}

// statementTrace records what a pool sends PostgreSQL: each statement
// executed (a round trip) and each statement prepared (parsed and planned).
type statementTrace struct {
	mu                sync.Mutex
	queries, prepares []string
}

func (s *statementTrace) TraceQueryStart(ctx context.Context, _ *pgx.Conn, d pgx.TraceQueryStartData) context.Context {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.queries = append(s.queries, d.SQL)
	return ctx
}

func (s *statementTrace) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

func (s *statementTrace) TracePrepareStart(ctx context.Context, _ *pgx.Conn, d pgx.TracePrepareStartData) context.Context {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.prepares = append(s.prepares, d.SQL)
	return ctx
}

func (s *statementTrace) TracePrepareEnd(context.Context, *pgx.Conn, pgx.TracePrepareEndData) {}

// take returns (and forgets) what was recorded.
func (s *statementTrace) take() (queries, prepares []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	queries, prepares = s.queries, s.prepares
	s.queries, s.prepares = nil, nil
	return queries, prepares
}

// TestPostgresSessionReadStatements: an unmodified session request costs
// PostgreSQL exactly one statement, the session's SELECT, and no parsing or
// planning: the statement is prepared once per connection, then only bound
// and executed. A save (once per touch interval) is one statement more, the
// UPDATE, prepared at its first use.
func TestPostgresSessionReadStatements(t *testing.T) {
	db := newPGDB(t)
	db.migrated()
	cfg, err := pgx.ParseConfig(db.dsn)
	if err != nil {
		t.Fatal(err)
	}
	trace := &statementTrace{}
	cfg.Tracer = trace
	traced := stdlib.OpenDB(*cfg)
	t.Cleanup(func() { traced.Close() })
	traced.SetMaxOpenConns(1) // one connection: what it prepared, it keeps
	store, err := NewPostgresStore(traced)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(store.Close)
	q := store.b.(*postgresStore).sql
	e := newSessionEnv(t, store.Sessions())
	c := e.browser()
	e.login(c, "1")
	wantStatus(t, e.do(c, "GET", "/me", nil, nil), 200, "alice via session")
	if _, prepares := trace.take(); !slices.Contains(prepares, q.sessionFind) {
		t.Fatalf("the first read did not prepare the session's SELECT: %q", prepares)
	}

	for range 10 {
		wantStatus(t, e.do(c, "GET", "/me", nil, nil), 200, "alice via session")
	}
	queries, prepares := trace.take()
	if len(queries) != 10 || len(prepares) != 0 {
		t.Fatalf("10 unmodified requests: %d statements %q, %d prepared %q; want 10 and 0", len(queries), queries, len(prepares), prepares)
	}
	for _, s := range queries {
		if s != q.sessionFind {
			t.Fatalf("an unmodified request ran %q", s)
		}
	}

	e.clock.Advance(time.Minute) // the touch interval: the request saves
	wantStatus(t, e.do(c, "GET", "/me", nil, nil), 200, "alice via session")
	if queries, prepares := trace.take(); !slices.Equal(queries, []string{q.sessionFind, q.sessionUpdate}) || !slices.Equal(prepares, []string{q.sessionUpdate}) {
		t.Fatalf("a touching request: statements %q, prepared %q; want the SELECT and the UPDATE, the UPDATE prepared", queries, prepares)
	}
	wantStatus(t, e.do(c, "GET", "/me", nil, nil), 200, "alice via session")
	if queries, prepares := trace.take(); len(queries) != 1 || len(prepares) != 0 {
		t.Fatalf("after the save: statements %q, prepared %q; want the SELECT alone", queries, prepares)
	}
}

// TestPostgresSessionReadBounded: the session's store timeout
// (WithStoreTimeout on NewSession, shorter here than the Store's own five
// seconds) bounds a read of the PostgreSQL store, which the guard calls in
// the request's goroutine (endsWithContext): under a lock held elsewhere the
// request fails closed (503) at the bound and its query is cancelled, not
// left waiting.
func TestPostgresSessionReadBounded(t *testing.T) {
	db := newPGDB(t)
	e := newSessionEnv(t, db.sessions(), WithStoreTimeout(100*time.Millisecond))
	c := e.browser()
	e.login(c, "1")
	ctx := t.Context()
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `LOCK TABLE sessions IN ACCESS EXCLUSIVE MODE`); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	want503(t, within(t, 3*time.Second, "GET /me", func() response { return e.do(c, "GET", "/me", nil, nil) }))
	if d := time.Since(start); d > time.Second {
		t.Errorf("the read took %v", d)
	}
	for deadline := time.Now().Add(2 * time.Second); ; {
		var waiting int
		if err := db.QueryRowContext(ctx, `SELECT count(*) FROM pg_locks WHERE NOT granted AND relation = 'sessions'::regclass`).Scan(&waiting); err != nil {
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
	wantStatus(t, e.do(c, "GET", "/me", nil, nil), 200, "alice via session")
}
