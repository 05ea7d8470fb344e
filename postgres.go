package authkit

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/alexedwards/scs/postgresstore"
)

// MigrateSessions creates the session table of [PostgresSessionStore] (the
// table postgresstore documents) and its expiry index, if they do not exist:
//
//	CREATE TABLE IF NOT EXISTS sessions (
//		token TEXT PRIMARY KEY, data BYTEA NOT NULL, expiry TIMESTAMPTZ NOT NULL);
//	CREATE INDEX IF NOT EXISTS sessions_expiry_idx ON sessions (expiry);
//
// table is the table's name, optionally schema-qualified ("auth.sessions");
// "" means "sessions". It must be a plain SQL identifier (letters, digits,
// underscores), since it is written into the statements. MigrateSessions runs
// in one transaction under an advisory lock, so several processes may call it
// at once at start-up. It works with any database/sql driver for
// PostgreSQL (e.g. github.com/jackc/pgx/v5/stdlib, driver name "pgx").
func MigrateSessions(ctx context.Context, db *sql.DB, table string) error {
	if db == nil {
		return errors.New("authkit: MigrateSessions: nil *sql.DB")
	}
	if table == "" {
		table = defaultSessionTable
	}
	if !validTableName(table) {
		return fmt.Errorf("authkit: MigrateSessions: invalid table name %q", table)
	}
	index := table[strings.LastIndexByte(table, '.')+1:] + "_expiry_idx"
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("authkit: MigrateSessions: %w", err)
	}
	defer tx.Rollback() // a no-op after Commit
	for _, q := range []string{
		"SELECT pg_advisory_xact_lock(7215937062843516561)", // any fixed number: serialises concurrent migrations
		"CREATE TABLE IF NOT EXISTS " + table + " (token TEXT PRIMARY KEY, data BYTEA NOT NULL, expiry TIMESTAMPTZ NOT NULL)",
		"CREATE INDEX IF NOT EXISTS " + index + " ON " + table + " (expiry)",
	} {
		if _, err := tx.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("authkit: MigrateSessions: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("authkit: MigrateSessions: %w", err)
	}
	return nil
}

const defaultSessionTable = "sessions"

// validTableName accepts identifier or schema.identifier made of ASCII
// letters, digits and underscores, not starting with a digit.
func validTableName(name string) bool {
	parts := strings.Split(name, ".")
	if len(parts) > 2 {
		return false
	}
	for _, p := range parts {
		if p == "" || len(p) > 63 || p[0] >= '0' && p[0] <= '9' {
			return false
		}
		for i := 0; i < len(p); i++ {
			c := p[i] | 0x20 // ASCII lower case
			if !(c >= 'a' && c <= 'z' || p[i] >= '0' && p[i] <= '9' || p[i] == '_') {
				return false
			}
		}
	}
	return true
}

// PostgresSessionStore is the session store for PostgreSQL: postgresstore
// (github.com/alexedwards/scs/postgresstore) for reading, deleting and
// cleaning up, plus the atomic insert-only and update-only writes through
// which [NewSession] keeps a logged-out session from being re-inserted by a
// request that was still in flight (postgresstore's own Commit is an upsert,
// which would). It uses postgresstore's table; create it with
// [MigrateSessions]. It works over any database/sql driver and is safe for
// concurrent use; any number of processes, each with its own store, may serve
// the same sessions from one table.
//
// # Cleanup
//
// With a positive Config.CleanUpInterval, a goroutine deletes expired rows at
// that interval from construction until [PostgresSessionStore.StopCleanup].
// Expired rows are never returned either way; the cleanup only reclaims space.
// Stop it at shutdown, after the HTTP server has stopped and before closing
// the *sql.DB.
type PostgresSessionStore struct {
	pg        *postgresstore.PostgresStore
	db        *sql.DB
	insertSQL string
	updateSQL string
	stopOnce  sync.Once
}

// NewPostgresSessionStore returns a session store on db, configured as
// postgresstore is: cfg.TableName ("" means "sessions", optionally
// schema-qualified, letters, digits and underscores only) and
// cfg.CleanUpInterval (0 means no cleanup goroutine; postgresstore.New would
// use 5 minutes). Pass it to [NewSessionManager].
func NewPostgresSessionStore(db *sql.DB, cfg postgresstore.Config) (*PostgresSessionStore, error) {
	if db == nil {
		return nil, errors.New("authkit: NewPostgresSessionStore: nil *sql.DB")
	}
	if cfg.TableName == "" {
		cfg.TableName = defaultSessionTable
	}
	if !validTableName(cfg.TableName) {
		return nil, fmt.Errorf("authkit: NewPostgresSessionStore: invalid table name %q", cfg.TableName)
	}
	return &PostgresSessionStore{
		pg:        postgresstore.NewWithConfig(db, cfg),
		db:        db,
		insertSQL: "INSERT INTO " + cfg.TableName + " (token, data, expiry) VALUES ($1, $2, $3)",
		updateSQL: "UPDATE " + cfg.TableName + " SET data = $2, expiry = $3 WHERE token = $1 AND current_timestamp < expiry",
	}, nil
}

// Find returns the data of an unexpired session, as postgresstore does.
func (p *PostgresSessionStore) Find(token string) ([]byte, bool, error) { return p.pg.Find(token) }

// Commit writes a session, inserting or overwriting it, as postgresstore
// does. [NewSession] never calls it: its store wrapper uses the insert-only
// and update-only writes instead.
func (p *PostgresSessionStore) Commit(token string, b []byte, expiry time.Time) error {
	return p.pg.Commit(token, b, expiry)
}

// Delete deletes a session; deleting a missing one is not an error.
func (p *PostgresSessionStore) Delete(token string) error { return p.pg.Delete(token) }

// All returns every unexpired session, as postgresstore does (it reads the
// whole table).
func (p *PostgresSessionStore) All() (map[string][]byte, error) { return p.pg.All() }

// StopCleanup stops the cleanup goroutine, waiting for a cleanup in progress. It
// may be called any number of times, concurrently (postgresstore's own
// StopCleanup blocks forever on its second call); the store keeps working
// without cleanup afterwards.
func (p *PostgresSessionStore) StopCleanup() { p.stopOnce.Do(p.pg.StopCleanup) }

func (p *PostgresSessionStore) insertCtx(ctx context.Context, key string, b []byte, expiry time.Time) error {
	_, err := p.db.ExecContext(ctx, p.insertSQL, key, b, expiry.UTC())
	return err
}

// updateCtx writes an existing, unexpired session. A missing row stays
// missing: one statement, so no delete can slip between a check and a write.
func (p *PostgresSessionStore) updateCtx(ctx context.Context, key string, b []byte, expiry time.Time) error {
	_, err := p.db.ExecContext(ctx, p.updateSQL, key, b, expiry.UTC())
	return err
}
