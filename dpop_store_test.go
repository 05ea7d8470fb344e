package authkit

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"
)

// The DPoP replay cache and nonce key kept in a Store (WithDPoPStore):
// shared by every instance on one PostgreSQL schema, failing closed; and
// the in-memory cache's bound.

// dpopInstance is a resource server of the DPoP tests over store s (nil:
// none), as one instance of a service.
func dpopInstance(t *testing.T, s *Store, opts ...Option) http.Handler {
	t.Helper()
	if s != nil {
		opts = append(opts, WithDPoPStore(s))
	}
	return newDPoPJWT(t, DPoPAllowed, opts...)
}

// A proof accepted by one instance is refused by another on the same
// store: two JWTs on one memory store, or on two pools over one PostgreSQL
// schema (as two processes); without the store each accepts it once.
func TestDPoPReplayAcrossInstances(t *testing.T) {
	k := clientKey(t)
	tok := boundToken(k.jkt)
	forEachBackend(t, func(t *testing.T, kind backend) {
		s1 := kind.open(t)
		s2 := s1
		if kind.reopen != nil {
			s2 = kind.reopen(t, s1)
		}
		a, b := dpopInstance(t, s1), dpopInstance(t, s2)
		p := k.proof(k.header(), newProofClaims("GET", dpopURL, tok, testNow))
		if w := call(a, "GET", dpopURL, "DPoP "+tok, p); w.Code != http.StatusOK {
			t.Fatalf("first use on instance A: %d", w.Code)
		}
		w := call(b, "GET", dpopURL, "DPoP "+tok, p)
		if w.Code != http.StatusUnauthorized || !strings.Contains(strings.Join(w.Header().Values("WWW-Authenticate"), " "), `error="invalid_dpop_proof"`) {
			t.Fatalf("replay on instance B: %d %q", w.Code, w.Header().Values("WWW-Authenticate"))
		}
		if w := call(b, "GET", dpopURL, "DPoP "+tok, k.proof(k.header(), newProofClaims("GET", dpopURL, tok, testNow))); w.Code != http.StatusOK {
			t.Fatalf("a fresh proof on instance B: %d", w.Code)
		}
		if kind.reopen != nil {
			var n int
			var exp time.Time
			if err := pgOf(t, s1).QueryRowContext(t.Context(), `SELECT count(*), max(expires_at) FROM authkit_dpop_proofs`).Scan(&n, &exp); err != nil {
				t.Fatal(err)
			}
			if want := testNow.Add(dpopProofLifetime + 2*time.Second); n != 2 || !exp.Equal(want) {
				t.Fatalf("authkit_dpop_proofs holds %d rows expiring at %v, want 2 at %v", n, exp, want)
			}
		}
	})
	// Without a shared store, each instance has its own cache.
	a, b := dpopInstance(t, nil), dpopInstance(t, nil)
	p := k.proof(k.header(), newProofClaims("GET", dpopURL, tok, testNow))
	for _, h := range []http.Handler{a, b} {
		if w := call(h, "GET", dpopURL, "DPoP "+tok, p); w.Code != http.StatusOK {
			t.Fatalf("without a store: %d", w.Code)
		}
	}
}

// On PostgreSQL the nonce key is the store's: instances on one schema
// accept each other's nonces, an instance on another schema (another key)
// refuses them.
func TestPostgresDPoPNonceKeyShared(t *testing.T) {
	k := clientKey(t)
	tok := boundToken(k.jkt)
	db := newPGDB(t)
	a := dpopInstance(t, db.migrated(), WithDPoPNonce())
	b := dpopInstance(t, db.reopen().store(), WithDPoPNonce())
	elsewhere := dpopInstance(t, newPGDB(t).migrated(), WithDPoPNonce())
	process := dpopInstance(t, nil, WithDPoPNonce())
	nonce := wantUseNonce(t, call(a, "GET", dpopURL, "DPoP "+tok, nonceProof(k, tok, "", testNow)), "no nonce")
	if w := call(b, "GET", dpopURL, "DPoP "+tok, nonceProof(k, tok, nonce, testNow)); w.Code != http.StatusOK {
		t.Fatalf("A's nonce on B: %d %q", w.Code, w.Header().Values("WWW-Authenticate"))
	}
	for name, h := range map[string]http.Handler{"another schema": elsewhere, "the process key": process} {
		if got := wantUseNonce(t, call(h, "GET", dpopURL, "DPoP "+tok, nonceProof(k, tok, nonce, testNow)), name); got == nonce {
			t.Fatalf("%s hands out the same nonce", name)
		}
	}
}

