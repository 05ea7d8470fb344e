package authkit

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// This file tests the Issuer end to end over HTTPS (env, in env_test.go):
// every R-case of the refresh design, run against each backend
// (forEachBackend), with an injected clock.

// refreshSuite is every R-case; TestRefresh runs each on every backend, on
// a fresh Store knowing users "1" and "2" (suiteEnv).
var refreshSuite = []struct {
	name string
	run  func(t *testing.T, kind backend)
}{
	{"R-1 rotation", refreshRotation},
	{"R-2 reuse revokes the family", refreshReuseRevokesTheFamily},
	{"R-3 version bump, failing and unknown user", refreshVersionBump},
	{"R-3 lookup fails closed, called once per refresh", refreshLookupFailsClosed},
	{"R-4 idle expiry", refreshIdleExpiry},
	{"R-4 absolute expiry", refreshAbsoluteExpiry},
	{"R-5 type separation", refreshTypeSeparation},
	{"R-6 tampering", refreshTampering},
	{"R-7 fifty concurrent refreshes", refreshConcurrently},
	{"R-8 logout", refreshLogout},
	{"R-8 logout everywhere", refreshLogoutEverywhere},
	{"browser flow with a cookie jar", refreshBrowserFlow},
}

func TestRefresh(t *testing.T) {
	forEachBackend(t, func(t *testing.T, kind backend) {
		for _, c := range refreshSuite {
			t.Run(c.name, func(t *testing.T) { c.run(t, kind) })
		}
	})
}

// suiteEnv serves the token service over a fresh Store of kind knowing users
// "1" and "2", and returns both.
func suiteEnv(t *testing.T, kind backend, cfg envConfig) (*env, *Store) {
	t.Helper()
	s := kind.open(t, "1", "2")
	return newTokenEnv(t, s, cfg), s
}

func refreshRotation(t *testing.T, kind backend) {
	e, s := suiteEnv(t, kind, envConfig{cache: true})
	at1, rt1 := e.mustTokenLogin("1")

	// By cookie, as a browser does.
	r := e.refreshCookie(rt1)
	if r.status != http.StatusOK {
		t.Fatalf("refresh: %d %s", r.status, r.body)
	}
	if r.oauth.TokenType != "Bearer" || r.oauth.ExpiresIn == nil || *r.oauth.ExpiresIn != 900 {
		t.Errorf("body %s: want token_type Bearer, expires_in 900", r.body)
	}
	if got := r.header.Get("Cache-Control"); got != "no-store" {
		t.Errorf("Cache-Control = %q", got)
	}
	if got := r.header.Get("Pragma"); got != "no-cache" {
		t.Errorf("Pragma = %q", got)
	}
	// A token that came in the HttpOnly cookie goes back only in the
	// cookie, never in the body where scripts could read it.
	if r.oauth.RefreshToken != "" {
		t.Errorf("refresh by cookie echoed the refresh token in the body: %s", r.body)
	}
	rt2, at2 := refreshCookieValue(t, r), r.oauth.AccessToken
	if rt2 == rt1 || at2 == at1 || claim(t, rt2, "jti") == claim(t, rt1, "jti") {
		t.Fatal("refresh returned the same tokens")
	}
	if claim(t, rt2, "fam") != claim(t, rt1, "fam") {
		t.Error("the new refresh token left the family")
	}
	var setCookie string
	for _, v := range r.header.Values("Set-Cookie") {
		if strings.HasPrefix(v, defaultRefreshCookieName+"=") {
			setCookie = v
		}
	}
	want := defaultRefreshCookieName + "=" + rt2 + "; Path=/token; Max-Age=86400; HttpOnly; Secure; SameSite=Strict"
	if setCookie != want {
		t.Errorf("Set-Cookie = %q\nwant        %q", setCookie, want)
	}
	if st, body := e.api(at2); st != http.StatusOK || body != "1" {
		t.Errorf("new access token: %d %q", st, body)
	}
	// The store holds the hash of the new token's jti, nothing else.
	f, cur, ok := storedFamily(t, s, claim(t, rt2, "fam"))
	if !ok || cur != jtiHash(t, rt2) || !f.RevokedAt.IsZero() || f.UserID != "1" {
		t.Fatalf("store holds %+v current %x ok %v", f, cur, ok)
	}
	if !f.LastUsedAt.Equal(e.clock.Now()) {
		t.Errorf("LastUsedAt = %v, want %v", f.LastUsedAt, e.clock.Now())
	}

	// By JSON body, as a native client does; the single-use old token
	// is refused.
	_, rt3 := e.mustRefresh(rt2)
	if rt3 == rt2 {
		t.Fatal("same token")
	}
	e.clock.Advance(defaultRefreshRetryWindow + time.Second) // no longer a retry (refresh_faults_test.go)
	wantOAuthError(t, e.refresh(rt2), http.StatusBadRequest, "invalid_grant")
}

