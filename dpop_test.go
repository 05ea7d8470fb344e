package authkit

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/sha256"
	"math/big"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// The DPoP checks of RFC 9449 §4.3, item by item, on proofs built byte by
// byte, against a resource server (NewJWT with WithDPoP).

// dpopKey is a client's DPoP key: how it signs, its public JWK as the
// proof's header carries it, and its thumbprint, computed by jwx (not by
// the code under test).
type dpopKey struct {
	sign     signFunc
	alg, jwk string
	jkt      string
}

func ecDPoPKey(t testing.TB, k *ecdsa.PrivateKey) dpopKey {
	t.Helper()
	jkt, err := thumbprint(&k.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	return dpopKey{sign: signES(k), alg: "ES256", jwk: ecJWK(&k.PublicKey, ""), jkt: jkt}
}

func clientKey(t testing.TB) dpopKey { return ecDPoPKey(t, testKeys().evilEC) }

func (k dpopKey) header() obj {
	return obj{{"typ", q("dpop+jwt")}, {"alg", q(k.alg)}, {"jwk", k.jwk}}
}

var proofSeq atomic.Int64

// newProofClaims returns a valid proof's claims for method and htu at now, with
// the ath of token when not empty, and a fresh jti.
func newProofClaims(method, htu, token string, now time.Time) obj {
	c := obj{
		{"jti", q("jti-" + strconv.FormatInt(proofSeq.Add(1), 10))},
		{"htm", q(method)},
		{"htu", q(htu)},
		{"iat", num(now.Unix())},
	}
	if token != "" {
		sum := sha256.Sum256([]byte(token))
		c = c.add("ath", q(b64(sum[:])))
	}
	return c
}

func (k dpopKey) proof(h, c obj) string { return buildToken(h.String(), c.String(), k.sign) }

// boundToken is the baseline access token bound to jkt.
func boundToken(jkt string) string {
	return esToken(baseHeader(), baseClaims().add("cnf", `{"jkt":`+q(jkt)+`}`))
}

const dpopURL = "https://api.example/r"

// newDPoPJWT is the resource server of the DPoP tests: Require over a JWT
// of mode for the baseline token's issuer, at the fixed clock unless opts
// set another, answering the method that authenticated.
func newDPoPJWT(t testing.TB, mode DPoPMode, opts ...Option) http.Handler {
	t.Helper()
	base := []Option{WithIssuer(testIssuer), WithAudience(testAudience), WithKey("k1", testKeys().ec256), WithDPoP(mode)}
	if !slices.ContainsFunc(opts, func(o Option) bool { return o.name == "WithClock" }) {
		base = append(base, WithClock(fixedClock))
	}
	j, err := NewJWT(func(_ context.Context, c *Claims) (string, error) { return c.Subject, nil }, append(base, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return Require[string](j)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		m, _ := MethodFrom(r.Context())
		w.Write([]byte(m))
	}))
}

