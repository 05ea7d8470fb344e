package authkit

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alexedwards/scs/postgresstore"
	"github.com/alexedwards/scs/v2"
	"github.com/alexedwards/scs/v2/memstore"
)

// ---- construction ------------------------------------------------------------

func TestNewSessionChecksTheManager(t *testing.T) {
	load := func(context.Context, string) (*testUser, error) { return nil, nil }
	db, err := sql.Open("pgx", "postgres://nowhere.invalid/x") // never connects
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	tests := []struct {
		name   string
		change func(sm *scs.SessionManager)
		opts   []Option
		want   string // "" means accepted
	}{
		{"kit defaults", func(*scs.SessionManager) {}, nil, ""},
		{"not Secure", func(sm *scs.SessionManager) { sm.Cookie.Secure = false }, nil, "Cookie.Secure is false"},
		{"insecure for development", func(sm *scs.SessionManager) { sm.Cookie.Secure, sm.Cookie.Name = false, "session" }, []Option{WithInsecureSessionCookie()}, ""},
		{"insecure keeps __Host-", func(sm *scs.SessionManager) { sm.Cookie.Secure = false }, []Option{WithInsecureSessionCookie()}, "__Host- cookie without Secure"},
		{"no __Host- prefix", func(sm *scs.SessionManager) { sm.Cookie.Name = "session" }, nil, "lacks the __Host- prefix"},
		{"empty name", func(sm *scs.SessionManager) { sm.Cookie.Name = "" }, nil, "Cookie.Name is empty"},
		{"not HttpOnly", func(sm *scs.SessionManager) { sm.Cookie.HttpOnly = false }, nil, "HttpOnly"},
		{"SameSite None", func(sm *scs.SessionManager) { sm.Cookie.SameSite = http.SameSiteNoneMode }, nil, "SameSite"},
		{"SameSite unset", func(sm *scs.SessionManager) { sm.Cookie.SameSite = 0 }, nil, "SameSite"},
		{"SameSite Strict", func(sm *scs.SessionManager) { sm.Cookie.SameSite = http.SameSiteStrictMode }, nil, ""},
		{"Path", func(sm *scs.SessionManager) { sm.Cookie.Path = "/app" }, nil, "Cookie.Path"},
		{"Domain", func(sm *scs.SessionManager) { sm.Cookie.Domain = "example.com" }, nil, "Cookie.Domain"},
		{"persistent", func(sm *scs.SessionManager) { sm.Cookie.Persist = true }, nil, "Cookie.Persist"},
		{"persistent on purpose", func(sm *scs.SessionManager) { sm.Cookie.Persist = true }, []Option{WithPersistentSessionCookie()}, ""},
		{"tokens in clear", func(sm *scs.SessionManager) { sm.HashTokenInStore = false }, nil, "HashTokenInStore"},
		{"scs idle timeout", func(sm *scs.SessionManager) { sm.IdleTimeout = time.Minute }, nil, "IdleTimeout"},
		{"bare postgresstore", func(sm *scs.SessionManager) { sm.Store = postgresstore.NewWithCleanupInterval(db, 0) }, nil, "bare"},
		{"zero manager", func(sm *scs.SessionManager) { *sm = scs.SessionManager{} }, nil, "not initialised"},
		{"scs defaults", func(sm *scs.SessionManager) { *sm = *scs.New() }, nil, "bare"},
		{"idle timeout", func(*scs.SessionManager) {}, []Option{WithSessionIdleTimeout(0)}, "WithSessionIdleTimeout"},
		{"absolute timeout", func(*scs.SessionManager) {}, []Option{WithSessionAbsoluteTimeout(-time.Second)}, "WithSessionAbsoluteTimeout"},
		{"touch interval", func(*scs.SessionManager) {}, []Option{WithSessionTouchInterval(0)}, "WithSessionTouchInterval"},
		{"touch not below idle", func(*scs.SessionManager) {}, []Option{WithSessionIdleTimeout(time.Minute), WithSessionTouchInterval(time.Minute)}, "shorter than the idle timeout"},
		{"nil clock", func(*scs.SessionManager) {}, []Option{WithClock(nil)}, "WithClock(nil)"},
		{"nil lookup", func(*scs.SessionManager) {}, []Option{WithVersionCheck(nil)}, "WithVersionCheck(nil)"},
		{"nil CSRF", func(*scs.SessionManager) {}, []Option{WithCrossOriginProtection(nil)}, "WithCrossOriginProtection(nil)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sm := NewSessionManager(memstore.NewWithCleanupInterval(0))
			tt.change(sm)
			before := sm.Store
			s, err := NewSession(sm, load, tt.opts...)
			if tt.want == "" {
				if err != nil || s == nil {
					t.Fatalf("NewSession: %v", err)
				}
				if _, ok := sm.Store.(*guardedStore); !ok {
					t.Fatalf("store not wrapped: %T", sm.Store)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("NewSession error = %v, want one mentioning %q", err, tt.want)
			}
			if sm.Store != before {
				t.Fatal("a refused manager was modified")
			}
		})
	}
	if _, err := NewSession[*testUser](nil, load); err == nil {
		t.Error("nil manager accepted")
	}
	if _, err := NewSession[*testUser](NewSessionManager(nil), nil); err == nil {
		t.Error("nil loader accepted")
	}
}

