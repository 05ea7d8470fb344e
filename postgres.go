package authkit

import (
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/alexedwards/scs/postgresstore"
	"github.com/alexedwards/scs/v2"
)

// This file holds every PostgreSQL statement of the kit. Table and column
// names are validated and quoted once, at construction, by quoteIdent; every
// value is a parameter. Migrate is the one migration: idempotent, in one
// transaction under an advisory lock, so that any number of processes may
// run it at once.

// postgresStore is the PostgreSQL backend of a [Store].
type postgresStore struct {
	db       *sql.DB
	cfg      postgresConfig
	sql      postgresSQL
	mu       sync.Mutex // guards session
	session  *postgresSessions
	watchers watchers
	listener *listener // started by the first watch, guarded by mu
	closed   bool      // guarded by mu
	cleanup  *cleanup  // the background deletion of expired rows; nil when off
}

type postgresConfig struct {
	common
	sessionTable  string // quoted
	cleanup       time.Duration
	usersTable    string // quoted; "" for the kit's own version table
	usersID       string
	usersVersion  string
	sessionsIndex string
}

// postgresSQL is every statement, built once from the configured names.
type postgresSQL struct {
	migrate                      []string
	version, bump, add, remove   string
	sessionInsert, sessionUpdate string
	sessionFind, sessionUpsert   string
	sessionDelete                string
	familyCreate, familyRotate   string
	familyRead, familyRevoke     string
	familyReuse                  string
	sweepFamilies, sweepDevices  string
	sweepProofs                  string
	keyInsert, keyRead           string
	proofInsert                  string
	deviceInsert, deviceList     string
	deviceEnd, deviceEndFamily   string
	channel                      string // the name of the bump notifications' channel
}

// WithSessionTable sets the session table, which may be schema-qualified
// ("app.sessions"). Names must be plain SQL identifiers (letters, digits,
// underscores, not starting with a digit, at most 63 bytes); they are quoted,
// so they are case-sensitive. Default: "sessions".
func WithSessionTable(table string) Option {
	return singleOption("WithSessionTable", fmt.Sprintf("%q", table), forStore, func(c *postgresConfig) error {
		q, err := quoteQualified(table)
		if err != nil {
			return fmt.Errorf("WithSessionTable: %w", err)
		}
		c.sessionTable, c.sessionsIndex = q, quoteIdentUnchecked(table[strings.LastIndexByte(table, '.')+1:]+"_expiry_idx")
		return nil
	})
}

// WithUsersTable keeps each user's token version in versionColumn of the
// application's own table, in the row whose idColumn is the user ID (passed
// as a text parameter; PostgreSQL converts it to the column's type). A user
// without a row is [ErrUnknownUser]; [Store.Migrate] adds the column
// (bigint NOT NULL DEFAULT 0) if it is missing, and [Store.Add] and
// [Store.Remove] refuse: users are created and deleted there. The kit also
// records each bumped version in authkit_token_versions, and reads the
// higher of the two, so that a re-created row does not lower a version. Names
// follow the rules of [WithSessionTable]. Default: the kit's own table,
// authkit_token_versions.
func WithUsersTable(table, idColumn, versionColumn string) Option {
	return singleOption("WithUsersTable", fmt.Sprintf("%q, %q, %q", table, idColumn, versionColumn), forStore, func(c *postgresConfig) error {
		t, err1 := quoteQualified(table)
		id, err2 := quoteIdent(idColumn)
		v, err3 := quoteIdent(versionColumn)
		if err := errors.Join(err1, err2, err3); err != nil {
			return fmt.Errorf("WithUsersTable: %w", err)
		}
		c.usersTable, c.usersID, c.usersVersion = t, id, v
		return nil
	})
}

// WithCleanupInterval sets how often a PostgreSQL [Store] deletes, in the
// background, what has expired: sessions (scs's cleanup, once
// [Store.Sessions] made the session store), refresh-token families past
// their absolute lifetime, the index rows of expired sessions and the
// expired DPoP proofs of [WithDPoPStore]. Families, index rows and proofs go
// in batches of 1000, one statement each, bounded by the
// store timeout, so that a backlog never holds a long lock and is worked
// off; a batch skips the rows another instance's cleanup is deleting, so
// any number of instances may run it at once. Nothing expired is ever
// accepted or listed, deleted or not. [Store.Close] stops it; 0 turns it
// off (then nothing expired is deleted: run the cleanup from one instance
// only, say, by giving the others 0). It must not be negative. Default: 5
// minutes, scs's own.
func WithCleanupInterval(d time.Duration) Option {
	return singleOption("WithCleanupInterval", d, forStore, func(c *postgresConfig) error {
		if d < 0 {
			return fmt.Errorf("WithCleanupInterval(%v): must not be negative", d)
		}
		c.cleanup = d
		return nil
	})
}

