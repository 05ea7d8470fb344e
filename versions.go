package authkit

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/singleflight"
)

// VersionLookup returns the current token version of a user: a number the
// application stores per user and only ever increases. Every session and
// token records the version it was issued under; once the user's version is
// higher, they are refused. Bumping it logs the user out everywhere.
//
// A lookup for a user that does not exist or is disabled must return an error
// wrapping [ErrUnknownUser]: the credential is refused (401). Any other
// non-nil error means the store failed: the kit fails closed (500 on a
// protected route, no token issued on refresh), it never lets the request
// through. A VersionLookup is called concurrently and must be safe for that.
type VersionLookup func(ctx context.Context, userID string) (int64, error)

// VersionStore keeps users' token versions: Version is a [VersionLookup],
// Bump increments the version atomically and returns the new one (an unknown
// user is [ErrUnknownUser] for both). [Store]
// implement it; so may the application's own user store. Implementations
// must be safe for concurrent use.
type VersionStore interface {
	Version(ctx context.Context, userID string) (int64, error)
	Bump(ctx context.Context, userID string) (int64, error)
}

// The version cache's limits and defaults.
const (
	defaultVersionCacheTTL  = 5 * time.Second
	maxVersionCacheTTL      = 5 * time.Minute
	defaultVersionCacheSize = 10000
)

// currentVersion asks lookup for the user's version. An unknown user refuses
// the credential (an error wrapping ErrInvalidToken and ErrUnknownUser); any
// other failure is returned wrapped, for a 500.
func currentVersion(ctx context.Context, lookup VersionLookup, userID string) (int64, error) {
	current, err := lookup(ctx, userID)
	if err != nil {
		if errors.Is(err, ErrUnknownUser) {
			return 0, invalidTokenCause("user", err)
		}
		return 0, fmt.Errorf("authkit: version lookup: %w", err)
	}
	return current, nil
}

// checkVersion refuses a credential issued under a version below the user's
// current one, and returns the current version. It is the one version check
// of the kit: access tokens, sessions and refresh tokens all go through it.
func checkVersion(ctx context.Context, lookup VersionLookup, userID string, version int64) (int64, error) {
	current, err := currentVersion(ctx, lookup, userID)
	if err != nil {
		return 0, err
	}
	if version < current {
		return 0, revokedToken("token version below the user's current version")
	}
	return current, nil
}

// VersionCache puts a small cache in front of a [VersionStore], so that a
// busy user costs at most one store query per TTL. Its Lookup method value is
// a [VersionLookup] for [WithVersionCheck] and [NewIssuer]. An entry lives
// for the TTL ([WithCacheTTL], default 5 seconds): a bump made elsewhere is
// seen within it, one through [VersionCache.Bump] at once, and one through
// a [Store] at once too (see [NewVersionCache]). It holds at most
// [WithCacheSize] users (default 10 000), evicting an arbitrary one when full.
// Concurrent misses for a user share one query, which runs on when a caller
// gives up but ends at the store timeout ([WithStoreTimeout], default 5
// seconds) with an error wrapping [ErrStoreUnavailable] (503), even if the
// store ignores its context. Errors, [ErrUnknownUser] included, are never
// cached. A store answering a version lower than one the cache has seen
// (for up to [WithCacheSize] users) has lost a bump: the lookup fails (500,
// logged). [Session.Login] and [Issuer.Issue] read through the cache to the
// store, so that they record the current version. A hit takes no lock,
// reads no clock (entries expire by timer; with [WithClock], by that clock)
// and allocates nothing. It is safe for concurrent use.
type VersionCache struct {
	store   VersionStore
	ttl     time.Duration
	size    int
	timeout time.Duration                      // the bound of a shared lookup
	now     func() time.Time                   // set by WithClock; nil: entries expire by timer
	epoch   time.Time                          // c.now() at construction, when c.now is set
	group   atomic.Pointer[singleflight.Group] // replaced by flush, so that later misses join no older flight
	events  eventHook

	// entries maps a user ID to an immutable *cacheEntry. Reads take no
	// lock; writes (fill, expire, Forget) hold mu, which also guards n.
	entries sync.Map
	gen     atomic.Uint64 // incremented by Forget; a fill that started before is dropped
	mu      sync.Mutex
	n       int
	// seen is the highest version looked up or bumped per user (at most
	// size users), guarded by mu: a store that answers lower has lost a
	// bump, and the lookup fails closed.
	seen map[string]int64
}