func TestNewSessionSharesOneWrapper(t *testing.T) {
	sm := NewSessionManager(memstore.NewWithCleanupInterval(0))
	load := func(context.Context, string) (*testUser, error) { return nil, nil }
	a, err := NewSession(sm, load)
	if err != nil {
		t.Fatal(err)
	}
	b, err := NewSession(sm, func(context.Context, string) (string, error) { return "", nil })
	if err != nil {
		t.Fatal(err)
	}
	if a.g != b.g || sm.Store != a.g {
		t.Fatal("a second Session over the same manager wrapped the store again")
	}
}

// ---- the login flow and UserFrom ----------------------------------------------

func TestSessionLoginFlow(t *testing.T) {
	forEachBackend(t, func(t *testing.T, kind backend) {
		e := newSessionEnv(t, kind.open(t).Sessions())
		c := e.browser()

		wantStatus(t, e.do(c, "GET", "/me", nil, nil), 401, "")
		if err := e.takeErr(); !errors.Is(err, ErrNoCredentials) {
			t.Fatalf("no cookie: %v", err)
		}
		r := e.do(c, "GET", "/opt", nil, nil)
		wantStatus(t, r, 200, "anonymous")
		if sessionCookieLine(t, r.header) != "" || !hasVaryCookie(r.header) {
			t.Fatalf("anonymous request: Set-Cookie %q, Vary %q", r.header.Values("Set-Cookie"), r.header.Values("Vary"))
		}

		tok := e.login(c, "1")
		if !e.stored(tok) {
			t.Fatal("session not in the store after login")
		}
		wantStatus(t, e.do(c, "GET", "/me", nil, nil), 200, "alice via session")
		wantStatus(t, e.do(c, "GET", "/opt", nil, nil), 200, "alice via session")

		r = e.do(c, "POST", "/logout", nil, nil)
		wantStatus(t, r, 303, "")
		checkSetCookie(t, r, true)
		if e.stored(tok) {
			t.Fatal("session still in the store after logout")
		}
		wantStatus(t, e.do(c, "GET", "/me", nil, nil), 401, "")
		// S3: the old cookie replayed after logout.
		wantStatus(t, e.do(e.bare(), "GET", "/me", withCookie(tok), nil), 401, "")
	})
}

// ---- S1: fixation ---------------------------------------------------------------

func TestSessionFixation(t *testing.T) {
	forEachBackend(t, func(t *testing.T, kind backend) {
		e := newSessionEnv(t, kind.open(t).Sessions())

		t.Run("anonymous session renewed at login", func(t *testing.T) {
			c := e.browser()
			wantStatus(t, e.do(c, "GET", "/visit", nil, nil), 200, "visited")
			anon := e.jarToken(c)
			if anon == "" || !e.stored(anon) {
				t.Fatal("no anonymous session")
			}
			tok := e.login(c, "1")
			if tok == anon {
				t.Fatal("login kept the pre-login token")
			}
			if e.stored(anon) {
				t.Fatal("the pre-login token is still in the store")
			}
			wantStatus(t, e.do(e.bare(), "GET", "/me", withCookie(anon), nil), 401, "")
			wantStatus(t, e.do(c, "GET", "/me", nil, nil), 200, "alice via session")
			// The application data survives the renewal for the same browser.
			ctx, err := e.sm.Load(context.Background(), scsToken(tok))
			if err != nil || e.sm.GetString(ctx, "cart") != "apples" {
				t.Fatalf("cart lost at login: %v", err)
			}
		})

		t.Run("never-issued token", func(t *testing.T) {
			planted := strings.Repeat("A", 43)
			r := e.do(e.bare(), "POST", "/login", withCookie(planted), url.Values{"user": {"1"}})
			wantStatus(t, r, 303, "")
			got := checkSetCookie(t, r, false)
			if got == planted || strings.Contains(strings.Join(r.header.Values("Set-Cookie"), ""), planted) {
				t.Fatal("the planted token was adopted or echoed")
			}
			if e.stored(planted) {
				t.Fatal("the planted token is in the store")
			}
		})

		t.Run("renewed again at re-login", func(t *testing.T) {
			c := e.browser()
			first := e.login(c, "1")
			second := e.login(c, "2") // privilege change: another user
			if first == second || e.stored(first) {
				t.Fatal("re-login did not renew the token")
			}
			wantStatus(t, e.do(c, "GET", "/me", nil, nil), 200, "bob via session")
			wantStatus(t, e.do(e.bare(), "GET", "/me", withCookie(first), nil), 401, "")
		})
	})
}

// ---- S2: tampered cookies ---------------------------------------------------------

