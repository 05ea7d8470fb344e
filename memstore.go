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
	memstore  *memorySessions // the session store, made by the first Sessions call
	mu        sync.RWMutex
	families  map[string]*memoryFamily
	versions  map[string]int64
	removed   map[string]bool // tombstones: removed users keep their version
	lastSweep time.Time
	watchers  watchers
	index     memoryDevices // the sessions' index (devices.go), guarded by mu
	proofs    *replayCache  // the DPoP proofs used, for WithDPoPStore
}

type memoryFamily struct {
	RefreshFamily
	current [32]byte
	reused  bool // a reuse was recorded (recordReuse)
}

// NewMemoryStore returns a [Store] in memory, for tests, demos and
// single-process programs: nothing survives a restart or is shared between
// processes. It knows userIDs, each at version 0. Its sessions are kept by
// scs's memstore. Since its versions start again at 0, an [Issuer] over it
// has the version check refuse its access tokens issued before it was built
// (see [NewIssuer]).
func NewMemoryStore(userIDs ...string) *Store {
	s := &memoryStore{families: make(map[string]*memoryFamily), versions: make(map[string]int64, len(userIDs)), removed: make(map[string]bool),
		index: newMemoryDevices(), proofs: newReplayCache(dpopReplayEntries)}
	for _, id := range userIDs {
		s.versions[id] = 0
	}
	return &Store{b: s}
}