func refreshReuseRevokesTheFamily(t *testing.T, kind backend) {
	e, s := suiteEnv(t, kind, envConfig{cache: true})
	_, rt1 := e.mustTokenLogin("1")
	_, rt2 := e.mustRefresh(rt1)
	at3, rt3 := e.mustRefresh(rt2)
	_, other := e.mustTokenLogin("1") // another device: another family

	e.clock.Advance(time.Minute)
	r := e.refreshCookie(rt1)
	wantOAuthError(t, r, http.StatusBadRequest, "invalid_grant")
	// The cookie that carried the refused token is cleared.
	cleared := false
	for _, c := range r.cookies {
		cleared = cleared || (c.Name == defaultRefreshCookieName && c.MaxAge < 0 && c.Path == "/token")
	}
	if !cleared {
		t.Errorf("refused cookie not cleared: %v", r.header.Values("Set-Cookie"))
	}
	for _, rt := range []string{rt2, rt3, rt1} {
		wantOAuthError(t, e.refresh(rt), http.StatusBadRequest, "invalid_grant")
	}
	fam := claim(t, rt1, "fam")
	f, cur, ok := storedFamily(t, s, fam)
	if !ok || f.RevokedAt.IsZero() || cur != jtiHash(t, rt3) {
		t.Fatalf("store holds %+v current %x ok %v; want revoked, current = rt3", f, cur, ok)
	}
	ev := e.reuseEvents()
	if len(ev) != 1 {
		t.Fatalf("%d reuse events, want 1: %+v", len(ev), ev)
	}
	if ev[0].UserID != "1" || ev[0].FamilyID != fam || ev[0].TokenID != claim(t, rt1, "jti") ||
		!ev[0].DetectedAt.Equal(e.clock.Now()) || !ev[0].TokenIssuedAt.Equal(e.clock.Now().Add(-time.Minute)) {
		t.Errorf("event %+v", ev[0])
	}
	// Reuse revokes the family, not the user: the other device's family
	// and unexpired access tokens live on.
	e.mustRefresh(other)
	if st, _ := e.api(at3); st != http.StatusOK {
		t.Errorf("access token after reuse: %d", st)
	}
}

func refreshVersionBump(t *testing.T, kind backend) {
	e, s := suiteEnv(t, kind, envConfig{cache: true})
	at, rt := e.mustTokenLogin("1")
	_, rtB := e.mustTokenLogin("2")
	req := e.request("POST", "/logout-everywhere", "", "")
	req.Header.Set("Authorization", "Bearer "+at)
	if r := e.send(req); r.status != http.StatusNoContent {
		t.Fatalf("logout everywhere: %d %s", r.status, r.body)
	}
	// Through the cache's Bump, the bump is seen at once, not after the TTL.
	wantOAuthError(t, e.refresh(rt), http.StatusBadRequest, "invalid_grant")
	if st, _ := e.api(at); st != http.StatusUnauthorized {
		t.Errorf("access token after bump: %d, want 401", st)
	}
	e.mustRefresh(rtB) // another user is untouched
	// A new login gets the new version and works.
	at2, rt2 := e.mustTokenLogin("1")
	if claim(t, at2, "ver") != "1" || claim(t, rt2, "ver") != "1" {
		t.Errorf("ver after bump: %s %s", claim(t, at2, "ver"), claim(t, rt2, "ver"))
	}
	e.mustRefresh(rt2)

	// Disabled user: refused, not an error.
	_, rt3 := e.mustTokenLogin("2")
	if err := s.Remove(context.Background(), "2"); err != nil {
		t.Fatal(err)
	}
	e.cache.Forget("2")
	wantOAuthError(t, e.refresh(rt3), http.StatusBadRequest, "invalid_grant")
	if r := e.tokenLogin("2"); r.status != http.StatusUnauthorized {
		t.Errorf("login of a removed user: %d", r.status)
	}
	if r := e.tokenLogin("nobody"); r.status != http.StatusUnauthorized {
		t.Errorf("login of an unknown user: %d", r.status)
	}
}

func refreshLookupFailsClosed(t *testing.T, kind backend) {
	e, s := suiteEnv(t, kind, envConfig{})
	_, rt := e.mustTokenLogin("1")
	for n := 0; n < 3; n++ {
		before := e.lookups.Load()
		_, rt = e.mustRefresh(rt)
		if got := e.lookups.Load() - before; got != 1 {
			t.Fatalf("refresh %d called VersionLookup %d times, want 1", n, got)
		}
	}
	e.failing.Store(true)
	fam := claim(t, rt, "fam")
	_, before, _ := storedFamily(t, s, fam)
	for _, r := range []response{e.refresh(rt), e.refreshCookie(rt)} {
		wantOAuthError(t, r, http.StatusInternalServerError, "server_error")
		if len(r.header.Values("Set-Cookie")) != 0 {
			t.Errorf("failed refresh sets cookies: %v", r.header.Values("Set-Cookie"))
		}
	}
	if r := e.tokenLogin("1"); r.status != http.StatusInternalServerError || strings.Contains(r.body, "token") {
		t.Errorf("login with a failing lookup: %d %s", r.status, r.body)
	}
	// Nothing was rotated: the store is unchanged and the token works
	// once the store is back.
	if _, after, _ := storedFamily(t, s, fam); after != before {
		t.Error("a failed refresh rotated the family")
	}
	e.failing.Store(false)
	e.mustRefresh(rt)
}

