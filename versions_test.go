package authkit

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestMemoryVersionStore(t *testing.T) {
	ctx := context.Background()
	s := NewMemoryStore("a")
	if v, err := s.Version(ctx, "a"); v != 0 || err != nil {
		t.Fatalf("Version(a) = %d, %v", v, err)
	}
	if _, err := s.Version(ctx, "b"); !errors.Is(err, ErrUnknownUser) {
		t.Fatalf("unknown: %v", err)
	}
	if _, err := s.Bump(ctx, "b"); !errors.Is(err, ErrUnknownUser) {
		t.Fatalf("bump unknown: %v", err)
	}
	if v, err := s.Bump(ctx, "a"); v != 1 || err != nil {
		t.Fatalf("Bump = %d, %v", v, err)
	}
	_ = s.Add(ctx, "a") // keeps the version
	if v, _ := s.Version(ctx, "a"); v != 1 {
		t.Fatalf("Add reset the version to %d", v)
	}
	_ = s.Remove(ctx, "a")
	if _, err := s.Version(ctx, "a"); !errors.Is(err, ErrUnknownUser) {
		t.Fatalf("removed: %v", err)
	}
}

func TestVersionCacheHitsAndTTL(t *testing.T) {
	ctx := context.Background()
	l := newFakeVersions(map[string]int64{"u": 1})
	clock := newTestClock(time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC))
	c, err := NewVersionCache(l, WithClock(clock.Now), WithCacheTTL(2*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	var lookup VersionLookup = c.Lookup // the method value is a VersionLookup
	for range 10 {
		if v, err := lookup(ctx, "u"); v != 1 || err != nil {
			t.Fatalf("Lookup = %d, %v", v, err)
		}
	}
	if n := l.calls.Load(); n != 1 {
		t.Fatalf("10 lookups within the TTL cost %d store calls, want 1", n)
	}
	// A change in the store is seen once the entry is older than the TTL.
	l.set("u", 2)
	clock.Advance(2*time.Second - time.Nanosecond)
	if v, _ := c.Lookup(ctx, "u"); v != 1 {
		t.Fatalf("before the TTL: %d", v)
	}
	clock.Advance(time.Nanosecond)
	if v, _ := c.Lookup(ctx, "u"); v != 2 || l.calls.Load() != 2 {
		t.Fatalf("after the TTL: %d with %d calls", v, l.calls.Load())
	}
}

func TestVersionCacheSingleflight(t *testing.T) {
	ctx := context.Background()
	l := newFakeVersions(map[string]int64{"u": 1})
	l.hold = make(chan struct{})
	l.entered = make(chan string, 100) // room for wrong extra lookups, so they fail, not hang
	c, _ := NewVersionCache(l)
	const n = 100
	var wg sync.WaitGroup
	var started sync.WaitGroup
	errs := make(chan error, n)
	for range n {
		wg.Add(1)
		started.Add(1)
		go func() {
			defer wg.Done()
			started.Done()
			if v, err := c.Lookup(ctx, "u"); v != 1 || err != nil {
				errs <- fmt.Errorf("Lookup = %d, %v", v, err)
			}
		}()
	}
	started.Wait()
	<-l.entered   // the one lookup is in flight; every caller joins it or,
	close(l.hold) // once it returns, hits the entry it left behind
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if got := l.calls.Load(); got != 1 {
		t.Fatalf("%d concurrent misses cost %d lookups, want 1", n, got)
	}
}

func TestVersionCacheFailsClosed(t *testing.T) {
	ctx := context.Background()
	l := newFakeVersions(map[string]int64{"u": 1})
	l.fail(errStoreDown)
	c, _ := NewVersionCache(l)
	for i := range 3 {
		if _, err := c.Lookup(ctx, "u"); !errors.Is(err, errStoreDown) {
			t.Fatalf("lookup %d: %v", i, err)
		}
	}
	if l.calls.Load() != 3 {
		t.Fatalf("errors were cached: %d calls for 3 lookups", l.calls.Load())
	}
	l.fail(nil)
	if v, err := c.Lookup(ctx, "u"); v != 1 || err != nil {
		t.Fatalf("after recovery: %d, %v", v, err)
	}
	for range 2 {
		if _, err := c.Lookup(ctx, "ghost"); !errors.Is(err, ErrUnknownUser) {
			t.Fatalf("unknown user: %v", err)
		}
	}
	if l.calls.Load() != 6 {
		t.Fatalf("unknown user cached: %d calls", l.calls.Load())
	}
	// The access-token version check turns a failing cache into a 500 and an
	// unknown user into a refusal.
	l.fail(errStoreDown)
	c.Forget("u")
	if _, err := checkVersion(ctx, c.Lookup, "u", 5); err == nil || errors.Is(err, ErrInvalidToken) {
		t.Errorf("checkVersion with a failing store: %v", err)
	}
	l.fail(nil)
	if _, err := checkVersion(ctx, c.Lookup, "ghost", 5); !errors.Is(err, ErrInvalidToken) {
		t.Errorf("checkVersion of an unknown user: %v", err)
	}
}

func TestVersionCacheBumpAndForget(t *testing.T) {
	ctx := context.Background()
	l := newFakeVersions(map[string]int64{"u": 1})
	c, err := NewVersionCache(l, WithCacheTTL(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := c.Lookup(ctx, "u"); v != 1 {
		t.Fatal(v)
	}
	if v, err := c.Bump(ctx, "u"); v != 2 || err != nil {
		t.Fatalf("Bump = %d, %v", v, err)
	}
	// Seen at once, long before the TTL.
	if v, _ := c.Lookup(ctx, "u"); v != 2 {
		t.Fatalf("after Bump: %d", v)
	}
	// A lookup in flight when the version changes is not cached.
	hold, entered := make(chan struct{}), make(chan string, 1)
	l.mu.Lock()
	l.hold, l.entered = hold, entered
	l.mu.Unlock()
	c.Forget("u")
	done := make(chan int64)
	go func() {
		v, _ := c.Lookup(ctx, "u")
		done <- v
	}()
	<-entered     // the old value (2) has been read
	l.set("u", 3) // the application bumps directly...
	c.Forget("u") // ...and tells the cache
	l.mu.Lock()
	l.hold, l.entered = nil, nil
	l.mu.Unlock()
	close(hold)
	if v := <-done; v != 2 {
		t.Fatalf("in-flight lookup returned %d", v)
	}
	if v, _ := c.Lookup(ctx, "u"); v != 3 {
		t.Fatalf("the in-flight (stale) result was cached: %d", v)
	}

}

func TestVersionCacheContext(t *testing.T) {
	l := newFakeVersions(map[string]int64{"u": 1})
	l.hold = make(chan struct{})
	defer close(l.hold)
	c, _ := NewVersionCache(l)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := c.Lookup(ctx, "u"); !errors.Is(err, context.Canceled) {
		t.Fatalf("canceled caller: %v", err)
	}
}

func TestVersionCacheBounded(t *testing.T) {
	ctx := context.Background()
	l := newFakeVersions(map[string]int64{"u": 1})
	for i := range 1000 {
		l.set(fmt.Sprint("user", i), int64(i))
	}
	clock := newTestClock(time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC))
	c, _ := NewVersionCache(l, WithCacheSize(64), WithClock(clock.Now))
	for i := range 1000 {
		if v, err := c.Lookup(ctx, fmt.Sprint("user", i)); v != int64(i) || err != nil {
			t.Fatalf("Lookup(user%d) = %d, %v", i, v, err)
		}
	}
	total := 0
	c.entries.Range(func(any, any) bool { total++; return true })
	if total != 64 || c.n != 64 {
		t.Fatalf("cache holds %d entries (counted %d), want the limit, 64", total, c.n)
	}
	// The most recent lookup is among them.
	if _, ok := c.entries.Load("user999"); !ok {
		t.Error("the newest entry was evicted")
	}
	// With an injected clock, expired entries go first, all at once.
	clock.Advance(defaultVersionCacheTTL)
	c.Lookup(ctx, "user0")
	total = 0
	c.entries.Range(func(any, any) bool { total++; return true })
	if total != 1 || c.n != 1 {
		t.Fatalf("after the TTL, one more lookup left %d entries (counted %d), want 1", total, c.n)
	}
}

// TestVersionCacheTimerExpiry: without an injected clock, entries leave by
// timer when their TTL ends.
func TestVersionCacheTimerExpiry(t *testing.T) {
	ctx := context.Background()
	l := newFakeVersions(map[string]int64{"u": 1})
	c, _ := NewVersionCache(l, WithCacheTTL(10*time.Millisecond))
	if v, _ := c.Lookup(ctx, "u"); v != 1 {
		t.Fatal(v)
	}
	l.set("u", 2)
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, ok := c.entries.Load("u"); !ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the entry outlived its TTL by seconds")
		}
		time.Sleep(time.Millisecond)
	}
	c.mu.Lock()
	n := c.n
	c.mu.Unlock()
	if n != 0 {
		t.Fatalf("count %d after expiry", n)
	}
	if v, _ := c.Lookup(ctx, "u"); v != 2 {
		t.Fatalf("after expiry: %d", v)
	}
	// The timer of a replaced entry does not remove its successor.
	c2, _ := NewVersionCache(l, WithCacheTTL(time.Minute))
	c2.Lookup(ctx, "u")
	first, _ := c2.entries.Load("u")
	c2.Forget("u")
	c2.Lookup(ctx, "u")
	c2.expire("u", first.(*cacheEntry))
	c2.mu.Lock()
	defer c2.mu.Unlock()
	if cur, ok := c2.entries.Load("u"); !ok || cur == first || c2.n != 1 {
		t.Fatal("a stale timer removed the current entry")
	}
}