// NewPostgresStore returns a [Store] in PostgreSQL through [database/sql]
// (any driver; the tests use pgx), shared by every process on the database.
// It does not touch the database: [Store.Migrate] creates the session table
// (default "sessions", scs's schema), authkit_refresh_families,
// authkit_session_devices, authkit_keys (the session cookie's key, see
// [WithSessionSecret], and the DPoP nonces', see [WithDPoPNonce]),
// authkit_dpop_proofs (see [WithDPoPStore]) and, unless [WithUsersTable],
// authkit_token_versions. Expired sessions, families, index rows and DPoP
// proofs are deleted in the background, every five minutes from one
// interval after NewPostgresStore ([WithCleanupInterval]), until
// [Store.Close]. Every statement but Migrate's is bounded by
// [WithStoreTimeout] (default 5 seconds) and then fails with an error
// wrapping [ErrStoreUnavailable]; Migrate is bounded by its context only.
func NewPostgresStore(db *sql.DB, opts ...Option) (*Store, error) {
	cfg := postgresConfig{sessionTable: `"sessions"`, sessionsIndex: `"sessions_expiry_idx"`, cleanup: 5 * time.Minute}
	err := applyOptions(opts, forStore, &cfg)
	if db == nil {
		err = errors.Join(errors.New("nil *sql.DB"), err)
	}
	if err != nil {
		return nil, fmt.Errorf("authkit: NewPostgresStore: %w", err)
	}
	ps := &postgresStore{db: db, cfg: cfg, sql: buildSQL(cfg)}
	if cfg.cleanup > 0 {
		ps.cleanup = startCleanup(cfg.cleanup, ps.deleteExpired)
	}
	return &Store{b: ps}, nil
}

