package server

// Issue 10 items 12 and 13 at the demo: a refresh carrying another user's
// session is refused (SECURITY.md R-5), and POST /token and POST
// /token/refresh take the RFC 6749 form encoding (DESIGN.md "Demo
// contract"). The test with golang.org/x/oauth2 as the client is in the
// nested module ../../oauth2.

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

func testTokenGrants(t *testing.T, base string) {
	t.Run("R-5 another user's session", func(t *testing.T) {
		alice := newClient(t, base).getTokens("alice")
		bob := newClient(t, base)
		bob.login("bob")
		// Alice's refresh token in the body, bob's session cookie beside it.
		resp, body := bob.postJSON("/token/refresh", map[string]string{"refresh_token": alice.RefreshToken}, nil)
		wantInvalidGrant(t, resp, body)
		// Nothing was rotated: the token still works without the session,
		// and with alice's own.
		own := newClient(t, base)
		own.login("alice")
		resp, body = own.postJSON("/token/refresh", map[string]string{"refresh_token": alice.RefreshToken}, nil)
		own.checkTokens(resp, body)
	})

	t.Run("password grant, form-encoded", func(t *testing.T) {
		// An OAuth client without cookies: the refresh token goes in the body.
		c := &client{t: t, base: base, hc: http.DefaultClient}
		resp, body := c.postForm("/token", url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {"alice-password"}})
		tok := c.checkTokens(resp, body)
		wantMe(t, c, bearer(tok.AccessToken), `{"id":"1","name":"alice","via":"jwt"}`)

		resp, body = c.postForm("/token", url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {"wrong"}})
		wantInvalidGrant(t, resp, body)
		for _, tc := range []struct {
			form url.Values
			code string
		}{
			{url.Values{"grant_type": {"client_credentials"}}, "unsupported_grant_type"},
			{url.Values{"username": {"alice"}, "password": {"alice-password"}}, "unsupported_grant_type"},
			{url.Values{"grant_type": {"password"}, "username": {"alice", "bob"}, "password": {"alice-password"}}, "invalid_request"},
		} {
			resp, body := c.postForm("/token", tc.form)
			if resp.StatusCode != 400 || strings.TrimSpace(body) != `{"error":"`+tc.code+`"}` {
				t.Errorf("POST /token %v: %d %q, want 400 %s", tc.form, resp.StatusCode, body, tc.code)
			}
		}

		// grant_type=refresh_token at /token/refresh, with the body's token.
		resp, body = c.postForm("/token/refresh", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}})
		next := c.checkTokens(resp, body)
		c.checkTokens(c.postForm("/token/refresh", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {next.RefreshToken}}))
		resp, body = c.postForm("/token/refresh", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}})
		wantInvalidGrant(t, resp, body)
	})
}

func TestTokenGrants(t *testing.T) {
	h, _ := newTestApp(t)
	srv := httptest.NewServer(h)
	defer srv.Close()
	testTokenGrants(t, srv.URL)
}

func TestE2ETokenGrants(t *testing.T) {
	p := startDemo(t, nil)
	testTokenGrants(t, p.URL)
}
