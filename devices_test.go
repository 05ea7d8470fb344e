package authkit

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"
)

// newDevicesEnv serves the session routes over store's sessions, plus
// GET /devices (the caller's Store.Devices as JSON), DELETE /devices/{id}
// (Store.EndDevice: 204, or 404 for ErrUnknownDevice), POST /everywhere
// (Session.LogoutEverywhere) and POST /login-remember (RememberMe, then
// Login).
func newDevicesEnv(t *testing.T, store *Store, opts ...Option) *env {
	t.Helper()
	e := newSessionEnv(t, store.Sessions(), opts...)
	mux := http.NewServeMux()
	e.sessionRoutes(mux)
	require := Require[*testUser](e.s, WithErrorHandler(e.recordErr))
	mux.Handle("GET /devices", require(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, _ := UserFrom[*testUser](r.Context())
		ds, err := store.Devices(r.Context(), u.ID)
		if err != nil {
			DefaultErrorHandler(w, r, err)
			return
		}
		_ = json.NewEncoder(w).Encode(ds)
	})))
	mux.Handle("DELETE /devices/{id}", require(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, _ := UserFrom[*testUser](r.Context())
		switch err := store.EndDevice(r.Context(), u.ID, r.PathValue("id")); {
		case errors.Is(err, ErrUnknownDevice):
			http.NotFound(w, r)
		case err != nil:
			DefaultErrorHandler(w, r, err)
		default:
			w.WriteHeader(http.StatusNoContent)
		}
	})))
	mux.Handle("POST /everywhere", require(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := e.s.LogoutEverywhere(r.Context()); err != nil {
			DefaultErrorHandler(w, r, err)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})))
	mux.Handle("POST /login-remember", e.s.LoadAndSave(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e.sm.RememberMe(r.Context(), true)
		if err := e.s.Login(r.Context(), r.FormValue("user")); err != nil {
			DefaultErrorHandler(w, r, err)
			return
		}
		http.Redirect(w, r, "/", http.StatusSeeOther)
	})))
	e.serve(mux)
	return e
}

// devicesOf returns what GET /devices answers the browser c.
func (e *env) devicesOf(c *http.Client) []Device {
	e.t.Helper()
	r := e.do(c, "GET", "/devices", nil, nil)
	if r.status != http.StatusOK {
		e.t.Fatalf("GET /devices: %d %q", r.status, r.body)
	}
	var ds []Device
	if err := json.Unmarshal([]byte(r.body), &ds); err != nil {
		e.t.Fatal(err)
	}
	return ds
}

// wantMe checks what GET /opt says about the browser c's session.
func (e *env) wantMe(c *http.Client, want string) {
	e.t.Helper()
	if r := e.do(c, "GET", "/opt", nil, nil); r.body != want {
		e.t.Errorf("GET /opt: %q, want %q", r.body, want)
	}
}

