package authkit

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// apiKeyAuth is a custom authenticator of the kind a program writes itself:
// it reads an X-API-Key header and knows nothing of the kit's internals.
type apiKeyAuth struct {
	keys map[string]string // key → user ID
	fail error             // when set, Authenticate fails with it (a store failure)
}

func (a apiKeyAuth) Authenticate(r *http.Request) (*testUser, error) {
	key := r.Header.Get("X-API-Key")
	if key == "" {
		return nil, ErrNoCredentials
	}
	if a.fail != nil {
		return nil, a.fail
	}
	for k, id := range a.keys {
		if subtle.ConstantTimeCompare([]byte(k), []byte(key)) == 1 {
			return &testUser{ID: id}, nil
		}
	}
	return nil, fmt.Errorf("%w: unknown API key", ErrInvalidToken)
}

var apiKeys = apiKeyAuth{keys: map[string]string{"key-alice": "alice"}}

// request builds a GET with an optional bearer token and API key.
func request(token, apiKey string) *http.Request {
	r := httptest.NewRequest(http.MethodGet, "/resource", nil)
	if token != "" {
		r.Header.Set("Authorization", "Bearer "+token)
	}
	if apiKey != "" {
		r.Header.Set("X-API-Key", apiKey)
	}
	return r
}

func TestAnyComposition(t *testing.T) {
	d := newDeployments(t)
	good := baseToken()
	bad := withSignature(good, make([]byte, 64))
	bearerFirst := Any[*testUser](d.es, apiKeys)
	keyFirst := Any[*testUser](apiKeys, d.es)

	t.Run("bearer token", func(t *testing.T) {
		checkAccepted(t, serve(bearerFirst, request(good, "")))
	})
	t.Run("API key", func(t *testing.T) {
		res := serve(bearerFirst, request("", "key-alice"))
		if res.rec.Code != 200 || !res.called || res.user == nil || res.user.ID != "alice" {
			t.Fatalf("status %d, user %+v (err %v)", res.rec.Code, res.user, res.err)
		}
		if res.method != MethodCustom || res.claims != nil {
			t.Errorf("method %q, claims %+v; want custom and none", res.method, res.claims)
		}
	})
	t.Run("neither", func(t *testing.T) {
		checkRefused(t, serve(bearerFirst, request("", "")), 401, chBare, "", "")
	})
	t.Run("invalid token beats a valid API key", func(t *testing.T) {
		checkRefused(t, serve(bearerFirst, request(bad, "key-alice")), 401, chInvalidToken, "signature", bad)
	})
	t.Run("valid token first, invalid API key never asked", func(t *testing.T) {
		checkAccepted(t, serve(bearerFirst, request(good, "wrong")))
	})
	t.Run("order decides: invalid API key first", func(t *testing.T) {
		checkRefused(t, serve(keyFirst, request(good, "wrong")), 401, chInvalidToken, "unknown API key", "")
	})
	t.Run("malformed bearer request", func(t *testing.T) {
		r := request("", "key-alice")
		r.Header.Set("Authorization", "Bearer a b")
		checkRefused(t, serve(bearerFirst, r), 400, chInvalidRequest, "", "")
	})
	t.Run("store failure", func(t *testing.T) {
		errDown := errors.New("key store down")
		a := Any[*testUser](d.es, apiKeyAuth{fail: errDown})
		checkServerError(t, serve(a, request("", "key-alice")), errDown)
		// The bearer token is asked first and answers; the store is not.
		checkAccepted(t, serve(a, request(good, "key-alice")))
	})
	t.Run("nested Any keeps claims", func(t *testing.T) {
		checkAccepted(t, serve(Any[*testUser](apiKeys, Any[*testUser](d.es)), request(good, "")))
	})
	t.Run("Authenticate", func(t *testing.T) {
		u, err := bearerFirst.Authenticate(request("", "key-alice"))
		if err != nil || u.ID != "alice" {
			t.Errorf("Authenticate = %+v, %v", u, err)
		}
		if _, err := bearerFirst.Authenticate(request("", "")); !errors.Is(err, ErrNoCredentials) {
			t.Errorf("Authenticate without credentials: %v", err)
		}
		u, err = d.es.Authenticate(request(good, ""))
		if err != nil || u.ID != "alice" {
			t.Errorf("JWT.Authenticate = %+v, %v", u, err)
		}
	})
	t.Run("AuthenticatorFunc", func(t *testing.T) {
		f := AuthenticatorFunc[*testUser](func(r *http.Request) (*testUser, error) { return &testUser{ID: "f"}, nil })
		res := serve(f, request("", ""))
		if res.rec.Code != 200 || res.user.ID != "f" || res.method != MethodCustom {
			t.Errorf("status %d, user %+v, method %q", res.rec.Code, res.user, res.method)
		}
	})
	t.Run("panics at construction", func(t *testing.T) {
		mustPanic(t, "Any()", func() { Any[*testUser]() })
		mustPanic(t, "Any(nil)", func() { Any[*testUser](d.es, nil) })
		mustPanic(t, "Require(nil)", func() { Require[*testUser](nil) })
		mustPanic(t, "Optional(nil)", func() { Optional[*testUser](nil) })
	})
}