// call sends GET dpopURL (or method, url) with the Authorization header
// auth and the DPoP headers proofs.
func call(h http.Handler, method, target, auth string, proofs ...string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, target, nil)
	if auth != "" {
		r.Header.Set("Authorization", auth)
	}
	for _, p := range proofs {
		r.Header.Add("DPoP", p)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func TestDPoPProofChecks(t *testing.T) {
	k := clientKey(t)
	tok := boundToken(k.jkt)
	other := ecDPoPKey(t, testKeys().ec256b)
	ed := testKeys().ed
	edJKT, _ := thumbprint(ed.Public())
	edKey := dpopKey{sign: signEd(ed), alg: "EdDSA", jwk: edJWK(ed.Public().(ed25519.PublicKey), "x"), jkt: edJKT}
	rs := testKeys().rsa
	rsJKT, _ := thumbprint(&rs.PublicKey)
	// A small-order Ed25519 key (the identity, y = 1) and the signature that
	// crypto/ed25519 accepts for it without any private key (R = identity,
	// S = 0).
	identity := make([]byte, 32)
	identity[0] = 1
	smallOrder := dpopKey{sign: func([]byte) []byte { return append(append([]byte{}, identity...), make([]byte, 32)...) },
		alg: "EdDSA", jwk: `{"kty":"OKP","crv":"Ed25519","x":` + q(b64(identity)) + `}`}
	smallJKT := func() string {
		s := sha256.Sum256([]byte(`{"crv":"Ed25519","kty":"OKP","x":"` + b64(identity) + `"}`))
		return b64(s[:])
	}()
	hs := func(in []byte) []byte { return signHS256(testKeys().hmac)(in) }
	ecPriv := strings.TrimSuffix(k.jwk, "}") + `,"d":` + q(b64(testKeys().evilEC.D.Bytes())) + `}`
	now := testNow
	edTok, rsTok, smallTok, otherTok := boundToken(edJKT), boundToken(rsJKT), boundToken(smallJKT), boundToken(other.jkt)
	unbound, x5tTok := baseToken(), esToken(baseHeader(), baseClaims().add("cnf", `{"x5t#S256":"abc"}`))
	base := func() obj { return newProofClaims("GET", dpopURL, tok, now) }

	cases := []struct {
		name   string
		token  string // the access token, bound to the proof's key unless set
		auth   string // "" : "DPoP " + token
		target string // "" : dpopURL
		proofs []string
		ok     bool
	}{
		{name: "valid", proofs: []string{k.proof(k.header(), base())}, ok: true},
		{name: "htu with a query, normalised", target: dpopURL + "?a=b", proofs: []string{k.proof(k.header(), base().set("htu", q("HTTPS://API.Example:443/%72")))}, ok: true},
		{name: "EdDSA key", token: edTok, proofs: []string{edKey.proof(edKey.header(), newProofClaims("GET", dpopURL, edTok, now))}, ok: true},
		{name: "PS256 key", token: rsTok, proofs: []string{buildToken(obj{{"typ", q("dpop+jwt")}, {"alg", q("PS256")}, {"jwk", rsaJWK(&rs.PublicKey, "", "")}}.String(),
			newProofClaims("GET", dpopURL, rsTok, now).String(), signPS(rs, crypto.SHA256))}, ok: true},
		{name: "no proof"},
		{name: "two proofs", proofs: []string{k.proof(k.header(), base()), k.proof(k.header(), base())}},
		{name: "empty proof", proofs: []string{""}},
		{name: "typ jwt", proofs: []string{k.proof(k.header().set("typ", q("jwt")), base())}},
		{name: "typ missing", proofs: []string{k.proof(k.header().del("typ"), base())}},
		{name: "alg none", proofs: []string{buildToken(k.header().set("alg", q("none")).String(), base().String(), func([]byte) []byte { return nil })}},
		{name: "alg none, signature segment", proofs: []string{buildToken(k.header().set("alg", q("none")).String(), base().String(), func([]byte) []byte { return []byte{0} })}},
		{name: "alg HS256 with an oct jwk", proofs: []string{buildToken(obj{{"typ", q("dpop+jwt")}, {"alg", q("HS256")}, {"jwk", `{"kty":"oct","k":` + q(b64(testKeys().hmac)) + `}`}}.String(), base().String(), hs)}},
		{name: "alg RS256 with an EC key", proofs: []string{k.proof(k.header().set("alg", q("RS256")), base())}},
		{name: "jwk missing", proofs: []string{k.proof(k.header().del("jwk"), base())}},
		{name: "jwk with the private key", proofs: []string{k.proof(k.header().set("jwk", ecPriv), base())}},
		{name: "jwk not an object", proofs: []string{k.proof(k.header().set("jwk", q(k.jwk)), base())}},
		{name: "small-order Ed25519 key", token: smallTok, proofs: []string{smallOrder.proof(smallOrder.header(), newProofClaims("GET", dpopURL, smallTok, now))}},
		{name: "header x5c", proofs: []string{k.proof(k.header().add("x5c", `["MIIB"]`), base())}},
		{name: "header kid, ignored (jwx's jwt.Sign adds it)", proofs: []string{k.proof(k.header().add("kid", q("client-key-1")), base())}, ok: true},
		{name: "header kid not a string", proofs: []string{k.proof(k.header().add("kid", `1`), base())}},
		{name: "signed by another key", proofs: []string{buildToken(k.header().String(), base().String(), other.sign)}},
		{name: "signature altered", proofs: []string{withSignature(k.proof(k.header(), base()), make([]byte, 64))}},
		{name: "htm POST", proofs: []string{k.proof(k.header(), base().set("htm", q("POST")))}},
		{name: "htm lower case", proofs: []string{k.proof(k.header(), base().set("htm", q("get")))}},
		{name: "htu other path", proofs: []string{k.proof(k.header(), base().set("htu", q("https://api.example/other")))}},
		{name: "htu other host", proofs: []string{k.proof(k.header(), base().set("htu", q("https://evil.example/r")))}},
		{name: "htu http", proofs: []string{k.proof(k.header(), base().set("htu", q("http://api.example/r")))}},
		{name: "htu other port", proofs: []string{k.proof(k.header(), base().set("htu", q("https://api.example:8443/r")))}},
		{name: "htu relative", proofs: []string{k.proof(k.header(), base().set("htu", q("/r")))}},
		{name: "htm missing", proofs: []string{k.proof(k.header(), base().del("htm"))}},
		{name: "htu missing", proofs: []string{k.proof(k.header(), base().del("htu"))}},
		{name: "jti missing", proofs: []string{k.proof(k.header(), base().del("jti"))}},
		{name: "iat missing", proofs: []string{k.proof(k.header(), base().del("iat"))}},
		{name: "iat a string", proofs: []string{k.proof(k.header(), base().set("iat", q(nowPlus(0))))}},
		{name: "iat stale", proofs: []string{k.proof(k.header(), base().set("iat", nowPlus(-61)))}},
		{name: "iat in the future", proofs: []string{k.proof(k.header(), base().set("iat", nowPlus(31)))}},
		{name: "ath missing", proofs: []string{k.proof(k.header(), base().del("ath"))}},
		{name: "ath of another token", proofs: []string{k.proof(k.header(), newProofClaims("GET", dpopURL, baseToken(), now))}},
		{name: "claim given twice", proofs: []string{k.proof(k.header(), base().add("htm", q("GET")))}},
		{name: "thumbprint mismatch", token: otherTok, proofs: []string{k.proof(k.header(), newProofClaims("GET", dpopURL, otherTok, now))}},
		{name: "bound token as Bearer", auth: "Bearer " + tok, proofs: []string{k.proof(k.header(), base())}},
		{name: "bound token as Bearer, no proof", auth: "Bearer " + tok},
		{name: "unbound token as DPoP", token: unbound, proofs: []string{k.proof(k.header(), newProofClaims("GET", dpopURL, unbound, now))}},
		{name: "cnf without jkt", auth: "Bearer " + esToken(baseHeader(), baseClaims().add("cnf", `{"x5t#S256":"abc"}`))},
		{name: "cnf without jkt, as DPoP", token: x5tTok, proofs: []string{k.proof(k.header(), newProofClaims("GET", dpopURL, x5tTok, now))}},
		{name: "proof with no token", auth: "-", proofs: []string{k.proof(k.header(), base())}},
	}
	accepted := 0
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := newDPoPJWT(t, DPoPAllowed)
			token, auth, target := c.token, c.auth, c.target
			if token == "" {
				token = tok
			}
			switch auth {
			case "":
				auth = "DPoP " + token
			case "-":
				auth = ""
			}
			if target == "" {
				target = dpopURL
			}
			w := call(h, "GET", target, auth, c.proofs...)
			if c.ok {
				if w.Code != http.StatusOK || w.Body.String() != string(MethodDPoP) {
					t.Fatalf("refused: %d %q %q", w.Code, w.Body, w.Header().Values("WWW-Authenticate"))
				}
				return
			}
			if w.Code != http.StatusUnauthorized {
				accepted++
				t.Fatalf("status %d, want 401 (%q)", w.Code, w.Body)
			}
			if !strings.Contains(strings.Join(w.Header().Values("WWW-Authenticate"), "\n"), "DPoP ") {
				t.Errorf("no DPoP challenge: %q", w.Header().Values("WWW-Authenticate"))
			}
		})
	}
	if accepted != 0 {
		t.Errorf("%d proofs accepted among the negative cases", accepted)
	}
}