func TestSessionTamperedCookies(t *testing.T) {
	forEachBackend(t, func(t *testing.T, kind backend) {
		e := newSessionEnv(t, kind.open(t).Sessions())
		tok := e.login(e.browser(), "1")
		flipped := []byte(tok)
		flipped[10] ^= 1 // still base64url
		cases := []struct {
			name, cookie string
			status       int
		}{
			{"flipped", defaultSessionCookieName + "=" + string(flipped), 401},
			{"truncated", defaultSessionCookieName + "=" + tok[:42], 401},
			{"extended", defaultSessionCookieName + "=" + tok + "A", 401},
			{"5 KB", defaultSessionCookieName + "=" + strings.Repeat(tok, 120), 401},
			{"SQL", defaultSessionCookieName + "=' OR 1=1--", 401},
			{"not base64url", defaultSessionCookieName + "=" + strings.Repeat("!", 43), 401},
			{"padded", defaultSessionCookieName + "=" + tok[:42] + "=", 401},
			{"empty", defaultSessionCookieName + "=", 401},
			{"never issued", defaultSessionCookieName + "=" + strings.Repeat("A", 43), 401},
			{"without prefix", "session=" + tok, 401},
			{"twice, attacker first", defaultSessionCookieName + "=" + string(flipped) + "; " + defaultSessionCookieName + "=" + tok, 400},
			{"twice, victim first", defaultSessionCookieName + "=" + tok + "; " + defaultSessionCookieName + "=" + string(flipped), 400},
			{"twice, same value", defaultSessionCookieName + "=" + tok + "; " + defaultSessionCookieName + "=" + tok, 400},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				for _, path := range []string{"/me", "/opt"} {
					r := e.do(e.bare(), "GET", path, http.Header{"Cookie": {tc.cookie}}, nil)
					want := tc.status
					if path == "/opt" && want == 401 {
						want = 200 // no session: anonymous
					}
					if r.status != want {
						t.Fatalf("%s: status %d %q, want %d", path, r.status, r.body, want)
					}
					if want == 400 && r.header.Get("WWW-Authenticate") != `Bearer realm="authkit", error="invalid_request"` {
						t.Fatalf("%s: WWW-Authenticate %q", path, r.header.Get("WWW-Authenticate"))
					}
					if len(r.header.Values("Set-Cookie")) != 0 {
						t.Fatalf("%s: Set-Cookie %q", path, r.header.Values("Set-Cookie"))
					}
					if strings.Contains(r.body, tok) || strings.Contains(r.body, "OR 1=1") {
						t.Fatalf("%s: body reflects the cookie: %q", path, r.body)
					}
				}
				if tc.status == 400 {
					if err := e.takeErr(); !errors.Is(err, ErrInvalidRequest) {
						t.Fatalf("error %v, want ErrInvalidRequest", err)
					}
					r := e.do(e.bare(), "POST", "/login", http.Header{"Cookie": {tc.cookie}}, url.Values{"user": {"1"}})
					wantStatus(t, r, 400, "")
					r = e.do(e.bare(), "POST", "/logout", http.Header{"Cookie": {tc.cookie}}, nil)
					wantStatus(t, r, 400, "")
				}
			})
		}
		// The genuine session is unharmed by all this.
		wantStatus(t, e.do(e.bare(), "GET", "/me", withCookie(tok), nil), 200, "alice via session")
	})
}

// ---- S3: replay after logout, timeouts, version bump ---------------------------