func buildSQL(c postgresConfig) postgresSQL {
	s := postgresSQL{
		migrate:       migrateSQL(c),
		keyInsert:     `INSERT INTO authkit_keys (name, secret) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING`,
		keyRead:       `SELECT secret FROM authkit_keys WHERE name = $1`,
		sessionInsert: `INSERT INTO ` + c.sessionTable + ` (token, data, expiry) VALUES ($1, $2, $3)`,
		// An update of a session refreshes its index row (devices.go) in
		// the same statement; a delete deletes it.
		sessionUpdate: `WITH u AS (UPDATE ` + c.sessionTable + ` SET data = $2, expiry = $3 WHERE token = $1 AND current_timestamp < expiry RETURNING token),
			d AS (UPDATE authkit_session_devices SET last_used_at = current_timestamp, expiry = $3 WHERE store_key IN (SELECT token FROM u))
			SELECT count(*) FROM u`,
		sessionFind:   `SELECT data FROM ` + c.sessionTable + ` WHERE token = $1 AND current_timestamp < expiry`,
		sessionUpsert: `INSERT INTO ` + c.sessionTable + ` (token, data, expiry) VALUES ($1, $2, $3) ON CONFLICT (token) DO UPDATE SET data = EXCLUDED.data, expiry = EXCLUDED.expiry`,
		sessionDelete: `WITH d AS (DELETE FROM authkit_session_devices WHERE store_key = $1) DELETE FROM ` + c.sessionTable + ` WHERE token = $1`,
		deviceInsert: `INSERT INTO authkit_session_devices (device_id, user_id, store_key, created_at, last_used_at, expiry)
			VALUES ($1, $2, $3, $4, $4, $5)`,
		deviceList: `SELECT d.device_id, 'session', d.created_at, d.last_used_at FROM authkit_session_devices d
				JOIN ` + c.sessionTable + ` s ON s.token = d.store_key WHERE d.user_id = $1 AND current_timestamp < s.expiry
			UNION ALL SELECT family_id, 'refresh', created_at, last_used_at FROM authkit_refresh_families
				WHERE user_id = $1 AND revoked_at IS NULL AND current_timestamp < expires_at`,
		deviceEnd: `WITH d AS (DELETE FROM authkit_session_devices WHERE device_id = $1 AND user_id = $2 RETURNING store_key),
			s AS (DELETE FROM ` + c.sessionTable + ` WHERE token IN (SELECT store_key FROM d) RETURNING expiry)
			SELECT count(*) FROM s WHERE current_timestamp < expiry`,
		deviceEndFamily: `UPDATE authkit_refresh_families SET revoked_at = current_timestamp
			WHERE family_id = $1 AND user_id = $2 AND revoked_at IS NULL AND current_timestamp < expires_at`,
		familyCreate: `INSERT INTO authkit_refresh_families
			(family_id, user_id, version, current_hash, created_at, expires_at, last_used_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7)`,
		familyRotate: `UPDATE authkit_refresh_families SET current_hash = $3, last_used_at = $4
			WHERE family_id = $1 AND current_hash = $2 AND revoked_at IS NULL AND expires_at > $4
			RETURNING user_id, version, created_at, expires_at, last_used_at`,
		familyRead: `SELECT user_id, version, created_at, expires_at, last_used_at, revoked_at
			FROM authkit_refresh_families WHERE family_id = $1`,
		familyRevoke: `UPDATE authkit_refresh_families SET revoked_at = $2 WHERE family_id = $1 AND revoked_at IS NULL`,
		// Reuse, recorded once per family, live or revoked (reuseRecorder):
		// o, locked first, tells whether this statement revoked it.
		familyReuse: `WITH o AS (SELECT revoked_at FROM authkit_refresh_families WHERE family_id = $1 FOR UPDATE)
			UPDATE authkit_refresh_families f SET reused_at = $6, revoked_at = coalesce(f.revoked_at, $6) FROM o
			WHERE f.family_id = $1 AND f.reused_at IS NULL AND f.current_hash <> $2
				AND NOT (f.current_hash = $3 AND f.last_used_at BETWEEN $4 AND $5)
			RETURNING f.user_id, f.version, f.created_at, f.expires_at, f.last_used_at, f.revoked_at, o.revoked_at IS NULL`,
		// The cleanup's batches (WithCleanupInterval): SKIP LOCKED leaves the
		// rows another instance is deleting to it. Index rows expire with
		// their sessions, by the database's clock.
		sweepFamilies: `DELETE FROM authkit_refresh_families WHERE family_id IN (SELECT family_id
			FROM authkit_refresh_families WHERE expires_at <= $1 LIMIT ` + cleanupBatchSQL + ` FOR UPDATE SKIP LOCKED)`,
		sweepDevices: `DELETE FROM authkit_session_devices WHERE device_id IN (SELECT device_id
			FROM authkit_session_devices WHERE expiry <= current_timestamp LIMIT ` + cleanupBatchSQL + ` FOR UPDATE SKIP LOCKED)`,
		// DPoP proofs a proof lifetime after their own expiry ($1), so that
		// an instance whose clock is behind never misses one.
		sweepProofs: `DELETE FROM authkit_dpop_proofs WHERE proof_key IN (SELECT proof_key
			FROM authkit_dpop_proofs WHERE expires_at <= $1 LIMIT ` + cleanupBatchSQL + ` FOR UPDATE SKIP LOCKED)`,
		// A proof is new when no live row has its key: one already there
		// and expired ($3 is now) is taken over, so a row the cleanup has
		// not deleted yet refuses nothing.
		proofInsert: `INSERT INTO authkit_dpop_proofs AS p (proof_key, expires_at) VALUES ($1, $2)
			ON CONFLICT (proof_key) DO UPDATE SET expires_at = EXCLUDED.expires_at WHERE p.expires_at < $3`,
	}
	versionSQL(c, &s)
	return s
}