func mustPanic(t *testing.T, name string, f func()) {
	t.Helper()
	defer func() {
		if recover() == nil {
			t.Errorf("%s did not panic", name)
		}
	}()
	f()
}

func TestOptional(t *testing.T) {
	d := newDeployments(t)
	good := baseToken()
	run := func(r *http.Request) (rec *httptest.ResponseRecorder, called, hasUser bool) {
		h := Optional[*testUser](Any[*testUser](d.es, apiKeys))(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			called = true
			_, hasUser = UserFrom[*testUser](r.Context())
			if _, ok := MethodFrom(r.Context()); ok != hasUser {
				t.Errorf("MethodFrom ok = %v, user ok = %v", ok, hasUser)
			}
		}))
		rec = httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		return rec, called, hasUser
	}
	if rec, called, hasUser := run(request("", "")); !called || hasUser || rec.Code != 200 {
		t.Errorf("anonymous: called %v, user %v, status %d", called, hasUser, rec.Code)
	}
	if rec, called, hasUser := run(request(good, "")); !called || !hasUser || rec.Code != 200 {
		t.Errorf("valid token: called %v, user %v, status %d", called, hasUser, rec.Code)
	}
	if rec, called, hasUser := run(request("", "key-alice")); !called || !hasUser || rec.Code != 200 {
		t.Errorf("API key: called %v, user %v, status %d", called, hasUser, rec.Code)
	}
	// A presented but bad credential never degrades into anonymous.
	for _, r := range []*http.Request{
		request(withSignature(good, make([]byte, 64)), ""),
		request(esToken(baseHeader(), baseClaims().set("exp", nowPlus(-3600)).set("iat", nowPlus(-3700))), ""),
		request("", "wrong"),
		authRequest("Bearer"),
	} {
		rec, called, _ := run(r)
		if called || (rec.Code != 401 && rec.Code != 400) || !strings.HasPrefix(rec.Header().Get("WWW-Authenticate"), `Bearer realm="authkit", error=`) {
			t.Errorf("bad credential: called %v, status %d, challenge %q", called, rec.Code, rec.Header().Get("WWW-Authenticate"))
		}
	}
}