// inMemory reports whether s forgets its versions at restart (NewIssuer).
func (s *Store) inMemory() bool {
	_, ok := s.b.(*memoryStore)
	return ok
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
	for id := range s.index.byUser[userID] { // the user's sessions, deleted in storage
		if s.memstore != nil {
			_ = s.memstore.MemStore.Delete(s.index.rows[id].storeKey) // never fails
		}
		s.index.drop(id)
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
	s.sweep(f.CreatedAt)
	s.families[f.ID] = &memoryFamily{RefreshFamily: f, current: current}
	return nil
}

// sweep deletes, at most once per familySweepInterval, the expired families
// and index rows. The caller holds s.mu.
func (s *memoryStore) sweep(now time.Time) {
	if now.Sub(s.lastSweep) < familySweepInterval {
		return
	}
	s.lastSweep = now
	s.deleteExpired(now)
	wall := time.Now() // index rows expire with their sessions, by real time
	for id, d := range s.index.rows {
		if !wall.Before(d.expiry) {
			_ = s.memstore.MemStore.Delete(d.storeKey) // expired: memstore has no cleanup here
			s.index.drop(id)
		}
	}
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

func (s *memoryStore) recordReuse(_ context.Context, id string, r reuseCheck) (RefreshFamily, bool, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f, ok := s.families[id]
	if !ok || f.reused || f.current == r.presented || r.isRetry(f.current, f.LastUsedAt) {
		return RefreshFamily{}, false, false, nil
	}
	f.reused = true
	revoked := f.RevokedAt.IsZero()
	if revoked {
		f.RevokedAt = r.now
	}
	return f.RefreshFamily, true, revoked, nil
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
		s.memstore = &memorySessions{MemStore: memstore.NewWithCleanupInterval(0), s: s}
	}
	return s.memstore
}

// memoryDevices is the memory store's index of sessions (devices.go).
type memoryDevices struct {
	rows   map[string]*memoryDevice       // by device ID
	byKey  map[string]string              // store key → device ID
	byUser map[string]map[string]struct{} // user ID → device IDs
}

type memoryDevice struct {
	sessionDevice
	lastUsed time.Time
}

func newMemoryDevices() memoryDevices {
	return memoryDevices{rows: map[string]*memoryDevice{}, byKey: map[string]string{}, byUser: map[string]map[string]struct{}{}}
}

func (m *memoryDevices) add(d sessionDevice) {
	m.rows[d.id] = &memoryDevice{sessionDevice: d, lastUsed: d.created}
	m.byKey[d.storeKey] = d.id
	if m.byUser[d.userID] == nil {
		m.byUser[d.userID] = map[string]struct{}{}
	}
	m.byUser[d.userID][d.id] = struct{}{}
}

func (m *memoryDevices) drop(id string) {
	d, ok := m.rows[id]
	if !ok {
		return
	}
	delete(m.rows, id)
	delete(m.byKey, d.storeKey)
	if delete(m.byUser[d.userID], id); len(m.byUser[d.userID]) == 0 {
		delete(m.byUser, d.userID)
	}
}

// memorySessions is the memory store's session store: scs's memstore, with
// the index kept beside it under the store's lock, and conditional writes
// (sessionstore.go) under the same lock, so that a bump's deletes are exact.
type memorySessions struct {
	*memstore.MemStore
	s *memoryStore
}

func (m *memorySessions) neverWaits() {}

func (m *memorySessions) insertCtx(_ context.Context, key string, b []byte, expiry time.Time) error {
	m.s.mu.Lock()
	defer m.s.mu.Unlock()
	return m.MemStore.Commit(key, b, expiry)
}

func (m *memorySessions) updateCtx(_ context.Context, key string, b []byte, expiry time.Time) error {
	m.s.mu.Lock()
	defer m.s.mu.Unlock()
	if _, found, _ := m.MemStore.Find(key); !found {
		return errSessionGone
	}
	if d, ok := m.s.index.rows[m.s.index.byKey[key]]; ok {
		d.lastUsed, d.expiry = time.Now(), expiry
	}
	return m.MemStore.Commit(key, b, expiry)
}

func (m *memorySessions) Delete(key string) error {
	m.s.mu.Lock()
	defer m.s.mu.Unlock()
	m.s.index.drop(m.s.index.byKey[key])
	return m.MemStore.Delete(key)
}

func (m *memorySessions) Commit(key string, b []byte, expiry time.Time) error {
	return m.updateCtx(context.Background(), key, b, expiry)
}

func (m *memorySessions) indexSession(_ context.Context, d sessionDevice) error {
	m.s.mu.Lock()
	defer m.s.mu.Unlock()
	m.s.sweep(d.created)
	m.s.index.add(d)
	return nil
}

func (m *memorySessions) bump(ctx context.Context, userID string) (int64, error) {
	return m.s.Bump(ctx, userID)
}

func (s *memoryStore) devices(_ context.Context, userID string) ([]Device, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var ds []Device
	now := time.Now()
	for id := range s.index.byUser[userID] {
		d := s.index.rows[id]
		if _, found, _ := s.memstore.MemStore.Find(d.storeKey); found && now.Before(d.expiry) {
			ds = append(ds, Device{ID: id, Kind: "session", Created: d.created, LastUsed: d.lastUsed})
		}
	}
	for _, f := range s.families { // a scan, as Bump's
		if f.UserID == userID && f.RevokedAt.IsZero() && now.Before(f.ExpiresAt) {
			ds = append(ds, Device{ID: f.ID, Kind: "refresh", Created: f.CreatedAt, LastUsed: f.LastUsedAt})
		}
	}
	return ds, nil
}

func (s *memoryStore) endDevice(_ context.Context, userID, id string) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	if d, ok := s.index.rows[id]; ok && d.userID == userID {
		_, found, _ := s.memstore.MemStore.Find(d.storeKey)
		_ = s.memstore.MemStore.Delete(d.storeKey)
		s.index.drop(id)
		return found, nil
	}
	if f, ok := s.families[id]; ok && f.UserID == userID && f.RevokedAt.IsZero() && now.Before(f.ExpiresAt) {
		f.RevokedAt = now
		return true, nil
	}
	return false, nil
}

func (s *memoryStore) watch(c *VersionCache) { s.watchers.add(c) }

func (s *memoryStore) close() {}

// recordProof records a DPoP proof in the store's replay cache, shared by
// the JWTs and Issuers given the store (WithDPoPStore), bounded like their
// own.
func (s *memoryStore) recordProof(ctx context.Context, key [16]byte, iat float64, now time.Time) (bool, error) {
	return s.proofs.recordProof(ctx, key, iat, now)
}

// dpopSecret is the process's: a memory store is one process's.
func (s *memoryStore) dpopSecret(ctx context.Context) ([]byte, error) { return processNonceSecret(ctx) }