func TestDevicesListAndEnd(t *testing.T) {
	forEachBackend(t, func(t *testing.T, kind backend) {
		store := kind.open(t, "1", "2")
		e := newDevicesEnv(t, store)
		a, b, bob := e.browser(), e.browser(), e.browser()
		e.login(a, "1")
		e.login(b, "1")
		e.login(bob, "2")
		// A refresh family of alice's, as Issuer.Issue starts one.
		now := time.Now().Truncate(time.Second)
		fam := RefreshFamily{ID: "fam-alice", UserID: "1", CreatedAt: now.Add(-time.Hour), ExpiresAt: now.Add(time.Hour), LastUsedAt: now.Add(-time.Minute)}
		if err := store.CreateFamily(context.Background(), fam, [32]byte{1}); err != nil {
			t.Fatal(err)
		}

		ds := e.devicesOf(a)
		if len(ds) != 3 {
			t.Fatalf("alice's devices: %+v, want 2 sessions and 1 family", ds)
		}
		if ds[0].Kind != "refresh" || ds[0].ID != fam.ID || !ds[0].Created.Equal(fam.CreatedAt) || !ds[0].LastUsed.Equal(fam.LastUsedAt) {
			t.Errorf("the family, listed first (oldest): %+v", ds[0])
		}
		var current, other string
		for _, d := range ds[1:] {
			if d.Kind != "session" || d.Created.IsZero() || d.LastUsed.IsZero() {
				t.Errorf("a session: %+v", d)
			}
			if d.Current {
				current = d.ID
			} else {
				other = d.ID
			}
		}
		if current == "" || other == "" {
			t.Fatalf("want one current session and one other: %+v", ds)
		}
		if bs := e.devicesOf(bob); len(bs) != 1 || bs[0].Kind != "session" || !bs[0].Current {
			t.Errorf("bob's devices: %+v", bs)
		}

		// Bob cannot end alice's session or family: 404, nothing changes.
		for _, id := range []string{other, fam.ID, "no-such-id"} {
			if r := e.do(bob, "DELETE", "/devices/"+id, nil, nil); r.status != http.StatusNotFound {
				t.Errorf("bob ends %q: %d, want 404", id, r.status)
			}
		}
		e.wantMe(b, "alice via session")

		// Alice ends her other browser's session: its next request is anonymous.
		if r := e.do(a, "DELETE", "/devices/"+other, nil, nil); r.status != http.StatusNoContent {
			t.Fatalf("alice ends her other session: %d %q", r.status, r.body)
		}
		e.wantMe(b, "anonymous")
		e.wantMe(a, "alice via session")
		if r := e.do(a, "DELETE", "/devices/"+other, nil, nil); r.status != http.StatusNotFound {
			t.Errorf("ending it again: %d, want 404", r.status)
		}
		// And her refresh family: revoked in storage.
		if r := e.do(a, "DELETE", "/devices/"+fam.ID, nil, nil); r.status != http.StatusNoContent {
			t.Fatalf("alice ends her family: %d %q", r.status, r.body)
		}
		if f, _, _ := storedFamily(t, store, fam.ID); f.RevokedAt.IsZero() {
			t.Error("the ended family is not revoked")
		}
		if ds := e.devicesOf(a); len(ds) != 1 || ds[0].ID != current || !ds[0].Current {
			t.Errorf("alice's devices after ending two: %+v", ds)
		}

		// Logout removes the device.
		e.do(a, "POST", "/logout", nil, nil)
		if ds, _ := store.Devices(context.Background(), "1"); len(ds) != 0 {
			t.Errorf("alice's devices after logout: %+v", ds)
		}
	})
}

// A bump deletes the user's sessions in storage, not only refuses them at
// their next request, and leaves other users' alone.
func TestBumpDeletesSessions(t *testing.T) {
	forEachBackend(t, func(t *testing.T, kind backend) {
		store := kind.open(t, "1", "2")
		e := newDevicesEnv(t, store)
		a, b, bob := e.browser(), e.browser(), e.browser()
		ta, tb, tbob := e.login(a, "1"), e.login(b, "1"), e.login(bob, "2")
		if _, err := store.Bump(context.Background(), "1"); err != nil {
			t.Fatal(err)
		}
		if e.stored(ta) || e.stored(tb) {
			t.Error("alice's sessions are still stored after the bump")
		}
		if !e.stored(tbob) {
			t.Error("bob's session was deleted by alice's bump")
		}
		if n := indexRows(t, store, "1"); n != 0 {
			t.Errorf("alice's index rows after the bump: %d", n)
		}
		e.wantMe(bob, "bob via session")
	})
}

func TestLogoutEverywhere(t *testing.T) {
	forEachBackend(t, func(t *testing.T, kind backend) {
		store := kind.open(t, "1", "2")
		e := newDevicesEnv(t, store)
		a, b := e.browser(), e.browser()
		ta, tb := e.login(a, "1"), e.login(b, "1")
		r := e.do(a, "POST", "/everywhere", nil, nil)
		if r.status != http.StatusNoContent {
			t.Fatalf("POST /everywhere: %d %q", r.status, r.body)
		}
		checkSetCookie(t, r, true)
		if e.stored(ta) || e.stored(tb) {
			t.Error("a session survived LogoutEverywhere in storage")
		}
		if v, _ := store.Version(context.Background(), "1"); v != 1 {
			t.Errorf("version after LogoutEverywhere: %d, want 1", v)
		}
		e.wantMe(b, "anonymous")
	})
}