func refreshIdleExpiry(t *testing.T, kind backend) {
	e, _ := suiteEnv(t, kind, envConfig{cache: true, issuerOpts: []Option{WithRefreshTokenTTL(10 * time.Minute)}})
	_, rt := e.mustTokenLogin("1")
	e.clock.Advance(10*time.Minute - time.Second)
	_, rt = e.mustRefresh(rt) // used within the idle period: fine
	e.clock.Advance(10 * time.Minute)
	wantOAuthError(t, e.refresh(rt), http.StatusBadRequest, "invalid_grant")
	if len(e.reuseEvents()) != 0 {
		t.Error("expiry reported as reuse")
	}
}

func refreshAbsoluteExpiry(t *testing.T, kind backend) {
	e, _ := suiteEnv(t, kind, envConfig{cache: true, issuerOpts: []Option{
		WithRefreshTokenTTL(10 * time.Minute), WithRefreshFamilyLifetime(time.Hour)}})
	start := e.clock.Now()
	_, rt := e.mustTokenLogin("1")
	n := 0
	for {
		e.clock.Advance(time.Minute)
		r := e.refresh(rt)
		if r.status != http.StatusOK {
			wantOAuthError(t, r, http.StatusBadRequest, "invalid_grant")
			break
		}
		rt = r.oauth.RefreshToken
		// No refresh token outlives its family.
		if exp := claim(t, rt, "exp"); exp > fmt.Sprint(start.Add(time.Hour).Unix()) {
			t.Fatalf("refresh token exp %s after the family's end", exp)
		}
		n++
	}
	if got := e.clock.Now().Sub(start); got != time.Hour || n != 59 {
		t.Fatalf("refused after %v and %d refreshes, want 1h and 59", got, n)
	}
}

func refreshTypeSeparation(t *testing.T, kind backend) {
	e, _ := suiteEnv(t, kind, envConfig{cache: true})
	at, rt := e.mustTokenLogin("1")
	if st, _ := e.api(rt); st != http.StatusUnauthorized {
		t.Errorf("refresh token as bearer token: %d, want 401", st)
	}
	wantOAuthError(t, e.refresh(at), http.StatusBadRequest, "invalid_grant")
	wantOAuthError(t, e.refreshCookie(at), http.StatusBadRequest, "invalid_grant")
	h, _ := tokenParts(t, at)
	hr, c := tokenParts(t, rt)
	if h["typ"] != "at+jwt" || hr["typ"] != "rt+jwt" || c["aud"] != "https://auth.test" || h["kid"] != hr["kid"] || h["kid"] == "" {
		t.Errorf("headers %v %v, refresh aud %v", h, hr, c["aud"])
	}
	e.mustRefresh(rt) // none of this touched the family
}

func refreshTampering(t *testing.T, kind backend) {
	e, _ := suiteEnv(t, kind, envConfig{cache: true})
	_, rt := e.mustTokenLogin("1")
	_, rtOther := e.mustTokenLogin("2")
	var tampered []string
	// Every byte of header and payload, and a sample of the signature.
	for i := 0; i < len(rt); i++ {
		if rt[i] == '.' || (i > strings.LastIndexByte(rt, '.') && i%7 != 0) {
			continue
		}
		b := []byte(rt)
		b[i] ^= 0x01
		tampered = append(tampered, string(b))
	}
	seg := strings.Split(rt, ".")
	_, claims := tokenParts(t, rt)
	for name, v := range map[string]any{
		"fam": claim(t, rtOther, "fam"), "sub": "2", "ver": 7, "exp": json.Number("9999999999"), "aud": "api",
	} {
		c := make(map[string]any)
		for k, v := range claims {
			c[k] = v
		}
		c[name] = v
		p, _ := json.Marshal(c)
		tampered = append(tampered, seg[0]+"."+b64(p)+"."+seg[2])
	}
	// Signed by another key under the same kid.
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	h, _ := tokenParts(t, rt)
	forger, err := NewIssuer("https://auth.test", "api", other, NewMemoryStore(),
		NewMemoryStore("1").Version, WithSigningKeyID(h["kid"].(string)))
	if err != nil {
		t.Fatal(err)
	}
	forged, err := forger.Issue(context.Background(), "1")
	if err != nil {
		t.Fatal(err)
	}
	tampered = append(tampered, forged.RefreshToken, rt+"=", " "+rt, strings.Replace(rt, ".", "..", 1))
	for _, tok := range tampered {
		if r := e.refresh(tok); r.status != http.StatusBadRequest || r.oauth.AccessToken != "" {
			t.Fatalf("tampered token %q: %d %s", tok, r.status, r.body)
		}
	}
	if ev := e.reuseEvents(); len(ev) != 0 {
		t.Fatalf("tampered tokens raised reuse events: %+v", ev)
	}
	// Nothing was revoked: both genuine tokens still work.
	e.mustRefresh(rt)
	e.mustRefresh(rtOther)
}

