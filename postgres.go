package authkit

import (
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
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
	swept    atomic.Int64 // Unix ns of the last sweep of expired families
	watchers watchers
	listener *listener // started by the first watch, guarded by mu
	closed   bool      // guarded by mu
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
	migrate                         []string
	version, bump, add, remove      string
	sessionInsert, sessionUpdate    string
	sessionFind, sessionUpsert      string
	sessionDelete                   string
	familyCreate, familyRotate      string
	familyRead, familyRevoke, sweep string
	keyInsert, keyRead              string
	deviceInsert, deviceList        string
	deviceEnd, deviceEndFamily      string
	channel                         string // the name of the bump notifications' channel
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

// NewPostgresStore returns a [Store] in PostgreSQL through [database/sql]
// (any driver; the tests use pgx), shared by every process on the database.
// It does not touch the database: [Store.Migrate] creates the session table
// (default "sessions", scs's schema), authkit_refresh_families,
// authkit_keys (the session cookie's key, see [WithSessionSecret]) and,
// unless [WithUsersTable], authkit_token_versions. scs deletes expired
// sessions every five minutes. Every statement but Migrate's is bounded by
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
	return &Store{b: &postgresStore{db: db, cfg: cfg, sql: buildSQL(cfg)}}, nil
}

func buildSQL(c postgresConfig) postgresSQL {
	s := postgresSQL{
		migrate: []string{
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
		},
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
		// Index rows expire with their sessions, by the database's clock.
		sweep: `WITH d AS (DELETE FROM authkit_session_devices WHERE expiry <= current_timestamp)
			DELETE FROM authkit_refresh_families WHERE expires_at <= $1`,
	}
	versionSQL(c, &s)
	return s
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

// sweep deletes, at most once per familySweepInterval, the expired
// families and index rows. Across instances it is idempotent.
func (s *postgresStore) sweep(ctx context.Context, now time.Time) error {
	if last := s.swept.Load(); now.UnixNano()-last >= int64(familySweepInterval) &&
		s.swept.CompareAndSwap(last, now.UnixNano()) {
		return s.exec(ctx, "family.sweep", s.sql.sweep, "deleting expired refresh families and session index rows", now)
	}
	return nil
}

func (s *postgresStore) CreateFamily(ctx context.Context, f RefreshFamily, current [32]byte) error {
	if err := s.sweep(ctx, f.CreatedAt); err != nil {
		return err
	}
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
	if err := p.st.sweep(ctx, d.created); err != nil {
		return err
	}
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
// every process on the database: the first to ask stores a random one, and
// everyone reads what is stored (a separate statement, so that it sees a
// row another process committed meanwhile).
func (p *postgresSessions) sessionSecret(ctx context.Context) ([]byte, error) {
	ctx, cancel := p.st.bound(ctx, "session.key")
	defer cancel()
	fresh := make([]byte, 32)
	rand.Read(fresh) // never fails
	if _, err := p.db.ExecContext(ctx, p.sql.keyInsert, sessionKeyName, fresh); err != nil {
		return nil, storeErr(ctx, err)
	}
	var secret []byte
	if err := p.db.QueryRowContext(ctx, p.sql.keyRead, sessionKeyName).Scan(&secret); err != nil {
		return nil, storeErr(ctx, err)
	}
	if len(secret) < minSessionSecret {
		return nil, fmt.Errorf("authkit_keys holds a %d-byte %s, want %d", len(secret), sessionKeyName, minSessionSecret)
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
