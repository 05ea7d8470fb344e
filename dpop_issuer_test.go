package authkit

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// The Issuer binds tokens to the key of a token request's DPoP proof
// (RFC 9449 §5), and a bound refresh token refreshes only with a proof by
// that key.

// newDPoPTokenEnv serves POST /token (IssueForRequest), /token/refresh and
// GET /api/me (DPoP allowed) over a memory store; opts go to both NewIssuer
// and NewJWT.
func newDPoPTokenEnv(t *testing.T, opts ...Option) *env {
	t.Helper()
	e := newTokenEnv(t, NewMemoryStore("1", "2"), envConfig{issuerOpts: opts})
	j, err := NewJWT(func(_ context.Context, c *Claims) (string, error) { return c.Subject, nil },
		append([]Option{WithTokensFrom(e.iss), WithClock(e.clock.Now), WithDPoP(DPoPAllowed)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /token", func(w http.ResponseWriter, r *http.Request) {
		pair, err := e.iss.IssueForRequest(r, r.FormValue("user"))
		if err != nil {
			DefaultTokenErrorHandler(w, r, err)
			return
		}
		e.iss.WriteTokens(w, r, pair)
	})
	mux.Handle("/token/refresh", e.iss.RefreshHandler())
	mux.Handle("GET /api/me", Require[string](j)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		m, _ := MethodFrom(r.Context())
		w.Write([]byte(m))
	})))
	e.serve(mux)
	return e
}

// post sends a token request, with the proof when not empty.
func (e *env) dpopPost(path, contentType, body, proof string) response {
	e.t.Helper()
	req := e.request("POST", path, contentType, body)
	if proof != "" {
		req.Header.Set("DPoP", proof)
	}
	return e.send(req)
}

func (e *env) tokenProof(k dpopKey, path string) string {
	return k.proof(k.header(), newProofClaims("POST", e.srv.URL+path, "", e.clock.Now()))
}

func (e *env) refreshBody(rt string) string {
	b, _ := json.Marshal(map[string]string{"refresh_token": rt})
	return string(b)
}

func cnfJKT(t *testing.T, tok string) string {
	t.Helper()
	_, c := tokenParts(t, tok)
	cnf, _ := c["cnf"].(map[string]any)
	s, _ := cnf["jkt"].(string)
	return s
}

func TestIssuerBindsTokensToTheProofKey(t *testing.T) {
	e := newDPoPTokenEnv(t)
	k := clientKey(t)
	r := e.dpopPost("/token", "application/x-www-form-urlencoded", "user=1", e.tokenProof(k, "/token"))
	if r.status != http.StatusOK || r.oauth.TokenType != "DPoP" {
		t.Fatalf("token with a proof: %d %s", r.status, r.body)
	}
	at, rt := r.oauth.AccessToken, r.oauth.RefreshToken
	if cnfJKT(t, at) != k.jkt || cnfJKT(t, rt) != k.jkt {
		t.Fatalf("cnf.jkt %q / %q, want %q", cnfJKT(t, at), cnfJKT(t, rt), k.jkt)
	}

	// The bound access token works with a proof, never as Bearer.
	api := func(auth string, proof string) int {
		req := e.request("GET", "/api/me", "", "")
		req.Header.Set("Authorization", auth)
		if proof != "" {
			req.Header.Set("DPoP", proof)
		}
		return e.send(req).status
	}
	if s := api("DPoP "+at, k.proof(k.header(), newProofClaims("GET", e.srv.URL+"/api/me", at, e.clock.Now()))); s != http.StatusOK {
		t.Fatalf("GET /api/me with DPoP: %d", s)
	}
	if s := api("Bearer "+at, ""); s != http.StatusUnauthorized {
		t.Fatalf("the bound token as Bearer: %d", s)
	}

	// Without a proof by the key, the refresh token is refused and nothing
	// changes: no rotation, no reuse detected.
	thief := ecDPoPKey(t, testKeys().ec256b)
	for name, proof := range map[string]string{"no proof": "", "another key": e.tokenProof(thief, "/token/refresh")} {
		r := e.dpopPost("/token/refresh", "application/json", e.refreshBody(rt), proof)
		wantOAuthError(t, r, http.StatusBadRequest, "invalid_dpop_proof")
		if f, cur, _ := storedFamily(t, e.store, claim(t, rt, "fam")); !f.RevokedAt.IsZero() || cur != jtiHash(t, rt) {
			t.Fatalf("%s: the family changed: %+v", name, f)
		}
	}
	if _, err := e.iss.Refresh(t.Context(), rt); !errors.Is(err, ErrInvalidDPoPProof) {
		t.Fatalf("Refresh of a bound token without a proof: %v", err)
	}
	if ev := e.reuseEvents(); len(ev) != 0 {
		t.Fatalf("reuse reported: %v", ev)
	}

	// With a proof by the key: a new bound pair.
	r = e.dpopPost("/token/refresh", "application/json", e.refreshBody(rt), e.tokenProof(k, "/token/refresh"))
	if r.status != http.StatusOK || r.oauth.TokenType != "DPoP" || cnfJKT(t, r.oauth.AccessToken) != k.jkt || cnfJKT(t, r.oauth.RefreshToken) != k.jkt {
		t.Fatalf("refresh with the key's proof: %d %s", r.status, r.body)
	}
}