func refreshConcurrently(t *testing.T, kind backend) {
	// Strict, without retries; with them, refresh_faults_test.go.
	e, s := suiteEnv(t, kind, envConfig{cache: true, issuerOpts: []Option{WithRefreshRetryWindow(0)}})
	_, rt := e.mustTokenLogin("1")
	const n = 50
	results := e.refreshAtOnce(rt, n)
	var winners []string
	for _, r := range results {
		switch {
		case r.status == http.StatusOK && r.oauth.RefreshToken != "":
			winners = append(winners, r.oauth.RefreshToken)
		case r.status == http.StatusBadRequest && r.oauth.Error == "invalid_grant":
		default:
			t.Errorf("unexpected answer %d %s", r.status, r.body)
		}
	}
	if len(winners) != 1 {
		t.Fatalf("%d successful refreshes, want exactly 1", len(winners))
	}
	// Strict policy: the losers' attempts were reuse, so the family is
	// revoked; the store holds the one successor's hash, and no
	// successor is live.
	f, cur, ok := storedFamily(t, s, claim(t, rt, "fam"))
	if !ok || f.RevokedAt.IsZero() || cur != jtiHash(t, winners[0]) {
		t.Fatalf("store holds %+v current %x ok %v; want revoked with the winner's hash", f, cur, ok)
	}
	wantOAuthError(t, e.refresh(winners[0]), http.StatusBadRequest, "invalid_grant")
	if ev := e.reuseEvents(); len(ev) != 1 {
		t.Errorf("%d reuse events, want 1", len(ev))
	}
}

func refreshLogout(t *testing.T, kind backend) {
	e, s := suiteEnv(t, kind, envConfig{cache: true})
	_, rt := e.mustTokenLogin("1")
	_, rtOther := e.mustTokenLogin("1")
	r := e.send(e.request("POST", "/token/logout", "", "", &http.Cookie{Name: defaultRefreshCookieName, Value: rt}))
	if r.status != http.StatusNoContent || r.header.Get("Cache-Control") != "no-store" {
		t.Fatalf("logout: %d %v", r.status, r.header)
	}
	want := defaultRefreshCookieName + "=; Path=/token; Max-Age=0; HttpOnly; Secure; SameSite=Strict"
	if got := r.header.Get("Set-Cookie"); got != want {
		t.Errorf("Set-Cookie = %q, want %q", got, want)
	}
	if f, _, _ := storedFamily(t, s, claim(t, rt, "fam")); f.RevokedAt.IsZero() {
		t.Error("family not revoked")
	}
	wantOAuthError(t, e.refresh(rt), http.StatusBadRequest, "invalid_grant")
	if len(e.reuseEvents()) != 0 {
		t.Error("refresh after logout reported as reuse")
	}
	e.mustRefresh(rtOther) // only this device logged out
	// Logging out again, or without a token, is not an error.
	for _, req := range []*http.Request{
		e.request("POST", "/token/logout", "application/json", `{"refresh_token":"`+rt+`"}`),
		e.request("POST", "/token/logout", "", ""),
		e.request("POST", "/token/logout", "", "", &http.Cookie{Name: defaultRefreshCookieName, Value: "garbage"}),
	} {
		if r := e.send(req); r.status != http.StatusNoContent {
			t.Errorf("logout again: %d %s", r.status, r.body)
		}
	}
}

func refreshLogoutEverywhere(t *testing.T, kind backend) {
	e, _ := suiteEnv(t, kind, envConfig{cache: true})
	at1, rt1 := e.mustTokenLogin("1")
	_, rt2 := e.mustTokenLogin("1")
	_, rt3 := e.mustRefresh(rt2)
	req := e.request("POST", "/logout-everywhere", "", "")
	req.Header.Set("Authorization", "Bearer "+at1)
	if r := e.send(req); r.status != http.StatusNoContent {
		t.Fatalf("logout everywhere: %d", r.status)
	}
	for _, rt := range []string{rt1, rt3} {
		wantOAuthError(t, e.refresh(rt), http.StatusBadRequest, "invalid_grant")
	}
	if st, _ := e.api(at1); st != http.StatusUnauthorized {
		t.Errorf("access token after logout everywhere: %d", st)
	}
}

func refreshBrowserFlow(t *testing.T, kind backend) {
	e, _ := suiteEnv(t, kind, envConfig{cache: true})
	jar, _ := cookiejar.New(nil)
	e.client.Jar = jar
	e.mustTokenLogin("1")
	u, _ := url.Parse(e.srv.URL + "/token/refresh")
	if cs := jar.Cookies(u); len(cs) != 1 || cs[0].Name != defaultRefreshCookieName {
		t.Fatalf("jar holds %v for /token/refresh", cs)
	}
	api, _ := url.Parse(e.srv.URL + "/api/me")
	if cs := jar.Cookies(api); len(cs) != 0 {
		t.Errorf("refresh cookie sent to /api/me: %v", cs)
	}
	for range 3 {
		if r := e.send(e.request("POST", "/token/refresh", "", "")); r.status != http.StatusOK {
			t.Fatalf("cookie refresh: %d %s", r.status, r.body)
		}
	}
	if r := e.send(e.request("POST", "/token/logout", "", "")); r.status != http.StatusNoContent {
		t.Fatalf("logout: %d", r.status)
	}
	if cs := jar.Cookies(u); len(cs) != 0 {
		t.Errorf("cookie left after logout: %v", cs)
	}
	wantOAuthError(t, e.send(e.request("POST", "/token/refresh", "", "")), http.StatusBadRequest, "invalid_request")
}

