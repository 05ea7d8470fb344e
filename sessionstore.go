package authkit

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/alexedwards/scs/v2"
	"github.com/alexedwards/scs/v2/memstore"
)

// This file keeps logged-out sessions dead.
//
// scs commits a session by upsert: a request that loaded a session before it
// was logged out (or renewed at login) and saves it after would re-create the
// deleted row, bringing the old session back. The kit therefore wraps the
// manager's store (NewSessionManager does it) in a guardedStore, which
// inserts only a token the same request did not load from the store (one scs
// generated in this request: at login, or the first save of a new session),
// and writes a token it loaded with an update that cannot create the row.
// Logout, renewal at login and refusals delete the row; an in-flight
// request's later update then finds nothing to update, and that request
// writes no cookie (it would replace the one the login set with the dead
// token, logging the user out).
//
// How the store knows what the request loaded: scs calls the store back with
// the request's context, and nothing else of the request. Session.load puts a
// loadState in that context, keyed by the guardedStore (so that two managers
// never read each other's), before scs reads the store; FindCtx records in it
// the key the request's first read found; CommitCtx compares. The loadState
// belongs to one request: no request sees another's.
//
// The argument needs the update to be atomic against the delete. In the
// PostgresStore it is one UPDATE … WHERE token = $1 statement (the inner
// store implements conditionalStore), so it holds across any number of
// processes; for other stores the wrapper looks the token up and writes it
// under a lock that deletes also take, which is exact for memstore (one
// process) but leaves a window of one round trip when several processes
// share another kind of store.

// loadState is what the kit knows about the session of one request. It is
// created before the store is read; the guarded store fills in loadedKey.
type loadState struct {
	err         error // a refusal that holds whatever the session says
	crossOrigin error // the result of the cross-origin check, for session-authenticated requests
	findDone    bool
	loadedKey   string              // the store key the request's load found, if any
	gone        bool                // a commit of loadedKey found the session deleted meanwhile
	timeout     time.Duration       // the bound of each store call (WithStoreTimeout)
	sm          *scs.SessionManager // the manager that loaded it, and
	loaded      context.Context     // the context with its data, once loaded (devices.go)
}

// sessionStateKey is the context key of a request's loadState for the
// guarded store g.
type sessionStateKey struct{ g *guardedStore }

// currentSessionKey is the context key of the loadState of the innermost
// session the kit loaded, whichever its store (read by Store.Devices).
type currentSessionKey struct{}

// sessionCtx carries a request's loadState under both keys in one
// allocation, as context.WithValue would under one.
type sessionCtx struct {
	context.Context
	g  *guardedStore
	st *loadState
}

func (c *sessionCtx) Value(key any) any {
	switch k := key.(type) {
	case sessionStateKey:
		if k.g == c.g {
			return c.st
		}
	case currentSessionKey:
		return c.st
	}
	return c.Context.Value(key)
}

// guardedStore wraps the manager's store so that a commit can never re-create
// a session that was deleted (see [Session]). A token that the request's own
// load found in the store is only ever updated; any other token, which scs
// generated during the request, is inserted. A commit outside a kit-loaded
// request is an update.
// guardedStore is the store wrapper described above.
type guardedStore struct {
	inner  scs.Store
	cond   conditionalStore // the inner store's atomic insert and update, if it has them
	mu     sync.Mutex       // otherwise: makes look-up-then-write atomic against deletes
	keys   sessionKeys      // the cookie's MAC key, unless WithSessionSecret (sessioncookie.go)
	direct bool             // the inner store is scs's memstore: no bound needed
	ctxEnd bool             // the inner store's calls end with their context: bound it, no goroutine
}

// conditionalStore is implemented by stores that can write a session only
// if it exists (update) or only if it does not (insert), atomically.
// conditionalStore is implemented by stores that can insert a row only if
// it is absent and update it only if it is present, each in one atomic
// statement (postgresSessions).
type conditionalStore interface {
	insertCtx(ctx context.Context, key string, b []byte, expiry time.Time) error
	updateCtx(ctx context.Context, key string, b []byte, expiry time.Time) error
}

// neverWaits is implemented by inner stores that never block (the memory
// Store's sessions), which the guard calls without a bound.
type neverWaits interface{ neverWaits() }

// endsWithContext is implemented by inner stores whose every call returns
// once its context is done (the PostgreSQL Store's sessions: database/sql
// and pgx cancel the statement, or the wait for a connection, at once). The
// guard calls them in the request's goroutine under the bounded context,
// rather than beside it: the same bound, without a goroutine (and its stack
// growth) per store call.
type endsWithContext interface{ endsWithContext() }

func newGuardedStore(inner scs.Store) *guardedStore {
	g := &guardedStore{inner: inner}
	g.cond, _ = inner.(conditionalStore)
	_, g.direct = inner.(*memstore.MemStore)
	if _, ok := inner.(neverWaits); ok {
		g.direct = true
	}
	_, g.ctxEnd = inner.(endsWithContext)
	return g
}

