package authkit

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"time"
)

// RefreshFamily is one login's chain of refresh tokens, as a [FamilyStore]
// keeps it (RFC 9700 §4.14.2). Every login starts a family; every refresh
// replaces its current token; presenting any other token of the family
// revokes it. The store holds only the SHA-256 of the current token's ID
// (jti), never a token.
type RefreshFamily struct {
	ID         string    // random, 130 bits; carried in the tokens' "fam" claim
	UserID     string    // the user the family belongs to
	Version    int64     // the user's token version when the family started
	CreatedAt  time.Time // the login
	ExpiresAt  time.Time // absolute end of the family; rotation never extends it
	LastUsedAt time.Time // the last rotation (the login before the first)
	RevokedAt  time.Time // when it was revoked; zero while it is live
}

// Errors a [FamilyStore] returns from RotateFamily.
var (
	// ErrFamilyNotFound means the store holds no family with that ID (it
	// never existed, or it was deleted after it expired).
	ErrFamilyNotFound = errors.New("authkit: refresh family not found")

	// ErrFamilyNotRotated means the family exists but was not rotated: it is
	// revoked, past its absolute expiry, or the presented token is not its
	// current one (a rotated token presented again: reuse).
	ErrFamilyNotRotated = errors.New("authkit: refresh family not rotated")
)

// FamilyStore keeps refresh-token families. [NewMemoryFamilyStore] and
// [NewPostgresFamilyStore] implement it. Implementations must be safe for
// concurrent use, and RotateFamily must be atomic: of any number of
// concurrent calls with the same old hash, at most one succeeds.
//
// Times are passed in by the kit (from its clock), so that stores never read
// their own.
type FamilyStore interface {
	// CreateFamily records a new family whose current token has the ID hash
	// current. f.ID is new and unique.
	CreateFamily(ctx context.Context, f RefreshFamily, current [32]byte) error

	// RotateFamily replaces the family's current token hash old by next and
	// sets LastUsedAt to now, if and only if, in one atomic step, the family
	// exists, is not revoked, expires after now, and its current hash is
	// old. It returns the updated family. Otherwise it changes nothing and
	// returns ErrFamilyNotFound, or ErrFamilyNotRotated together with the
	// family as stored (so the caller can tell revoked, expired and reuse
	// apart). Any other error is a failure of the store.
	RotateFamily(ctx context.Context, id string, old, next [32]byte, now time.Time) (RefreshFamily, error)

	// RevokeFamily marks the family revoked at now, unless it already is.
	// It reports whether this call revoked it; an unknown family is not an
	// error (false, nil).
	RevokeFamily(ctx context.Context, id string, now time.Time) (bool, error)
}

// MemoryFamilyStore is a [FamilyStore] in memory, for tests, demos and
// single-process programs: families do not survive a restart and are not
// shared between processes. Call [MemoryFamilyStore.DeleteExpired] now and
// then to drop expired families. It is safe for concurrent use.
type MemoryFamilyStore struct {
	mu       sync.Mutex
	families map[string]*memoryFamily
}

type memoryFamily struct {
	RefreshFamily
	current [32]byte
}

// NewMemoryFamilyStore returns an empty in-memory family store.
func NewMemoryFamilyStore() *MemoryFamilyStore {
	return &MemoryFamilyStore{families: make(map[string]*memoryFamily)}
}

// CreateFamily implements [FamilyStore]. A duplicate ID is an error.
func (s *MemoryFamilyStore) CreateFamily(_ context.Context, f RefreshFamily, current [32]byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, dup := s.families[f.ID]; dup {
		return fmt.Errorf("authkit: refresh family %q exists", f.ID)
	}
	s.families[f.ID] = &memoryFamily{RefreshFamily: f, current: current}
	return nil
}

// RotateFamily implements [FamilyStore].
func (s *MemoryFamilyStore) RotateFamily(_ context.Context, id string, old, next [32]byte, now time.Time) (RefreshFamily, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f, ok := s.families[id]
	if !ok {
		return RefreshFamily{}, ErrFamilyNotFound
	}
	if f.current != old || !f.RevokedAt.IsZero() || !now.Before(f.ExpiresAt) {
		return f.RefreshFamily, ErrFamilyNotRotated
	}
	f.current = next
	f.LastUsedAt = now
	return f.RefreshFamily, nil
}

// RevokeFamily implements [FamilyStore].
func (s *MemoryFamilyStore) RevokeFamily(_ context.Context, id string, now time.Time) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f, ok := s.families[id]
	if !ok || !f.RevokedAt.IsZero() {
		return false, nil
	}
	f.RevokedAt = now
	return true, nil
}

// DeleteExpired drops the families whose absolute expiry is not after now,
// revoked or not, and returns how many it dropped. A token of a dropped
// family is refused like any unknown one.
func (s *MemoryFamilyStore) DeleteExpired(_ context.Context, now time.Time) (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var n int64
	for id, f := range s.families {
		if !now.Before(f.ExpiresAt) {
			delete(s.families, id)
			n++
		}
	}
	return n, nil
}