func TestContextHelpers(t *testing.T) {
	ctx := context.Background()
	if u, ok := UserFrom[*testUser](ctx); ok || u != nil {
		t.Errorf("UserFrom(empty) = %v, %v", u, ok)
	}
	if _, ok := MethodFrom(ctx); ok {
		t.Error("MethodFrom(empty) reported a method")
	}
	if _, ok := ClaimsFrom(ctx); ok {
		t.Error("ClaimsFrom(empty) reported claims")
	}

	ctx = ContextWithUser(ctx, &testUser{ID: "bob"})
	if u, ok := UserFrom[*testUser](ctx); !ok || u.ID != "bob" {
		t.Errorf("UserFrom[*testUser] = %v, %v", u, ok)
	}
	// The type must match exactly: a *testUser is not a testUser, nor any
	// other type.
	if u, ok := UserFrom[testUser](ctx); ok || u != (testUser{}) {
		t.Errorf("UserFrom[testUser] on a *testUser = %v, %v; want zero, false", u, ok)
	}
	if _, ok := UserFrom[string](ctx); ok {
		t.Error("UserFrom[string] on a *testUser reported true")
	}
	if m, ok := MethodFrom(ctx); !ok || m != MethodCustom {
		t.Errorf("MethodFrom = %q, %v; want custom", m, ok)
	}
	if c, ok := ClaimsFrom(ctx); ok || c != nil {
		t.Errorf("ClaimsFrom after ContextWithUser = %v, %v", c, ok)
	}
	// A value user works as well, under its own type only.
	vctx := ContextWithUser(context.Background(), testUser{ID: "carol"})
	if u, ok := UserFrom[testUser](vctx); !ok || u.ID != "carol" {
		t.Errorf("UserFrom[testUser] = %v, %v", u, ok)
	}
	if _, ok := UserFrom[*testUser](vctx); ok {
		t.Error("UserFrom[*testUser] on a testUser reported true")
	}

	// After Require: the wrong type reports false; claims and method are set.
	d := newDeployments(t)
	good := baseToken()
	req := request(good, "")
	h := Require[*testUser](d.es)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, ok := UserFrom[testUser](r.Context()); ok {
			t.Error("UserFrom[testUser] after Require of *testUser reported true")
		}
		c, ok := ClaimsFrom(r.Context())
		if !ok || c.ID != "b9d1c0e8-3f0c-4d5e-9a1b-6c2f7e8d9a01" || c.ClientID != "client-1" {
			t.Errorf("ClaimsFrom = %+v, %v", c, ok)
		}
		if m, ok := MethodFrom(r.Context()); !ok || m != MethodBearer {
			t.Errorf("MethodFrom = %q, %v", m, ok)
		}
	}))
	h.ServeHTTP(httptest.NewRecorder(), req)
	// The incoming request is not modified.
	if _, ok := UserFrom[*testUser](req.Context()); ok {
		t.Error("Require modified the caller's request context")
	}
}