// indexRows counts userID's rows in the store's session index.
func indexRows(t *testing.T, s *Store, userID string) int {
	t.Helper()
	switch b := s.b.(type) {
	case *memoryStore:
		b.mu.RLock()
		defer b.mu.RUnlock()
		return len(b.index.byUser[userID])
	case *postgresStore:
		var n int
		if err := b.db.QueryRow(`SELECT count(*) FROM authkit_session_devices WHERE user_id = $1`, userID).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	t.Fatalf("store %T", s.b)
	return 0
}

// Expired index rows are deleted with expired families: in memory at most
// once a minute, as a login or a new family comes; in PostgreSQL by the
// store's background cleanup (TestPostgresCleanup), run here at once.
func TestDeviceIndexSweep(t *testing.T) {
	forEachBackend(t, func(t *testing.T, kind backend) {
		store := kind.open(t, "1", "2")
		e := newDevicesEnv(t, store, WithSessionIdleTimeout(300*time.Millisecond))
		e.login(e.browser(), "1")
		if n := indexRows(t, store, "1"); n != 1 {
			t.Fatalf("index rows after login: %d", n)
		}
		time.Sleep(400 * time.Millisecond) // the row's expiry is real time
		if ds, _ := store.Devices(context.Background(), "1"); len(ds) != 0 {
			t.Errorf("an expired session listed: %+v", ds)
		}
		later := e.clock.Now().Add(2 * familySweepInterval)
		f := RefreshFamily{ID: "f", UserID: "2", CreatedAt: later, ExpiresAt: later.Add(time.Hour), LastUsedAt: later}
		if err := store.CreateFamily(context.Background(), f, [32]byte{}); err != nil {
			t.Fatal(err)
		}
		if ps, ok := store.b.(*postgresStore); ok {
			if _, err := ps.deleteExpired(context.Background(), later); err != nil {
				t.Fatal(err)
			}
		}
		if n := indexRows(t, store, "1"); n != 0 {
			t.Errorf("expired index rows after the sweep: %d", n)
		}
	})
}

// A remembered session keeps WithRememberMe's limits and a persistent
// cookie; the others keep the ordinary ones and a browser-session cookie.
func TestRememberMe(t *testing.T) {
	forEachBackend(t, func(t *testing.T, kind backend) {
		store := kind.open(t, "1", "2")
		const month = 30 * 24 * time.Hour
		e := newDevicesEnv(t, store, WithRememberMe(month, month))
		kept, plain := e.browser(), e.browser()
		r := e.do(kept, "POST", "/login-remember", nil, url.Values{"user": {"1"}})
		line := sessionCookieLine(t, r.header)
		i := strings.Index(line, "Max-Age=")
		if i < 0 {
			t.Fatalf("remembered cookie without Max-Age: %s", line)
		}
		age, _ := strconv.Atoi(strings.SplitN(line[i+len("Max-Age="):], ";", 2)[0])
		if d := time.Duration(age) * time.Second; d < month-time.Minute || d > month+time.Minute {
			t.Errorf("remembered cookie Max-Age %v, want about %v", d, month)
		}
		r = e.do(plain, "POST", "/login", nil, url.Values{"user": {"1"}})
		if line := sessionCookieLine(t, r.header); strings.Contains(line, "Max-Age") {
			t.Errorf("ordinary cookie persists: %s", line)
		}
		e.clock.Advance(defaultSessionIdleTimeout + time.Minute)
		e.wantMe(kept, "alice via session")
		e.wantMe(plain, "anonymous")
		e.clock.Advance(month)
		e.wantMe(kept, "anonymous")
	})
	if _, err := NewSession(NewSessionManager(nil), func(context.Context, string) (int, error) { return 0, nil },
		WithRememberMe(time.Second, 0)); err == nil {
		t.Error("WithRememberMe with a zero limit accepted")
	}
}