// A proof is accepted once; its replay is refused, also with the ECDSA twin
// of its signature, and another jti by the same key is fine.
func TestDPoPReplay(t *testing.T) {
	k := clientKey(t)
	tok := boundToken(k.jkt)
	h := newDPoPJWT(t, DPoPAllowed)
	p := k.proof(k.header(), newProofClaims("GET", dpopURL, tok, testNow))
	if w := call(h, "GET", dpopURL, "DPoP "+tok, p); w.Code != http.StatusOK {
		t.Fatalf("first use: %d", w.Code)
	}
	w := call(h, "GET", dpopURL, "DPoP "+tok, p)
	if w.Code != http.StatusUnauthorized || !strings.Contains(w.Header().Get("WWW-Authenticate"), "invalid_dpop_proof") &&
		!strings.Contains(strings.Join(w.Header().Values("WWW-Authenticate"), " "), `error="invalid_dpop_proof"`) {
		t.Fatalf("replay: %d %q", w.Code, w.Header().Values("WWW-Authenticate"))
	}
	twin := withSignature(p, highS(testKeys().evilEC, signatureOf(p)))
	if w := call(h, "GET", dpopURL, "DPoP "+tok, twin); w.Code != http.StatusUnauthorized {
		t.Fatalf("replay with the twin signature: %d", w.Code)
	}
	if w := call(h, "GET", dpopURL, "DPoP "+tok, k.proof(k.header(), newProofClaims("GET", dpopURL, tok, testNow))); w.Code != http.StatusOK {
		t.Fatalf("a fresh jti: %d", w.Code)
	}
}