// PostgresFamiliesSchema creates the table of [PostgresFamilyStore]. It is
// idempotent; [PostgresFamilyStore.Migrate] runs it. Programs that manage
// their schema with a migration tool can copy it.
const PostgresFamiliesSchema = `CREATE TABLE IF NOT EXISTS authkit_refresh_families (
	family_id    text        PRIMARY KEY,
	user_id      text        NOT NULL,
	version      bigint      NOT NULL,
	current_hash bytea       NOT NULL,
	created_at   timestamptz NOT NULL,
	expires_at   timestamptz NOT NULL,
	last_used_at timestamptz NOT NULL,
	revoked_at   timestamptz
);
CREATE INDEX IF NOT EXISTS authkit_refresh_families_expires_at_idx ON authkit_refresh_families (expires_at);
CREATE INDEX IF NOT EXISTS authkit_refresh_families_user_id_idx ON authkit_refresh_families (user_id);`

// PostgresFamilyStore is a [FamilyStore] in the PostgreSQL table
// authkit_refresh_families (see [PostgresFamiliesSchema]), through
// [database/sql] with any PostgreSQL driver (pgx's stdlib driver, lib/pq).
// Every statement is parameterized. Rotation is one conditional UPDATE, so
// that PostgreSQL's row lock decides concurrent refreshes with the same
// token: exactly one wins. It is safe for concurrent use.
type PostgresFamilyStore struct {
	db *sql.DB
}

// NewPostgresFamilyStore returns a family store on db. It does not create
// the table; call [PostgresFamilyStore.Migrate] (or run
// [PostgresFamiliesSchema]) once.
func NewPostgresFamilyStore(db *sql.DB) (*PostgresFamilyStore, error) {
	if db == nil {
		return nil, errors.New("authkit: NewPostgresFamilyStore: nil *sql.DB")
	}
	return &PostgresFamilyStore{db: db}, nil
}

// Migrate creates the table and its indexes if they do not exist.
func (s *PostgresFamilyStore) Migrate(ctx context.Context) error {
	if _, err := s.db.ExecContext(ctx, PostgresFamiliesSchema); err != nil {
		return fmt.Errorf("authkit: creating the refresh family table: %w", err)
	}
	return nil
}

// CreateFamily implements [FamilyStore].
func (s *PostgresFamilyStore) CreateFamily(ctx context.Context, f RefreshFamily, current [32]byte) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO authkit_refresh_families
		(family_id, user_id, version, current_hash, created_at, expires_at, last_used_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7)`,
		f.ID, f.UserID, f.Version, current[:], f.CreatedAt, f.ExpiresAt, f.LastUsedAt)
	if err != nil {
		return fmt.Errorf("authkit: creating a refresh family: %w", err)
	}
	return nil
}

// RotateFamily implements [FamilyStore] with
//
//	UPDATE … SET current_hash = $next WHERE family_id = $id AND current_hash = $old
//	AND revoked_at IS NULL AND expires_at > $now RETURNING …
//
// and, only when no row was updated, a SELECT that tells why.
func (s *PostgresFamilyStore) RotateFamily(ctx context.Context, id string, old, next [32]byte, now time.Time) (RefreshFamily, error) {
	f := RefreshFamily{ID: id}
	err := s.db.QueryRowContext(ctx, `UPDATE authkit_refresh_families
		SET current_hash = $3, last_used_at = $4
		WHERE family_id = $1 AND current_hash = $2 AND revoked_at IS NULL AND expires_at > $4
		RETURNING user_id, version, created_at, expires_at, last_used_at`,
		id, old[:], next[:], now).Scan(&f.UserID, &f.Version, &f.CreatedAt, &f.ExpiresAt, &f.LastUsedAt)
	if err == nil {
		return f, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return RefreshFamily{}, fmt.Errorf("authkit: rotating a refresh family: %w", err)
	}
	var revoked sql.NullTime
	err = s.db.QueryRowContext(ctx, `SELECT user_id, version, created_at, expires_at, last_used_at, revoked_at
		FROM authkit_refresh_families WHERE family_id = $1`, id).
		Scan(&f.UserID, &f.Version, &f.CreatedAt, &f.ExpiresAt, &f.LastUsedAt, &revoked)
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

// RevokeFamily implements [FamilyStore].
func (s *PostgresFamilyStore) RevokeFamily(ctx context.Context, id string, now time.Time) (bool, error) {
	res, err := s.db.ExecContext(ctx, `UPDATE authkit_refresh_families SET revoked_at = $2
		WHERE family_id = $1 AND revoked_at IS NULL`, id, now)
	if err != nil {
		return false, fmt.Errorf("authkit: revoking a refresh family: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("authkit: revoking a refresh family: %w", err)
	}
	return n > 0, nil
}

// DeleteExpired deletes the families whose absolute expiry is not after now,
// revoked or not, and returns how many it deleted. Run it now and then (a
// daily job is plenty); a token of a deleted family is refused like any
// unknown one.
func (s *PostgresFamilyStore) DeleteExpired(ctx context.Context, now time.Time) (int64, error) {
	res, err := s.db.ExecContext(ctx, `DELETE FROM authkit_refresh_families WHERE expires_at <= $1`, now)
	if err != nil {
		return 0, fmt.Errorf("authkit: deleting expired refresh families: %w", err)
	}
	return res.RowsAffected()
}