// migrateSQL is the schema, as idempotent statements that Migrate runs in
// one transaction under an advisory lock.
func migrateSQL(c postgresConfig) []string {
	return []string{
		`CREATE TABLE IF NOT EXISTS ` + c.sessionTable + ` (token text PRIMARY KEY, data bytea NOT NULL, expiry timestamptz NOT NULL)`,
		`CREATE INDEX IF NOT EXISTS ` + c.sessionsIndex + ` ON ` + c.sessionTable + ` (expiry)`,
		`CREATE TABLE IF NOT EXISTS authkit_refresh_families (
			family_id    text        PRIMARY KEY,
			user_id      text        NOT NULL,
			version      bigint      NOT NULL,
			current_hash bytea       NOT NULL,
			created_at   timestamptz NOT NULL,
			expires_at   timestamptz NOT NULL,
			last_used_at timestamptz NOT NULL,
			revoked_at   timestamptz)`,
		`CREATE INDEX IF NOT EXISTS authkit_refresh_families_expires_at_idx ON authkit_refresh_families (expires_at)`,
		`CREATE INDEX IF NOT EXISTS authkit_refresh_families_user_id_idx ON authkit_refresh_families (user_id)`,
		// When a reuse of the family's tokens was recorded: reported once.
		`ALTER TABLE authkit_refresh_families ADD COLUMN IF NOT EXISTS reused_at timestamptz`,
		`CREATE TABLE IF NOT EXISTS authkit_session_devices (
			device_id    text        PRIMARY KEY,
			user_id      text        NOT NULL,
			store_key    text        NOT NULL,
			created_at   timestamptz NOT NULL,
			last_used_at timestamptz NOT NULL,
			expiry       timestamptz NOT NULL)`,
		`CREATE INDEX IF NOT EXISTS authkit_session_devices_user_id_idx ON authkit_session_devices (user_id)`,
		`CREATE INDEX IF NOT EXISTS authkit_session_devices_store_key_idx ON authkit_session_devices (store_key)`,
		`CREATE INDEX IF NOT EXISTS authkit_session_devices_expiry_idx ON authkit_session_devices (expiry)`,
		`CREATE TABLE IF NOT EXISTS authkit_keys (
			name       text        PRIMARY KEY,
			secret     bytea       NOT NULL,
			created_at timestamptz NOT NULL DEFAULT current_timestamp)`,
		// The DPoP proofs used (WithDPoPStore): 128 bits of the SHA-256
		// of the proof key's thumbprint and the jti, until the proof
		// expires.
		`CREATE TABLE IF NOT EXISTS authkit_dpop_proofs (
			proof_key  bytea       PRIMARY KEY,
			expires_at timestamptz NOT NULL)`,
		`CREATE INDEX IF NOT EXISTS authkit_dpop_proofs_expires_at_idx ON authkit_dpop_proofs (expires_at)`,
	}
}

// versionSQL adds the statements on token versions to s.
func versionSQL(c postgresConfig, s *postgresSQL) {
	// authkit_token_versions holds the versions, or, with WithUsersTable,
	// the highest version each user was bumped to: a floor that a
	// re-created users row (its column back at its default) cannot go
	// below. A removed user keeps its row (removed), so that adding it again
	// continues above every version it had.
	s.migrate = append(s.migrate, `CREATE TABLE IF NOT EXISTS authkit_token_versions (
			user_id text   PRIMARY KEY,
			version bigint NOT NULL DEFAULT 0)`,
		`ALTER TABLE authkit_token_versions ADD COLUMN IF NOT EXISTS removed boolean NOT NULL DEFAULT false`)
	// A bump, in one statement (one transaction): the increment, the
	// revocation of the user's refresh families, and the notification of
	// every instance's caches (notify.go), on a channel named after the
	// version table's OID, so that only stores over the same table hear it;
	// the payload carries the time of sending (notifyPayload).
	// $1 is the user ID as the ID column's type, $2 as text.
	const floor = `coalesce((SELECT version FROM authkit_token_versions WHERE user_id = $2), 0)`
	// The user's sessions go too, through the index: O(devices of the user).
	revoke := `r AS (UPDATE authkit_refresh_families SET revoked_at = current_timestamp
			WHERE user_id = $2 AND revoked_at IS NULL AND EXISTS (SELECT 1 FROM b)),
		ds AS (DELETE FROM authkit_session_devices WHERE user_id = $2 AND EXISTS (SELECT 1 FROM b) RETURNING store_key),
		dss AS (DELETE FROM ` + c.sessionTable + ` WHERE token IN (SELECT store_key FROM ds)),`
	if c.usersTable == "" {
		s.channel = `SELECT 'authkit_v' || 'authkit_token_versions'::regclass::oid`
		notify := `n AS (SELECT pg_notify('authkit_v' || 'authkit_token_versions'::regclass::oid, ` + notifyPayload("$2") + `) FROM b)`
		s.version = `SELECT version FROM authkit_token_versions WHERE user_id = $1 AND NOT removed`
		s.bump = `WITH b AS (UPDATE authkit_token_versions SET version = version + 1
			WHERE user_id = $1 AND NOT removed RETURNING version), ` + revoke + notify + `
			SELECT version FROM b, n`
		s.add = `INSERT INTO authkit_token_versions AS t (user_id) VALUES ($1) ON CONFLICT (user_id)
			DO UPDATE SET version = t.version + 1, removed = false WHERE t.removed`
		s.remove = `WITH b AS (UPDATE authkit_token_versions SET removed = true WHERE user_id = $1 AND NOT removed RETURNING user_id)
			SELECT pg_notify('authkit_v' || 'authkit_token_versions'::regclass::oid, ` + notifyPayload("$1") + `) FROM b`
		return
	}
	t, id, v := c.usersTable, c.usersID, c.usersVersion
	oid := `'` + t + `'::regclass::oid`
	s.channel = `SELECT 'authkit_v' || ` + oid
	s.migrate = append(s.migrate, `ALTER TABLE `+t+` ADD COLUMN IF NOT EXISTS `+v+` bigint NOT NULL DEFAULT 0`)
	s.version = `SELECT GREATEST(` + v + `, ` + floor + `) FROM ` + t + ` WHERE ` + id + ` = $1`
	s.bump = `WITH b AS (UPDATE ` + t + ` SET ` + v + ` = GREATEST(` + v + `, ` + floor + `) + 1
			WHERE ` + id + ` = $1 RETURNING ` + v + ` AS version),
		f AS (INSERT INTO authkit_token_versions (user_id, version) SELECT $2, version FROM b
			ON CONFLICT (user_id) DO UPDATE SET version = EXCLUDED.version), ` + revoke + `
		n AS (SELECT pg_notify('authkit_v' || ` + oid + `, ` + notifyPayload("$2") + `) FROM b)
		SELECT version FROM b, n`
}