// highS returns the other ECDSA twin of sig.
func highS(k *ecdsa.PrivateKey, sig []byte) []byte {
	out := append([]byte{}, sig...)
	n := k.Curve.Params().N
	half := len(sig) / 2
	s := new(big.Int).SetBytes(sig[half:])
	new(big.Int).Sub(n, s).FillBytes(out[half:])
	return out
}

// The verified-token cache spares the token's signature, never the proof.
func TestDPoPTokenCacheKeepsTheProofCheck(t *testing.T) {
	k := clientKey(t)
	tok := boundToken(k.jkt)
	h := newDPoPJWT(t, DPoPAllowed)
	if w := call(h, "GET", dpopURL, "DPoP "+tok, k.proof(k.header(), newProofClaims("GET", dpopURL, tok, testNow))); w.Code != http.StatusOK {
		t.Fatalf("first: %d", w.Code)
	}
	for name, w := range map[string]*httptest.ResponseRecorder{
		"no proof":     call(h, "GET", dpopURL, "DPoP "+tok),
		"as Bearer":    call(h, "GET", dpopURL, "Bearer "+tok),
		"other key":    call(h, "GET", dpopURL, "DPoP "+tok, ecDPoPKey(t, testKeys().ec256b).proof(k.header(), newProofClaims("GET", dpopURL, tok, testNow))),
		"wrong method": call(h, "GET", dpopURL, "DPoP "+tok, k.proof(k.header(), newProofClaims("PUT", dpopURL, tok, testNow))),
	} {
		if w.Code != http.StatusUnauthorized {
			t.Errorf("%s after a cached verification: %d", name, w.Code)
		}
	}
}