func TestSessionTimeouts(t *testing.T) {
	forEachBackend(t, func(t *testing.T, kind backend) {
		e := newSessionEnv(t, kind.open(t).Sessions(), WithSessionIdleTimeout(30*time.Minute), WithSessionAbsoluteTimeout(2*time.Hour))

		t.Run("idle", func(t *testing.T) {
			c := e.browser()
			tok := e.login(c, "1")
			e.clock.Advance(29 * time.Minute)
			r := e.do(c, "GET", "/me", nil, nil)
			wantStatus(t, r, 200, "alice via session")
			if sessionCookieLine(t, r.header) == "" {
				t.Fatal("activity after the touch interval was not recorded")
			}
			e.clock.Advance(29 * time.Minute) // 58 minutes after login, 29 after the last activity
			wantStatus(t, e.do(c, "GET", "/me", nil, nil), 200, "alice via session")
			e.clock.Advance(30 * time.Minute)
			r = e.do(c, "GET", "/me", nil, nil)
			wantStatus(t, r, 401, "")
			checkSetCookie(t, r, true)
			if err := e.takeErr(); !errors.Is(err, ErrTokenExpired) || !errors.Is(err, ErrInvalidToken) {
				t.Fatalf("error %v, want ErrTokenExpired", err)
			}
			if e.stored(tok) {
				t.Fatal("idle session still in the store")
			}
			wantStatus(t, e.do(e.bare(), "GET", "/me", withCookie(tok), nil), 401, "")
		})

		t.Run("absolute despite activity", func(t *testing.T) {
			c := e.browser()
			tok := e.login(c, "1")
			for i := 1; i < 6; i++ { // every 20 minutes, up to 1h40
				e.clock.Advance(20 * time.Minute)
				wantStatus(t, e.do(c, "GET", "/me", nil, nil), 200, "alice via session")
			}
			e.clock.Advance(20 * time.Minute) // 2h after login
			r := e.do(c, "GET", "/me", nil, nil)
			wantStatus(t, r, 401, "")
			checkSetCookie(t, r, true)
			if e.stored(tok) {
				t.Fatal("session past its absolute timeout still in the store")
			}
		})

		t.Run("optional route after a timeout", func(t *testing.T) {
			c := e.browser()
			e.login(c, "1")
			e.clock.Advance(31 * time.Minute)
			r := e.do(c, "GET", "/opt", nil, nil)
			wantStatus(t, r, 200, "anonymous")
			checkSetCookie(t, r, true)
		})

		t.Run("version bump", func(t *testing.T) {
			c, other := e.browser(), e.browser()
			tok := e.login(c, "1")
			otherTok := e.login(other, "1")
			e.versions.update(func(v map[string]int64) { v["1"]++ })
			for _, cl := range []*http.Client{c, other} {
				r := e.do(cl, "GET", "/me", nil, nil)
				wantStatus(t, r, 401, "")
				checkSetCookie(t, r, true)
				if err := e.takeErr(); !errors.Is(err, ErrTokenRevoked) {
					t.Fatalf("error %v, want ErrTokenRevoked", err)
				}
			}
			if e.stored(tok) || e.stored(otherTok) {
				t.Fatal("revoked sessions still in the store")
			}
			e.login(c, "1") // a new login carries the new version
			wantStatus(t, e.do(c, "GET", "/me", nil, nil), 200, "alice via session")
		})

		t.Run("version lookup fails closed", func(t *testing.T) {
			c := e.browser()
			tok := e.login(c, "1")
			e.versions.fail(errors.New("database down"))
			r := e.do(c, "GET", "/me", nil, nil)
			wantStatus(t, r, 500, "")
			wantStatus(t, e.do(c, "GET", "/opt", nil, nil), 500, "")
			if sessionCookieLine(t, r.header) != "" || !e.stored(tok) {
				t.Fatal("a lookup failure ended the session")
			}
			r = e.do(e.browser(), "POST", "/login", nil, url.Values{"user": {"1"}})
			wantStatus(t, r, 500, "")
			if sessionCookieLine(t, r.header) != "" {
				t.Fatal("login without a version set a cookie")
			}
			e.versions.fail(nil)
			wantStatus(t, e.do(c, "GET", "/me", nil, nil), 200, "alice via session")
		})

		t.Run("unknown user", func(t *testing.T) {
			c := e.browser()
			tok := e.login(c, "2")
			e.versions.update(func(v map[string]int64) { delete(v, "2") })
			defer e.versions.update(func(v map[string]int64) { v["2"] = 0 })
			r := e.do(c, "GET", "/me", nil, nil)
			wantStatus(t, r, 401, "")
			checkSetCookie(t, r, true)
			if err := e.takeErr(); !errors.Is(err, ErrUnknownUser) || !errors.Is(err, ErrInvalidToken) {
				t.Fatalf("error %v, want ErrUnknownUser", err)
			}
			if e.stored(tok) {
				t.Fatal("session of an unknown user still in the store")
			}
			wantStatus(t, e.do(e.browser(), "POST", "/login", nil, url.Values{"user": {"2"}}), 401, "")
		})

		t.Run("user loader", func(t *testing.T) {
			c := e.browser()
			tok := e.login(c, "1")
			failure := errors.New("users table unreachable")
			e.userErr.Store(&failure)
			wantStatus(t, e.do(c, "GET", "/me", nil, nil), 500, "")
			if !e.stored(tok) {
				t.Fatal("a loader failure ended the session")
			}
			gone := fmt.Errorf("deleted: %w", ErrUnknownUser)
			e.userErr.Store(&gone)
			r := e.do(c, "GET", "/me", nil, nil)
			wantStatus(t, r, 401, "")
			checkSetCookie(t, r, true)
			e.userErr.Store(nil)
			if e.stored(tok) {
				t.Fatal("session of a deleted user still in the store")
			}
		})
	})
}

// ---- S5: the session token is read from the cookie only ---------------------------

func TestSessionTokenInURLIgnored(t *testing.T) {
	forEachBackend(t, func(t *testing.T, kind backend) {
		e := newSessionEnv(t, kind.open(t).Sessions())
		tok := e.login(e.browser(), "1")
		for _, path := range []string{
			"/me?session=" + tok,
			"/me?" + defaultSessionCookieName + "=" + tok,
			"/me?sid=" + tok,
		} {
			wantStatus(t, e.do(e.bare(), "GET", path, nil, nil), 401, "")
		}
		r := e.do(e.bare(), "POST", "/me", nil, url.Values{"sid": {tok}, defaultSessionCookieName: {tok}})
		wantStatus(t, r, 401, "")
		if r := e.do(e.bare(), "GET", "/me;sid="+tok, nil, nil); r.status == 200 {
			t.Fatal("a path parameter authenticated the request")
		}
		// The login redirect never carries the token.
		r = e.do(e.browser(), "POST", "/login", nil, url.Values{"user": {"1"}})
		if loc := r.header.Get("Location"); loc != "/" {
			t.Fatalf("Location %q", loc)
		}
	})
}

// ---- S6: cross-site requests ------------------------------------------------------