// notifyPayload is the SQL of a bump notification's payload: the time of
// sending, in microseconds since the Unix epoch by the database's clock, a
// space, and the user ID (the parameter user), so that a listener can tell
// the lag (notify.go).
func notifyPayload(user string) string {
	return `(floor(extract(epoch FROM clock_timestamp()) * 1000000)::bigint::text || ' ' || ` + user + `)`
}

// migrationLock is the key of the advisory lock that serialises Migrate
// across processes: any fixed number.
const migrationLock = 7215937062843516561

func (s *postgresStore) migrate(ctx context.Context) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("authkit: Migrate: %w", err)
	}
	defer tx.Rollback() // a no-op after Commit
	if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(migrationLock)); err != nil {
		return fmt.Errorf("authkit: Migrate: %w", err)
	}
	for _, q := range s.sql.migrate {
		if _, err := tx.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("authkit: Migrate: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("authkit: Migrate: %w", err)
	}
	return nil
}

func (s *postgresStore) sessions() scs.Store {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.session == nil {
		s.session = &postgresSessions{
			PostgresStore: postgresstore.NewWithConfig(s.db, postgresstore.Config{TableName: s.cfg.sessionTable, CleanUpInterval: s.cfg.cleanup}),
			db:            s.db,
			st:            s,
			sql:           &s.sql,
		}
	}
	return s.session
}

// watch adds c to the caches the store's listener feeds, starting the
// listener (one connection of the pool, held) on the first call.
func (s *postgresStore) watch(c *VersionCache) {
	s.watchers.add(c)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.listener == nil && !s.closed {
		s.listener = startListener(s.db, s.sql.channel, &s.watchers, s.cfg.events)
	}
}

func (s *postgresStore) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	if s.session != nil {
		s.session.stop.Do(s.session.StopCleanup)
	}
	if s.listener != nil {
		s.listener.close()
	}
	if s.cleanup != nil {
		s.cleanup.close()
	}
}

// bound bounds one store call, named op for the events (WithEvents): each
// call is an EventStoreCall when the Store has a hook.
func (s *postgresStore) bound(ctx context.Context, op string) (context.Context, context.CancelFunc) {
	if s.cfg.events == nil {
		return boundStore(ctx, s.cfg.timeout())
	}
	return timedStoreCall(ctx, s.cfg.timeout(), s.cfg.events, op)
}

func (s *postgresStore) Version(ctx context.Context, userID string) (int64, error) {
	args := []any{userID, userID}
	if s.cfg.usersTable == "" {
		args = args[:1] // the kit's table needs no floor ($2)
	}
	return s.scanVersion(ctx, "version.lookup", s.sql.version, "reading a token version", args...)
}

func (s *postgresStore) Bump(ctx context.Context, userID string) (int64, error) {
	return s.scanVersion(ctx, "version.bump", s.sql.bump, "bumping a token version", userID, userID)
}

func (s *postgresStore) scanVersion(ctx context.Context, op, q, what string, args ...any) (int64, error) {
	ctx, cancel := s.bound(ctx, op)
	defer cancel()
	var v int64
	err := storeErr(ctx, s.db.QueryRowContext(ctx, q, args...).Scan(&v))
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return 0, ErrUnknownUser
	case err != nil:
		return 0, fmt.Errorf("authkit: %s: %w", what, err)
	}
	return v, nil
}

var errUsersTable = errors.New("authkit: users are added and removed in the application's users table")

func (s *postgresStore) add(ctx context.Context, userID string) error {
	return s.exec(ctx, "user.add", s.sql.add, "adding a user to the token version table", userID)
}