func TestRealmAndErrorHandler(t *testing.T) {
	d := newDeployments(t)
	bad := withSignature(baseToken(), make([]byte, 64))

	t.Run("WithRealm", func(t *testing.T) {
		for _, c := range []struct {
			req       *http.Request
			status    int
			challenge string
		}{
			{request(bad, ""), 401, `Bearer realm="my api", error="invalid_token"`},
			{request("", ""), 401, `Bearer realm="my api"`},
			{authRequest("Bearer a b"), 400, `Bearer realm="my api", error="invalid_request"`},
		} {
			res := serve(d.es, c.req, WithRealm("my api"))
			if res.rec.Code != c.status || res.called {
				t.Errorf("status %d, called %v", res.rec.Code, res.called)
			}
			if got := res.rec.Header().Values("WWW-Authenticate"); len(got) != 1 || got[0] != c.challenge {
				t.Errorf("WWW-Authenticate = %q, want %q", got, c.challenge)
			}
			checkChallengeHygiene(t, c.challenge)
		}
		for _, realm := range []string{"", `a"b`, `a\b`, "a\nb", "é"} {
			mustPanic(t, fmt.Sprintf("WithRealm(%q)", realm), func() { Require[*testUser](d.es, WithRealm(realm)) })
		}
		mustPanic(t, "WithErrorHandler(nil)", func() { Optional[*testUser](d.es, WithErrorHandler(nil)) })
	})

	t.Run("WithErrorHandler delegating to DefaultErrorHandler", func(t *testing.T) {
		var got []error
		eh := func(w http.ResponseWriter, r *http.Request, err error) {
			got = append(got, err)
			w.Header().Set("X-Refused", "1")
			DefaultErrorHandler(w, r, err)
		}
		h := Require[*testUser](d.es, WithErrorHandler(eh), WithRealm("r"))(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
			t.Error("handler called")
		}))
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, request(bad, ""))
		if rec.Code != 401 || rec.Header().Get("X-Refused") != "1" || rec.Header().Get("WWW-Authenticate") != `Bearer realm="r", error="invalid_token"` {
			t.Errorf("status %d, headers %v", rec.Code, rec.Header())
		}
		if len(got) != 1 || !errors.Is(got[0], ErrInvalidToken) {
			t.Errorf("error handler got %v", got)
		}
	})

	t.Run("custom error handler replaces the answer", func(t *testing.T) {
		h := Require[*testUser](d.es, WithErrorHandler(func(w http.ResponseWriter, r *http.Request, err error) {
			http.Error(w, "go away", http.StatusTeapot)
		}))(http.NotFoundHandler())
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, request("", ""))
		if rec.Code != http.StatusTeapot || rec.Header().Get("WWW-Authenticate") != "" {
			t.Errorf("status %d, challenge %q", rec.Code, rec.Header().Get("WWW-Authenticate"))
		}
	})

	t.Run("DefaultErrorHandler", func(t *testing.T) {
		for _, c := range []struct {
			err       error
			status    int
			challenge string
		}{
			{ErrNoCredentials, 401, chBare},
			{fmt.Errorf("wrapped: %w", ErrNoCredentials), 401, chBare},
			{invalidToken("x"), 401, chInvalidToken},
			{expiredToken("x"), 401, chInvalidToken},
			{revokedToken("x"), 401, chInvalidToken},
			{invalidRequest("x"), 400, chInvalidRequest},
			{errors.New("boom"), 500, ""},
		} {
			rec := httptest.NewRecorder()
			DefaultErrorHandler(rec, httptest.NewRequest(http.MethodGet, "/", nil), c.err)
			if rec.Code != c.status || rec.Header().Get("WWW-Authenticate") != c.challenge ||
				rec.Header().Get("Cache-Control") != "no-store" || rec.Body.String() != http.StatusText(c.status)+"\n" ||
				rec.Header().Get("X-Content-Type-Options") != "nosniff" {
				t.Errorf("%v: status %d, headers %v, body %q", c.err, rec.Code, rec.Header(), rec.Body)
			}
			if strings.Contains(rec.Body.String(), "x") && c.status != 500 {
				t.Errorf("%v: body leaks the message", c.err)
			}
		}
	})
}

// wrappingAuth implements the kit's wrapHandler hook (as the session
// authenticator does) to check that Require and Any install it.
type wrappingAuth struct {
	apiKeyAuth
	tag string
}

func (a wrappingAuth) wrapHandler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Add("X-Wrapped", a.tag)
		next.ServeHTTP(w, r)
	})
}

func TestWrapHandlerHook(t *testing.T) {
	d := newDeployments(t)
	for _, c := range []struct {
		name string
		a    Authenticator[*testUser]
		want []string
	}{
		{"direct", wrappingAuth{apiKeys, "a"}, []string{"a"}},
		{"through Any, in order", Any[*testUser](d.es, wrappingAuth{apiKeys, "a"}, wrappingAuth{apiKeys, "b"}), []string{"a", "b"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			// The wrapper runs on refusals too (the session authenticator
			// needs its session loaded before deciding).
			for _, r := range []*http.Request{request("", "key-alice"), request("", "")} {
				rec := httptest.NewRecorder()
				Require(c.a)(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})).ServeHTTP(rec, r)
				if got := rec.Header().Values("X-Wrapped"); fmt.Sprint(got) != fmt.Sprint(c.want) {
					t.Errorf("X-Wrapped = %q, want %q", got, c.want)
				}
			}
		})
	}
}
