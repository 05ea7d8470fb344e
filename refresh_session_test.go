package authkit

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"net/http"
	"testing"
)

// This file tests issue 10 item 12 (SECURITY.md R-5): a refresh request
// that carries a session of another user than its refresh token's is
// refused, before anything is rotated.

// sessionUserFromCookie is a stand-in for a session authenticator: the
// "test-session" cookie names the session's user; "broken" is a failing
// session store.
func sessionUserFromCookie(r *http.Request) (string, error) {
	c, err := r.Cookie("test-session")
	switch {
	case err != nil:
		return "", nil
	case c.Value == "broken":
		return "", errStoreDown
	}
	return c.Value, nil
}

func TestRefreshRefusesAnotherUsersSession(t *testing.T) {
	e := newTokenEnv(t, NewMemoryStore("1", "2"), envConfig{issuerOpts: []Option{WithRefreshSessionUser(sessionUserFromCookie)}})
	_, rt := e.mustTokenLogin("1")
	fam := claim(t, rt, "fam")
	refreshWithSession := func(rt, session string) response {
		return e.send(e.request("POST", "/token/refresh", "application/json", `{"refresh_token":"`+rt+`"}`,
			&http.Cookie{Name: "test-session", Value: session}))
	}

	// Alice's refresh token with bob's session: refused, nothing rotated,
	// the family stays live.
	wantOAuthError(t, refreshWithSession(rt, "2"), http.StatusBadRequest, "invalid_grant")
	if f, cur, _ := storedFamily(t, e.store, fam); !f.RevokedAt.IsZero() || cur != jtiHash(t, rt) {
		t.Fatalf("family after the refused refresh: %+v, current rotated %v", f, cur != jtiHash(t, rt))
	}
	if _, err := e.iss.refreshAs(t.Context(), rt, "2", ""); !errors.Is(err, ErrInvalidToken) {
		t.Fatalf("refreshAs with another user: %v", err)
	}

	// A failing session check issues nothing.
	wantOAuthError(t, refreshWithSession(rt, "broken"), http.StatusInternalServerError, "server_error")

	// Her own session, or none: refreshed.
	r := refreshWithSession(rt, "1")
	if r.status != http.StatusOK {
		t.Fatalf("refresh with her own session: %d %s", r.status, r.body)
	}
	e.mustRefresh(r.oauth.RefreshToken)
	if ev := e.reuseEvents(); len(ev) != 0 {
		t.Fatalf("reuse reported: %+v", ev)
	}
}

func TestRefreshWithoutSessionCheckIgnoresSessions(t *testing.T) {
	e := newTokenEnv(t, NewMemoryStore("1", "2"), envConfig{})
	_, rt := e.mustTokenLogin("1")
	r := e.send(e.request("POST", "/token/refresh", "application/json", `{"refresh_token":"`+rt+`"}`,
		&http.Cookie{Name: "test-session", Value: "2"}))
	if r.status != http.StatusOK {
		t.Fatalf("refresh without WithRefreshSessionUser: %d %s", r.status, r.body)
	}
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if _, err := NewIssuer("https://auth.test", "api", key, NewMemoryStore(), e.store.Version); err != nil {
		t.Fatal(err)
	}
	if _, err := NewIssuer("https://auth.test", "api", key, NewMemoryStore(), e.store.Version, WithRefreshSessionUser(nil)); err == nil {
		t.Fatal("WithRefreshSessionUser(nil) accepted")
	}
}
