package authkit

import (
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
