package authkit

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"sync"
	"testing"

	_ "github.com/jackc/pgx/v5/stdlib"
)

func postgresKit(t *testing.T, users ...string) storeKit {
	t.Helper()
	ctx := context.Background()
	db := testPGEmptyDB(t)
	fs, err := NewPostgresStore(db)
	if err != nil {
		t.Fatal(err)
	}
	vs, err := NewPostgresStore(db)
	if err != nil {
		t.Fatal(err)
	}
	for range 2 { // idempotent
		if err := fs.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
		if err := vs.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
	}
	for _, u := range users {
		if err := vs.Add(ctx, u); err != nil {
			t.Fatal(err)
		}
	}
	return storeKit{
		families: fs,
		version:  vs.Version,
		bump:     vs.Bump,
		remove: func(t *testing.T, id string) {
			if err := vs.Remove(ctx, id); err != nil {
				t.Fatal(err)
			}
		},
		family: func(t *testing.T, id string) (RefreshFamily, [32]byte, bool) {
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
		},
	}
}

func TestRefreshPostgres(t *testing.T) {
	runRefreshSuite(t, func(t *testing.T) storeKit { return postgresKit(t, "1", "2") })
}

func TestPostgresVersionStore(t *testing.T) {
	ctx := context.Background()
	db := testPGEmptyDB(t)
	vs, err := NewPostgresStore(db)
	if err != nil {
		t.Fatal(err)
	}
	if err := vs.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := vs.Version(ctx, "alice"); !errors.Is(err, ErrUnknownUser) {
		t.Fatalf("unknown user: %v", err)
	}
	if _, err := vs.Bump(ctx, "alice"); !errors.Is(err, ErrUnknownUser) {
		t.Fatalf("bump of an unknown user: %v", err)
	}
	for range 2 {
		if err := vs.Add(ctx, "alice"); err != nil {
			t.Fatal(err)
		}
	}
	if v, err := vs.Version(ctx, "alice"); v != 0 || err != nil {
		t.Fatalf("Version = %d, %v", v, err)
	}
	// Bump is atomic: concurrent bumps all count.
	var wg sync.WaitGroup
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := vs.Bump(ctx, "alice"); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if err := vs.Add(ctx, "alice"); err != nil { // Add keeps the version
		t.Fatal(err)
	}
	if v, err := vs.Version(ctx, "alice"); v != 20 || err != nil {
		t.Fatalf("after 20 bumps: %d, %v", v, err)
	}
	if err := vs.Remove(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	if _, err := vs.Version(ctx, "alice"); !errors.Is(err, ErrUnknownUser) {
		t.Fatalf("removed user: %v", err)
	}
	// A user ID is a parameter, never SQL.
	if _, err := vs.Version(ctx, "x' OR '1'='1"); !errors.Is(err, ErrUnknownUser) {
		t.Fatalf("injection attempt: %v", err)
	}
}

func TestPostgresUsersVersionStore(t *testing.T) {
	ctx := context.Background()
	db := testPGEmptyDB(t)
	if _, err := db.Exec(`CREATE TABLE users (id bigint PRIMARY KEY, name text NOT NULL);
		INSERT INTO users VALUES (1, 'alice'), (2, 'bob')`); err != nil {
		t.Fatal(err)
	}
	var schema string // the test's own schema, to name the table schema-qualified
	if err := db.QueryRow(`SELECT current_schema()`).Scan(&schema); err != nil {
		t.Fatal(err)
	}
	vs, err := NewPostgresStore(db, WithUsersTable(schema+".users", "id", "token_version"))
	if err != nil {
		t.Fatal(err)
	}
	for range 2 { // Migrate adds the column once
		if err := vs.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if v, err := vs.Version(ctx, "1"); v != 0 || err != nil {
		t.Fatalf("Version(1) = %d, %v", v, err)
	}
	if v, err := vs.Bump(ctx, "2"); v != 1 || err != nil {
		t.Fatalf("Bump(2) = %d, %v", v, err)
	}
	var stored int64
	if err := db.QueryRow(`SELECT token_version FROM users WHERE id = 2`).Scan(&stored); err != nil || stored != 1 {
		t.Fatalf("users table holds %d (%v)", stored, err)
	}
	if _, err := vs.Version(ctx, "3"); !errors.Is(err, ErrUnknownUser) {
		t.Fatalf("unknown user: %v", err)
	}
	if err := vs.Add(ctx, "3"); err == nil {
		t.Error("Add on a users-table store succeeded")
	}
	// An ID that cannot be the column's type is a store error, not a user.
	if _, err := vs.Version(ctx, "abc"); err == nil || errors.Is(err, ErrUnknownUser) {
		t.Errorf("non-numeric ID: %v", err)
	}

	for _, bad := range [][3]string{
		{"users; DROP TABLE users", "id", "v"},
		{`"users"`, "id", "v"},
		{"a.b.c", "id", "v"},
		{"users", "id-x", "v"},
		{"users", "id", ""},
		{"users", "1id", "v"},
		{"users", "id", strings.Repeat("v", 64)},
	} {
		if _, err := NewPostgresStore(db, WithUsersTable(bad[0], bad[1], bad[2])); err == nil {
			t.Errorf("names %q accepted", bad)
		}
	}
	if _, err := NewPostgresStore(nil, WithUsersTable("users", "id", "v")); err == nil {
		t.Error("nil db accepted")
	}
}

// TestPostgresVersionStoreWithIssuer runs a refresh against the users-table
// store, to show the pieces fit.
func TestPostgresVersionStoreWithIssuer(t *testing.T) {
	ctx := context.Background()
	db := testPGEmptyDB(t)
	if _, err := db.Exec(`CREATE TABLE users (id text PRIMARY KEY)`); err != nil {
		t.Fatal(err)
	}
	db.Exec(`INSERT INTO users VALUES ('1')`)
	vs, _ := NewPostgresStore(db, WithUsersTable("users", "id", "token_version"))
	if err := vs.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	fs, _ := NewPostgresStore(db)
	if err := fs.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	kit := storeKit{families: fs, version: vs.Version, bump: vs.Bump}
	e := newEnv(t, kit, envConfig{cache: true})
	_, rt := e.mustLogin("1")
	_, rt = e.mustRefresh(rt)
	if _, err := e.cache.Bump(ctx, "1"); err != nil {
		t.Fatal(err)
	}
	wantOAuthError(t, e.refresh(rt), 400, "invalid_grant")
}
