package authkit

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// testFamilyStore checks the FamilyStore contract on a store; sweep runs
// the store's deletion of expired families at a time (in memory, creating
// a family did already).
func testFamilyStore(t *testing.T, s FamilyStore, sweep func(now time.Time)) {
	ctx := context.Background()
	t0 := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	h := func(s string) [32]byte { return hashTokenID(s) }
	f := RefreshFamily{ID: "fam1", UserID: "u1", Version: 3, CreatedAt: t0, ExpiresAt: t0.Add(time.Hour), LastUsedAt: t0}
	if err := s.CreateFamily(ctx, f, h("a")); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateFamily(ctx, f, h("x")); err == nil {
		t.Error("duplicate family ID accepted")
	}

	got, err := s.RotateFamily(ctx, "fam1", h("a"), h("b"), t0.Add(time.Minute))
	if err != nil || got.UserID != "u1" || got.Version != 3 || !got.CreatedAt.Equal(t0) ||
		!got.ExpiresAt.Equal(t0.Add(time.Hour)) || !got.LastUsedAt.Equal(t0.Add(time.Minute)) || !got.RevokedAt.IsZero() {
		t.Fatalf("rotate: %+v, %v", got, err)
	}
	// The old hash no longer rotates: the family is returned as stored.
	got, err = s.RotateFamily(ctx, "fam1", h("a"), h("c"), t0.Add(2*time.Minute))
	if !errors.Is(err, ErrFamilyNotRotated) || got.UserID != "u1" || !got.RevokedAt.IsZero() || !got.LastUsedAt.Equal(t0.Add(time.Minute)) {
		t.Fatalf("stale rotate: %+v, %v", got, err)
	}
	if _, err := s.RotateFamily(ctx, "nope", h("a"), h("b"), t0); !errors.Is(err, ErrFamilyNotFound) {
		t.Fatalf("unknown family: %v", err)
	}
	// Not at or after the absolute expiry.
	if got, err := s.RotateFamily(ctx, "fam1", h("b"), h("c"), t0.Add(time.Hour)); !errors.Is(err, ErrFamilyNotRotated) || got.ExpiresAt.After(t0.Add(time.Hour)) {
		t.Fatalf("expired rotate: %+v, %v", got, err)
	}
	// Revoke once; the second call reports false; a revoked family never
	// rotates, even with its current hash.
	if ok, err := s.RevokeFamily(ctx, "fam1", t0.Add(3*time.Minute)); !ok || err != nil {
		t.Fatalf("revoke: %v %v", ok, err)
	}
	if ok, err := s.RevokeFamily(ctx, "fam1", t0.Add(4*time.Minute)); ok || err != nil {
		t.Fatalf("second revoke: %v %v", ok, err)
	}
	if ok, err := s.RevokeFamily(ctx, "nope", t0); ok || err != nil {
		t.Fatalf("revoke unknown: %v %v", ok, err)
	}
	got, err = s.RotateFamily(ctx, "fam1", h("b"), h("c"), t0.Add(5*time.Minute))
	if !errors.Is(err, ErrFamilyNotRotated) || !got.RevokedAt.Equal(t0.Add(3*time.Minute)) {
		t.Fatalf("rotate revoked: %+v, %v", got, err)
	}

	// Fifty concurrent rotations of one hash: exactly one wins.
	g := RefreshFamily{ID: "fam2", UserID: "u1", CreatedAt: t0, ExpiresAt: t0.Add(time.Hour), LastUsedAt: t0}
	if err := s.CreateFamily(ctx, g, h("a")); err != nil {
		t.Fatal(err)
	}
	var wins atomic.Int32
	var wg sync.WaitGroup
	for i := range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := s.RotateFamily(ctx, "fam2", h("a"), h(string(rune('A'+i))), t0.Add(time.Second))
			switch {
			case err == nil:
				wins.Add(1)
			case !errors.Is(err, ErrFamilyNotRotated):
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if wins.Load() != 1 {
		t.Fatalf("%d concurrent rotations won, want 1", wins.Load())
	}

	// A sweep a sweep interval later (in memory: creating a family) drops
	// the families at or past their absolute expiry.
	t1 := t0.Add(time.Hour)
	h3 := RefreshFamily{ID: "fam3", UserID: "u2", CreatedAt: t1, ExpiresAt: t1.Add(time.Hour), LastUsedAt: t1}
	if err := s.CreateFamily(ctx, h3, h("a")); err != nil {
		t.Fatal(err)
	}
	sweep(t1)
	if _, err := s.RotateFamily(ctx, "fam1", h("b"), h("c"), t0); !errors.Is(err, ErrFamilyNotFound) {
		t.Errorf("deleted family: %v", err)
	}
	if _, err := s.RotateFamily(ctx, "fam3", h("a"), h("b"), t0.Add(time.Hour)); err != nil {
		t.Errorf("live family after the sweep: %v", err)
	}
}

func TestMemoryFamilyStore(t *testing.T) {
	testFamilyStore(t, NewMemoryStore(), func(time.Time) {})
}

func TestPostgresFamilyStore(t *testing.T) {
	db := newPGDB(t)
	s := db.store()
	if err := s.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	testFamilyStore(t, s, func(now time.Time) {
		if _, err := s.b.(*postgresStore).deleteExpired(context.Background(), now); err != nil {
			t.Fatal(err)
		}
	})
	// Only a hash of the current jti is stored: no token, no jti.
	var n int
	if err := db.QueryRow(`SELECT count(*) FROM authkit_refresh_families WHERE length(current_hash) <> 32`).Scan(&n); err != nil || n != 0 {
		t.Errorf("%d rows with a current_hash that is not a SHA-256 (%v)", n, err)
	}
	if _, err := NewPostgresStore(nil); err == nil {
		t.Error("nil db accepted")
	}
}

// TestPostgresCleanup: the background cleanup (WithCleanupInterval) deletes
// the expired families, index rows and sessions, and nothing live; two
// stores on one schema deleting at once share the work, each row deleted
// once and neither failing; Close stops it, and 0 turns it off.
func TestPostgresCleanup(t *testing.T) {
	ctx := context.Background()
	p := newPGDB(t)
	a := p.migrated(WithCleanupInterval(0))
	b := p.reopen().store(WithCleanupInterval(0))
	const expired, live = 2500, 10
	seed := func() {
		t.Helper()
		for _, q := range []string{
			`INSERT INTO authkit_refresh_families (family_id, user_id, version, current_hash, created_at, expires_at, last_used_at)
				SELECT 'old' || i, 'u', 0, '\x00', now() - interval '2 days', now() - interval '1 day', now() - interval '2 days'
				FROM generate_series(1, 2500) i`,
			`INSERT INTO authkit_refresh_families (family_id, user_id, version, current_hash, created_at, expires_at, last_used_at)
				SELECT 'live' || i, 'u', 0, '\x00', now(), now() + interval '1 day', now() FROM generate_series(1, 10) i
				ON CONFLICT DO NOTHING`,
			`INSERT INTO authkit_session_devices (device_id, user_id, store_key, created_at, last_used_at, expiry)
				SELECT 'old' || i, 'u', 'old' || i, now() - interval '1 hour', now() - interval '1 hour', now() - interval '1 minute'
				FROM generate_series(1, 2500) i`,
			`INSERT INTO authkit_session_devices (device_id, user_id, store_key, created_at, last_used_at, expiry)
				SELECT 'live' || i, 'u', 'live' || i, now(), now(), now() + interval '1 hour' FROM generate_series(1, 10) i
				ON CONFLICT DO NOTHING`,
			`INSERT INTO sessions (token, data, expiry) VALUES ('old', '\x00', now() - interval '1 minute'), ('live', '\x00', now() + interval '1 hour')
				ON CONFLICT DO NOTHING`,
		} {
			if _, err := p.Exec(q); err != nil {
				t.Fatal(err)
			}
		}
	}
	// rows counts the expired and the live rows of the three tables.
	rows := func() (old, fresh int) {
		t.Helper()
		if err := p.QueryRow(`SELECT
			(SELECT count(*) FROM authkit_refresh_families WHERE expires_at <= now()) +
			(SELECT count(*) FROM authkit_session_devices WHERE expiry <= now()) +
			(SELECT count(*) FROM sessions WHERE expiry <= now()),
			(SELECT count(*) FROM authkit_refresh_families WHERE expires_at > now()) +
			(SELECT count(*) FROM authkit_session_devices WHERE expiry > now()) +
			(SELECT count(*) FROM sessions WHERE expiry > now())`).Scan(&old, &fresh); err != nil {
			t.Fatal(err)
		}
		return old, fresh
	}
	seed()

	// Two instances at once, each until nothing is left to it.
	var wg sync.WaitGroup
	var deleted [2]int64
	var errs [2]error
	for i, s := range []*Store{a, b} {
		wg.Go(func() { deleted[i], errs[i] = s.b.(*postgresStore).deleteExpired(ctx, time.Now()) })
	}
	wg.Wait()
	if err := errors.Join(errs[:]...); err != nil {
		t.Fatal(err)
	}
	if sum := deleted[0] + deleted[1]; sum != 2*expired {
		t.Errorf("the two cleanups deleted %d + %d rows, want %d in all", deleted[0], deleted[1], 2*expired)
	}
	t.Logf("two cleanups at once deleted %d and %d rows", deleted[0], deleted[1])
	if old, fresh := rows(); old != 1 || fresh != 2*live+1 { // the session is scs's
		t.Errorf("after the cleanups: %d expired rows (want the 1 session, scs's part), %d live (want %d)", old, fresh, 2*live+1)
	}
	if n, err := a.b.(*postgresStore).deleteExpired(ctx, time.Now()); n != 0 || err != nil {
		t.Errorf("a second run deleted %d rows, %v", n, err)
	}

	// On a schedule, with the sessions' cleanup; then stopped by Close.
	c := p.reopen().store(WithCleanupInterval(20 * time.Millisecond))
	c.Sessions()
	seed()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		old, fresh := rows()
		if old == 0 && fresh == 2*live+1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the scheduled cleanup left %d expired rows and %d live (want 0 and %d)", old, fresh, 2*live+1)
		}
	}
	c.Close()
	seed()
	time.Sleep(200 * time.Millisecond) // ten intervals; a and b have none
	if old, _ := rows(); old != 2*expired+1 {
		t.Errorf("after Close (and with interval 0): %d expired rows, want %d left alone", old, 2*expired+1)
	}

	if _, err := NewPostgresStore(p.DB, WithCleanupInterval(-time.Second)); err == nil {
		t.Error("a negative cleanup interval accepted")
	}
}
