package authkit

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/singleflight"
)

// This file holds the token-version stores (in memory and PostgreSQL) and
// the VersionCache that puts a short-lived, bounded cache in front of any
// VersionLookup. A store's Version method and a cache's Lookup method are
// both VersionLookups.

// MemoryVersionStore keeps token versions in memory, for tests, demos and
// single-process programs. A user must be added before its version can be
// looked up: an unknown (or removed) user is [ErrUnknownUser]. It is safe for
// concurrent use.
type MemoryVersionStore struct {
	mu       sync.RWMutex
	versions map[string]int64
}

// NewMemoryVersionStore returns a store that knows userIDs, each at
// version 0.
func NewMemoryVersionStore(userIDs ...string) *MemoryVersionStore {
	s := &MemoryVersionStore{versions: make(map[string]int64, len(userIDs))}
	for _, id := range userIDs {
		s.versions[id] = 0
	}
	return s
}

// Add makes userID known at version 0; a known user keeps its version.
func (s *MemoryVersionStore) Add(userID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.versions[userID]; !ok {
		s.versions[userID] = 0
	}
}

// Remove forgets userID (a deleted or disabled user): from then on its
// lookups return [ErrUnknownUser], so all its credentials are refused.
func (s *MemoryVersionStore) Remove(userID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.versions, userID)
}

// Version returns the user's current version, or an error wrapping
// [ErrUnknownUser]. Its method value is a [VersionLookup].
func (s *MemoryVersionStore) Version(_ context.Context, userID string) (int64, error) {
	s.mu.RLock()
	v, ok := s.versions[userID]
	s.mu.RUnlock()
	if !ok {
		return 0, ErrUnknownUser
	}
	return v, nil
}

// Bump increments the user's version atomically and returns the new one:
// every session and token issued under an older version is refused from
// then on. An unknown user is [ErrUnknownUser].
func (s *MemoryVersionStore) Bump(_ context.Context, userID string) (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.versions[userID]
	if !ok {
		return 0, ErrUnknownUser
	}
	v++
	s.versions[userID] = v
	return v, nil
}

// PostgresVersionsSchema creates the table of the store that
// [NewPostgresVersionStore] returns. It is idempotent;
// [PostgresVersionStore.Migrate] runs it.
const PostgresVersionsSchema = `CREATE TABLE IF NOT EXISTS authkit_token_versions (
	user_id text   PRIMARY KEY,
	version bigint NOT NULL DEFAULT 0
)`

// PostgresVersionStore keeps token versions in PostgreSQL, through
// [database/sql]: either in a table of its own (authkit_token_versions, see
// [NewPostgresVersionStore]) or in a column of the application's users table
// (see [NewPostgresUsersVersionStore]). Every statement is parameterized;
// table and column names are validated and quoted once, at construction.
// It is safe for concurrent use.
type PostgresVersionStore struct {
	db        *sql.DB
	ownTable  bool
	migrate   string
	selectSQL string
	bumpSQL   string
}

// NewPostgresVersionStore returns a store in its own table,
// authkit_token_versions. A user must be added ([PostgresVersionStore.Add])
// when it is created: an unknown user is [ErrUnknownUser]. Call
// [PostgresVersionStore.Migrate] once to create the table.
func NewPostgresVersionStore(db *sql.DB) (*PostgresVersionStore, error) {
	if db == nil {
		return nil, errors.New("authkit: NewPostgresVersionStore: nil *sql.DB")
	}
	return &PostgresVersionStore{
		db:        db,
		ownTable:  true,
		migrate:   PostgresVersionsSchema,
		selectSQL: `SELECT version FROM authkit_token_versions WHERE user_id = $1`,
		bumpSQL:   `UPDATE authkit_token_versions SET version = version + 1 WHERE user_id = $1 RETURNING version`,
	}, nil
}