// The modes: a bound token as Bearer is refused in each; DPoPOff ignores
// the DPoP scheme as before; DPoPRequired refuses bearer tokens.
func TestDPoPModes(t *testing.T) {
	k := clientKey(t)
	bound := boundToken(k.jkt)
	proof := func() string { return k.proof(k.header(), newProofClaims("GET", dpopURL, bound, testNow)) }
	for _, m := range []DPoPMode{DPoPOff, DPoPAllowed, DPoPRequired} {
		h := newDPoPJWT(t, m)
		if w := call(h, "GET", dpopURL, "Bearer "+bound, proof()); w.Code != http.StatusUnauthorized {
			t.Errorf("%v: bound token as Bearer: %d", m, w.Code)
		}
		wantBearer := m != DPoPRequired
		if w := call(h, "GET", dpopURL, "Bearer "+baseToken()); (w.Code == http.StatusOK) != wantBearer {
			t.Errorf("%v: bearer token: %d", m, w.Code)
		}
		wantDPoP := m != DPoPOff
		w := call(h, "GET", dpopURL, "DPoP "+bound, proof())
		if (w.Code == http.StatusOK) != wantDPoP {
			t.Errorf("%v: DPoP: %d", m, w.Code)
		}
	}
}

func TestDPoPChallenges(t *testing.T) {
	k := clientKey(t)
	tok := boundToken(k.jkt)
	algs := `algs="ES256 ES384 ES512 EdDSA Ed25519 PS256 PS384 PS512 RS256 RS384 RS512"`
	for _, c := range []struct {
		name  string
		mode  DPoPMode
		auth  string
		proof bool
		want  []string
	}{
		{"none, allowed", DPoPAllowed, "", false, []string{`Bearer realm="authkit"`, `DPoP realm="authkit", ` + algs}},
		{"none, required", DPoPRequired, "", false, []string{`DPoP realm="authkit", ` + algs}},
		{"none, off", DPoPOff, "", false, []string{`Bearer realm="authkit"`}},
		{"bad proof, allowed", DPoPAllowed, "DPoP " + tok, false, []string{`Bearer realm="authkit"`, `DPoP realm="authkit", ` + algs + `, error="invalid_dpop_proof"`}},
		{"bad proof, required", DPoPRequired, "DPoP " + tok, false, []string{`DPoP realm="authkit", ` + algs + `, error="invalid_dpop_proof"`}},
		{"bad token as DPoP", DPoPAllowed, "DPoP x.y.z", true, []string{`Bearer realm="authkit"`, `DPoP realm="authkit", ` + algs + `, error="invalid_token"`}},
		{"bearer, required", DPoPRequired, "Bearer " + baseToken(), false, []string{`DPoP realm="authkit", ` + algs + `, error="invalid_token"`}},
		{"bound as bearer, allowed", DPoPAllowed, "Bearer " + tok, false, []string{`Bearer realm="authkit", error="invalid_token"`, `DPoP realm="authkit", ` + algs}},
	} {
		var proofs []string
		if c.proof {
			proofs = append(proofs, k.proof(k.header(), newProofClaims("GET", dpopURL, tok, testNow)))
		}
		w := call(newDPoPJWT(t, c.mode), "GET", dpopURL, c.auth, proofs...)
		if got := w.Header().Values("WWW-Authenticate"); strings.Join(got, "\n") != strings.Join(c.want, "\n") {
			t.Errorf("%s: WWW-Authenticate %q, want %q", c.name, got, c.want)
		}
	}
}

// Behind a proxy the proof names the external URL, set by WithDPoPOrigin.
func TestDPoPOrigin(t *testing.T) {
	k := clientKey(t)
	tok := boundToken(k.jkt)
	h := newDPoPJWT(t, DPoPAllowed, WithDPoPOrigin("https://public.example"))
	internal := "http://10.0.0.1:8080/r"
	if w := call(h, "GET", internal, "DPoP "+tok, k.proof(k.header(), newProofClaims("GET", "https://public.example/r", tok, testNow))); w.Code != http.StatusOK {
		t.Fatalf("external URL: %d", w.Code)
	}
	if w := call(h, "GET", internal, "DPoP "+tok, k.proof(k.header(), newProofClaims("GET", internal, tok, testNow))); w.Code != http.StatusUnauthorized {
		t.Fatalf("internal URL: %d", w.Code)
	}
	for _, bad := range []string{"", "ftp://x", "https://x/path", "https://x?q", "x.example"} {
		if _, err := NewJWT(func(_ context.Context, c *Claims) (string, error) { return "", nil }, WithIssuer(testIssuer),
			WithAudience(testAudience), WithKey("k1", testKeys().ec256), WithDPoPOrigin(bad)); err == nil {
			t.Errorf("WithDPoPOrigin(%q) accepted", bad)
		}
	}
}

