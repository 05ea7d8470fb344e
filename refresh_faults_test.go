package authkit

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"net/http"
	"sync/atomic"
	"testing"
	"time"
)

// This file tests issue 10 item 11: a refresh whose rotation committed but
// whose answer was lost can be retried with the same token, and gets the
// same successor; everything else that presents a rotated token is still
// reuse. Each case runs against the in-memory store and PostgreSQL.

// commitThenFail is a family store whose next RotateFamily commits and then
// reports a failure, as when the connection drops during the commit or the
// database restarts before answering.
type commitThenFail struct {
	FamilyStore
	armed atomic.Bool
}

var errLostCommit = errors.New("connection reset after commit")

func (s *commitThenFail) RotateFamily(ctx context.Context, id string, old, next [32]byte, now time.Time) (RefreshFamily, error) {
	f, err := s.FamilyStore.RotateFamily(ctx, id, old, next, now)
	if err == nil && s.armed.CompareAndSwap(true, false) {
		return RefreshFamily{}, errLostCommit
	}
	return f, err
}

func TestRefreshRetry(t *testing.T) { forEachBackend(t, runRefreshRetrySuite) }

// wantLive checks that the family of rt is live and that its current token
// is the one with jti's hash, and that no reuse was reported.
func (e *env) wantLive(rt, successor string) {
	e.t.Helper()
	f, cur, ok := storedFamily(e.t, e.store, claim(e.t, rt, "fam"))
	if !ok || !f.RevokedAt.IsZero() || cur != jtiHash(e.t, successor) {
		e.t.Fatalf("family %+v (exists %v): want live with the successor current", f, ok)
	}
	if ev := e.reuseEvents(); len(ev) != 0 {
		e.t.Fatalf("reuse reported for a retry: %+v", ev)
	}
}

// wantReuse checks that presenting rt is refused as reuse and revokes its
// family, reported once.
func (e *env) wantReuse(rt string) {
	e.t.Helper()
	wantOAuthError(e.t, e.refresh(rt), http.StatusBadRequest, "invalid_grant")
	f, _, ok := storedFamily(e.t, e.store, claim(e.t, rt, "fam"))
	if !ok || f.RevokedAt.IsZero() {
		e.t.Fatalf("family %+v (exists %v) after reuse: want revoked", f, ok)
	}
	if ev := e.reuseEvents(); len(ev) != 1 {
		e.t.Fatalf("%d reuse events, want 1", len(ev))
	}
}

