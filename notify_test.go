package authkit

import (
	"context"
	"slices"
	"testing"
	"time"
)

// The propagation of bumps between instances (notify.go). Each test's
// bound (1 s) is far below the cache's TTL (5 s), so that only the
// notification can meet it.

const propagationBound = time.Second

// listenerPIDs returns the backends listening for s's bumps, waiting (up
// to the bound) until there are want of them.
func listenerPIDs(t *testing.T, p *pgDB, s *Store, want int) []int {
	t.Helper()
	var channel string
	if err := p.QueryRow(s.b.(*postgresStore).sql.channel).Scan(&channel); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(propagationBound)
	for {
		var pids []int
		rows, err := p.Query(`SELECT pid FROM pg_stat_activity WHERE query = $1 AND state = 'idle'`, "LISTEN "+quoteIdentUnchecked(channel))
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var pid int
			if err := rows.Scan(&pid); err != nil {
				t.Fatal(err)
			}
			pids = append(pids, pid)
		}
		rows.Close()
		if len(pids) == want {
			return pids
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d backends listen on %s, want %d", len(pids), channel, want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// awaitVersion polls c until it returns want, and returns how long that
// took; it fails the test past the bound.
func awaitVersion(t *testing.T, c *VersionCache, userID string, want int64) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		v, err := c.Lookup(context.Background(), userID)
		if err != nil {
			t.Fatal(err)
		}
		if v == want {
			return time.Since(start)
		}
		if d := time.Since(start); d > propagationBound {
			t.Fatalf("after %v the cache still answers version %d, want %d", d, v, want)
		}
		time.Sleep(100 * time.Microsecond)
	}
}

// TestPostgresBumpPropagation bumps 50 times on one instance (its own pool
// and Store) and measures how soon another instance's cache, which held the
// old version, answers the new one.
func TestPostgresBumpPropagation(t *testing.T) {
	ctx := context.Background()
	p := newPGDB(t)
	a := p.migrated()
	if err := a.Add(ctx, "1"); err != nil {
		t.Fatal(err)
	}
	b := p.reopen().store()
	ca, err := NewVersionCache(a)
	if err != nil {
		t.Fatal(err)
	}
	cb, err := NewVersionCache(b)
	if err != nil {
		t.Fatal(err)
	}
	listenerPIDs(t, p, a, 2)
	var ds []time.Duration
	for i := range int64(50) {
		if v, err := cb.Lookup(ctx, "1"); v != i || err != nil { // cached from here on
			t.Fatalf("bump %d: B answers %d, %v", i, v, err)
		}
		v, err := ca.Bump(ctx, "1")
		if err != nil || v != i+1 {
			t.Fatalf("Bump = %d, %v", v, err)
		}
		ds = append(ds, awaitVersion(t, cb, "1", v))
	}
	slices.Sort(ds)
	t.Logf("propagation over %d bumps: min %v, median %v, p99 %v, max %v",
		len(ds), ds[0], ds[len(ds)/2], ds[len(ds)*99/100], ds[len(ds)-1])
}

// TestPostgresListenerReconnects kills the listener's backend: the listener
// reconnects by itself, flushes its caches (a version changed while it was
// away is seen at once, not after the TTL), and honours the next bump as
// fast as before. Store.Close lets go of its connection.
func TestPostgresListenerReconnects(t *testing.T) {
	ctx := context.Background()
	p := newPGDB(t)
	a := p.migrated()
	if err := a.Add(ctx, "1"); err != nil {
		t.Fatal(err)
	}
	b := p.reopen().store()
	cb, err := NewVersionCache(b)
	if err != nil {
		t.Fatal(err)
	}
	pids := listenerPIDs(t, p, b, 1)
	if v, err := cb.Lookup(ctx, "1"); v != 0 || err != nil {
		t.Fatalf("Lookup = %d, %v", v, err)
	}
	// A change that notifies nobody, then the listener's connection dies.
	if _, err := p.Exec(`UPDATE authkit_token_versions SET version = 10 WHERE user_id = '1'`); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Exec(`SELECT pg_terminate_backend($1)`, pids[0]); err != nil {
		t.Fatal(err)
	}
	t.Logf("reconnected and flushed within %v", awaitVersion(t, cb, "1", 10))
	if again := listenerPIDs(t, p, b, 1); again[0] == pids[0] {
		t.Fatalf("the listener still runs on backend %d", again[0])
	}
	if v, err := a.Bump(ctx, "1"); v != 11 || err != nil {
		t.Fatalf("Bump = %d, %v", v, err)
	}
	t.Logf("the next bump reached the cache within %v", awaitVersion(t, cb, "1", 11))

	b.Close()
	listenerPIDs(t, p, b, 0)
}

// TestBumpThroughStoreReachesCaches: in memory, a bump through the Store
// itself (not the cache) reaches every cache in front of it; so does a
// removal.
func TestBumpThroughStoreReachesCaches(t *testing.T) {
	ctx := context.Background()
	s := NewMemoryStore("1")
	c, err := NewVersionCache(s)
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := c.Lookup(ctx, "1"); v != 0 {
		t.Fatalf("Lookup = %d", v)
	}
	if _, err := s.Bump(ctx, "1"); err != nil {
		t.Fatal(err)
	}
	if v, err := c.Lookup(ctx, "1"); v != 1 || err != nil {
		t.Fatalf("after Store.Bump the cache answers %d, %v", v, err)
	}
	if err := s.Remove(ctx, "1"); err != nil {
		t.Fatal(err)
	}
	if v, err := c.Lookup(ctx, "1"); err == nil {
		t.Fatalf("after Remove the cache answers %d", v)
	}
}

// TestVersionCacheFlushSplitsFlights: a miss that starts after a flush
// joins no lookup that began before it.
func TestVersionCacheFlushSplitsFlights(t *testing.T) {
	ctx := context.Background()
	release := make(chan struct{})
	calls := make(chan int64, 4)
	var n int64
	c, err := NewVersionCache(versionFuncs{
		version: func(ctx context.Context, id string) (int64, error) {
			n++
			v := n
			calls <- v
			if v == 1 {
				<-release // the old lookup hangs until after the flush
			}
			return v, nil
		},
		bump: func(context.Context, string) (int64, error) { return 0, nil },
	})
	if err != nil {
		t.Fatal(err)
	}
	first := make(chan int64)
	go func() { v, _ := c.Lookup(ctx, "1"); first <- v }()
	<-calls
	c.flush()
	second := make(chan int64)
	go func() { v, _ := c.Lookup(ctx, "1"); second <- v }()
	select {
	case v := <-calls:
		if v != 2 {
			t.Fatalf("call %d", v)
		}
	case <-time.After(propagationBound):
		close(release)
		t.Fatal("the miss after the flush joined the flight from before it")
	}
	if v := <-second; v != 2 {
		t.Fatalf("second Lookup = %d", v)
	}
	close(release)
	<-first // older than what the cache has seen: refused (TestVersionCacheRefusesLowerVersion)
	if v, _ := c.Lookup(ctx, "1"); v != 2 {
		t.Fatalf("cached %d, want 2 (the flight from before the flush is not cached)", v)
	}
}