func TestSessionCrossOrigin(t *testing.T) {
	forEachBackend(t, func(t *testing.T, kind backend) {
		e := newSessionEnv(t, kind.open(t).Sessions())
		c := e.browser()
		tok := e.login(c, "1")
		host := strings.TrimPrefix(e.srv.URL, "https://")
		refused := []struct {
			name string
			hdr  http.Header
		}{
			{"(a) Sec-Fetch-Site cross-site", http.Header{"Sec-Fetch-Site": {"cross-site"}}},
			{"(b) Sec-Fetch-Site same-site", http.Header{"Sec-Fetch-Site": {"same-site"}}},
			{"(c) foreign Origin", http.Header{"Origin": {"https://evil.example"}}},
			{"(d) Origin null", http.Header{"Origin": {"null"}}},
		}
		for _, tc := range refused {
			t.Run(tc.name, func(t *testing.T) {
				r := e.do(c, "POST", "/me", tc.hdr, url.Values{"x": {"1"}})
				wantStatus(t, r, 403, "")
				if err := e.takeErr(); !errors.Is(err, ErrCrossOrigin) {
					t.Fatalf("error %v, want ErrCrossOrigin", err)
				}
				// Login CSRF and forced logout are refused too.
				wantStatus(t, e.do(e.browser(), "POST", "/login", tc.hdr, url.Values{"user": {"2"}}), 403, "")
				wantStatus(t, e.do(c, "POST", "/logout", tc.hdr, nil), 403, "")
				if !e.stored(tok) {
					t.Fatal("a cross-site logout ended the session")
				}
				// A safe method is not a state change.
				wantStatus(t, e.do(c, "GET", "/me", tc.hdr, nil), 200, "alice via session")
			})
		}
		for _, hdr := range []http.Header{
			{"Sec-Fetch-Site": {"same-origin"}},
			{"Origin": {"https://" + host}},
			{}, // (e) no browser headers: a non-browser client, allowed
		} {
			wantStatus(t, e.do(c, "POST", "/me", hdr, nil), 200, "alice via session")
		}
		// An anonymous cross-site POST on an Optional route is not refused:
		// it carries no session to abuse.
		wantStatus(t, e.do(e.browser(), "POST", "/opt", http.Header{"Sec-Fetch-Site": {"cross-site"}}, nil), 200, "anonymous")
	})
}

func TestSessionTrustedOrigin(t *testing.T) {
	cop := http.NewCrossOriginProtection()
	if err := cop.AddTrustedOrigin("https://app.example"); err != nil {
		t.Fatal(err)
	}
	e := newSessionEnv(t, memstore.NewWithCleanupInterval(0), WithCrossOriginProtection(cop))
	c := e.browser()
	e.login(c, "1")
	wantStatus(t, e.do(c, "POST", "/me", http.Header{"Sec-Fetch-Site": {"cross-site"}, "Origin": {"https://app.example"}}, nil), 200, "alice via session")
	wantStatus(t, e.do(c, "POST", "/me", http.Header{"Sec-Fetch-Site": {"cross-site"}, "Origin": {"https://evil.example"}}, nil), 403, "")
}

// ---- S7: cookie attributes on login, renewal and logout --------------------------

func TestSessionCookieAttributes(t *testing.T) {
	forEachBackend(t, func(t *testing.T, kind backend) {
		e := newSessionEnv(t, kind.open(t).Sessions())
		c := e.browser()
		r := e.do(c, "POST", "/login", nil, url.Values{"user": {"1"}})
		wantStatus(t, r, 303, "")
		tok := checkSetCookie(t, r, false)

		// An unmodified request sets nothing.
		r = e.do(c, "GET", "/me", nil, nil)
		if sessionCookieLine(t, r.header) != "" || r.header.Get("Cache-Control") != "" || !hasVaryCookie(r.header) {
			t.Fatalf("unmodified request: Set-Cookie %q, Cache-Control %q, Vary %q",
				r.header.Values("Set-Cookie"), r.header.Values("Cache-Control"), r.header.Values("Vary"))
		}
		// Renewal by the idle bookkeeping keeps the token and the attributes.
		e.clock.Advance(2 * time.Minute)
		r = e.do(c, "GET", "/me", nil, nil)
		if got := checkSetCookie(t, r, false); got != tok {
			t.Fatal("the idle bookkeeping changed the token")
		}
		// Renewal by a new login changes the token.
		r = e.do(c, "POST", "/login", nil, url.Values{"user": {"1"}})
		if got := checkSetCookie(t, r, false); got == tok {
			t.Fatal("re-login kept the token")
		}
		r = e.do(c, "POST", "/logout", nil, nil)
		checkSetCookie(t, r, true)
	})
}

func TestSessionPersistentCookie(t *testing.T) {
	t.Run("remember me", func(t *testing.T) {
		e := newSessionEnv(t, memstore.NewWithCleanupInterval(0))
		e.serve(e.s.LoadAndSave(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if err := e.s.Login(r.Context(), "1"); err != nil {
				t.Error(err)
			}
			e.sm.RememberMe(r.Context(), true)
		})))
		r := e.do(e.browser(), "POST", "/", nil, nil)
		line := sessionCookieLine(t, r.header)
		if !strings.Contains(line, "; Max-Age=1800") && !strings.Contains(line, "; Max-Age=1801") {
			t.Fatalf("Set-Cookie %q: want Max-Age of the idle timeout", line)
		}
	})
	t.Run("every session", func(t *testing.T) {
		sm := NewSessionManager(memstore.NewWithCleanupInterval(0))
		sm.Cookie.Persist = true
		s, err := NewSession(sm, func(_ context.Context, id string) (string, error) { return id, nil },
			WithPersistentSessionCookie(), WithSessionAbsoluteTimeout(10*time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewTLSServer(s.LoadAndSave(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if err := s.Login(r.Context(), "1"); err != nil {
				t.Error(err)
			}
		})))
		defer srv.Close()
		resp, err := srv.Client().Post(srv.URL, "", nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		line := sessionCookieLine(t, resp.Header)
		if !strings.Contains(line, "; Max-Age=600") && !strings.Contains(line, "; Max-Age=601") {
			t.Fatalf("Set-Cookie %q: want Max-Age of the absolute timeout", line)
		}
	})
}