func runRefreshRetrySuite(t *testing.T, kind backend) {
	t.Run("store fails after commit: the retry gets the same successor", func(t *testing.T) {
		s := kind.open(t, "1", "2")
		fs := &commitThenFail{FamilyStore: s}
		e := newEnv(t, envConfig{families: fs, versions: s, cache: true})
		e.store = s
		_, rt1 := e.mustTokenLogin("1")
		fs.armed.Store(true)
		wantOAuthError(t, e.refresh(rt1), http.StatusInternalServerError, "server_error")
		// The rotation committed: the store's current token is no longer rt1.
		if _, cur, _ := storedFamily(t, e.store, claim(t, rt1, "fam")); cur == jtiHash(t, rt1) {
			t.Fatal("the fault did not commit the rotation")
		}
		e.clock.Advance(5 * time.Second)
		at2, rt2 := e.mustRefresh(rt1) // the client's retry: answered, not reuse
		e.wantLive(rt1, rt2)
		if code, body := e.api(at2); code != http.StatusOK || body != "1" {
			t.Fatalf("access token of the retry: %d %q", code, body)
		}
		// The chain goes on from the retry's answer.
		_, rt3 := e.mustRefresh(rt2)
		e.wantLive(rt1, rt3)
	})

	t.Run("answer lost on the way: the retry gets the same successor", func(t *testing.T) {
		e := newTokenEnv(t, kind.open(t, "1", "2"), envConfig{cache: true})
		_, rt1 := e.mustTokenLogin("1")
		_, lost := e.mustRefresh(rt1) // the client never sees this answer
		_, rt2 := e.mustRefresh(rt1)
		if claim(t, rt2, "jti") != claim(t, lost, "jti") {
			t.Fatal("the retry got another successor than the lost answer")
		}
		e.wantLive(rt1, rt2)
		e.mustRefresh(rt2)
	})

	t.Run("process killed after commit: another instance answers the retry", func(t *testing.T) {
		s := kind.open(t, "1", "2")
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		clock := newTestClock(time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC))
		var reused atomic.Int64
		instance := func() *Issuer {
			iss, err := NewIssuer("https://auth.test", "api", key, s, s.Version, WithClock(clock.Now),
				WithReuseHandler(func(context.Context, ReuseEvent) { reused.Add(1) }))
			if err != nil {
				t.Fatal(err)
			}
			return iss
		}
		a, b := instance(), instance()
		ctx := context.Background()
		p1, err := a.Issue(ctx, "1")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := a.Refresh(ctx, p1.RefreshToken); err != nil { // committed; a dies before answering
			t.Fatal(err)
		}
		clock.Advance(30 * time.Second) // a restart
		p2, err := b.Refresh(ctx, p1.RefreshToken)
		if err != nil {
			t.Fatalf("retry on another instance: %v", err)
		}
		if _, err := b.Refresh(ctx, p2.RefreshToken); err != nil {
			t.Fatalf("the retry's successor: %v", err)
		}
		if reused.Load() != 0 {
			t.Fatal("reuse reported")
		}
	})

	t.Run("concurrent retries: one successor, used once", func(t *testing.T) {
		e := newTokenEnv(t, kind.open(t, "1", "2"), envConfig{cache: true})
		_, rt := e.mustTokenLogin("1")
		const n = 50
		results := e.refreshAtOnce(rt, n)
		jtis := map[string]bool{}
		var successors []string
		for _, r := range results {
			if r.status != http.StatusOK || r.oauth.RefreshToken == "" {
				t.Fatalf("concurrent refresh answered %d %s, want 200 with the one successor", r.status, r.body)
			}
			jtis[claim(t, r.oauth.RefreshToken, "jti")] = true
			successors = append(successors, r.oauth.RefreshToken)
		}
		if len(jtis) != 1 {
			t.Fatalf("%d distinct successors, want 1", len(jtis))
		}
		e.wantLive(rt, successors[0])
		// The one successor is used once; any copy of it after that, and the
		// token before it, are reuse.
		_, next := e.mustRefresh(successors[0])
		e.wantLive(rt, next)
		if successors[1] == successors[0] {
			t.Fatal("two answers carry the same bytes; the test needs two copies")
		}
		e.clock.Advance(2 * time.Minute)
		e.wantReuse(successors[1])
		wantOAuthError(t, e.refresh(next), http.StatusBadRequest, "invalid_grant")
	})

	t.Run("retry after the successor was used is reuse", func(t *testing.T) {
		e := newTokenEnv(t, kind.open(t, "1", "2"), envConfig{cache: true})
		_, rt1 := e.mustTokenLogin("1")
		_, rt2 := e.mustRefresh(rt1)
		_, rt3 := e.mustRefresh(rt2)
		e.wantReuse(rt1)
		wantOAuthError(t, e.refresh(rt3), http.StatusBadRequest, "invalid_grant")
	})

	t.Run("retry after the window is reuse", func(t *testing.T) {
		e := newTokenEnv(t, kind.open(t, "1", "2"), envConfig{cache: true})
		_, rt1 := e.mustTokenLogin("1")
		_, rt2 := e.mustRefresh(rt1)
		e.clock.Advance(defaultRefreshRetryWindow + time.Second)
		e.wantReuse(rt1)
		wantOAuthError(t, e.refresh(rt2), http.StatusBadRequest, "invalid_grant")
	})

	t.Run("retry of an older token is reuse", func(t *testing.T) {
		e := newTokenEnv(t, kind.open(t, "1", "2"), envConfig{cache: true})
		_, rt1 := e.mustTokenLogin("1")
		_, rt2 := e.mustRefresh(rt1)
		e.mustRefresh(rt2) // rt2's successor is current and unused
		e.wantReuse(rt1)
	})

	t.Run("window 0: every rotated token is reuse", func(t *testing.T) {
		e := newTokenEnv(t, kind.open(t, "1", "2"), envConfig{cache: true, issuerOpts: []Option{WithRefreshRetryWindow(0)}})
		_, rt1 := e.mustTokenLogin("1")
		e.mustRefresh(rt1)
		e.wantReuse(rt1)
	})

	t.Run("retry after a version bump is refused", func(t *testing.T) {
		e := newTokenEnv(t, kind.open(t, "1", "2"), envConfig{})
		_, rt1 := e.mustTokenLogin("1")
		e.mustRefresh(rt1)
		if _, err := e.store.Bump(context.Background(), "1"); err != nil {
			t.Fatal(err)
		}
		wantOAuthError(t, e.refresh(rt1), http.StatusBadRequest, "invalid_grant")
	})
}

func TestWithRefreshRetryWindowBounds(t *testing.T) {
	s := NewMemoryStore("1")
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	for _, d := range []time.Duration{-time.Second, 11 * time.Minute} {
		if _, err := NewIssuer("https://auth.test", "api", key, s, s.Version, WithRefreshRetryWindow(d)); err == nil {
			t.Errorf("WithRefreshRetryWindow(%v) accepted", d)
		}
	}
}
