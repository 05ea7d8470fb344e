package authkit

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// Server-provided DPoP nonces (RFC 9449 §8 at the Issuer's token requests,
// §9 at the resource): WithDPoPNonce.

// longBoundToken is boundToken valid for 50 minutes from testNow, so that
// the clock can move across nonce slots.
func longBoundToken(jkt string) string {
	return esToken(baseHeader(), baseClaims().set("exp", nowPlus(3000)).add("cnf", `{"jkt":`+q(jkt)+`}`))
}

// nonceProof is a valid proof for GET dpopURL and tok at now, with nonce
// when not empty.
func nonceProof(k dpopKey, tok, nonce string, now time.Time) string {
	c := newProofClaims("GET", dpopURL, tok, now)
	if nonce != "" {
		c = c.add("nonce", q(nonce))
	}
	return k.proof(k.header(), c)
}

const dpopAlgsParam = `algs="ES256 ES384 ES512 EdDSA Ed25519 PS256 PS384 PS512 RS256 RS384 RS512"`

// wantUseNonce checks that w refuses a proof for its nonce, as RFC 9449 §9
// says, and returns the nonce it hands out.
func wantUseNonce(t *testing.T, w *httptest.ResponseRecorder, what string) string {
	t.Helper()
	want := []string{`Bearer realm="authkit"`, `DPoP realm="authkit", ` + dpopAlgsParam + `, error="use_dpop_nonce"`}
	if got := w.Header().Values("WWW-Authenticate"); w.Code != http.StatusUnauthorized || strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("%s: %d, WWW-Authenticate %q; want 401 %q", what, w.Code, got, want)
	}
	ns := w.Header().Values("DPoP-Nonce")
	if len(ns) != 1 || ns[0] == "" {
		t.Fatalf("%s: DPoP-Nonce %q, want one nonce", what, ns)
	}
	return ns[0]
}

func TestDPoPNonceResource(t *testing.T) {
	k := clientKey(t)
	tok := longBoundToken(k.jkt)
	clock := newTestClock(testNow)
	h := newDPoPJWT(t, DPoPAllowed, WithClock(clock.Now), WithDPoPNonce())
	get := func(proof string) *httptest.ResponseRecorder { return call(h, "GET", dpopURL, "DPoP "+tok, proof) }

	// No nonce: use_dpop_nonce, with the nonce to use; the handler is not
	// called.
	w := get(nonceProof(k, tok, "", clock.Now()))
	nonce := wantUseNonce(t, w, "no nonce")
	if w.Body.String() != "Unauthorized\n" {
		t.Fatalf("the handler ran: %q", w.Body)
	}
	// With it: accepted, and nothing new to hand out.
	w = get(nonceProof(k, tok, nonce, clock.Now()))
	if w.Code != http.StatusOK || w.Body.String() != string(MethodDPoP) || w.Header().Get("DPoP-Nonce") != "" {
		t.Fatalf("with the nonce: %d %q, DPoP-Nonce %q", w.Code, w.Body, w.Header().Get("DPoP-Nonce"))
	}
	// A nonce the server did not make (another key, garbage, a number) is
	// refused; so is a proof by the wrong key, as invalid_dpop_proof first.
	other := makeNonce(bytes.Repeat([]byte{7}, 32), slotOf(clock.Now()))
	for name, n := range map[string]string{"another key's nonce": other, "garbage": "abc", "a nonce with a byte changed": flipChar(nonce, len(nonce)-2)} {
		if n == nonce {
			t.Fatalf("%s: the test is wrong", name)
		}
		if got := wantUseNonce(t, get(nonceProof(k, tok, n, clock.Now())), name); got != nonce {
			t.Errorf("%s: handed out %q, want the current %q", name, got, nonce)
		}
	}
	numeric := k.proof(k.header(), newProofClaims("GET", dpopURL, tok, clock.Now()).add("nonce", "42"))
	if w := get(numeric); w.Code != http.StatusUnauthorized || !strings.Contains(strings.Join(w.Header().Values("WWW-Authenticate"), " "), `error="invalid_dpop_proof"`) {
		t.Fatalf("a numeric nonce: %d %q", w.Code, w.Header().Values("WWW-Authenticate"))
	}
	thief := ecDPoPKey(t, testKeys().ec256b)
	if w := get(nonceProof(thief, tok, "", clock.Now())); !strings.Contains(strings.Join(w.Header().Values("WWW-Authenticate"), " "), `error="invalid_dpop_proof"`) || w.Header().Get("DPoP-Nonce") != "" {
		t.Fatalf("the wrong key without a nonce: %d %q %q", w.Code, w.Header().Values("WWW-Authenticate"), w.Header().Get("DPoP-Nonce"))
	}

	// The next slot: the nonce still works, and the answer hands out the
	// next one.
	clock.Advance(dpopNonceSlot)
	w = get(nonceProof(k, tok, nonce, clock.Now()))
	next := w.Header().Get("DPoP-Nonce")
	if w.Code != http.StatusOK || next == "" || next == nonce {
		t.Fatalf("the previous slot's nonce: %d, DPoP-Nonce %q (was %q)", w.Code, next, nonce)
	}
	if w := get(nonceProof(k, tok, next, clock.Now())); w.Code != http.StatusOK || w.Header().Get("DPoP-Nonce") != "" {
		t.Fatalf("the next nonce: %d, DPoP-Nonce %q", w.Code, w.Header().Get("DPoP-Nonce"))
	}
	// Two slots on, the first nonce is stale: refused, with the current one.
	clock.Advance(dpopNonceSlot)
	if got := wantUseNonce(t, get(nonceProof(k, tok, nonce, clock.Now())), "stale nonce"); got == nonce || got == next {
		t.Fatalf("stale nonce: handed out %q again", got)
	}
	// Bearer requests know nothing of nonces.
	bearer := esToken(baseHeader(), baseClaims().set("exp", nowPlus(3000)))
	if w := call(h, "GET", dpopURL, "Bearer "+bearer); w.Code != http.StatusOK || w.Header().Get("DPoP-Nonce") != "" {
		t.Fatalf("a bearer request: %d, DPoP-Nonce %q", w.Code, w.Header().Get("DPoP-Nonce"))
	}
}

