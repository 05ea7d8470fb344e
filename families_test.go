package authkit

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// testFamilyStore checks the FamilyStore contract on a store.
func testFamilyStore(t *testing.T, s FamilyStore) {
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

	// Creating a family a sweep interval later drops the families at or
	// past their absolute expiry.
	t1 := t0.Add(time.Hour)
	h3 := RefreshFamily{ID: "fam3", UserID: "u2", CreatedAt: t1, ExpiresAt: t1.Add(time.Hour), LastUsedAt: t1}
	if err := s.CreateFamily(ctx, h3, h("a")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.RotateFamily(ctx, "fam1", h("b"), h("c"), t0); !errors.Is(err, ErrFamilyNotFound) {
		t.Errorf("deleted family: %v", err)
	}
	if _, err := s.RotateFamily(ctx, "fam3", h("a"), h("b"), t0.Add(time.Hour)); err != nil {
		t.Errorf("live family after the sweep: %v", err)
	}
}

func TestMemoryFamilyStore(t *testing.T) {
	testFamilyStore(t, NewMemoryStore())
}

func TestPostgresFamilyStore(t *testing.T) {
	db := newPGDB(t)
	s := db.store()
	if err := s.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	testFamilyStore(t, s)
	// Only a hash of the current jti is stored: no token, no jti.
	var n int
	if err := db.QueryRow(`SELECT count(*) FROM authkit_refresh_families WHERE length(current_hash) <> 32`).Scan(&n); err != nil || n != 0 {
		t.Errorf("%d rows with a current_hash that is not a SHA-256 (%v)", n, err)
	}
	if _, err := NewPostgresStore(nil); err == nil {
		t.Error("nil db accepted")
	}
}