func (s *postgresStore) remove(ctx context.Context, userID string) error {
	return s.exec(ctx, "user.remove", s.sql.remove, "removing a user from the token version table", userID)
}

func (s *postgresStore) exec(ctx context.Context, op, q, what string, args ...any) error {
	if q == "" {
		return errUsersTable
	}
	ctx, cancel := s.bound(ctx, op)
	defer cancel()
	if _, err := s.db.ExecContext(ctx, q, args...); err != nil {
		return fmt.Errorf("authkit: %s: %w", what, storeErr(ctx, err))
	}
	return nil
}

// The size of a cleanup batch: rows per statement.
const (
	cleanupBatch    = 1000
	cleanupBatchSQL = "1000"
)

// deleteExpired deletes the refresh families past their absolute lifetime
// at now, the expired index rows and DPoP proofs, in batches until none is left that
// another instance is not deleting, and returns how many rows it deleted.
func (s *postgresStore) deleteExpired(ctx context.Context, now time.Time) (int64, error) {
	var total int64
	for _, q := range []struct {
		sql, what string
		args      []any
	}{
		{s.sql.sweepFamilies, "deleting expired refresh families", []any{now}},
		{s.sql.sweepDevices, "deleting expired session index rows", nil},
		{s.sql.sweepProofs, "deleting expired DPoP proofs", []any{now.Add(-dpopProofLifetime)}},
	} {
		for {
			n, err := s.execCount(ctx, q.sql, q.what, q.args...)
			total += n
			if err != nil {
				return total, err
			}
			if n < cleanupBatch {
				break
			}
		}
	}
	return total, nil
}

// cleanup runs a store's deletion of expired rows every interval, in the
// background, until close.
type cleanup struct {
	stop context.CancelFunc
	done chan struct{}
}

func startCleanup(interval time.Duration, run func(context.Context, time.Time) (int64, error)) *cleanup {
	ctx, cancel := context.WithCancel(context.Background())
	c := &cleanup{stop: cancel, done: make(chan struct{})}
	go func() {
		defer close(c.done)
		tick := time.NewTicker(interval)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			if _, err := run(ctx, time.Now()); err != nil && ctx.Err() == nil {
				slog.Warn("authkit: deleting expired rows failed; the next cleanup tries again", "err", err, "in", interval)
			}
		}
	}()
	return c
}

// close stops the cleanup, cancelling a run in progress, and waits for it.
func (c *cleanup) close() {
	c.stop()
	<-c.done
}

// execCount runs q, bounded by the store timeout, and returns the rows it
// affected.
func (s *postgresStore) execCount(ctx context.Context, q, what string, args ...any) (int64, error) {
	ctx, cancel := s.bound(ctx, "cleanup.delete")
	defer cancel()
	res, err := s.db.ExecContext(ctx, q, args...)
	if err != nil {
		return 0, fmt.Errorf("authkit: %s: %w", what, storeErr(ctx, err))
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("authkit: %s: %w", what, err)
	}
	return n, nil
}

// recordProof inserts the key of a proof issued at iat into the table
// every instance on the database shares, with its expiry: the end of the
// proof's lifetime, plus two seconds for the rounding of iat (down to the
// second) and of timestamptz. It reports whether no live row had the key.
func (s *postgresStore) recordProof(ctx context.Context, key [16]byte, iat float64, now time.Time) (bool, error) {
	expires := time.Unix(int64(iat), 0).Add(dpopProofLifetime + 2*time.Second)
	ctx, cancel := s.bound(ctx, "dpop.record")
	defer cancel()
	res, err := s.db.ExecContext(ctx, s.sql.proofInsert, key[:], expires, now)
	if err != nil {
		return false, fmt.Errorf("authkit: recording a DPoP proof: %w", storeErr(ctx, err))
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("authkit: recording a DPoP proof: %w", err)
	}
	return n > 0, nil
}

// dpopSecret is the secret of DPoP nonces, in authkit_keys.
func (s *postgresStore) dpopSecret(ctx context.Context) ([]byte, error) {
	return s.secret(ctx, dpopNonceKeyName)
}

func (s *postgresStore) CreateFamily(ctx context.Context, f RefreshFamily, current [32]byte) error {
	return s.exec(ctx, "family.create", s.sql.familyCreate, "creating a refresh family",
		f.ID, f.UserID, f.Version, current[:], f.CreatedAt, f.ExpiresAt, f.LastUsedAt)
}