// Instances agree on nonces without asking each other: within one process
// every JWT and Issuer shares the key, and one whose clock is ahead by
// less than the leeway hands out the next slot's nonce, which the others
// accept; a nonce further ahead is refused.
func TestDPoPNonceAcrossInstances(t *testing.T) {
	k := clientKey(t)
	tok := longBoundToken(k.jkt)
	at := testNow.Add(dpopNonceSlot - 10*time.Second) // 10 s before a slot turns
	behind := newDPoPJWT(t, DPoPAllowed, WithClock(func() time.Time { return at }), WithDPoPNonce())
	ahead := newDPoPJWT(t, DPoPAllowed, WithClock(func() time.Time { return at.Add(20 * time.Second) }), WithDPoPNonce())
	further := newDPoPJWT(t, DPoPAllowed, WithClock(func() time.Time { return at.Add(dpopNonceSlot + 20*time.Second) }), WithDPoPNonce())
	first := func(h http.Handler, now time.Time) string {
		return wantUseNonce(t, call(h, "GET", dpopURL, "DPoP "+tok, nonceProof(k, tok, "", now)), "no nonce")
	}
	nBehind, nAhead, nFurther := first(behind, at), first(ahead, at), first(further, at.Add(dpopNonceSlot))
	if nBehind == nAhead || nAhead == nFurther {
		t.Fatal("the slots' nonces are equal: the test is wrong")
	}
	if w := call(behind, "GET", dpopURL, "DPoP "+tok, nonceProof(k, tok, nAhead, at)); w.Code != http.StatusOK {
		t.Fatalf("the nonce of an instance 20 s ahead: %d", w.Code)
	}
	if w := call(ahead, "GET", dpopURL, "DPoP "+tok, nonceProof(k, tok, nBehind, at)); w.Code != http.StatusOK || w.Header().Get("DPoP-Nonce") != nAhead {
		t.Fatalf("the nonce of an instance 20 s behind: %d, DPoP-Nonce %q", w.Code, w.Header().Get("DPoP-Nonce"))
	}
	wantUseNonce(t, call(behind, "GET", dpopURL, "DPoP "+tok, nonceProof(k, tok, nFurther, at)), "a nonce a slot and more ahead")
}