func TestRefreshRequestValidation(t *testing.T) {
	e := newTokenEnv(t, NewMemoryStore("1"), envConfig{cache: true})
	_, rt := e.mustTokenLogin("1")
	ck := &http.Cookie{Name: defaultRefreshCookieName, Value: rt}
	body := `{"refresh_token":"` + rt + `"}`
	for _, tc := range []struct {
		name string
		req  *http.Request
	}{
		{"no token", e.request("POST", "/token/refresh", "", "")},
		{"cookie and body", e.request("POST", "/token/refresh", "application/json", body, ck)},
		{"cookie twice", e.request("POST", "/token/refresh", "", "", ck, ck)},
		{"form body", e.request("POST", "/token/refresh", "application/x-www-form-urlencoded", "refresh_token="+rt)},
		{"text/plain body", e.request("POST", "/token/refresh", "text/plain", body)},
		{"no content type", e.request("POST", "/token/refresh", "", body)},
		{"duplicate member", e.request("POST", "/token/refresh", "application/json", `{"refresh_token":"x","refresh_token":"`+rt+`"}`)},
		{"token not a string", e.request("POST", "/token/refresh", "application/json", `{"refresh_token":["`+rt+`"]}`)},
		{"empty token", e.request("POST", "/token/refresh", "application/json", `{"refresh_token":""}`)},
		{"wrong grant_type", e.request("POST", "/token/refresh", "application/json", `{"grant_type":"password","refresh_token":"`+rt+`"}`)},
		{"array body", e.request("POST", "/token/refresh", "application/json", `["`+rt+`"]`)},
		{"trailing data", e.request("POST", "/token/refresh", "application/json", body+"{}")},
		{"body too large", e.request("POST", "/token/refresh", "application/json", `{"refresh_token":"`+rt+`","x":"`+strings.Repeat("a", maxRefreshBody)+`"}`)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantOAuthError(t, e.send(tc.req), http.StatusBadRequest, "invalid_request")
		})
	}
	// A JSON body without refresh_token leaves the token to the cookie.
	if r := e.send(e.request("POST", "/token/refresh", "application/json", `{}`)); r.status != http.StatusBadRequest || r.oauth.Error != "invalid_request" {
		t.Errorf("{} without a cookie: %d %s", r.status, r.body)
	}
	r := e.send(e.request("POST", "/token/refresh", "application/json", `{"client_id":"app"}`, ck))
	if r.status != http.StatusOK {
		t.Fatalf("JSON body without token, and the cookie: %d %s", r.status, r.body)
	}
	rt = refreshCookieValue(t, r)
	ck = &http.Cookie{Name: defaultRefreshCookieName, Value: rt}
	body = `{"refresh_token":"` + rt + `"}`
	for _, path := range []string{"/token/refresh", "/token/logout"} {
		r := e.send(e.request("GET", path, "", "", ck))
		if r.status != http.StatusMethodNotAllowed || r.header.Get("Allow") != "POST" {
			t.Errorf("GET %s: %d Allow %q", path, r.status, r.header.Get("Allow"))
		}
	}
	if r := e.send(e.request("POST", "/token/logout", "application/json", body, ck)); r.status != http.StatusBadRequest {
		t.Errorf("logout with cookie and body: %d", r.status)
	}
	// A grant_type of refresh_token and unknown members are fine; none of
	// the refused requests consumed the token.
	r = e.send(e.request("POST", "/token/refresh", "application/json; charset=utf-8",
		`{"grant_type":"refresh_token","client_id":"app","refresh_token":"`+rt+`"}`))
	if r.status != http.StatusOK {
		t.Fatalf("valid request: %d %s", r.status, r.body)
	}
}

func TestRefreshStoreFailure(t *testing.T) {
	s := NewMemoryStore("1")
	fs := &failingStore{FamilyStore: s}
	e := newEnv(t, envConfig{families: fs, versions: s})
	_, rt := e.mustTokenLogin("1")
	fs.fail.Store(true)
	wantOAuthError(t, e.refresh(rt), http.StatusInternalServerError, "server_error")
	r := e.send(e.request("POST", "/token/logout", "", "", &http.Cookie{Name: defaultRefreshCookieName, Value: rt}))
	wantOAuthError(t, r, http.StatusInternalServerError, "server_error")
	if len(r.header.Values("Set-Cookie")) != 0 {
		t.Error("a failed logout cleared the cookie")
	}
}

// flakySigner is a signer (a remote KMS, say) that can be made to fail.
type flakySigner struct {
	crypto.Signer
	fail *atomic.Bool
}

func (f flakySigner) Sign(r io.Reader, d []byte, opts crypto.SignerOpts) ([]byte, error) {
	if f.fail.Load() {
		return nil, errors.New("KMS unavailable (test)")
	}
	return f.Signer.Sign(r, d, opts)
}

// TestRefreshSignerFailure: a signer failing during a refresh leaves the
// presented token valid, so the client can retry.
func TestRefreshSignerFailure(t *testing.T) {
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	fail := new(atomic.Bool)
	vs := NewMemoryStore("1")
	iss, err := NewIssuer("https://auth.test", "api", flakySigner{ec, fail}, NewMemoryStore(), vs.Version)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	pair, _ := iss.Issue(ctx, "1")
	fail.Store(true)
	if _, err := iss.Refresh(ctx, pair.RefreshToken); err == nil || errors.Is(err, ErrInvalidToken) {
		t.Fatalf("refresh with a failing signer: %v", err)
	}
	fail.Store(false)
	if _, err := iss.Refresh(ctx, pair.RefreshToken); err != nil {
		t.Fatalf("retry after the signer recovered: %v", err)
	}
}