func TestNewVersionCacheValidation(t *testing.T) {
	l := newFakeVersions(map[string]int64{"u": 1})
	for _, tc := range []struct {
		name  string
		store VersionStore
		opts  []Option
	}{
		{"nil store", nil, nil},
		{"typed nil store", (*Store)(nil), nil},
		{"zero TTL", l, []Option{WithCacheTTL(0)}},
		{"long TTL", l, []Option{WithCacheTTL(time.Hour)}},
		{"zero size", l, []Option{WithCacheSize(0)}},
		{"nil clock", l, []Option{WithClock(nil)}},
		{"TTL twice", l, []Option{WithCacheTTL(time.Second), WithCacheTTL(2 * time.Second)}},
		{"an option of NewJWT", l, []Option{WithLeeway(0)}},
	} {
		if _, err := NewVersionCache(tc.store, tc.opts...); err == nil {
			t.Errorf("%s: no error", tc.name)
		}
	}
}

// ---- PostgreSQL (newPGDB skips these without TEST_DATABASE_URL) ----

func TestPostgresVersionStore(t *testing.T) {
	ctx := context.Background()
	db := newPGDB(t)
	vs := db.store()
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
	db := newPGDB(t)
	if _, err := db.Exec(`CREATE TABLE users (id bigint PRIMARY KEY, name text NOT NULL);
		INSERT INTO users VALUES (1, 'alice'), (2, 'bob')`); err != nil {
		t.Fatal(err)
	}
	// The test's own schema names the table schema-qualified.
	vs := db.store(WithUsersTable(db.schema+".users", "id", "token_version"))
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
		if _, err := NewPostgresStore(db.DB, WithUsersTable(bad[0], bad[1], bad[2])); err == nil {
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
	db := newPGDB(t)
	if _, err := db.Exec(`CREATE TABLE users (id text PRIMARY KEY)`); err != nil {
		t.Fatal(err)
	}
	db.Exec(`INSERT INTO users VALUES ('1')`)
	vs := db.store(WithUsersTable("users", "id", "token_version"))
	if err := vs.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	fs := db.store()
	if err := fs.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, envConfig{families: fs, versions: vs, cache: true})
	_, rt := e.mustTokenLogin("1")
	_, rt = e.mustRefresh(rt)
	if _, err := e.cache.Bump(ctx, "1"); err != nil {
		t.Fatal(err)
	}
	wantOAuthError(t, e.refresh(rt), 400, "invalid_grant")
}