// The table's rows: a key is new once; a row past its expiry no longer
// refuses its key (the cleanup may not have run); the cleanup deletes rows
// a proof lifetime past their expiry.
func TestPostgresDPoPProofRows(t *testing.T) {
	ps := newPGDB(t).migrated().b.(*postgresStore)
	ctx := t.Context()
	key := [16]byte{1}
	iat := float64(testNow.Unix())
	for i, want := range []bool{true, false} {
		if fresh, err := ps.recordProof(ctx, key, iat, testNow); err != nil || fresh != want {
			t.Fatalf("record #%d: %v, %v; want %v", i, fresh, err, want)
		}
	}
	if fresh, err := ps.recordProof(ctx, key, iat, testNow.Add(dpopProofLifetime+time.Second)); err != nil || fresh {
		t.Fatalf("record within the margin: %v, %v", fresh, err)
	}
	later := testNow.Add(dpopProofLifetime + 3*time.Second)
	if fresh, err := ps.recordProof(ctx, key, float64(later.Unix()), later); err != nil || !fresh {
		t.Fatalf("record after the expiry: %v, %v", fresh, err)
	}
	count := func() (n int) {
		if err := ps.db.QueryRowContext(ctx, `SELECT count(*) FROM authkit_dpop_proofs`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	// The cleanup (WithCleanupInterval) deletes a row a proof lifetime
	// after its expiry: later + lifetime + 2 s.
	edge := later.Add(2*dpopProofLifetime + 2*time.Second)
	if _, err := ps.deleteExpired(ctx, edge.Add(-time.Second)); err != nil || count() != 1 {
		t.Fatalf("cleanup before the margin: %v, %d rows", err, count())
	}
	if _, err := ps.deleteExpired(ctx, edge); err != nil || count() != 0 {
		t.Fatalf("cleanup: %v, %d rows left", err, count())
	}
}

// A store that does not answer, or fails, refuses the proof with 503 within
// the store timeout; the handler is not called. The same at the token
// endpoint, and for the nonce key.
func TestPostgresDPoPStoreFailsClosed(t *testing.T) {
	k := clientKey(t)
	tok := boundToken(k.jkt)
	db := newPGDB(t)
	db.migrated()
	short, err := NewPostgresStore(db.DB, WithStoreTimeout(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	want503 := func(what string, h http.Handler, proof string) {
		t.Helper()
		start := time.Now()
		w := call(h, "GET", dpopURL, "DPoP "+tok, proof)
		if w.Code != http.StatusServiceUnavailable || w.Header().Get("Retry-After") == "" || w.Body.String() == string(MethodDPoP) {
			t.Fatalf("%s: %d %q", what, w.Code, w.Body)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("%s took %v", what, d)
		}
	}
	// A first proof, accepted before the lock.
	h := dpopInstance(t, short)
	if w := call(h, "GET", dpopURL, "DPoP "+tok, k.proof(k.header(), newProofClaims("GET", dpopURL, tok, testNow))); w.Code != http.StatusOK {
		t.Fatalf("before the lock: %d", w.Code)
	}
	tx, err := db.BeginTx(t.Context(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(t.Context(), `LOCK TABLE authkit_dpop_proofs IN ACCESS EXCLUSIVE MODE`); err != nil {
		t.Fatal(err)
	}
	want503("the table locked", h, k.proof(k.header(), newProofClaims("GET", dpopURL, tok, testNow)))
	// The INSERT was cancelled, not left waiting for the lock.
	for deadline := time.Now().Add(2 * time.Second); ; {
		var waiting int
		if err := db.QueryRowContext(t.Context(), `SELECT count(*) FROM pg_locks WHERE NOT granted AND relation = 'authkit_dpop_proofs'::regclass`).Scan(&waiting); err != nil {
			t.Fatal(err)
		}
		if waiting == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d statements still wait for the lock", waiting)
		}
		time.Sleep(10 * time.Millisecond)
	}
	tx.Rollback()

	closed := newPGDB(t).reopen()
	closedStore, err := NewPostgresStore(closed.DB)
	if err != nil {
		t.Fatal(err)
	}
	closed.Close()
	closedH := dpopInstance(t, closedStore)
	want503("a closed pool", closedH, k.proof(k.header(), newProofClaims("GET", dpopURL, tok, testNow)))
	want503("a closed pool, the nonce key", dpopInstance(t, closedStore, WithDPoPNonce()), nonceProof(k, tok, "", testNow))

	e := newDPoPTokenEnv(t, WithDPoPStore(closedStore))
	r := e.dpopPost("/token", "application/x-www-form-urlencoded", "user=1", e.tokenProof(k, "/token"))
	wantOAuthError(t, r, http.StatusServiceUnavailable, "temporarily_unavailable")
	if _, err := e.iss.IssueForRequest(httpRequestWithProof(t, e, k), "1"); !errors.Is(err, ErrStoreUnavailable) {
		t.Fatalf("IssueForRequest: %v, want ErrStoreUnavailable", err)
	}
}

// httpRequestWithProof is a token request to e with a proof by k.
func httpRequestWithProof(t *testing.T, e *env, k dpopKey) *http.Request {
	t.Helper()
	req := httptest.NewRequest("POST", e.srv.URL+"/token", nil) // TLS, as the URL is https
	req.Header.Set("DPoP", e.tokenProof(k, "/token"))
	return req
}

// The in-memory replay cache stays within its entries and about 10 MB of
// heap (7.6 MB measured), however many live proofs arrive (the oldest leave, raising the
// floor).
func TestReplayCacheMemoryBound(t *testing.T) {
	if testing.Short() {
		t.Skip("fills the cache")
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	c := newReplayCache(dpopReplayEntries)
	now := testNow
	for i := range 3 * dpopReplayEntries {
		var key [16]byte
		key[0], key[1], key[2], key[3] = byte(i), byte(i>>8), byte(i>>16), 0xa5
		// Every proof live: issued within the last second.
		iat := float64(now.Unix()) + float64(i)/float64(3*dpopReplayEntries)
		if fresh, _ := c.recordProof(context.Background(), key, iat, now); !fresh {
			t.Fatalf("proof %d refused", i)
		}
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	kept := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	t.Logf("%d proofs: the cache keeps %d entries, heap +%.1f MB", 3*dpopReplayEntries, len(c.seen), float64(kept)/1e6)
	if len(c.seen) > dpopReplayEntries || len(c.order) > dpopReplayEntries {
		t.Fatalf("%d/%d entries, bound %d", len(c.seen), len(c.order), dpopReplayEntries)
	}
	if kept > 12<<20 { // dpopReplayEntries' "about 10 MB", and a margin
		t.Fatalf("the cache keeps %.1f MB of heap, bound 12 MiB", float64(kept)/1e6)
	}
	runtime.KeepAlive(c)
}

// A proof sent with a token that is not presented as DPoP is a malformed
// request (auth0/go-jwt-middleware refuses it too); a server with DPoP off
// ignores the header, as before.
func TestDPoPProofWithBearerToken(t *testing.T) {
	k := clientKey(t)
	unbound := baseToken()
	proof := func() string { return k.proof(k.header(), newProofClaims("GET", dpopURL, unbound, testNow)) }
	w := call(newDPoPJWT(t, DPoPAllowed), "GET", dpopURL, "Bearer "+unbound, proof())
	want := []string{`Bearer realm="authkit", error="invalid_request"`, `DPoP realm="authkit", ` + dpopAlgsParam}
	if got := w.Header().Values("WWW-Authenticate"); w.Code != http.StatusBadRequest || strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("unbound Bearer token with a proof: %d %q, want 400 %q", w.Code, got, want)
	}
	if w := call(newDPoPJWT(t, DPoPOff), "GET", dpopURL, "Bearer "+unbound, proof()); w.Code != http.StatusOK {
		t.Fatalf("DPoP off: %d", w.Code)
	}
	if w := call(newDPoPJWT(t, DPoPAllowed), "GET", dpopURL, "Bearer "+unbound); w.Code != http.StatusOK {
		t.Fatalf("without the proof: %d", w.Code)
	}
}

func TestDPoPNonceAndStoreOptions(t *testing.T) {
	toUser := func(_ context.Context, c *Claims) (string, error) { return "", nil }
	base := []Option{WithIssuer(testIssuer), WithAudience(testAudience), WithKey("k1", testKeys().ec256)}
	for name, opts := range map[string][]Option{
		"WithDPoPNonce without DPoP":  {WithDPoPNonce()},
		"WithDPoPStore without DPoP":  {WithDPoPStore(NewMemoryStore())},
		"WithDPoPStore(nil)":          {WithDPoP(DPoPAllowed), WithDPoPStore(nil)},
		"WithDPoPNonce twice":         {WithDPoP(DPoPAllowed), WithDPoPNonce(), WithDPoPNonce()},
		"WithDPoPStore twice":         {WithDPoP(DPoPAllowed), WithDPoPStore(NewMemoryStore()), WithDPoPStore(NewMemoryStore())},
		"WithDPoPStore, a zero Store": {WithDPoP(DPoPAllowed), WithDPoPStore(&Store{})},
	} {
		if _, err := NewJWT(toUser, append(base, opts...)...); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, err := NewJWT(toUser, append(base, WithDPoP(DPoPRequired), WithDPoPNonce(), WithDPoPStore(NewMemoryStore()))...); err != nil {
		t.Errorf("both options: %v", err)
	}
	if _, err := NewSession(NewSessionManager(nil), func(_ context.Context, id string) (string, error) { return id, nil }, WithDPoPNonce()); err == nil {
		t.Error("NewSession accepted WithDPoPNonce")
	}
}