func TestJWKSHandler(t *testing.T) {
	e := newTokenEnv(t, NewMemoryStore("1"), envConfig{})
	at, _ := e.mustTokenLogin("1")
	r := e.send(e.request("GET", "/.well-known/jwks.json", "", ""))
	if r.status != http.StatusOK || r.header.Get("Content-Type") != "application/jwk-set+json" ||
		r.header.Get("Cache-Control") != "public, max-age=300" {
		t.Fatalf("GET jwks: %d %v", r.status, r.header)
	}
	if strings.Contains(r.body, `"d"`) {
		t.Fatalf("JWK Set holds a private key: %s", r.body)
	}
	// A verifier configured from the served JSON accepts the access token.
	j, err := NewJWT(func(_ context.Context, c *Claims) (string, error) { return c.Subject, nil },
		WithIssuer("https://auth.test"), WithAudience("api"), WithJWKSet([]byte(r.body)), WithClock(e.clock.Now))
	if err != nil {
		t.Fatal(err)
	}
	req := httptest.NewRequest("GET", "/", nil)
	req.Header.Set("Authorization", "Bearer "+at)
	if u, err := j.Authenticate(req); err != nil || u != "1" {
		t.Fatalf("token from the JWKS: %q %v", u, err)
	}
	if r := e.send(e.request("POST", "/.well-known/jwks.json", "", "")); r.status != http.StatusMethodNotAllowed {
		t.Errorf("POST jwks: %d", r.status)
	}
	if r := e.send(e.request("HEAD", "/.well-known/jwks.json", "", "")); r.status != http.StatusOK || r.body != "" {
		t.Errorf("HEAD jwks: %d %q", r.status, r.body)
	}
}

// rsaKey is generated once: RSA key generation is slow.
var rsaKey = sync.OnceValue(func() *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	return k
})

// opaqueSigner hides the concrete key type, as a KMS or HSM key does.
type opaqueSigner struct{ s crypto.Signer }

func (o opaqueSigner) Public() crypto.PublicKey { return o.s.Public() }
func (o opaqueSigner) Sign(r io.Reader, d []byte, opts crypto.SignerOpts) ([]byte, error) {
	return o.s.Sign(r, d, opts)
}

// TestIssuedTokensRoundTrip checks, for each kind of key, that NewJWT (set
// up from the issuer, and from its JWK Set where there is one) accepts
// exactly the access tokens the issuer mints, with the claims it wrote.
func TestIssuedTokensRoundTrip(t *testing.T) {
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ec384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	_, ed, _ := ed25519.GenerateKey(rand.Reader)
	secret := make([]byte, 32)
	rand.Read(secret)
	for _, tc := range []struct {
		name, alg string
		key       any
		opts      []Option
		jwks      bool
	}{
		{"ES256", "ES256", ec, nil, true},
		{"ES384", "ES384", ec384, nil, true},
		{"EdDSA", "EdDSA", ed, nil, true},
		{"RS256", "RS256", rsaKey(), nil, true},
		{"PS256", "PS256", rsaKey(), []Option{WithSigningAlgorithm("PS256")}, true},
		{"HS256", "HS256", secret, nil, false},
		{"opaque ES256 signer", "ES256", opaqueSigner{ec}, nil, true},
		{"opaque RS256 signer", "RS256", opaqueSigner{rsaKey()}, nil, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clock := newTestClock(time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC))
			vs := NewMemoryStore("u1")
			vs.Bump(context.Background(), "u1")
			iss, err := NewIssuer("https://auth.test", "api", tc.key, NewMemoryStore(), vs.Version,
				append(tc.opts, WithClock(clock.Now), WithSigningKeyID("k1"))...)
			if err != nil {
				t.Fatal(err)
			}
			pair, err := iss.Issue(context.Background(), "u1")
			if err != nil {
				t.Fatal(err)
			}
			h, c := tokenParts(t, pair.AccessToken)
			if fmt.Sprint(h) != fmt.Sprint(map[string]any{"alg": tc.alg, "kid": "k1", "typ": "at+jwt"}) {
				t.Errorf("header %v", h)
			}
			now := clock.Now().Unix()
			want := map[string]string{"iss": "https://auth.test", "sub": "u1", "aud": "api", "ver": "1",
				"iat": fmt.Sprint(now), "exp": fmt.Sprint(now + 900)}
			for k, v := range want {
				if fmt.Sprint(c[k]) != v {
					t.Errorf("claim %s = %v, want %s", k, c[k], v)
				}
			}
			if len(c) != 7 || fmt.Sprint(c["jti"]) == "" {
				t.Errorf("claims %v: want exactly iss sub aud exp iat jti ver", c)
			}
			configs := [][]Option{{WithTokensFrom(iss)}}
			if tc.jwks {
				configs = append(configs, []Option{WithIssuer("https://auth.test"), WithAudience("api"), WithJWKSet(iss.jwks)})
			} else if got := string(iss.jwks); got != `{"keys":[]}` {
				t.Errorf("HMAC issuer publishes %s", got)
			}
			for _, opts := range configs {
				j, err := NewJWT(func(_ context.Context, c *Claims) (*Claims, error) { return c, nil },
					append(opts, WithClock(clock.Now))...)
				if err != nil {
					t.Fatal(err)
				}
				for _, tok := range []string{pair.AccessToken, pair.RefreshToken} {
					req := httptest.NewRequest("GET", "/", nil)
					req.Header.Set("Authorization", "Bearer "+tok)
					got, err := j.Authenticate(req)
					if tok == pair.RefreshToken {
						if !errors.Is(err, ErrInvalidToken) {
							t.Errorf("refresh token accepted as access token: %v", err)
						}
						continue
					}
					if err != nil {
						t.Fatalf("access token refused: %v", err)
					}
					if got.Subject != "u1" || got.Version != 1 || got.ID == "" || got.extra != nil ||
						!got.ExpiresAt.Equal(time.Unix(now+900, 0)) {
						t.Errorf("claims %+v", got)
					}
				}
			}
		})
	}
}

