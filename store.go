package authkit

import (
	"context"
	"slices"
	"time"

	"github.com/alexedwards/scs/v2"
)

// Store keeps what the kit remembers between requests: sessions
// ([Store.Sessions]), refresh-token families (a [FamilyStore]) and token
// versions (a [VersionStore]), in memory ([NewMemoryStore]) or PostgreSQL
// ([NewPostgresStore]), alike. An unknown user, one not added with
// [Store.Add], is [ErrUnknownUser]. Expired families and session index
// rows are deleted in PostgreSQL by a background cleanup
// ([WithCleanupInterval], default every 5 minutes, until [Store.Close]); in
// memory under the store's lock as new ones are created, at most once a
// minute (nothing runs in the background). It is safe for concurrent use.
type Store struct{ b storeBackend }

// storeBackend is what the memory and PostgreSQL stores implement.
type storeBackend interface {
	FamilyStore
	VersionStore
	add(ctx context.Context, userID string) error
	remove(ctx context.Context, userID string) error
	migrate(ctx context.Context) error
	sessions() scs.Store
	watch(c *VersionCache) // c forgets each user bumped through the store, here or elsewhere (notify.go)
	devices(ctx context.Context, userID string) ([]Device, error)
	endDevice(ctx context.Context, userID, id string) (bool, error)
	reuseRecorder
	dpopStorage // the DPoP proofs used and the nonce secret (WithDPoPStore)
	close()
}

// Migrate creates the store's tables and indexes if they are missing. It is
// idempotent, and safe to run from several processes at once (one
// transaction under a PostgreSQL advisory lock). In memory it does nothing.
func (s *Store) Migrate(ctx context.Context) error { return s.b.migrate(ctx) }

// Sessions returns the store's scs session store, for [NewSessionManager];
// every call returns the same one. In PostgreSQL it starts scs's background
// cleanup of expired sessions, every [WithCleanupInterval], which
// [Store.Close] stops; in memory expired
// sessions are refused when read, and those logged in by a [Session] are
// deleted with expired families (see [Store.Devices]); anonymous ones stay
// until restart.
func (s *Store) Sessions() scs.Store { return s.b.sessions() }

// watch makes c forget each user bumped or removed through the store, here
// or, in PostgreSQL, in any process (notify.go).
func (s *Store) watch(c *VersionCache) { s.b.watch(c) }

// Close stops what a PostgreSQL store runs in the background: the cleanup
// of expired rows ([WithCleanupInterval]) and the listener of version
// notifications ([NewVersionCache]). It closes no database. It is
// idempotent; call it after the last use of the store.
func (s *Store) Close() { s.b.close() }

// Add makes userID known at version 0; a known user keeps its version, and
// a removed one comes back one above the version it had, so that nothing
// issued before its removal is accepted again. With [WithUsersTable] it
// returns an error: users are created in that table.
func (s *Store) Add(ctx context.Context, userID string) error { return s.b.add(ctx, userID) }

// Remove disables userID (a deleted or disabled user): from then on its
// lookups return [ErrUnknownUser], so all its credentials are refused, on
// every instance at once (as [Store.Bump]). The store keeps its version (a
// tombstone) for [Store.Add]. With [WithUsersTable] it returns an error.
func (s *Store) Remove(ctx context.Context, userID string) error { return s.b.remove(ctx, userID) }

// Version returns the user's current version, or [ErrUnknownUser]. Its
// method value is a [VersionLookup]; any other error is a failure of the
// store.
func (s *Store) Version(ctx context.Context, userID string) (int64, error) {
	return s.b.Version(ctx, userID)
}

// Bump increments the user's version atomically and returns the new one, or
// [ErrUnknownUser]: every credential issued under an older version is
// refused from then on, and the user's refresh-token families are revoked
// in storage, so that a version lowered later cannot revive them. Every
// [VersionCache] made over this store forgets the old version at once; in
// PostgreSQL, so does every cache over a store on the same version table in
// any process (a notification sent in the bump's transaction; see
// [NewVersionCache]).
func (s *Store) Bump(ctx context.Context, userID string) (int64, error) {
	return s.b.Bump(ctx, userID)
}

// CreateFamily implements [FamilyStore].
func (s *Store) CreateFamily(ctx context.Context, f RefreshFamily, current [32]byte) error {
	return s.b.CreateFamily(ctx, f, current)
}

// RotateFamily implements [FamilyStore]. In PostgreSQL it is one conditional
// UPDATE, so that of concurrent rotations with the same token exactly one
// succeeds, across any number of processes.
func (s *Store) RotateFamily(ctx context.Context, id string, old, next [32]byte, now time.Time) (RefreshFamily, error) {
	return s.b.RotateFamily(ctx, id, old, next, now)
}

// recordReuse makes the Store a reuseRecorder (families.go): reuse is
// reported once per family, and after a bump revoked it.
func (s *Store) recordReuse(ctx context.Context, id string, r reuseCheck) (RefreshFamily, bool, bool, error) {
	return s.b.recordReuse(ctx, id, r)
}

// RevokeFamily implements [FamilyStore].
func (s *Store) RevokeFamily(ctx context.Context, id string, now time.Time) (bool, error) {
	return s.b.RevokeFamily(ctx, id, now)
}

// Device is one place a user is signed in: a session (Kind "session") or a
// refresh-token family (Kind "refresh"), as [Store.Devices] lists them.
type Device struct {
	ID       string    // the device's ID, for [Store.EndDevice]; not a credential
	Kind     string    // "session" or "refresh"
	Created  time.Time // the login
	LastUsed time.Time // the last time the session was written (at most one touch interval old) or the family rotated
	Current  bool      // the session the kit loaded into the context of the call
}

// Devices lists userID's live sessions and refresh-token families, oldest
// first. A session is listed when it was logged in by a [Session] over
// [Store.Sessions] (the kit indexes it at login); Current marks the session
// of the request whose context is ctx (a refresh family is never Current: a
// request does not carry its refresh token). It is one query in
// PostgreSQL, O(devices of the user).
func (s *Store) Devices(ctx context.Context, userID string) ([]Device, error) {
	ds, err := s.b.devices(ctx, userID)
	if err != nil {
		return nil, err
	}
	if cur := currentDevice(ctx); cur != "" {
		for i := range ds {
			ds[i].Current = ds[i].Kind == "session" && ds[i].ID == cur
		}
	}
	slices.SortFunc(ds, func(a, b Device) int { return a.Created.Compare(b.Created) })
	return ds, nil
}

// EndDevice ends userID's device id at once: the session is deleted from
// storage (its next request is anonymous), or the refresh family revoked.
// An ID that is not a live device of userID, another user's among them, is
// [ErrUnknownDevice] and changes nothing.
func (s *Store) EndDevice(ctx context.Context, userID, id string) error {
	ok, err := s.b.endDevice(ctx, userID, id)
	switch {
	case err != nil:
		return err
	case !ok:
		return ErrUnknownDevice
	}
	return nil
}