func (s *postgresStore) RotateFamily(ctx context.Context, id string, old, next [32]byte, now time.Time) (RefreshFamily, error) {
	ctx, cancel := s.bound(ctx, "family.rotate")
	defer cancel()
	f := RefreshFamily{ID: id}
	err := storeErr(ctx, s.db.QueryRowContext(ctx, s.sql.familyRotate, id, old[:], next[:], now).
		Scan(&f.UserID, &f.Version, &f.CreatedAt, &f.ExpiresAt, &f.LastUsedAt))
	if err == nil {
		return f, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return RefreshFamily{}, fmt.Errorf("authkit: rotating a refresh family: %w", err)
	}
	var revoked sql.NullTime
	err = storeErr(ctx, s.db.QueryRowContext(ctx, s.sql.familyRead, id).
		Scan(&f.UserID, &f.Version, &f.CreatedAt, &f.ExpiresAt, &f.LastUsedAt, &revoked))
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return RefreshFamily{}, ErrFamilyNotFound
	case err != nil:
		return RefreshFamily{}, fmt.Errorf("authkit: reading a refresh family: %w", err)
	}
	if revoked.Valid {
		f.RevokedAt = revoked.Time
	}
	return f, ErrFamilyNotRotated
}

func (s *postgresStore) RevokeFamily(ctx context.Context, id string, now time.Time) (bool, error) {
	ctx, cancel := s.bound(ctx, "family.revoke")
	defer cancel()
	res, err := s.db.ExecContext(ctx, s.sql.familyRevoke, id, now)
	if err != nil {
		return false, fmt.Errorf("authkit: revoking a refresh family: %w", storeErr(ctx, err))
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("authkit: revoking a refresh family: %w", err)
	}
	return n > 0, nil
}

func (s *postgresStore) recordReuse(ctx context.Context, id string, r reuseCheck) (RefreshFamily, bool, bool, error) {
	ctx, cancel := s.bound(ctx, "family.reuse")
	defer cancel()
	f := RefreshFamily{ID: id}
	var revoked bool
	err := storeErr(ctx, s.db.QueryRowContext(ctx, s.sql.familyReuse, id, r.presented[:], r.retry[:], r.retryFrom, r.retryTo, r.now).
		Scan(&f.UserID, &f.Version, &f.CreatedAt, &f.ExpiresAt, &f.LastUsedAt, &f.RevokedAt, &revoked))
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return RefreshFamily{}, false, false, nil
	case err != nil:
		return RefreshFamily{}, false, false, fmt.Errorf("authkit: recording a refresh token's reuse: %w", err)
	}
	return f, true, revoked, nil
}

// postgresSessions is the session store: postgresstore for reads, deletes,
// iteration and cleanup, and the kit's own insert and update (see
// conditionalStore in sessionstore.go), which never re-create a deleted row.
type postgresSessions struct {
	*postgresstore.PostgresStore
	db   *sql.DB
	st   *postgresStore
	sql  *postgresSQL
	stop sync.Once
}

// endsWithContext: every statement below returns when its context is done
// (sessionstore.go).
func (p *postgresSessions) endsWithContext() {}

func (p *postgresSessions) insertCtx(ctx context.Context, key string, b []byte, expiry time.Time) error {
	ctx, cancel := p.st.bound(ctx, "session.insert")
	defer cancel()
	_, err := p.db.ExecContext(ctx, p.sql.sessionInsert, key, b, expiry.UTC())
	return storeErr(ctx, err)
}

// FindCtx, CommitCtx and DeleteCtx are postgresstore's statements, with the
// context (postgresstore has none) and the store timeout.
func (p *postgresSessions) FindCtx(ctx context.Context, key string) ([]byte, bool, error) {
	ctx, cancel := p.st.bound(ctx, "session.find")
	defer cancel()
	var b []byte
	err := p.db.QueryRowContext(ctx, p.sql.sessionFind, key).Scan(&b)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil, false, nil
	case err != nil:
		return nil, false, storeErr(ctx, err)
	}
	return b, true, nil
}

func (p *postgresSessions) CommitCtx(ctx context.Context, key string, b []byte, expiry time.Time) error {
	ctx, cancel := p.st.bound(ctx, "session.commit")
	defer cancel()
	_, err := p.db.ExecContext(ctx, p.sql.sessionUpsert, key, b, expiry.UTC())
	return storeErr(ctx, err)
}

func (p *postgresSessions) DeleteCtx(ctx context.Context, key string) error {
	ctx, cancel := p.st.bound(ctx, "session.delete")
	defer cancel()
	_, err := p.db.ExecContext(ctx, p.sql.sessionDelete, key)
	return storeErr(ctx, err)
}