// TestClaimsWrittenByTheKit: a user ID is data, never structure (C9).
func TestClaimsWrittenByTheKit(t *testing.T) {
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	evil := "1\",\"admin\":true,\"sub\":\"0\\\u0001\n</script>é"
	vs := NewMemoryStore(evil)
	iss, err := NewIssuer("https://auth.test", "api", ec, NewMemoryStore(), vs.Version)
	if err != nil {
		t.Fatal(err)
	}
	pair, err := iss.Issue(context.Background(), evil)
	if err != nil {
		t.Fatal(err)
	}
	j, _ := NewJWT(func(_ context.Context, c *Claims) (*Claims, error) { return c, nil }, WithTokensFrom(iss))
	req := httptest.NewRequest("GET", "/", nil)
	req.Header.Set("Authorization", "Bearer "+pair.AccessToken)
	c, err := j.Authenticate(req)
	if err != nil {
		t.Fatal(err)
	}
	if c.Subject != evil || c.extra != nil {
		t.Fatalf("sub %q extra %v", c.Subject, c.extra)
	}
	next, err := iss.Refresh(context.Background(), pair.RefreshToken)
	if err != nil || next.UserID != evil {
		t.Fatalf("refresh: %v", err)
	}
	for _, bad := range []string{"", "a\x00b", "\xff", strings.Repeat("a", 1025)} {
		_ = vs.Add(context.Background(), bad)
		if _, err := iss.Issue(context.Background(), bad); err == nil {
			t.Errorf("Issue(%q) succeeded", bad)
		}
	}
}

func TestNewIssuerValidation(t *testing.T) {
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	fs, vs := NewMemoryStore(), NewMemoryStore().Version
	for _, tc := range []struct {
		name           string
		issuer, aud    string
		key            any
		families       FamilyStore
		versions       VersionLookup
		opts           []Option
		wantErrContain string
	}{
		{"public key", "i", "a", &ec.PublicKey, fs, vs, nil, "private key"},
		{"short secret", "i", "a", make([]byte, 16), fs, vs, nil, "at least 32"},
		{"nil key", "i", "a", nil, fs, vs, nil, "nil signing key"},
		{"alg mismatch", "i", "a", ec, fs, vs, []Option{WithSigningAlgorithm("RS256")}, "does not go with"},
		{"none", "i", "a", ec, fs, vs, []Option{WithSigningAlgorithm("none")}, "does not go with"},
		{"no issuer", "", "a", ec, fs, vs, nil, "issuer"},
		{"no audience", "i", "", ec, fs, vs, nil, "audience"},
		{"nil store", "i", "a", ec, nil, vs, nil, "FamilyStore"},
		{"nil lookup", "i", "a", ec, fs, nil, nil, "VersionLookup"},
		{"same audiences", "i", "i", ec, fs, vs, nil, "refresh audience must differ"},
		{"same audiences by option", "i", "a", ec, fs, vs, []Option{WithRefreshAudience("a")}, "refresh audience must differ"},
		{"access TTL too long", "i", "a", ec, fs, vs, []Option{WithAccessTokenTTL(2 * time.Hour)}, "at most"},
		{"fractional TTL", "i", "a", ec, fs, vs, []Option{WithAccessTokenTTL(1500 * time.Millisecond)}, "whole number"},
		{"refresh TTL beyond family", "i", "a", ec, fs, vs, []Option{WithRefreshFamilyLifetime(time.Hour)}, "longer than the family"},
		{"cookie without prefix", "i", "a", ec, fs, vs, []Option{WithRefreshCookie("rt", "/token")}, "__Secure-"},
		{"__Host- cookie with a path", "i", "a", ec, fs, vs, []Option{WithRefreshCookie("__Host-rt", "/token")}, "path /"},
		{"cookie bad name", "i", "a", ec, fs, vs, []Option{WithRefreshCookie("__Secure-r t", "/token")}, "invalid"},
		{"cookie relative path", "i", "a", ec, fs, vs, []Option{WithRefreshCookie("__Secure-rt", "token")}, "must start with /"},
		{"duplicate kid", "i", "a", ec, fs, vs, []Option{WithSigningKeyID("k"), WithAdditionalKey("k", &ec.PublicKey)}, "duplicate key ID"},
		{"nil reuse handler", "i", "a", ec, fs, vs, []Option{WithReuseHandler(nil)}, "WithReuseHandler"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewIssuer(tc.issuer, tc.aud, tc.key, tc.families, tc.versions, tc.opts...)
			if err == nil || !strings.Contains(err.Error(), tc.wantErrContain) {
				t.Fatalf("err = %v, want one containing %q", err, tc.wantErrContain)
			}
		})
	}
}

