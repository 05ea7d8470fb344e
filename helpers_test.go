package authkit

import (
	"context"
	"errors"
	"sync"
	"time"
)

// Test fixtures shared by the test files of the package.

// testUser is the program's user type in the package's tests.
type testUser struct{ ID, Name string }

// errStoreDown stands for a failing store or callback.
var errStoreDown = errors.New("store down (test)")

// testClock is a settable clock, safe for concurrent use.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func newTestClock(start time.Time) *testClock { return &testClock{t: start} }

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// member is one name/value pair of a JSON object, as parseObject reports it.
type member struct {
	name  string
	value []byte
}

// len reports how many tokens the cache holds.
func (tc *tokenCache) len() int {
	tc.mu.RLock()
	defer tc.mu.RUnlock()
	return len(tc.entries)
}

// versionFuncs adapts a lookup and a bump function to a VersionStore.
type versionFuncs struct {
	version VersionLookup
	bump    func(ctx context.Context, userID string) (int64, error)
}

func (v versionFuncs) Version(ctx context.Context, id string) (int64, error) {
	return v.version(ctx, id)
}
func (v versionFuncs) Bump(ctx context.Context, id string) (int64, error) { return v.bump(ctx, id) }

// memoryOf returns the in-memory backend of a Store made by NewMemoryStore.
func memoryOf(s *Store) *memoryStore { return s.b.(*memoryStore) }

// check verifies token with v and returns its claims.
func (v *verifier) check(ctx context.Context, token string) (*Claims, error) {
	t, err := v.verify(ctx, token)
	return t.claims, err
}
