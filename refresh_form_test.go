package authkit

import (
	"net/http"
	"net/url"
	"testing"
)

// This file tests issue 10 item 13 in the core: RefreshHandler takes the
// RFC 6749 §6 form encoding and answers as §5.1/§5.2 say. The test with a
// real OAuth client (golang.org/x/oauth2) is in oauth2/.

func (e *env) refreshForm(body string) response {
	e.t.Helper()
	return e.send(e.request("POST", "/token/refresh", "application/x-www-form-urlencoded", body))
}

func TestRefreshFormEncoding(t *testing.T) {
	e := newTokenEnv(t, NewMemoryStore("1"), envConfig{cache: true})
	_, rt1 := e.mustTokenLogin("1")

	// §6: grant_type and refresh_token; client_id and scope are ignored.
	r := e.refreshForm(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt1}, "client_id": {"app"}}.Encode())
	if r.status != http.StatusOK || r.oauth.AccessToken == "" || r.oauth.TokenType != "Bearer" ||
		r.oauth.ExpiresIn == nil || *r.oauth.ExpiresIn != 900 || r.oauth.RefreshToken == "" || r.oauth.RefreshToken == rt1 {
		t.Fatalf("form refresh: %d %s; want a §5.1 answer", r.status, r.body)
	}
	if r.header.Get("Cache-Control") != "no-store" || r.header.Get("Pragma") != "no-cache" || r.header.Get("Content-Type") != "application/json" {
		t.Errorf("form refresh headers: %v", r.header)
	}
	if code, body := e.api(r.oauth.AccessToken); code != http.StatusOK || body != "1" {
		t.Fatalf("access token from the form refresh: %d %q", code, body)
	}
	rt2 := r.oauth.RefreshToken
	_, rt3 := e.mustRefresh(rt2)
	_ = rt3

	for _, tc := range []struct {
		name, body, code string
	}{
		{"no grant_type", url.Values{"refresh_token": {rt3}}.Encode(), "invalid_request"},
		{"empty grant_type", "grant_type=&refresh_token=" + rt3, "invalid_request"},
		{"password grant", url.Values{"grant_type": {"password"}, "username": {"1"}, "password": {"x"}}.Encode(), "unsupported_grant_type"},
		{"authorization_code grant", url.Values{"grant_type": {"authorization_code"}, "code": {"x"}}.Encode(), "unsupported_grant_type"},
		{"no refresh_token", "grant_type=refresh_token", "invalid_request"},
		{"empty refresh_token", "grant_type=refresh_token&refresh_token=", "invalid_request"},
		{"refresh_token twice", "grant_type=refresh_token&refresh_token=" + rt3 + "&refresh_token=" + rt3, "invalid_request"},
		{"grant_type twice", "grant_type=refresh_token&grant_type=refresh_token&refresh_token=" + rt3, "invalid_request"},
		{"bad escape", "grant_type=refresh_token&refresh_token=%zz", "invalid_request"},
		{"forged token", "grant_type=refresh_token&refresh_token=a.b.c", "invalid_grant"},
	} {
		wantOAuthError(t, e.refreshForm(tc.body), http.StatusBadRequest, tc.code)
	}
	// None of the refused requests rotated anything: rt3 is still current.
	_, rt4 := e.mustRefresh(rt3)

	// The rotated token, by form, after its successor was used: invalid_grant.
	wantOAuthError(t, e.refreshForm(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt1}}.Encode()),
		http.StatusBadRequest, "invalid_grant")
	wantOAuthError(t, e.refresh(rt4), http.StatusBadRequest, "invalid_grant")

	// Another media type still is invalid_request.
	wantOAuthError(t, e.send(e.request("POST", "/token/refresh", "text/plain", "grant_type=refresh_token&refresh_token="+rt4)),
		http.StatusBadRequest, "invalid_request")
}