// updateCtx returns errSessionGone when no row matched.
func (p *postgresSessions) updateCtx(ctx context.Context, key string, b []byte, expiry time.Time) error {
	ctx, cancel := p.st.bound(ctx, "session.update")
	defer cancel()
	var n int64
	if err := p.db.QueryRowContext(ctx, p.sql.sessionUpdate, key, b, expiry.UTC()).Scan(&n); err != nil {
		return storeErr(ctx, err)
	}
	if n == 0 {
		return errSessionGone
	}
	return nil
}

func (p *postgresSessions) indexSession(ctx context.Context, d sessionDevice) error {
	return p.st.exec(ctx, "device.insert", p.sql.deviceInsert, "recording a session's device", d.id, d.userID, d.storeKey, d.created, d.expiry.UTC())
}

func (p *postgresSessions) bump(ctx context.Context, userID string) (int64, error) {
	return p.st.Bump(ctx, userID)
}

func (s *postgresStore) devices(ctx context.Context, userID string) ([]Device, error) {
	ctx, cancel := s.bound(ctx, "device.list")
	defer cancel()
	rows, err := s.db.QueryContext(ctx, s.sql.deviceList, userID)
	if err != nil {
		return nil, fmt.Errorf("authkit: listing devices: %w", storeErr(ctx, err))
	}
	defer rows.Close()
	var ds []Device
	for rows.Next() {
		var d Device
		if err := rows.Scan(&d.ID, &d.Kind, &d.Created, &d.LastUsed); err != nil {
			return nil, fmt.Errorf("authkit: listing devices: %w", storeErr(ctx, err))
		}
		ds = append(ds, d)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("authkit: listing devices: %w", storeErr(ctx, err))
	}
	return ds, nil
}

func (s *postgresStore) endDevice(ctx context.Context, userID, id string) (bool, error) {
	ctx, cancel := s.bound(ctx, "device.end")
	defer cancel()
	var n int64
	if err := s.db.QueryRowContext(ctx, s.sql.deviceEnd, id, userID).Scan(&n); err != nil {
		return false, fmt.Errorf("authkit: ending a device: %w", storeErr(ctx, err))
	}
	if n > 0 {
		return true, nil
	}
	res, err := s.db.ExecContext(ctx, s.sql.deviceEndFamily, id, userID)
	if err != nil {
		return false, fmt.Errorf("authkit: ending a device: %w", storeErr(ctx, err))
	}
	n, err = res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("authkit: ending a device: %w", err)
	}
	return n > 0, nil
}

// sessionSecret returns the secret of the session cookie's MAC, shared by
// every process on the database.
func (p *postgresSessions) sessionSecret(ctx context.Context) ([]byte, error) {
	return p.st.secret(ctx, sessionKeyName)
}

// secret returns the secret name in authkit_keys, shared by every process
// on the database: the first to ask stores a random one, and everyone reads
// what is stored (a separate statement, so that it sees a row another
// process committed meanwhile).
func (s *postgresStore) secret(ctx context.Context, name string) ([]byte, error) {
	ctx, cancel := s.bound(ctx, "key.read")
	defer cancel()
	fresh := make([]byte, 32)
	rand.Read(fresh) // never fails
	if _, err := s.db.ExecContext(ctx, s.sql.keyInsert, name, fresh); err != nil {
		return nil, storeErr(ctx, err)
	}
	var secret []byte
	if err := s.db.QueryRowContext(ctx, s.sql.keyRead, name).Scan(&secret); err != nil {
		return nil, storeErr(ctx, err)
	}
	if len(secret) < minSessionSecret {
		return nil, fmt.Errorf("authkit_keys holds a %d-byte %s, want %d", len(secret), name, minSessionSecret)
	}
	return secret, nil
}

var identRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,62}$`)

// quoteIdent validates a plain SQL identifier and quotes it.
func quoteIdent(s string) (string, error) {
	if !identRE.MatchString(s) {
		return "", fmt.Errorf("%q is not a plain SQL identifier", s)
	}
	return quoteIdentUnchecked(s), nil
}

func quoteIdentUnchecked(s string) string { return `"` + s + `"` }

// quoteQualified validates and quotes "table" or "schema.table".
func quoteQualified(s string) (string, error) {
	parts := strings.Split(s, ".")
	if len(parts) > 2 {
		return "", fmt.Errorf("%q: at most schema.table", s)
	}
	for i, p := range parts {
		q, err := quoteIdent(p)
		if err != nil {
			return "", err
		}
		parts[i] = q
	}
	return strings.Join(parts, "."), nil
}
