package authkit

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alexedwards/scs/v2"
)

// Test fixtures shared by the test files of the package. Where the others
// are:
//
//	testtoken_test.go  tokens, keys and JWKs, built byte by byte
//	env_test.go        env: the HTTPS application (sessions, token service)
//	postgres_test.go   pgDB: a fresh PostgreSQL schema per test
//	attacks_test.go    the attack catalogue, a table grouped by concern
//	jwt_test.go        serve, checkRefused, checkAccepted: one request through Require

// testUser is the program's user type in the package's tests.
type testUser struct{ ID, Name string }

// testUsers are the users the test applications know.
var testUsers = map[string]*testUser{"1": {"1", "alice"}, "2": {"2", "bob"}}

// backend is a kind of Store. The store-backed tests run once on each
// (forEachBackend), as subtests named for it.
type backend struct {
	name string
	// open returns a fresh Store knowing users, each at version 0.
	open func(t testing.TB, users ...string) *Store
	// reopen returns a second Store over the data of s, as another process
	// opens it; nil when the data is not shared between processes.
	reopen func(t testing.TB, s *Store) *Store
}

var memoryBackend = backend{
	name: "memory",
	open: func(_ testing.TB, users ...string) *Store { return NewMemoryStore(users...) },
}

// backends are the kinds of Store; pgBackend skips without
// TEST_DATABASE_URL.
var backends = []backend{memoryBackend, pgBackend}

// forEachBackend runs f as a subtest per backend.
func forEachBackend(t *testing.T, f func(t *testing.T, kind backend)) {
	for _, kind := range backends {
		t.Run(kind.name, func(t *testing.T) { f(t, kind) })
	}
}

// storedFamily returns what s holds for family id: the family, the hash of
// its current jti, and whether it exists.
func storedFamily(t testing.TB, s *Store, id string) (RefreshFamily, [32]byte, bool) {
	t.Helper()
	switch b := s.b.(type) {
	case *memoryStore:
		b.mu.Lock()
		defer b.mu.Unlock()
		f, ok := b.families[id]
		if !ok {
			return RefreshFamily{}, [32]byte{}, false
		}
		return f.RefreshFamily, f.current, true
	case *postgresStore:
		return pgFamily(t, b.db, id)
	}
	t.Fatalf("unknown store backend %T", s.b)
	return RefreshFamily{}, [32]byte{}, false
}

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

// fakeVersions is the tests' VersionStore: versions in a map, a missing user
// unknown. It counts its lookups, and can be held (lookups block) or made to
// fail. Its method value Version is a VersionLookup.
type fakeVersions struct {
	mu       sync.Mutex
	versions map[string]int64
	calls    atomic.Int64
	hold     chan struct{} // when non-nil, lookups wait for it to close
	entered  chan string   // when non-nil, told of each lookup
	err      error         // when non-nil, lookups fail with it
}

func newFakeVersions(versions map[string]int64) *fakeVersions {
	return &fakeVersions{versions: versions}
}

func (f *fakeVersions) Version(_ context.Context, userID string) (int64, error) {
	f.calls.Add(1)
	f.mu.Lock()
	hold, entered, err := f.hold, f.entered, f.err
	v, ok := f.versions[userID]
	f.mu.Unlock()
	if entered != nil {
		entered <- userID
	}
	if hold != nil {
		<-hold
	}
	if err != nil {
		return 0, err
	}
	if !ok {
		return 0, fmt.Errorf("user %s: %w", userID, ErrUnknownUser)
	}
	return v, nil
}

// Bump adds one to the user's version (a missing user starts at 0).
func (f *fakeVersions) Bump(_ context.Context, userID string) (int64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.versions[userID]++
	return f.versions[userID], nil
}

func (f *fakeVersions) set(userID string, v int64) {
	f.update(func(m map[string]int64) { m[userID] = v })
}

// update changes the versions under the lock.
func (f *fakeVersions) update(change func(versions map[string]int64)) {
	f.mu.Lock()
	change(f.versions)
	f.mu.Unlock()
}

// fail makes every lookup fail with err (nil: succeed again).
func (f *fakeVersions) fail(err error) { f.mu.Lock(); f.err = err; f.mu.Unlock() }

// failingStore wraps a session store and a family store (either may be
// nil) and fails every call to them while fail is set.
type failingStore struct {
	scs.Store
	FamilyStore
	fail atomic.Bool
}

func (f *failingStore) Find(k string) ([]byte, bool, error) {
	if f.fail.Load() {
		return nil, false, errStoreDown
	}
	return f.Store.Find(k)
}

func (f *failingStore) Commit(k string, b []byte, exp time.Time) error {
	if f.fail.Load() {
		return errStoreDown
	}
	return f.Store.Commit(k, b, exp)
}

func (f *failingStore) Delete(k string) error {
	if f.fail.Load() {
		return errStoreDown
	}
	return f.Store.Delete(k)
}

func (f *failingStore) CreateFamily(ctx context.Context, fam RefreshFamily, current [32]byte) error {
	if f.fail.Load() {
		return errStoreDown
	}
	return f.FamilyStore.CreateFamily(ctx, fam, current)
}

func (f *failingStore) RotateFamily(ctx context.Context, id string, old, next [32]byte, now time.Time) (RefreshFamily, error) {
	if f.fail.Load() {
		return RefreshFamily{}, errStoreDown
	}
	return f.FamilyStore.RotateFamily(ctx, id, old, next, now)
}

func (f *failingStore) RevokeFamily(ctx context.Context, id string, now time.Time) (bool, error) {
	if f.fail.Load() {
		return false, errStoreDown
	}
	return f.FamilyStore.RevokeFamily(ctx, id, now)
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

// check verifies token with v and returns its claims.
func (v *verifier) check(ctx context.Context, token string) (*Claims, error) {
	t, err := v.verify(ctx, token)
	return t.claims, err
}