type cacheEntry struct {
	version int64
	expires time.Duration // since epoch; only with WithClock
}

// cacheConfig is what the options of NewVersionCache set.
type cacheConfig struct {
	common
	ttl  time.Duration
	size int
}

// WithCacheTTL sets how long a looked-up version is trusted: the longest a
// bump made elsewhere (another instance, the database directly) takes to
// reach this instance. It must be positive and at most 5 minutes. Default: 5
// seconds.
func WithCacheTTL(d time.Duration) Option {
	return singleOption("WithCacheTTL", d, forCache, func(c *cacheConfig) error {
		if d <= 0 || d > maxVersionCacheTTL {
			return fmt.Errorf("WithCacheTTL(%v): must be positive and at most %v", d, maxVersionCacheTTL)
		}
		c.ttl = d
		return nil
	})
}

// WithCacheSize sets the most users the cache holds. It must be positive.
// Default: 10 000.
func WithCacheSize(n int) Option {
	return singleOption("WithCacheSize", n, forCache, func(c *cacheConfig) error {
		if n <= 0 {
			return fmt.Errorf("WithCacheSize(%d): must be positive", n)
		}
		c.size = n
		return nil
	})
}

// NewVersionCache returns a cache in front of store. When store is a
// [*Store], every bump and removal through it, in any process, reaches the
// cache at once: in memory directly; in PostgreSQL through LISTEN/NOTIFY on
// one connection of the pool that the Store holds from the first
// NewVersionCache until [Store.Close] (the driver must be pgx, else bumps
// elsewhere take the TTL, with a warning logged). While that connection is
// down the cache relies on its TTL; on reconnecting it forgets every entry,
// since notifications may have been missed. A version changed in the
// database other than through the Store notifies no one.
func NewVersionCache(store VersionStore, opts ...Option) (*VersionCache, error) {
	cfg := cacheConfig{ttl: defaultVersionCacheTTL, size: defaultVersionCacheSize}
	err := applyOptions(opts, forCache, &cfg)
	if isNil(store) {
		err = errors.Join(errors.New("nil VersionStore"), err)
	}
	if err != nil {
		return nil, fmt.Errorf("authkit: NewVersionCache: %w", err)
	}
	c := &VersionCache{store: store, ttl: cfg.ttl, size: cfg.size, timeout: cfg.timeout(), now: cfg.now, seen: make(map[string]int64), events: cfg.events}
	c.group.Store(new(singleflight.Group))
	if c.now != nil {
		c.epoch = c.now()
	}
	if s, ok := store.(interface{ watch(*VersionCache) }); ok {
		s.watch(c) // a *Store: its bumps, and in PostgreSQL everyone's, reach c at once (notify.go)
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
	if ctx.Value(uncachedKey{}) != nil {
		return c.fresh(ctx, userID, gen)
	}
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
	ch := c.group.Load().DoChan(userID, func() (any, error) {
		// A caller that missed just before another flight filled the entry
		// (and ended) finds it here, and costs no second query.
		if v, ok := c.entries.Load(userID); ok && c.gen.Load() == gen {
			if e := v.(*cacheEntry); c.now == nil || c.now().Sub(c.epoch) < e.expires {
				return e.version, nil
			}
		}
		// Detached from the first caller, who may give up, but bounded: a
		// lookup that never answers ends at the store timeout, so that the
		// user's later requests start a fresh one instead of joining it.
		v, err := callBounded(context.WithoutCancel(ctx), c.timeout, func(ctx context.Context) (int64, error) {
			return c.store.Version(ctx, userID)
		})
		if err != nil {
			return nil, err
		}
		if err := c.fill(userID, v, gen); err != nil {
			return nil, err
		}
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

// uncachedKey marks the context of a lookup that must read the store: the
// kit's Login and Issue record the version they read, and a cached one may
// predate a bump made elsewhere.
type uncachedKey struct{}

// uncached returns ctx marked for a [VersionCache] to read the store.
func uncached(ctx context.Context) context.Context {
	return context.WithValue(ctx, uncachedKey{}, true)
}

// fresh reads the store for one caller, sharing no flight (one begun
// earlier may predate a bump), and caches what it read.
func (c *VersionCache) fresh(ctx context.Context, userID string, gen uint64) (int64, error) {
	v, err := callBounded(ctx, c.timeout, func(ctx context.Context) (int64, error) {
		return c.store.Version(ctx, userID)
	})
	if err != nil {
		return 0, err
	}
	if err := c.fill(userID, v, gen); err != nil {
		return 0, err
	}
	return v, nil
}

// errVersionDown is the store fault of a version lower than one seen.
var errVersionDown = errors.New("authkit: the store answered a token version lower than one it answered before (a lost bump, or a restored or re-created user): refused")

// see records v as seen for userID, or reports a store fault if a higher
// one was. The caller holds c.mu.
func (c *VersionCache) see(userID string, v int64) error {
	if hi, ok := c.seen[userID]; ok && v < hi {
		slog.Error(errVersionDown.Error(), "user", userID, "version", v, "seen", hi)
		return errVersionDown
	}
	if _, ok := c.seen[userID]; !ok && len(c.seen) >= c.size {
		for k := range c.seen { // drop an arbitrary one
			delete(c.seen, k)
			break
		}
	}
	c.seen[userID] = v
	return nil
}

// fill stores a looked-up version, unless Forget ran since the lookup began
// (its result may predate a bump), and arranges for it to expire. When the
// cache is full it drops an arbitrary other entry (with an injected clock,
// the expired ones first). A version below one seen before is a store fault.
func (c *VersionCache) fill(userID string, v int64, gen uint64) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.see(userID, v); err != nil {
		return err
	}
	if c.gen.Load() != gen {
		return nil
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
	return nil
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
	c.group.Load().Forget(userID)
}

// Len returns the number of users whose version c holds, for a gauge (at
// most [WithCacheSize]). It is safe for concurrent use.
func (c *VersionCache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n
}

// flush forgets every cached version, as Forget does one: the cache of an
// instance that may have missed notifications of bumps (notify.go).
func (c *VersionCache) flush() {
	c.mu.Lock()
	c.entries.Range(func(k, _ any) bool {
		c.entries.Delete(k)
		return true
	})
	c.n = 0
	c.gen.Add(1)
	c.group.Store(new(singleflight.Group))
	c.mu.Unlock()
}

// Bump increments the user's version in the store and forgets the cached
// version, so that on this instance every credential of the user issued
// before is refused as soon as Bump returns (other instances see it within
// their TTL). This is "log out everywhere": sessions, refresh-token families
// and, with [WithVersionCheck], access tokens. It returns the new version, or
// the store's error ([ErrUnknownUser] for an unknown user).
func (c *VersionCache) Bump(ctx context.Context, userID string) (int64, error) {
	v, err := c.store.Bump(ctx, userID)
	c.Forget(userID)
	if err == nil {
		c.mu.Lock()
		_ = c.see(userID, v) // a lower answer from here on is a fault
		c.mu.Unlock()
		c.events.emit(ctx, Event{Type: EventVersionBumped, UserID: userID})
	}
	return v, err
}

// WithVersionCheck checks, on every request, that the credential's token
// version is not below the user's current one (see [VersionLookup]), so that
// a version bump revokes it. It applies to [NewJWT] (access tokens; without
// it an access token stays valid until it expires) and [NewSession]
// (sessions; without it a session survives a bump). Wrap lookup in a
// [VersionCache] so that this costs a store query per user per TTL, not per
// request. A failing lookup fails closed (500). Default: no check.
func WithVersionCheck(lookup VersionLookup) Option {
	return singleOption[common]("WithVersionCheck", "func", forJWT|forSession,
		func(c *common) error {
			if lookup == nil {
				return errors.New("WithVersionCheck(nil)")
			}
			c.versions = lookup
			return nil
		})
}
