package authkit

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"net/url"
	"os"
	"sync"
	"testing"

	_ "github.com/jackc/pgx/v5/stdlib"
)

// The one PostgreSQL fixture of the tests. Every PostgreSQL test starts with
// newPGDB, which skips the test when TEST_DATABASE_URL is unset:
//
//	TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/test?sslmode=disable go test -race .
//
// The PostgreSQL tests are named TestPostgres*; the suites that run on every
// backend (see backends in helpers_test.go) also run on PostgreSQL.

// pgDB is a fresh schema of the TEST_DATABASE_URL database, empty (no kit
// tables), dropped when the test ends. The embedded pool has the schema as
// its search_path.
type pgDB struct {
	*sql.DB
	t      testing.TB
	dsn    string // the pool's DSN, search_path included
	schema string
}

// pgByPool finds the pgDB of a pool, so that a Store's schema can be opened
// again (pgOf).
var pgByPool sync.Map // *sql.DB → *pgDB

// newPGDB returns a fresh, empty schema, or skips the test when
// TEST_DATABASE_URL is unset.
func newPGDB(t testing.TB) *pgDB {
	t.Helper()
	base := os.Getenv("TEST_DATABASE_URL")
	if base == "" {
		t.Skip("TEST_DATABASE_URL is not set: skipping the PostgreSQL tests")
	}
	admin, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatal(err)
	}
	schema := "authkit_test_" + randomHex(t)
	if _, err := admin.Exec("CREATE SCHEMA " + schema); err != nil {
		admin.Close()
		t.Fatalf("creating the test schema: %v", err)
	}
	t.Cleanup(func() {
		if _, err := admin.Exec("DROP SCHEMA " + schema + " CASCADE"); err != nil {
			t.Errorf("dropping %s: %v", schema, err)
		}
		admin.Close()
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	p := openPGDB(t, u.String(), schema)
	p.SetMaxOpenConns(20)
	return p
}

func openPGDB(t testing.TB, dsn, schema string) *pgDB {
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	p := &pgDB{DB: db, t: t, dsn: dsn, schema: schema}
	pgByPool.Store(db, p)
	return p
}

// reopen opens a second pool on p's schema, as another process would.
func (p *pgDB) reopen() *pgDB { return openPGDB(p.t, p.dsn, p.schema) }

// store returns a PostgresStore over p, closed when the test ends; it does
// not migrate.
func (p *pgDB) store(opts ...Option) *Store {
	p.t.Helper()
	s, err := NewPostgresStore(p.DB, opts...)
	if err != nil {
		p.t.Fatal(err)
	}
	p.t.Cleanup(s.Close)
	return s
}

// migrated returns store(opts...) after its Migrate, run twice to show it
// is idempotent.
func (p *pgDB) migrated(opts ...Option) *Store {
	p.t.Helper()
	s := p.store(opts...)
	for range 2 {
		if err := s.Migrate(context.Background()); err != nil {
			p.t.Fatal(err)
		}
	}
	return s
}

// sessions returns the session store of a migrated store over p.
func (p *pgDB) sessions() *postgresSessions {
	p.t.Helper()
	return p.migrated().Sessions().(*postgresSessions)
}

// pgOf returns the schema a PostgresStore made by a pgDB works on.
func pgOf(t testing.TB, s *Store) *pgDB {
	t.Helper()
	ps, ok := s.b.(*postgresStore)
	if !ok {
		t.Fatalf("%T is not a PostgreSQL store", s.b)
	}
	p, ok := pgByPool.Load(ps.db)
	if !ok {
		t.Fatal("the store's pool was not opened by newPGDB")
	}
	return p.(*pgDB)
}

// pgBackend is the PostgreSQL backend of forEachBackend: a fresh migrated
// schema per test.
var pgBackend = backend{
	name: "postgres",
	open: func(t testing.TB, users ...string) *Store {
		t.Helper()
		s := newPGDB(t).migrated()
		for _, u := range users {
			if err := s.Add(context.Background(), u); err != nil {
				t.Fatal(err)
			}
		}
		return s
	},
	reopen: func(t testing.TB, s *Store) *Store { return pgOf(t, s).reopen().store() },
}

// pgFamily reads family id from db as storedFamily reports it.
func pgFamily(t testing.TB, db *sql.DB, id string) (RefreshFamily, [32]byte, bool) {
	t.Helper()
	f := RefreshFamily{ID: id}
	var cur []byte
	var revoked sql.NullTime
	err := db.QueryRow(`SELECT user_id, version, current_hash, created_at, expires_at, last_used_at, revoked_at
		FROM authkit_refresh_families WHERE family_id = $1`, id).
		Scan(&f.UserID, &f.Version, &cur, &f.CreatedAt, &f.ExpiresAt, &f.LastUsedAt, &revoked)
	if errors.Is(err, sql.ErrNoRows) {
		return RefreshFamily{}, [32]byte{}, false
	}
	if err != nil {
		t.Fatal(err)
	}
	f.RevokedAt = revoked.Time
	return f, [32]byte(cur), true
}

func randomHex(t testing.TB) string {
	b := make([]byte, 6)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// TestPostgresMigrate runs 8 migrations at once on an empty schema, as 8
// processes starting together would: all succeed, and the tables exist once.
func TestPostgresMigrate(t *testing.T) {
	db := newPGDB(t)
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		other := db.reopen() // a pool of its own, as another process
		s := other.store()
		wg.Go(func() { errs <- s.Migrate(ctx) })
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	var n int
	if err := db.QueryRow(`SELECT count(*) FROM pg_tables WHERE schemaname = current_schema()
		AND tablename IN ('sessions', 'authkit_refresh_families', 'authkit_token_versions')`).Scan(&n); err != nil || n != 3 {
		t.Fatalf("tables: %d, %v", n, err)
	}
	var idx int
	if err := db.QueryRow("SELECT count(*) FROM pg_indexes WHERE schemaname = current_schema() AND indexname = 'sessions_expiry_idx'").Scan(&idx); err != nil || idx != 1 {
		t.Fatalf("expiry index: %d, %v", idx, err)
	}

	// A schema-qualified table works end to end.
	table := db.schema + ".web_sessions"
	store := db.store(WithSessionTable(table))
	if err := store.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	e := newSessionEnv(t, store.Sessions())
	c := e.browser()
	tok := e.login(c, "1")
	wantStatus(t, e.do(c, "GET", "/me", nil, nil), 200, "alice via session")
	if err := db.QueryRow("SELECT count(*) FROM "+table+" WHERE token = $1", storeKey(tok)).Scan(&n); err != nil || n != 1 {
		t.Fatalf("row in %s: %d, %v", table, n, err)
	}

	for _, bad := range []string{"sessions; DROP TABLE x", "a.b.c", "1sessions", "sess-ions", `"sessions"`, ".sessions", "sessions."} {
		if _, err := NewPostgresStore(db.DB, WithSessionTable(bad)); err == nil {
			t.Errorf("NewPostgresStore accepted table %q", bad)
		}
	}
}