// At the token endpoints (RFC 9449 §8): 400 use_dpop_nonce with the nonce,
// nothing issued or rotated; the nonce then works, and the previous slot's
// gets the next one in the answer. The Issuer's nonces work at the
// resource of the same process.
func TestDPoPNonceTokenEndpoint(t *testing.T) {
	e := newDPoPTokenEnv(t, WithDPoPNonce())
	k := clientKey(t)
	proof := func(path, nonce string) string {
		c := newProofClaims("POST", e.srv.URL+path, "", e.clock.Now())
		if nonce != "" {
			c = c.add("nonce", q(nonce))
		}
		return k.proof(k.header(), c)
	}
	wantNonce := func(r response, what string) string {
		t.Helper()
		wantOAuthError(t, r, http.StatusBadRequest, "use_dpop_nonce")
		ns := r.header.Values("DPoP-Nonce")
		if len(ns) != 1 || ns[0] == "" {
			t.Fatalf("%s: DPoP-Nonce %q", what, ns)
		}
		return ns[0]
	}
	form := "application/x-www-form-urlencoded"
	nonce := wantNonce(e.dpopPost("/token", form, "user=1", proof("/token", "")), "token without a nonce")
	// Without a proof: bearer tokens, nonces or not.
	if r := e.dpopPost("/token", form, "user=2", ""); r.status != http.StatusOK || r.oauth.TokenType != "Bearer" {
		t.Fatalf("without a proof: %d %s", r.status, r.body)
	}
	r := e.dpopPost("/token", form, "user=1", proof("/token", nonce))
	if r.status != http.StatusOK || r.oauth.TokenType != "DPoP" || r.header.Get("DPoP-Nonce") != "" {
		t.Fatalf("token with the nonce: %d %s, DPoP-Nonce %q", r.status, r.body, r.header.Get("DPoP-Nonce"))
	}
	at, rt := r.oauth.AccessToken, r.oauth.RefreshToken
	fam := claim(t, rt, "fam")

	// The refresh endpoint: refused without the nonce, the family unchanged.
	wantNonce(e.dpopPost("/token/refresh", "application/json", e.refreshBody(rt), proof("/token/refresh", "")), "refresh without a nonce")
	wantNonce(e.dpopPost("/token/refresh", "application/json", e.refreshBody(rt), proof("/token/refresh", "abc")), "refresh with a forged nonce")
	if f, cur, _ := storedFamily(t, e.store, fam); !f.RevokedAt.IsZero() || cur != jtiHash(t, rt) {
		t.Fatalf("the family changed: %+v", f)
	}
	// The Issuer's nonce at the resource of the same process.
	req := e.request("GET", "/api/me", "", "")
	req.Header.Set("Authorization", "DPoP "+at)
	c := newProofClaims("GET", e.srv.URL+"/api/me", at, e.clock.Now()).add("nonce", q(nonce))
	req.Header.Set("DPoP", k.proof(k.header(), c))
	if r := e.send(req); r.status != http.StatusOK {
		t.Fatalf("the Issuer's nonce at the resource: %d %s", r.status, r.body)
	}

	// A slot on: the nonce still works and the answer carries the next.
	e.clock.Advance(dpopNonceSlot)
	r = e.dpopPost("/token/refresh", "application/json", e.refreshBody(rt), proof("/token/refresh", nonce))
	next := r.header.Get("DPoP-Nonce")
	if r.status != http.StatusOK || next == "" || next == nonce {
		t.Fatalf("refresh with the previous slot's nonce: %d %s, DPoP-Nonce %q", r.status, r.body, next)
	}
	// Two slots on, stale.
	e.clock.Advance(dpopNonceSlot)
	if got := wantNonce(e.dpopPost("/token", form, "user=1", proof("/token", nonce)), "stale nonce"); got == nonce || got == next {
		t.Fatalf("stale nonce: handed out %q again", got)
	}
}

// flipChar returns s with its i-th character replaced by another base64url
// character.
func flipChar(s string, i int) string {
	c := byte('A')
	if s[i] == 'A' {
		c = 'B'
	}
	return s[:i] + string(c) + s[i+1:]
}
