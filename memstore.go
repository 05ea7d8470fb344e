package authkit

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/alexedwards/scs/v2"
	"github.com/alexedwards/scs/v2/memstore"
)

// memoryStore is the in-memory backend of a [Store].
type memoryStore struct {
	memstore  *memstore.MemStore // the session store, made by the first Sessions call
	mu        sync.RWMutex
	families  map[string]*memoryFamily
	versions  map[string]int64
	removed   map[string]bool // tombstones: removed users keep their version
	lastSweep time.Time
	watchers  watchers
}

type memoryFamily struct {
	RefreshFamily
	current [32]byte
}

// NewMemoryStore returns a [Store] in memory, for tests, demos and
// single-process programs: nothing survives a restart or is shared between
// processes. It knows userIDs, each at version 0. Its sessions are kept by
// scs's memstore.
func NewMemoryStore(userIDs ...string) *Store {
	s := &memoryStore{families: make(map[string]*memoryFamily), versions: make(map[string]int64, len(userIDs)), removed: make(map[string]bool)}
	for _, id := range userIDs {
		s.versions[id] = 0
	}
	return &Store{b: s}
}

func (s *memoryStore) add(_ context.Context, userID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch _, ok := s.versions[userID]; {
	case !ok:
		s.versions[userID] = 0
	case s.removed[userID]:
		// Back above every version it had: nothing from before comes back.
		delete(s.removed, userID)
		s.versions[userID]++
	}
	return nil
}

func (s *memoryStore) remove(_ context.Context, userID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.versions[userID]; ok && !s.removed[userID] {
		s.removed[userID] = true
		s.watchers.forget(userID)
	}
	return nil
}

func (s *memoryStore) Version(_ context.Context, userID string) (int64, error) {
	s.mu.RLock()
	v, ok := s.versions[userID]
	ok = ok && !s.removed[userID]
	s.mu.RUnlock()
	if !ok {
		return 0, ErrUnknownUser
	}
	return v, nil
}

func (s *memoryStore) Bump(_ context.Context, userID string) (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.versions[userID]
	if !ok || s.removed[userID] {
		return 0, ErrUnknownUser
	}
	v++
	s.versions[userID] = v
	now := time.Now()
	for _, f := range s.families { // a scan: the memory store is for small programs
		if f.UserID == userID && f.RevokedAt.IsZero() {
			f.RevokedAt = now
		}
	}
	s.watchers.forget(userID) // under s.mu: no cache refills the old version meanwhile
	return v, nil
}

func (s *memoryStore) CreateFamily(_ context.Context, f RefreshFamily, current [32]byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, dup := s.families[f.ID]; dup {
		return fmt.Errorf("authkit: refresh family %q exists", f.ID)
	}
	if f.CreatedAt.Sub(s.lastSweep) >= familySweepInterval {
		s.lastSweep = f.CreatedAt
		s.deleteExpired(f.CreatedAt)
	}
	s.families[f.ID] = &memoryFamily{RefreshFamily: f, current: current}
	return nil
}

func (s *memoryStore) RotateFamily(_ context.Context, id string, old, next [32]byte, now time.Time) (RefreshFamily, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f, ok := s.families[id]
	if !ok {
		return RefreshFamily{}, ErrFamilyNotFound
	}
	if f.current != old || !f.RevokedAt.IsZero() || !now.Before(f.ExpiresAt) {
		return f.RefreshFamily, ErrFamilyNotRotated
	}
	f.current = next
	f.LastUsedAt = now
	return f.RefreshFamily, nil
}

func (s *memoryStore) RevokeFamily(_ context.Context, id string, now time.Time) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f, ok := s.families[id]
	if !ok || !f.RevokedAt.IsZero() {
		return false, nil
	}
	f.RevokedAt = now
	return true, nil
}

// deleteExpired deletes the families past their absolute lifetime at now.
// The caller holds s.mu.
func (s *memoryStore) deleteExpired(now time.Time) int {
	n := 0
	for id, f := range s.families {
		if !now.Before(f.ExpiresAt) {
			delete(s.families, id)
			n++
		}
	}
	return n
}

func (s *memoryStore) migrate(context.Context) error { return nil }

func (s *memoryStore) sessions() scs.Store {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.memstore == nil {
		// No cleanup goroutine: scs's memstore sets its stop channel from
		// inside that goroutine, so stopping it early is a data race. Expired
		// sessions are refused when read and stay in memory until restart.
		s.memstore = memstore.NewWithCleanupInterval(0)
	}
	return s.memstore
}

func (s *memoryStore) watch(c *VersionCache) { s.watchers.add(c) }

func (s *memoryStore) close() {}
