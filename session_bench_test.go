package authkit

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/alexedwards/scs/postgresstore"
	"github.com/alexedwards/scs/v2"
	"github.com/alexedwards/scs/v2/memstore"
)

// The session benchmarks compare Require with a Session against a bare scs
// LoadAndSave serving the same handler over the same kind of store, with the
// same session data, in the same run:
//
//	go test -run '^$' -bench 'Session(Read|Write)' -count 10 . | tee new.txt
//	benchstat -col /mw new.txt
//
// Read: an unmodified session (one store read per request). Write: the
// handler changes the session on every request (one store write more).
// mw=scs is scs as it comes (GobCodec), mw=scs-kitcodec scs with the kit's
// codec (sessioncodec.go), so that mw=authkit's distance from it is the
// kit's own work: the cookie's MAC, the checks, the identity in the context.
// The PostgreSQL cases need TEST_DATABASE_URL.

func BenchmarkSessionRead(b *testing.B)  { benchSessions(b, false) }
func BenchmarkSessionWrite(b *testing.B) { benchSessions(b, true) }

func benchSessions(b *testing.B, write bool) {
	stores := []struct {
		name      string
		kit, bare func(b *testing.B) scs.Store
	}{
		{"store=memstore",
			func(*testing.B) scs.Store { return memstore.NewWithCleanupInterval(0) },
			func(*testing.B) scs.Store { return memstore.NewWithCleanupInterval(0) }},
		{"store=postgres",
			func(b *testing.B) scs.Store { return newPGDB(b).sessions() },
			func(b *testing.B) scs.Store {
				db := newPGDB(b)
				db.migrated(WithSessionTable("bare_sessions"))
				return postgresstore.NewWithConfig(db.DB, postgresstore.Config{TableName: "bare_sessions"})
			}},
	}
	for _, st := range stores {
		b.Run(st.name, func(b *testing.B) {
			b.Run("mw=scs", func(b *testing.B) { benchBareScs(b, st.bare(b), write, scs.GobCodec{}) })
			b.Run("mw=scs-kitcodec", func(b *testing.B) { benchBareScs(b, st.bare(b), write, sessionCodec{}) })
			b.Run("mw=authkit", func(b *testing.B) { benchKit(b, st.kit(b), write) })
		})
	}
}

// benchHandler is the protected handler of both: it answers with the user's
// name and, on the write path, changes the session.
func benchHandler(sm *scs.SessionManager, user func(r *http.Request) *testUser, write bool) http.Handler {
	n := 0
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u := user(r)
		if u == nil {
			http.Error(w, "no user", http.StatusUnauthorized)
			return
		}
		if write {
			n++
			sm.Put(r.Context(), "n", n)
		}
		_, _ = w.Write([]byte(u.Name))
	})
}

func benchKit(b *testing.B, store scs.Store, write bool) {
	sm := NewSessionManager(store)
	versions := newFakeVersions(map[string]int64{"1": 3})
	s, err := NewSession(sm, func(_ context.Context, id string) (*testUser, error) { return testUsers[id], nil },
		WithVersionCheck(versions.Version))
	if err != nil {
		b.Fatal(err)
	}
	login := s.LoadAndSave(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := s.Login(r.Context(), "1"); err != nil {
			b.Fatal(err)
		}
	}))
	h := Require[*testUser](s)(benchHandler(sm, func(r *http.Request) *testUser {
		u, _ := UserFrom[*testUser](r.Context())
		return u
	}, write))
	runSessionBench(b, login, h, sm.Cookie.Name, write)
}

func benchBareScs(b *testing.B, store scs.Store, write bool, codec scs.Codec) {
	sm := scs.New()
	sm.Store = store
	sm.Codec = codec
	sm.HashTokenInStore = true
	login := sm.LoadAndSave(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		if err := sm.RenewToken(ctx); err != nil {
			b.Fatal(err)
		}
		now := time.Now().UnixNano() // the same values the kit stores
		sm.Put(ctx, sessionUserKey, "1")
		sm.Put(ctx, sessionAuthKey, now)
		sm.Put(ctx, sessionSeenKey, now)
		sm.Put(ctx, sessionVersionKey, int64(3))
	}))
	h := sm.LoadAndSave(benchHandler(sm, func(r *http.Request) *testUser {
		return testUsers[sm.GetString(r.Context(), sessionUserKey)]
	}, write))
	runSessionBench(b, login, h, sm.Cookie.Name, write)
}

func runSessionBench(b *testing.B, login, h http.Handler, cookieName string, write bool) {
	rec := httptest.NewRecorder()
	login.ServeHTTP(rec, httptest.NewRequest("POST", "https://example.test/login", nil))
	var token string
	for _, c := range rec.Result().Cookies() {
		if c.Name == cookieName {
			token = c.Value
		}
	}
	if token == "" {
		b.Fatal("no session cookie after login")
	}
	req := httptest.NewRequest("GET", "https://example.test/me", nil)
	req.AddCookie(&http.Cookie{Name: cookieName, Value: token})
	b.ReportAllocs()
	for b.Loop() {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != http.StatusOK || (w.Header().Get("Set-Cookie") != "") != write {
			b.Fatalf("status %d, Set-Cookie %q", w.Code, w.Header().Get("Set-Cookie"))
		}
	}
}

// BenchmarkBearerRoute is the demo's /api/me for a bearer token in-process:
// a repeated ES256 token (the verified-token cache on, the default) through
// Require(Any(jwt, session)), as the demo routes it, beside Require(jwt)
// alone and the bare handler, so that what the session costs a request that
// does not use it (its load: no cookie, no store access) is the distance
// from mw=jwt to mw=any:
//
//	go test -run '^$' -bench BearerRoute -count 10 . | tee new.txt
//	benchstat -col /mw new.txt
func BenchmarkBearerRoute(b *testing.B) {
	c := benchCases(b)[1] // ES256
	c.jwt.cache = newTokenCache(defaultTokenCacheSize)
	s, err := NewSession(NewSessionManager(memstore.NewWithCleanupInterval(0)),
		func(_ context.Context, id string) (*testUser, error) { return testUsers[id], nil })
	if err != nil {
		b.Fatal(err)
	}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u, ok := UserFrom[*testUser](r.Context()); !ok || u.ID != "alice" {
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		w.WriteHeader(http.StatusOK)
	})
	bare := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusOK) })
	for _, mw := range []struct {
		name string
		h    http.Handler
	}{
		{"bare", bare},
		{"jwt", Require[*testUser](c.jwt)(h)},
		{"any", Require[*testUser](Any[*testUser](c.jwt, s))(h)},
	} {
		b.Run("mw="+mw.name, func(b *testing.B) {
			req := bearerRequest(c.token)
			var rec *httptest.ResponseRecorder
			b.ReportAllocs()
			for b.Loop() {
				rec = httptest.NewRecorder()
				mw.h.ServeHTTP(rec, req)
			}
			if rec.Code != http.StatusOK {
				b.Fatalf("status %d", rec.Code)
			}
		})
	}
}