func TestIssuerTokenRequestProofChecks(t *testing.T) {
	e := newDPoPTokenEnv(t)
	k := clientKey(t)
	now := e.clock.Now()
	good := func() obj { return newProofClaims("POST", e.srv.URL+"/token", "", now) }
	replayed := k.proof(k.header(), good())
	if r := e.dpopPost("/token", "application/x-www-form-urlencoded", "user=1", replayed); r.status != http.StatusOK {
		t.Fatalf("first: %d %s", r.status, r.body)
	}
	for name, proof := range map[string]string{
		"replayed":     replayed,
		"wrong htu":    k.proof(k.header(), good().set("htu", q(e.srv.URL+"/token/refresh"))),
		"wrong htm":    k.proof(k.header(), good().set("htm", q("GET"))),
		"stale":        k.proof(k.header(), good().set("iat", num(now.Unix()-120))),
		"bad typ":      k.proof(k.header().set("typ", q("JWT")), good()),
		"not a proof":  "x.y.z",
		"private key":  k.proof(k.header().set("jwk", strings.TrimSuffix(k.jwk, "}")+`,"d":"AAAA"}`), good()),
		"other signer": buildToken(k.header().String(), good().String(), ecDPoPKey(t, testKeys().ec256b).sign),
	} {
		r := e.dpopPost("/token", "application/x-www-form-urlencoded", "user=1", proof)
		if r.status != http.StatusBadRequest || r.oauth.Error != "invalid_dpop_proof" {
			t.Errorf("%s: %d %s", name, r.status, r.body)
		}
	}
	// Without a proof: bearer tokens, as before.
	r := e.dpopPost("/token", "application/x-www-form-urlencoded", "user="+url.QueryEscape("2"), "")
	if r.status != http.StatusOK || r.oauth.TokenType != "Bearer" || cnfJKT(t, r.oauth.AccessToken) != "" {
		t.Fatalf("without a proof: %d %s", r.status, r.body)
	}
	// An unbound refresh token refreshed with a proof gets bound tokens.
	r = e.dpopPost("/token/refresh", "application/json", e.refreshBody(r.oauth.RefreshToken), e.tokenProof(k, "/token/refresh"))
	if r.status != http.StatusOK || r.oauth.TokenType != "DPoP" || cnfJKT(t, r.oauth.RefreshToken) != k.jkt {
		t.Fatalf("binding at refresh: %d %s", r.status, r.body)
	}
}

// A proof refused at the cookie refresh keeps the cookie: the token is
// still the client's.
func TestIssuerRefreshCookieKeptOnProofError(t *testing.T) {
	e := newDPoPTokenEnv(t)
	k := clientKey(t)
	r := e.dpopPost("/token", "application/x-www-form-urlencoded", "user=1", e.tokenProof(k, "/token"))
	rt := r.oauth.RefreshToken
	req := e.request("POST", "/token/refresh", "", "", &http.Cookie{Name: defaultRefreshCookieName, Value: rt})
	r = e.send(req)
	wantOAuthError(t, r, http.StatusBadRequest, "invalid_dpop_proof")
	for _, c := range r.cookies {
		if c.Name == defaultRefreshCookieName {
			t.Fatalf("refresh cookie touched: %v", c)
		}
	}
}