func TestNormalizeHTU(t *testing.T) {
	for _, c := range [][2]string{
		{"https://a.example/r", "https://a.example/r"},
		{"HTTPS://A.EXAMPLE:443/r", "https://a.example/r"},
		{"http://a.example:80", "http://a.example/"},
		{"https://a.example/a/./b/../c", "https://a.example/a/c"},
		{"https://a.example/%7e%2f", "https://a.example/~%2F"},
		{"https://a.example/r?x#y", "https://a.example/r"},
		{"https://[::1]:8443/r", "https://[::1]:8443/r"},
	} {
		if got, ok := normalizeHTU(c[0]); !ok || got != c[1] {
			t.Errorf("normalizeHTU(%q) = %q, %v; want %q", c[0], got, ok, c[1])
		}
	}
	for _, bad := range []string{"/r", "ftp://a/r", "https://u@a/r", "mailto:x", "https://"} {
		if got, ok := normalizeHTU(bad); ok {
			t.Errorf("normalizeHTU(%q) = %q, accepted", bad, got)
		}
	}
}

// The RFC 9449 examples that can be checked without their private key: the
// thumbprint of the example key (§6.1's cnf.jkt) and the ath of the example
// token (§7.1).
func TestDPoPRFCExamples(t *testing.T) {
	jwk := `{"kty":"EC","x":"l8tFrhx-34tV3hRICRDY9zCkDlpBhF42UQUfWVAWBFs","y":"9VE4jf_Ok_o64zbTTlcuNJajHmt6v9TDVrU0CdvGRDA","crv":"P-256"}`
	_, jkt, err := proofKey([]byte(jwk), "ES256")
	if err != nil || jkt != "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I" {
		t.Errorf("thumbprint of the example key: %q, %v", jkt, err)
	}
	sum := sha256.Sum256([]byte("Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU"))
	if got := strictB64.EncodeToString(sum[:]); got != "fUHyO2r2Z3DZ53EsNrWBb0xWXoaNy59IiKCAqksmQEo" {
		t.Errorf("ath of the example token: %q", got)
	}
	// The kit's own thumbprint of the key agrees with jwx's.
	k := clientKey(t)
	if _, got, err := proofKey([]byte(k.jwk), "ES256"); err != nil || got != k.jkt {
		t.Errorf("thumbprint %q, jwx says %q (%v)", got, k.jkt, err)
	}
	rs := testKeys().rsa
	want, _ := thumbprint(&rs.PublicKey)
	if _, got, err := proofKey([]byte(rsaJWK(&rs.PublicKey, "", "")), "RS256"); err != nil || got != want {
		t.Errorf("RSA thumbprint %q, jwx says %q (%v)", got, want, err)
	}
}

// The replay cache stays within its bound; an entry dropped early raises
// the floor, so its proof is still refused.
func TestReplayCacheBound(t *testing.T) {
	c := newReplayCache(3)
	key := func(i int) (k [16]byte) { k[0] = byte(i); return k }
	for i := 1; i <= 3; i++ {
		if !c.add(key(i), float64(100+i), 0) {
			t.Fatalf("entry %d refused", i)
		}
	}
	if c.add(key(2), 102, 0) {
		t.Fatal("replay accepted")
	}
	if !c.add(key(4), 104, 0) { // drops entry 1 (iat 101), the floor becomes 101
		t.Fatal("entry 4 refused")
	}
	if len(c.seen) != 3 || len(c.order) != 3 {
		t.Fatalf("size %d/%d", len(c.seen), len(c.order))
	}
	if c.add(key(1), 101, 0) {
		t.Fatal("the dropped entry's proof accepted again")
	}
	if !c.add(key(5), 105, 103.5) { // 102 and 103 have expired
		t.Fatal("entry 5 refused")
	}
	if len(c.seen) != 2 {
		t.Fatalf("expired entries kept: %d", len(c.seen))
	}
}