// ---- store round trips -----------------------------------------------------------

// countingStore counts the calls that reach the store.
type countingStore struct {
	scs.Store
	finds, commits, deletes atomic.Int64
}

func (c *countingStore) Find(k string) ([]byte, bool, error) { c.finds.Add(1); return c.Store.Find(k) }
func (c *countingStore) Commit(k string, b []byte, exp time.Time) error {
	c.commits.Add(1)
	return c.Store.Commit(k, b, exp)
}
func (c *countingStore) Delete(k string) error { c.deletes.Add(1); return c.Store.Delete(k) }

func (c *countingStore) reset() { c.finds.Store(0); c.commits.Store(0); c.deletes.Store(0) }

func (c *countingStore) want(t testing.TB, finds, commits, deletes int64) {
	t.Helper()
	if f, cm, d := c.finds.Load(), c.commits.Load(), c.deletes.Load(); f != finds || cm != commits || d != deletes {
		t.Fatalf("store calls: %d Find, %d Commit, %d Delete; want %d, %d, %d", f, cm, d, finds, commits, deletes)
	}
}

// countingCondStore also counts the conditional writes of a
// PostgresSessionStore, each one statement.
type countingCondStore struct{ *countingStore }

func (c countingCondStore) insertCtx(ctx context.Context, k string, b []byte, exp time.Time) error {
	c.commits.Add(1)
	return c.Store.(conditionalStore).insertCtx(ctx, k, b, exp)
}

func (c countingCondStore) updateCtx(ctx context.Context, k string, b []byte, exp time.Time) error {
	c.commits.Add(1)
	return c.Store.(conditionalStore).updateCtx(ctx, k, b, exp)
}

func TestSessionStoreRoundTrips(t *testing.T) {
	forEachBackend(t, func(t *testing.T, kind backend) {
		inner := kind.open(t).Sessions()
		cs := &countingStore{Store: inner}
		var store scs.Store = cs
		if _, ok := inner.(conditionalStore); ok {
			store = countingCondStore{cs}
		}
		e := newSessionEnv(t, store)
		c := e.browser()

		wantStatus(t, e.do(c, "GET", "/me", nil, nil), 401, "")
		cs.want(t, 0, 0, 0) // no cookie, no store access

		e.login(c, "1")
		cs.want(t, 0, 1, 0) // one insert

		for i := 0; i < 3; i++ {
			cs.reset()
			wantStatus(t, e.do(c, "GET", "/me", nil, nil), 200, "alice via session")
			cs.want(t, 1, 0, 0) // the unmodified read path: exactly one round trip
		}

		cs.reset()
		e.clock.Advance(time.Minute) // the touch interval
		wantStatus(t, e.do(c, "GET", "/me", nil, nil), 200, "alice via session")
		if _, ok := store.(conditionalStore); ok {
			cs.want(t, 1, 1, 0) // read + one UPDATE statement
		} else {
			cs.want(t, 2, 1, 0) // read + (look up, write) under the wrapper's lock
		}

		cs.reset()
		wantStatus(t, e.do(c, "GET", "/me", nil, nil), 200, "alice via session")
		cs.want(t, 1, 0, 0)

		cs.reset()
		wantStatus(t, e.do(c, "POST", "/logout", nil, nil), 303, "")
		cs.want(t, 1, 0, 1)
	})
}

// ---- S4a: a logged-out session never comes back ----------------------------------

// TestSessionNoResurrection runs a request that loaded the session before
// logout and saves it after; with PostgreSQL the request runs in a second
// "process" (its own server, manager, store and connection pool).
func TestSessionNoResurrection(t *testing.T) {
	forEachBackend(t, func(t *testing.T, kind backend) {
		store := kind.open(t)
		a := newSessionEnv(t, store.Sessions())
		b := a
		if kind.reopen != nil {
			b = newSessionEnv(t, kind.reopen(t, store).Sessions())
		}
		// inFlight starts GET path on env b with the cookie token, waits until
		// its handler runs, and returns a function that releases it and
		// returns its response.
		inFlight := func(path, token string) func() response {
			done := make(chan response, 1)
			go func() { done <- b.do(b.bare(), "GET", path, withCookie(token), nil) }()
			select {
			case <-b.slowStarted:
			case <-time.After(10 * time.Second):
				t.Fatal("the slow handler did not start")
			}
			return func() response {
				b.slowRelease <- struct{}{}
				return <-done
			}
		}

		t.Run("logout", func(t *testing.T) {
			c := a.browser()
			tok := a.login(c, "1")
			a.clock.Advance(2 * time.Minute) // the in-flight request also records activity
			b.clock.Advance(2 * time.Minute)
			release := inFlight("/slow", tok)
			wantStatus(t, a.do(c, "POST", "/logout", nil, nil), 303, "")
			if a.stored(tok) {
				t.Fatal("logout left the session in the store")
			}
			wantStatus(t, release(), 200, "slow done")
			if a.stored(tok) || b.stored(tok) {
				t.Fatal("the in-flight request re-inserted the logged-out session")
			}
			wantStatus(t, a.do(a.bare(), "GET", "/me", withCookie(tok), nil), 401, "")
			wantStatus(t, b.do(b.bare(), "GET", "/me", withCookie(tok), nil), 401, "")
		})

		t.Run("renewal at login", func(t *testing.T) {
			c := a.browser()
			old := a.login(c, "1")
			release := inFlight("/slow", old)
			renewed := a.login(c, "2")
			wantStatus(t, release(), 200, "slow done")
			if a.stored(old) {
				t.Fatal("the in-flight request re-inserted the pre-login token")
			}
			wantStatus(t, a.do(a.bare(), "GET", "/me", withCookie(old), nil), 401, "")
			wantStatus(t, a.do(a.bare(), "GET", "/me", withCookie(renewed), nil), 200, "bob via session")
		})

		t.Run("anonymous session renewed at login (S4b)", func(t *testing.T) {
			c := a.browser()
			wantStatus(t, a.do(c, "GET", "/visit", nil, nil), 200, "visited")
			anon := a.jarToken(c)
			release := inFlight("/slowvisit", anon)
			a.login(c, "1")
			wantStatus(t, release(), 200, "slow done")
			if a.stored(anon) {
				t.Fatal("the in-flight request re-inserted the anonymous token")
			}
			wantStatus(t, a.do(a.bare(), "GET", "/me", withCookie(anon), nil), 401, "")
		})

		t.Run("version bump", func(t *testing.T) {
			c := a.browser()
			tok := a.login(c, "1")
			a.clock.Advance(2 * time.Minute)
			b.clock.Advance(2 * time.Minute)
			release := inFlight("/slow", tok)
			a.versions.update(func(v map[string]int64) { v["1"]++ })
			b.versions.update(func(v map[string]int64) { v["1"]++ })
			wantStatus(t, release(), 200, "slow done") // it was authenticated before the bump
			wantStatus(t, a.do(a.bare(), "GET", "/me", withCookie(tok), nil), 401, "")
			if a.stored(tok) {
				t.Fatal("revoked session still in the store")
			}
		})
	})
}