// TestKeyRotation: after the signing key changes, refresh tokens signed by
// the previous key (kept with WithAdditionalKey) still refresh, the JWK Set
// publishes both, and the new tokens carry the new kid.
func TestKeyRotation(t *testing.T) {
	oldKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	_, newKey, _ := ed25519.GenerateKey(rand.Reader)
	fs, vs := NewMemoryStore(), NewMemoryStore("1")
	before, err := NewIssuer("https://auth.test", "api", oldKey, fs, vs.Version, WithSigningKeyID("old"))
	if err != nil {
		t.Fatal(err)
	}
	pair, _ := before.Issue(context.Background(), "1")
	after, err := NewIssuer("https://auth.test", "api", newKey, fs, vs.Version,
		WithSigningKeyID("new"), WithAdditionalKey("old", &oldKey.PublicKey))
	if err != nil {
		t.Fatal(err)
	}
	next, err := after.Refresh(context.Background(), pair.RefreshToken)
	if err != nil {
		t.Fatal(err)
	}
	if h, _ := tokenParts(t, next.AccessToken); h["kid"] != "new" || h["alg"] != "EdDSA" {
		t.Errorf("header %v", h)
	}
	var set struct{ Keys []struct{ Kid, Alg string } }
	if err := json.Unmarshal(after.jwks, &set); err != nil || len(set.Keys) != 2 ||
		set.Keys[0].Kid != "new" || set.Keys[1].Kid != "old" || set.Keys[1].Alg != "ES256" {
		t.Errorf("JWK Set %s (%v)", after.jwks, err)
	}
	// The default kid is the key's RFC 7638 thumbprint.
	def, err := NewIssuer("https://auth.test", "api", oldKey, fs, vs.Version)
	if err != nil {
		t.Fatal(err)
	}
	p, _ := def.Issue(context.Background(), "1")
	if h, _ := tokenParts(t, p.AccessToken); len(fmt.Sprint(h["kid"])) != 43 {
		t.Errorf("default kid %v, want a 43-character thumbprint", h["kid"])
	}
}

// TestRefreshErrors checks the errors of the programmatic API.
func TestRefreshErrors(t *testing.T) {
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	clock := newTestClock(time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC))
	vs := NewMemoryStore("1")
	iss, _ := NewIssuer("https://auth.test", "api", ec, NewMemoryStore(), vs.Version, WithClock(clock.Now), WithRefreshRetryWindow(0))
	ctx := context.Background()
	p1, _ := iss.Issue(ctx, "1")
	p2, _ := iss.Refresh(ctx, p1.RefreshToken)
	if _, err := iss.Refresh(ctx, p1.RefreshToken); !errors.Is(err, ErrInvalidToken) || !errors.Is(err, ErrTokenRevoked) {
		t.Errorf("reuse: %v", err)
	}
	if _, err := iss.Refresh(ctx, p2.RefreshToken); !errors.Is(err, ErrTokenRevoked) {
		t.Errorf("revoked family: %v", err)
	}
	p3, _ := iss.Issue(ctx, "1")
	clock.Advance(defaultRefreshTokenTTL)
	if _, err := iss.Refresh(ctx, p3.RefreshToken); !errors.Is(err, ErrTokenExpired) {
		t.Errorf("expired: %v", err)
	}
	if _, err := iss.Issue(ctx, "2"); !errors.Is(err, ErrUnknownUser) {
		t.Errorf("unknown user: %v", err)
	}
	if err := iss.Revoke(ctx, "junk"); !errors.Is(err, ErrInvalidToken) {
		t.Errorf("revoke junk: %v", err)
	}
}

// TestRefreshCookieCrossOrigin: a sibling site cannot make the browser spend
// (or revoke) the refresh cookie; a token in the body is not a browser's
// ambient credential and is not checked.
func TestRefreshCookieCrossOrigin(t *testing.T) {
	e := newTokenEnv(t, NewMemoryStore("alice"), envConfig{})
	_, rt := e.mustTokenLogin("alice")
	ck := &http.Cookie{Name: defaultRefreshCookieName, Value: rt}
	for _, path := range []string{"/token/refresh", "/token/logout"} {
		req := e.request("POST", path, "", "", ck)
		req.Header.Set("Sec-Fetch-Site", "same-site")
		r := e.send(req)
		wantOAuthError(t, r, http.StatusForbidden, "invalid_request")
	}
	// Nothing was spent or revoked: the same token still refreshes, same-origin.
	req := e.request("POST", "/token/refresh", "", "", ck)
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	if r := e.send(req); r.status != http.StatusOK {
		t.Fatalf("same-origin refresh by cookie after refused cross-origin ones: %d %s", r.status, r.body)
	}
}
