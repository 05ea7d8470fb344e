package authkit

import (
	"context"
	"testing"
	"time"
)

// reconnectBound is how long the listener may take to come back after the
// server does: its backoff doubles up to listenRetryMax, and a server that
// was down for a second or two is retried within a few seconds.
const reconnectBound = 3 * listenRetryMax

// TestPostgresServerRestart stops PostgreSQL under the listener and starts
// it again (a server of the test's own: the shared one stays up). While it
// is down the cache answers from its entries and a bump fails closed; once
// it is back the listener reconnects by itself and flushes the cache (a
// version changed without a notification is seen at once, though the TTL
// is a minute), and the next bump reaches the cache as fast as before the
// restart.
func TestPostgresServerRestart(t *testing.T) {
	ctx := context.Background()
	srv := newPGServer(t)
	p := srv.db()
	a := p.migrated()
	if err := a.Add(ctx, "1"); err != nil {
		t.Fatal(err)
	}
	b := p.reopen().store()
	cb, err := NewVersionCache(b, WithCacheTTL(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	listenerPIDs(t, p, b, 1)
	if v, err := cb.Lookup(ctx, "1"); v != 0 || err != nil {
		t.Fatalf("Lookup = %d, %v", v, err)
	}
	if _, err := a.Bump(ctx, "1"); err != nil {
		t.Fatal(err)
	}
	before := awaitVersion(t, cb, "1", 1)

	// A change that notifies nobody, then the server goes down.
	if _, err := p.Exec(`UPDATE authkit_token_versions SET version = 10 WHERE user_id = '1'`); err != nil {
		t.Fatal(err)
	}
	srv.stop()
	if v, err := cb.Lookup(ctx, "1"); v != 1 || err != nil {
		t.Errorf("while the server is down: %d, %v; want the cached 1", v, err)
	}
	if v, err := a.Bump(ctx, "1"); err == nil {
		t.Errorf("a bump while the server is down answered %d", v)
	}

	srv.start()
	up := time.Now()
	for {
		v, err := cb.Lookup(ctx, "1")
		if err == nil && v == 10 {
			break
		}
		if time.Since(up) > reconnectBound {
			t.Fatalf("%v after the server came back the cache answers %d, %v; want 10 (the listener's flush)", time.Since(up), v, err)
		}
		time.Sleep(time.Millisecond)
	}
	flushed := time.Since(up)
	listenerPIDs(t, p, b, 1)
	v, err := a.Bump(ctx, "1")
	if v != 11 || err != nil {
		t.Fatalf("Bump after the restart = %d, %v", v, err)
	}
	after := awaitVersion(t, cb, "1", 11)
	t.Logf("a bump reached the other store's cache in %v before the restart; after it, the listener reconnected and flushed %v after the server was up, and the next bump arrived in %v", before, flushed, after)
}