// NewPostgresUsersVersionStore returns a store that keeps the version in
// versionColumn of the application's own table, whose row for a user is the
// one with idColumn = the user ID (the ID is passed as a text parameter;
// PostgreSQL converts it to the column's type). A user without a row is
// [ErrUnknownUser]. [PostgresVersionStore.Migrate] adds the column
// (bigint NOT NULL DEFAULT 0) if it is missing.
//
// table may be schema-qualified ("app.users"). Names must be plain SQL
// identifiers (letters, digits, underscores, not starting with a digit, at
// most 63 bytes); they are quoted, so they are case-sensitive: pass them as
// PostgreSQL stores them (lower case, unless created quoted). They come from
// the program's configuration, never from a request.
func NewPostgresUsersVersionStore(db *sql.DB, table, idColumn, versionColumn string) (*PostgresVersionStore, error) {
	if db == nil {
		return nil, errors.New("authkit: NewPostgresUsersVersionStore: nil *sql.DB")
	}
	t, err := quoteQualified(table)
	if err != nil {
		return nil, fmt.Errorf("authkit: NewPostgresUsersVersionStore: table: %w", err)
	}
	id, err := quoteIdent(idColumn)
	if err != nil {
		return nil, fmt.Errorf("authkit: NewPostgresUsersVersionStore: id column: %w", err)
	}
	v, err := quoteIdent(versionColumn)
	if err != nil {
		return nil, fmt.Errorf("authkit: NewPostgresUsersVersionStore: version column: %w", err)
	}
	return &PostgresVersionStore{
		db:        db,
		migrate:   `ALTER TABLE ` + t + ` ADD COLUMN IF NOT EXISTS ` + v + ` bigint NOT NULL DEFAULT 0`,
		selectSQL: `SELECT ` + v + ` FROM ` + t + ` WHERE ` + id + ` = $1`,
		bumpSQL:   `UPDATE ` + t + ` SET ` + v + ` = ` + v + ` + 1 WHERE ` + id + ` = $1 RETURNING ` + v,
	}, nil
}

var identRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,62}$`)

func quoteIdent(s string) (string, error) {
	if !identRE.MatchString(s) {
		return "", fmt.Errorf("%q is not a plain SQL identifier", s)
	}
	return `"` + s + `"`, nil
}

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

// Migrate creates the store's table (own table), or adds the version column
// to the users table if it is missing. It is idempotent.
func (s *PostgresVersionStore) Migrate(ctx context.Context) error {
	if _, err := s.db.ExecContext(ctx, s.migrate); err != nil {
		return fmt.Errorf("authkit: migrating the token version store: %w", err)
	}
	return nil
}

// Version returns the user's current version, or an error wrapping
// [ErrUnknownUser] when there is no row for the user. Its method value is a
// [VersionLookup]. Any other error is a failure of the database.
func (s *PostgresVersionStore) Version(ctx context.Context, userID string) (int64, error) {
	var v int64
	err := s.db.QueryRowContext(ctx, s.selectSQL, userID).Scan(&v)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return 0, ErrUnknownUser
	case err != nil:
		return 0, fmt.Errorf("authkit: reading a token version: %w", err)
	}
	return v, nil
}

// Bump increments the user's version in one UPDATE … RETURNING and returns
// the new one: every session and token issued under an older version is
// refused from then on. A user without a row is [ErrUnknownUser]. When the
// lookups go through a [VersionCache], bump through
// [VersionCache.Bump] so that the cache forgets the old version at once.
func (s *PostgresVersionStore) Bump(ctx context.Context, userID string) (int64, error) {
	var v int64
	err := s.db.QueryRowContext(ctx, s.bumpSQL, userID).Scan(&v)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return 0, ErrUnknownUser
	case err != nil:
		return 0, fmt.Errorf("authkit: bumping a token version: %w", err)
	}
	return v, nil
}

var errUsersTable = errors.New("authkit: users are added and removed in the application's users table")

// Add makes userID known at version 0, in the store's own table; a known
// user keeps its version. On a store over the application's users table it
// returns an error: users are created there.
func (s *PostgresVersionStore) Add(ctx context.Context, userID string) error {
	if !s.ownTable {
		return errUsersTable
	}
	if _, err := s.db.ExecContext(ctx, `INSERT INTO authkit_token_versions (user_id) VALUES ($1)
		ON CONFLICT (user_id) DO NOTHING`, userID); err != nil {
		return fmt.Errorf("authkit: adding a user to the token version store: %w", err)
	}
	return nil
}

// Remove forgets userID (a deleted or disabled user), in the store's own
// table: from then on its lookups return [ErrUnknownUser], so all its
// credentials are refused. On a store over the application's users table it
// returns an error.
func (s *PostgresVersionStore) Remove(ctx context.Context, userID string) error {
	if !s.ownTable {
		return errUsersTable
	}
	if _, err := s.db.ExecContext(ctx, `DELETE FROM authkit_token_versions WHERE user_id = $1`, userID); err != nil {
		return fmt.Errorf("authkit: removing a user from the token version store: %w", err)
	}
	return nil
}

// Defaults of [NewVersionCache].
const (
	DefaultVersionCacheTTL  = 5 * time.Second // how long a looked-up version is trusted
	MaxVersionCacheTTL      = 5 * time.Minute // the longest TTL WithCacheTTL accepts
	DefaultVersionCacheSize = 10000           // the most users the cache holds
)

// VersionCache puts a small cache in front of a [VersionLookup], so that a
// busy user costs at most one store query per TTL (RFC 9700 revocation with
// bounded latency). Its Lookup method value is itself a VersionLookup: pass
// cache.Lookup wherever one is wanted ([WithVersionCheck], [NewIssuer], the
// session authenticator).
//
//   - An entry lives for the TTL ([WithCacheTTL], default 5 seconds): a version
//     bumped on another instance (or directly in the database) is seen within
//     it. A bump through [VersionCache.Bump] is seen by this instance at once.
//   - The cache holds at most [WithCacheSize] users (default 10 000); an
//     entry leaves when its TTL ends (by timer), and when the cache is full
//     an arbitrary entry makes room for the new one.
//   - Concurrent misses for one user share one lookup (singleflight): 100
//     requests of a user whose entry expired cost one store query. A caller
//     whose context ends stops waiting; the shared lookup runs on, detached
//     from any one caller's cancellation, so the store (or its driver) must
//     bound its own time, e.g. with a statement timeout.
//   - It fails closed: an error, including [ErrUnknownUser], is returned to
//     every caller that shared the lookup and is never cached, so the next
//     miss asks the store again.
//
// A VersionCache is safe for concurrent use. A hit takes no lock, reads no
// clock and allocates nothing.
type VersionCache struct {
	lookup VersionLookup
	bump   func(ctx context.Context, userID string) (int64, error)
	ttl    time.Duration
	size   int
	now    func() time.Time // set by WithCacheClock; nil: entries expire by timer
	epoch  time.Time        // c.now() at construction, when c.now is set
	group  singleflight.Group

	// entries maps a user ID to an immutable *cacheEntry. Reads take no
	// lock; writes (fill, expire, Forget) hold mu, which also guards n.
	entries sync.Map
	gen     atomic.Uint64 // incremented by Forget; a fill that started before is dropped
	mu      sync.Mutex
	n       int
}

type cacheEntry struct {
	version int64
	expires time.Duration // since epoch; only with WithCacheClock
}

// VersionCacheOption configures [NewVersionCache].
type VersionCacheOption func(*VersionCache) error

// WithCacheTTL sets how long a looked-up version is trusted: the longest a
// bump made elsewhere (another instance, the database directly) takes to
// reach this instance. It must be positive and at most [MaxVersionCacheTTL].
// Default: [DefaultVersionCacheTTL] (5 seconds).
func WithCacheTTL(d time.Duration) VersionCacheOption {
	return func(c *VersionCache) error {
		if d <= 0 || d > MaxVersionCacheTTL {
			return fmt.Errorf("WithCacheTTL(%v): must be positive and at most %v", d, MaxVersionCacheTTL)
		}
		c.ttl = d
		return nil
	}
}

// WithCacheSize sets the most users the cache holds. It must be positive.
// Default: [DefaultVersionCacheSize] (10 000).
func WithCacheSize(n int) VersionCacheOption {
	return func(c *VersionCache) error {
		if n <= 0 {
			return fmt.Errorf("WithCacheSize(%d): must be positive", n)
		}
		c.size = n
		return nil
	}
}

// WithCacheBump sets the function [VersionCache.Bump] calls to increment a
// user's version in the store, typically the store's Bump method value
// (MemoryVersionStore.Bump, PostgresVersionStore.Bump). Default: none;
// Bump then returns an error.
func WithCacheBump(bump func(ctx context.Context, userID string) (int64, error)) VersionCacheOption {
	return func(c *VersionCache) error {
		if bump == nil {
			return errors.New("WithCacheBump(nil)")
		}
		c.bump = bump
		return nil
	}
}

// WithCacheClock sets the function that tells the current time, for tests:
// entries then expire by this clock, checked on each lookup. Default: the
// system clock; entries expire by timer, so that a hit reads no clock.
func WithCacheClock(now func() time.Time) VersionCacheOption {
	return func(c *VersionCache) error {
		if now == nil {
			return errors.New("WithCacheClock(nil)")
		}
		c.now = now
		return nil
	}
}

// NewVersionCache returns a cache in front of lookup.
func NewVersionCache(lookup VersionLookup, opts ...VersionCacheOption) (*VersionCache, error) {
	if lookup == nil {
		return nil, errors.New("authkit: NewVersionCache: nil VersionLookup")
	}
	c := &VersionCache{
		lookup: lookup,
		ttl:    DefaultVersionCacheTTL,
		size:   DefaultVersionCacheSize,
	}
	var errs []error
	for _, o := range opts {
		if o == nil {
			continue
		}
		if err := o(c); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("authkit: NewVersionCache: %w", err)
	}
	if c.now != nil {
		c.epoch = c.now()
	}
	return c, nil
}

// Lookup returns the user's current version, from the cache when an entry
// younger than the TTL is there, otherwise from the wrapped lookup (one call
// for all concurrent callers for that user). Errors are returned as the
// wrapped lookup returned them and are not cached. Its method value is a
// [VersionLookup].
func (c *VersionCache) Lookup(ctx context.Context, userID string) (int64, error) {
	gen := c.gen.Load()
	if v, ok := c.entries.Load(userID); ok {
		// Without an injected clock an entry is removed by a timer when its
		// TTL ends, so a hit reads no clock: on virtual machines reading the
		// clock costs more than the rest of a hit.
		if e := v.(*cacheEntry); c.now == nil || c.now().Sub(c.epoch) < e.expires {
			return e.version, nil
		}
	}
	return c.miss(ctx, userID, gen)
}

func (c *VersionCache) miss(ctx context.Context, userID string, gen uint64) (int64, error) {
	ch := c.group.DoChan(userID, func() (any, error) {
		v, err := c.lookup(context.WithoutCancel(ctx), userID)
		if err != nil {
			return nil, err
		}
		c.fill(userID, v, gen)
		return v, nil
	})
	select {
	case res := <-ch:
		if res.Err != nil {
			return 0, res.Err
		}
		return res.Val.(int64), nil
	case <-ctx.Done():
		return 0, ctx.Err()
	}
}

// fill stores a looked-up version, unless Forget ran since the lookup began
// (its result may predate a bump), and arranges for it to expire. When the
// cache is full it drops an arbitrary other entry (with an injected clock,
// the expired ones first).
func (c *VersionCache) fill(userID string, v int64, gen uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen.Load() != gen {
		return
	}
	e := &cacheEntry{version: v}
	if c.now == nil {
		time.AfterFunc(c.ttl, func() { c.expire(userID, e) })
	} else {
		now := c.now().Sub(c.epoch)
		e.expires = now + c.ttl
		if c.n >= c.size {
			c.entries.Range(func(k, v any) bool {
				if now >= v.(*cacheEntry).expires {
					c.entries.Delete(k)
					c.n--
				}
				return true
			})
		}
	}
	if _, loaded := c.entries.Swap(userID, e); !loaded {
		c.n++
	}
	if c.n > c.size {
		c.entries.Range(func(k, _ any) bool {
			if k == userID {
				return true
			}
			c.entries.Delete(k)
			c.n--
			return false
		})
	}
}

// expire removes e, unless it was replaced or removed already.
func (c *VersionCache) expire(userID string, e *cacheEntry) {
	c.mu.Lock()
	if c.entries.CompareAndDelete(userID, e) {
		c.n--
	}
	c.mu.Unlock()
}

// Forget drops the cached version of userID, so that the next Lookup asks
// the store; a lookup already in flight is not cached and not shared with
// later callers. Call it after changing the version other than through
// [VersionCache.Bump].
func (c *VersionCache) Forget(userID string) {
	c.mu.Lock()
	if _, ok := c.entries.LoadAndDelete(userID); ok {
		c.n--
	}
	c.gen.Add(1)
	c.mu.Unlock()
	c.group.Forget(userID)
}

// Bump increments the user's version through the function set with
// [WithCacheBump] and forgets the cached version, so that on this instance
// every credential of the user issued before is refused as soon as Bump
// returns (other instances see it within their TTL). This is "log out
// everywhere": sessions, refresh-token families and, with
// [WithVersionCheck], access tokens. It returns the new version, or the
// store's error ([ErrUnknownUser] for an unknown user).
func (c *VersionCache) Bump(ctx context.Context, userID string) (int64, error) {
	if c.bump == nil {
		return 0, errors.New("authkit: VersionCache.Bump: no bump function; see WithCacheBump")
	}
	v, err := c.bump(ctx, userID)
	c.Forget(userID)
	return v, err
}