// bounded runs one call to the inner store under the request's store timeout
// (the default outside a kit-loaded request); scs's memstore, which never
// waits, is called directly, and a store that ends with its context under
// the bounded context.
func bounded[T any](g *guardedStore, ctx context.Context, f func(context.Context) (T, error)) (T, error) {
	if g.direct {
		return f(ctx)
	}
	d := defaultStoreTimeout
	if st := g.state(ctx); st != nil && st.timeout > 0 {
		d = st.timeout
	}
	if g.ctxEnd {
		ctx, cancel := boundStore(ctx, d)
		defer cancel()
		v, err := f(ctx)
		return v, storeErr(ctx, err)
	}
	return callBounded(ctx, d, f)
}

// boundedErr is bounded for a call that returns only an error.
func boundedErr(g *guardedStore, ctx context.Context, f func(context.Context) error) error {
	_, err := bounded(g, ctx, func(ctx context.Context) (struct{}, error) { return struct{}{}, f(ctx) })
	return err
}

func (g *guardedStore) state(ctx context.Context) *loadState {
	st, _ := ctx.Value(sessionStateKey{g}).(*loadState)
	return st
}

func (g *guardedStore) Find(key string) ([]byte, bool, error) {
	return g.FindCtx(context.Background(), key)
}

// FindCtx reads the session and, on the request's first read, records the
// key it found.
func (g *guardedStore) FindCtx(ctx context.Context, key string) ([]byte, bool, error) {
	b, found, err := g.find(ctx, key)
	if st := g.state(ctx); st != nil && !st.findDone {
		st.findDone = true
		if found && err == nil {
			st.loadedKey = key
		}
	}
	return b, found, err
}

func (g *guardedStore) Commit(key string, b []byte, expiry time.Time) error {
	return g.CommitCtx(context.Background(), key, b, expiry)
}

// CommitCtx inserts a key the request did not load, and updates, without
// ever creating it, a key it loaded.
func (g *guardedStore) CommitCtx(ctx context.Context, key string, b []byte, expiry time.Time) error {
	if st := g.state(ctx); st != nil && key != st.loadedKey {
		if g.cond != nil {
			return boundedErr(g, ctx, func(ctx context.Context) error { return g.cond.insertCtx(ctx, key, b, expiry) })
		}
		return g.commit(ctx, key, b, expiry)
	}
	st := g.state(ctx)
	if g.cond != nil {
		err := boundedErr(g, ctx, func(ctx context.Context) error { return g.cond.updateCtx(ctx, key, b, expiry) })
		if errors.Is(err, errSessionGone) {
			if st != nil {
				st.gone = true
			}
			return nil
		}
		return err
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if _, found, err := g.find(ctx, key); err != nil || !found {
		if st != nil && err == nil {
			st.gone = true
		}
		return err
	}
	return g.commit(ctx, key, b, expiry)
}

// errSessionGone is what a conditionalStore's update returns when no row
// matched: the session was deleted (logged out, renewed) or expired. The
// guarded store reports it to the request's loadState, and scs sees a
// successful commit; the kit then writes no cookie.
var errSessionGone = errors.New("authkit: session deleted meanwhile")

func (g *guardedStore) Delete(key string) error { return g.DeleteCtx(context.Background(), key) }

// DeleteCtx deletes the session, under the lock where the inner store has no
// conditional writes.
func (g *guardedStore) DeleteCtx(ctx context.Context, key string) error {
	if g.cond == nil {
		g.mu.Lock()
		defer g.mu.Unlock()
	}
	return boundedErr(g, ctx, func(ctx context.Context) error {
		if cs, ok := g.inner.(scs.CtxStore); ok {
			return cs.DeleteCtx(ctx, key)
		}
		return g.inner.Delete(key)
	})
}

// All lists the sessions for scs's Iterate. Note that Iterate cannot delete
// or update sessions when HashTokenInStore is on (it passes the stored hashes
// as tokens): end a user's sessions by bumping the token version instead.
func (g *guardedStore) All() (map[string][]byte, error) { return g.AllCtx(context.Background()) }

func (g *guardedStore) AllCtx(ctx context.Context) (map[string][]byte, error) {
	switch st := g.inner.(type) {
	case scs.IterableCtxStore:
		return st.AllCtx(ctx)
	case scs.IterableStore:
		return st.All()
	}
	return nil, fmt.Errorf("authkit: session store %T does not support iteration", g.inner)
}

func (g *guardedStore) find(ctx context.Context, key string) ([]byte, bool, error) {
	type found struct {
		b  []byte
		ok bool
	}
	r, err := bounded(g, ctx, func(ctx context.Context) (found, error) {
		var r found
		var err error
		if cs, ok := g.inner.(scs.CtxStore); ok {
			r.b, r.ok, err = cs.FindCtx(ctx, key)
		} else {
			r.b, r.ok, err = g.inner.Find(key)
		}
		return r, err
	})
	return r.b, r.ok, err
}

func (g *guardedStore) commit(ctx context.Context, key string, b []byte, expiry time.Time) error {
	return boundedErr(g, ctx, func(ctx context.Context) error {
		if cs, ok := g.inner.(scs.CtxStore); ok {
			return cs.CommitCtx(ctx, key, b, expiry)
		}
		return g.inner.Commit(key, b, expiry)
	})
}