// ---- ordering ----------------------------------------------------------------------

func TestSessionOrdering(t *testing.T) {
	e := newSessionEnv(t, memstore.NewWithCleanupInterval(0))
	var gotErr error
	record := func(w http.ResponseWriter, r *http.Request, err error) { gotErr = err; DefaultErrorHandler(w, r, err) }
	serve := func(h http.Handler, req *http.Request) *httptest.ResponseRecorder {
		t.Helper()
		gotErr = nil
		rec := httptest.NewRecorder()
		func() {
			defer func() {
				if p := recover(); p != nil {
					t.Fatalf("panic: %v", p)
				}
			}()
			h.ServeHTTP(rec, req)
		}()
		return rec
	}

	t.Run("Login and Logout without the kit's loading", func(t *testing.T) {
		var loginErr, logoutErr error
		h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			loginErr = e.s.Login(r.Context(), "1")
			logoutErr = e.s.Logout(r.Context())
		})
		serve(h, httptest.NewRequest("POST", "/", nil))
		if !errors.Is(loginErr, errSessionNotLoaded) || !errors.Is(logoutErr, errSessionNotLoaded) {
			t.Fatalf("Login: %v; Logout: %v", loginErr, logoutErr)
		}
	})

	t.Run("Session hidden in a custom authenticator", func(t *testing.T) {
		custom := AuthenticatorFunc[*testUser](e.s.Authenticate) // loses the loading hook
		rec := serve(Require[*testUser](custom, WithErrorHandler(record))(http.NotFoundHandler()), httptest.NewRequest("GET", "/", nil))
		if rec.Code != 500 || !errors.Is(gotErr, errSessionNotLoaded) {
			t.Fatalf("status %d, error %v", rec.Code, gotErr)
		}
	})

	t.Run("scs's LoadAndSave instead of the kit's", func(t *testing.T) {
		tok := e.login(e.browser(), "1")
		h := e.sm.LoadAndSave(Require[*testUser](e.s, WithErrorHandler(record))(http.NotFoundHandler()))
		req := httptest.NewRequest("GET", "/", nil)
		req.AddCookie(&http.Cookie{Name: defaultSessionCookieName, Value: tok})
		rec := serve(h, req)
		if rec.Code != 500 || !errors.Is(gotErr, errSessionNotLoaded) {
			t.Fatalf("status %d, error %v", rec.Code, gotErr)
		}
		rec = serve(e.sm.LoadAndSave(e.s.LoadAndSave(http.NotFoundHandler())), req)
		if rec.Code != 500 {
			t.Fatalf("LoadAndSave under scs's: status %d", rec.Code)
		}
	})

	t.Run("nested loading commits once", func(t *testing.T) {
		counting := &countingStore{Store: memstore.NewWithCleanupInterval(0)}
		n := newSessionEnv(t, counting)
		h := n.s.LoadAndSave(Optional[*testUser](Any[*testUser](n.s, n.s))(n.s.LoadAndSave(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if err := n.s.Login(r.Context(), "1"); err != nil {
				t.Error(err)
			}
			w.WriteHeader(204)
		}))))
		n.serve(h)
		r := n.do(n.browser(), "POST", "/", nil, nil)
		wantStatus(t, r, 204, "")
		checkSetCookie(t, r, false)
		if got := r.header.Values("Vary"); len(got) != 1 {
			t.Fatalf("Vary %q", got)
		}
		counting.want(t, 0, 1, 0)
	})
}

// ---- store failures --------------------------------------------------------------

