package authkit

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
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

// pgServer is a PostgreSQL server of the test's own, for tests that stop
// and start it: the shared server at TEST_DATABASE_URL must stay up for
// the other tests. It runs from the Debian binaries (initdb, pg_ctl under
// /usr/lib/postgresql/*/bin) on a free loopback port, its data in
// t.TempDir(), as the postgres user when the test runs as root (runuser),
// and is stopped when the test ends. Without the binaries the test skips,
// unless AUTHKIT_PG_SERVER_REQUIRED is set (.ci/run sets it): then it fails.
type pgServer struct {
	t       testing.TB
	bin     string // the directory of initdb and pg_ctl
	dir     string // data/ and the log; the socket directory
	port    int
	runAs   string // "postgres" when the test runs as root, else ""
	running bool
}

// newPGServer creates and starts a server with one database, postgres, and
// the superuser postgres, trusted on 127.0.0.1.
func newPGServer(t testing.TB) *pgServer {
	t.Helper()
	ctls, _ := filepath.Glob("/usr/lib/postgresql/*/bin/pg_ctl")
	if len(ctls) == 0 {
		const msg = "no PostgreSQL server binaries (/usr/lib/postgresql/*/bin/pg_ctl; apt-get install postgresql): skipping the test that stops and starts a server of its own"
		if os.Getenv("AUTHKIT_PG_SERVER_REQUIRED") != "" {
			t.Fatal(msg + ", which AUTHKIT_PG_SERVER_REQUIRED requires")
		}
		t.Skip(msg)
	}
	version := func(path string) int { // .../<major>/bin/pg_ctl
		n, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(path))))
		return n
	}
	slices.SortFunc(ctls, func(a, b string) int { return version(a) - version(b) })
	p := &pgServer{t: t, bin: filepath.Dir(ctls[len(ctls)-1]), dir: t.TempDir()}
	if os.Geteuid() == 0 {
		// PostgreSQL refuses to run as root: the postgres user owns the
		// data, and may pass through the test's temporary directories.
		u, err := user.Lookup("postgres")
		if err != nil {
			t.Fatalf("running as root without a postgres user: %v", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		for _, d := range []string{filepath.Dir(p.dir), p.dir} {
			if err := os.Chmod(d, 0o711); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.Chown(p.dir, uid, gid); err != nil {
			t.Fatal(err)
		}
		p.runAs = "postgres"
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p.port = ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	p.run("initdb", "-D", p.data(), "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-sync")
	t.Cleanup(func() {
		if p.running {
			p.run("pg_ctl", "-D", p.data(), "-w", "-m", "immediate", "stop")
		}
	})
	p.start()
	return p
}

func (p *pgServer) data() string { return filepath.Join(p.dir, "data") }

// run runs one of the server's programs, as postgres when runAs says so.
func (p *pgServer) run(name string, args ...string) {
	p.t.Helper()
	cmd := exec.Command(filepath.Join(p.bin, name), args...)
	if p.runAs != "" {
		cmd = exec.Command("runuser", append([]string{"-u", p.runAs, "--", cmd.Path}, args...)...)
	}
	if out, err := cmd.CombinedOutput(); err != nil {
		log, _ := os.ReadFile(filepath.Join(p.dir, "log"))
		p.t.Fatalf("%s %s: %v\n%s\nserver log:\n%s", name, strings.Join(args, " "), err, out, log)
	}
}

// start starts the server and waits until it accepts connections.
func (p *pgServer) start() {
	p.t.Helper()
	p.run("pg_ctl", "-D", p.data(), "-l", filepath.Join(p.dir, "log"), "-w", "-t", "60", "-o",
		fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off", p.port, p.dir), "start")
	p.running = true
}

// stop stops the server (fast shutdown: every connection is closed).
func (p *pgServer) stop() {
	p.t.Helper()
	p.run("pg_ctl", "-D", p.data(), "-w", "-m", "fast", "stop")
	p.running = false
}

// db opens a pool on the server's database; its reopen opens another, as a
// second process would.
func (p *pgServer) db() *pgDB {
	return openPGDB(p.t, fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", p.port), "public")
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