func TestDPoPOptionChecks(t *testing.T) {
	toUser := func(_ context.Context, c *Claims) (string, error) { return "", nil }
	if _, err := NewJWT(toUser, WithTrustedIssuer(t.Context(), TrustedIssuer{Issuer: "https://idp.example", Audiences: []string{"a"}}),
		WithDPoP(DPoPAllowed)); err == nil {
		t.Error("WithDPoP without WithIssuer accepted")
	}
	if _, err := NewJWT(toUser, WithIssuer(testIssuer), WithAudience(testAudience), WithKey("k1", testKeys().ec256), WithDPoP(7)); err == nil {
		t.Error("WithDPoP(7) accepted")
	}
	if _, err := NewJWT(toUser, WithTrustedIssuer(t.Context(), TrustedIssuer{Issuer: "https://idp.example", Audiences: []string{"a"}, DPoP: -1})); err == nil {
		t.Error("TrustedIssuer.DPoP -1 accepted")
	}
}

// The proof keys remembered (proofKeys) spare decoding a client's jwk
// again, never a check: the same jwk under another alg, or with a
// signature by another key, is refused after a proof by it was accepted.
func TestDPoPProofKeyCache(t *testing.T) {
	k := clientKey(t)
	tok := boundToken(k.jkt)
	h := newDPoPJWT(t, DPoPAllowed)
	proof := func() obj { return newProofClaims("GET", dpopURL, tok, testNow) }
	if w := call(h, "GET", dpopURL, "DPoP "+tok, k.proof(k.header(), proof())); w.Code != http.StatusOK {
		t.Fatalf("first: %d", w.Code)
	}
	thief := ecDPoPKey(t, testKeys().ec256b)
	for name, p := range map[string]string{
		"the jwk under ES384":       k.proof(k.header().set("alg", q("ES384")), proof()),
		"the jwk, another signer":   buildToken(k.header().String(), proof().String(), thief.sign),
		"the jwk, signature zeroed": withSignature(k.proof(k.header(), proof()), make([]byte, 64)),
	} {
		if w := call(h, "GET", dpopURL, "DPoP "+tok, p); w.Code != http.StatusUnauthorized {
			t.Errorf("%s: %d", name, w.Code)
		}
	}
	if w := call(h, "GET", dpopURL, "DPoP "+tok, k.proof(k.header(), proof())); w.Code != http.StatusOK {
		t.Fatalf("again: %d", w.Code)
	}
	var c proofKeys
	key, jkt, err := proofKey([]byte(k.jwk), "ES256")
	if err != nil {
		t.Fatal(err)
	}
	c.put("ES256", []byte(k.jwk), key, jkt)
	if got, gotJKT, ok := c.get("ES256", []byte(k.jwk)); !ok || got != key || gotJKT != k.jkt {
		t.Fatalf("get after put: %v %q %v", got, gotJKT, ok)
	}
	for alg, jwk := range map[string]string{"ES384": k.jwk, "ES256": thief.jwk} {
		if _, _, ok := c.get(alg, []byte(jwk)); ok {
			t.Errorf("get(%s, %s) hit", alg, jwk)
		}
		// Two keys in one slot: the entry names what it holds.
		c.slot(alg, []byte(jwk)).Store(&proofKeyEntry{alg: "ES256", jwk: k.jwk, key: key, jkt: jkt})
		if _, _, ok := c.get(alg, []byte(jwk)); ok {
			t.Errorf("get(%s, %s) hit the slot's other entry", alg, jwk)
		}
	}
}