func TestSessionStoreFailureFailsClosed(t *testing.T) {
	fs := &failingStore{Store: memstore.NewWithCleanupInterval(0)}
	e := newSessionEnv(t, fs)
	c := e.browser()
	tok := e.login(c, "1")

	fs.fail.Store(true)
	for _, path := range []string{"/me", "/opt"} {
		r := e.do(c, "GET", path, nil, nil)
		if r.status != 500 || strings.Contains(r.body, "alice") || strings.Contains(r.body, "anonymous") {
			t.Fatalf("%s with the store down: %d %q", path, r.status, r.body)
		}
	}
	// A failed save at login: 500, no cookie, nothing of the handler's
	// redirect.
	r := e.do(e.browser(), "POST", "/login", nil, url.Values{"user": {"2"}})
	if r.status != 500 || sessionCookieLine(t, r.header) != "" || strings.Contains(r.body, "See Other") {
		t.Fatalf("login with the store down: %d %q %v", r.status, r.body, r.header)
	}
	wantStatus(t, e.do(c, "POST", "/logout", nil, nil), 500, "")

	fs.fail.Store(false)
	wantStatus(t, e.do(c, "GET", "/me", nil, nil), 200, "alice via session")
	if !e.stored(tok) {
		t.Fatal("session lost")
	}
}

// ---- the same user however it came in ----------------------------------------------

func TestSessionAndBearerShareTheUser(t *testing.T) {
	e := newSessionEnv(t, memstore.NewWithCleanupInterval(0))
	secret := []byte("q7Vx2LmN9pRt4WsK8dZc3FhJ6bYg1TeA") // random, not a pattern: WithKey refuses those
	j, err := NewJWT(func(_ context.Context, c *Claims) (*testUser, error) { return testUsers[c.Subject], nil },
		WithIssuer("https://issuer.test"), WithAudience("api"), WithKey("k1", secret))
	if err != nil {
		t.Fatal(err)
	}
	e.serve(Require[*testUser](Any[*testUser](j, e.s))(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, _ := UserFrom[*testUser](r.Context())
		m, _ := MethodFrom(r.Context())
		fmt.Fprintf(w, "%s via %s", u.Name, m)
	})))
	login := e.s.LoadAndSave(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := e.s.Login(r.Context(), "1"); err != nil {
			t.Error(err)
		}
	}))
	rec := httptest.NewRecorder()
	login.ServeHTTP(rec, httptest.NewRequest("POST", "/", nil))
	cookie := rec.Result().Cookies()[0].Value

	now := time.Now().Unix()
	token := buildToken(`{"alg":"HS256","typ":"at+jwt","kid":"k1"}`,
		fmt.Sprintf(`{"iss":"https://issuer.test","sub":"2","aud":"api","iat":%d,"exp":%d}`, now, now+300), signHS256(secret))
	bearer := http.Header{"Authorization": {"Bearer " + token}}

	wantStatus(t, e.do(e.bare(), "GET", "/", withCookie(cookie), nil), 200, "alice via session")
	wantStatus(t, e.do(e.bare(), "GET", "/", bearer, nil), 200, "bob via bearer")
	// A cross-site POST with a bearer token is no CSRF: it is not refused.
	bearer.Set("Sec-Fetch-Site", "cross-site")
	wantStatus(t, e.do(e.bare(), "POST", "/", bearer, nil), 200, "bob via bearer")
	wantStatus(t, e.do(e.bare(), "POST", "/", http.Header{"Cookie": withCookie(cookie)["Cookie"], "Sec-Fetch-Site": {"cross-site"}}, nil), 403, "")
}

// ---- the response writer -------------------------------------------------------------

func TestSessionFlushCarriesTheCookie(t *testing.T) {
	e := newSessionEnv(t, memstore.NewWithCleanupInterval(0))
	e.serve(e.s.LoadAndSave(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := e.s.Login(r.Context(), "1"); err != nil {
			t.Error(err)
		}
		if err := http.NewResponseController(w).Flush(); err != nil {
			t.Error(err)
		}
		fmt.Fprint(w, "streamed")
	})))
	r := e.do(e.browser(), "POST", "/", nil, nil)
	wantStatus(t, r, 200, "streamed")
	checkSetCookie(t, r, false)
}

func TestSessionInformationalHeaderBeforeLogin(t *testing.T) {
	e := newSessionEnv(t, memstore.NewWithCleanupInterval(0))
	e.serve(e.s.LoadAndSave(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Link", "</style.css>; rel=preload")
		w.WriteHeader(http.StatusEarlyHints) // goes out before the session is final
		if err := e.s.Login(r.Context(), "1"); err != nil {
			t.Error(err)
		}
		fmt.Fprint(w, "in")
	})))
	r := e.do(e.browser(), "POST", "/", nil, nil)
	wantStatus(t, r, 200, "in")
	checkSetCookie(t, r, false)
}

func TestValidSessionToken(t *testing.T) {
	for v, want := range map[string]bool{
		strings.Repeat("a", 43):            true,
		strings.Repeat("-_9Z", 10) + "abc": true,
		strings.Repeat("a", 42):            false,
		strings.Repeat("a", 44):            false,
		strings.Repeat("a", 42) + "=":      false,
		strings.Repeat("a", 42) + "+":      false,
		"":                                 false,
	} {
		if got := validSessionToken(v); got != want {
			t.Errorf("validSessionToken(%q) = %v", v, got)
		}
	}
}
