package authkit

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwk"
)

// The WWW-Authenticate values of the default realm (RFC 6750 §3).
const (
	chInvalidToken   = `Bearer realm="authkit", error="invalid_token"`
	chInvalidRequest = `Bearer realm="authkit", error="invalid_request"`
	chBare           = `Bearer realm="authkit"`
)

func toTestUser(_ context.Context, c *Claims) (*testUser, error) {
	return &testUser{ID: c.Subject}, nil
}

// newTestJWT builds an access-token authenticator for the test issuer and
// audience on the fixed clock, plus opts.
func newTestJWT(t testing.TB, opts ...Option) *JWT[*testUser] {
	t.Helper()
	base := []Option{WithIssuer(testIssuer), WithAudience(testAudience), WithClock(fixedClock)}
	j, err := NewJWT(toTestUser, append(base, opts...)...)
	if err != nil {
		t.Fatalf("NewJWT: %v", err)
	}
	return j
}

// result is what one request through Require produced.
type result struct {
	rec    *httptest.ResponseRecorder
	called bool
	err    error // what the error handler was given
	user   *testUser
	hasU   bool
	claims *Claims
	method Method
}

// serve sends req through Require(a) with an error handler that records the
// error and delegates to DefaultErrorHandler.
func serve(a Authenticator[*testUser], req *http.Request, opts ...Option) result {
	var res result
	eh := func(w http.ResponseWriter, r *http.Request, err error) {
		res.err = err
		DefaultErrorHandler(w, r, err)
	}
	h := Require(a, append([]Option{WithErrorHandler(eh)}, opts...)...)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		res.called = true
		res.user, res.hasU = UserFrom[*testUser](r.Context())
		res.claims, _ = ClaimsFrom(r.Context())
		res.method, _ = MethodFrom(r.Context())
		w.WriteHeader(http.StatusOK)
	}))
	res.rec = httptest.NewRecorder()
	h.ServeHTTP(res.rec, req)
	return res
}

func bearerRequest(token string) *http.Request {
	return authRequest("Bearer " + token)
}

func authRequest(authorization string) *http.Request {
	r := httptest.NewRequest(http.MethodGet, "/resource", nil)
	r.Header["Authorization"] = []string{authorization}
	return r
}

// checkRefused asserts a refusal: status, the exact and only WWW-Authenticate
// value, Cache-Control: no-store, the handler not called, a body that is the
// bare status text (so it holds no token bytes), the sentinel the error
// handler saw, and, when why is set, that the error names the intended check.
func checkRefused(t *testing.T, res result, status int, challenge, why, token string) {
	t.Helper()
	if res.called {
		t.Error("handler was called")
	}
	if res.rec.Code != status {
		t.Errorf("status = %d, want %d (err: %v)", res.rec.Code, status, res.err)
	}
	if got := res.rec.Header().Values("WWW-Authenticate"); len(got) != 1 || got[0] != challenge {
		t.Errorf("WWW-Authenticate = %q, want exactly %q", got, challenge)
	}
	checkChallengeHygiene(t, challenge)
	if got := res.rec.Header().Get("Cache-Control"); got != "no-store" {
		t.Errorf("Cache-Control = %q, want no-store", got)
	}
	body := res.rec.Body.String()
	if body != http.StatusText(status)+"\n" {
		t.Errorf("body = %q, want the bare status text", body)
	}
	if token != "" {
		for _, seg := range strings.Split(token, ".") {
			if len(seg) >= 8 && strings.Contains(body, seg) {
				t.Errorf("body echoes token bytes %q", seg)
			}
		}
	}
	var sentinel error
	switch challenge {
	case chInvalidRequest:
		sentinel = ErrInvalidRequest
	case chBare:
		sentinel = ErrNoCredentials
	default:
		sentinel = ErrInvalidToken
	}
	if !errors.Is(res.err, sentinel) {
		t.Errorf("error handler got %v, want one matching %v", res.err, sentinel)
	}
	if why != "" && (res.err == nil || !strings.Contains(res.err.Error(), why)) {
		t.Errorf("error = %v, want it to mention %q", res.err, why)
	}
}

// checkAccepted asserts that the handler ran with user alice, authenticated
// by a bearer token whose claims reached the context.
func checkAccepted(t *testing.T, res result) {
	t.Helper()
	if res.rec.Code != http.StatusOK || !res.called {
		t.Fatalf("status = %d, handler called = %v, want 200 and called (err: %v)", res.rec.Code, res.called, res.err)
	}
	if !res.hasU || res.user == nil || res.user.ID != "alice" {
		t.Errorf("UserFrom = %+v, %v; want alice", res.user, res.hasU)
	}
	if res.method != MethodBearer {
		t.Errorf("MethodFrom = %q, want %q", res.method, MethodBearer)
	}
	if res.claims == nil || res.claims.Subject != "alice" || res.claims.Issuer != testIssuer {
		t.Errorf("ClaimsFrom = %+v", res.claims)
	}
	if got := res.rec.Header().Values("WWW-Authenticate"); len(got) != 0 {
		t.Errorf("WWW-Authenticate on success: %q", got)
	}
}

var challengeParam = regexp.MustCompile(`^([a-z_]+)="([^"]*)"$`)

// checkChallengeHygiene checks RFC 6750 §3 rules on a challenge: scheme
// Bearer, each attribute at most once, and values only of
// %x20-21 / %x23-5B / %x5D-7E.
func checkChallengeHygiene(t *testing.T, ch string) {
	t.Helper()
	rest, ok := strings.CutPrefix(ch, "Bearer ")
	if !ok {
		t.Errorf("challenge %q does not start with the Bearer scheme", ch)
		return
	}
	seen := map[string]bool{}
	for _, p := range strings.Split(rest, ", ") {
		m := challengeParam.FindStringSubmatch(p)
		if m == nil {
			t.Errorf("challenge %q: bad auth-param %q", ch, p)
			continue
		}
		switch m[1] {
		case "realm", "scope", "error", "error_description", "error_uri":
		default:
			t.Errorf("challenge %q: unexpected attribute %q", ch, m[1])
		}
		if seen[m[1]] {
			t.Errorf("challenge %q: attribute %q twice", ch, m[1])
		}
		seen[m[1]] = true
		for _, c := range []byte(m[2]) {
			if c < 0x20 || c > 0x7e || c == '"' || c == '\\' {
				t.Errorf("challenge %q: byte %#x in a value", ch, c)
			}
		}
	}
	if !seen["realm"] {
		t.Errorf("challenge %q has no realm", ch)
	}
}

// deployments are the authenticators the attack table runs against.
type deployments struct {
	es     *JWT[*testUser] // ES256 key k1: the SECURITY.md §3 baseline
	multi  *JWT[*testUser] // ES256 keys k1 and k2
	hs     *JWT[*testUser] // HS256 secret h1
	rs     *JWT[*testUser] // RS256 key r1
	big    *JWT[*testUser] // as es, with a 1 MiB size cap, to reach the checks behind the cap
	cookie *JWT[*testUser] // as es, also reading the token from cookie "at"
}

func newDeployments(t *testing.T) *deployments {
	k := testKeys()
	return &deployments{
		es:     newTestJWT(t, WithKey("k1", &k.ec256.PublicKey)),
		multi:  newTestJWT(t, WithKey("k1", &k.ec256.PublicKey), WithKey("k2", &k.ec256b.PublicKey)),
		hs:     newTestJWT(t, WithKey("h1", k.hmac)),
		rs:     newTestJWT(t, WithKey("r1", &k.rsa.PublicKey)),
		big:    newTestJWT(t, WithKey("k1", &k.ec256.PublicKey), WithMaxTokenSize(1<<20)),
		cookie: newTestJWT(t, WithKey("k1", &k.ec256.PublicKey), WithTokenCookie("at")),
	}
}

// attackCase is one row of the SECURITY.md §3 table.
type attackCase struct {
	id        string // SECURITY.md §3 attack ID
	name      string
	token     string               // sent as "Authorization: Bearer <token>"
	auth      *string              // the raw Authorization value, instead of token
	req       func() *http.Request // the whole request, instead of token/auth
	jwt       *JWT[*testUser]      // default: d.es
	status    int                  // default 401
	challenge string               // default: from status
	why       string               // a substring of the error (the check that refused)
}

func strp(s string) *string { return &s }

func (c attackCase) request() *http.Request {
	switch {
	case c.req != nil:
		return c.req()
	case c.auth != nil:
		return authRequest(*c.auth)
	}
	return bearerRequest(c.token)
}

func runAttack(t *testing.T, d *deployments, c attackCase) {
	t.Helper()
	j := c.jwt
	if j == nil {
		j = d.es
	}
	status, challenge := c.status, c.challenge
	if status == 0 {
		status = http.StatusUnauthorized
	}
	if challenge == "" {
		challenge = chInvalidToken
		if status == http.StatusBadRequest {
			challenge = chInvalidRequest
		}
	}
	checkRefused(t, serve(j, c.request()), status, challenge, c.why, c.token)
}

// ecJWK writes the public JWK of an ECDSA key; kid is omitted when empty.
func ecJWK(k *ecdsa.PublicKey, kid string) string {
	b, err := k.Bytes()
	if err != nil {
		panic(err)
	}
	size := (k.Curve.Params().BitSize + 7) / 8
	s := fmt.Sprintf(`{"kty":"EC","crv":%q,"x":%q,"y":%q`, k.Curve.Params().Name, b64(b[1:1+size]), b64(b[1+size:]))
	if kid != "" {
		s += fmt.Sprintf(`,"kid":%q`, kid)
	}
	return s + "}"
}

func rsaJWK(k *rsa.PublicKey, kid, alg string) string {
	s := fmt.Sprintf(`{"kty":"RSA","n":%q,"e":%q`, b64(k.N.Bytes()), b64(big.NewInt(int64(k.E)).Bytes()))
	if kid != "" {
		s += fmt.Sprintf(`,"kid":%q`, kid)
	}
	if alg != "" {
		s += fmt.Sprintf(`,"alg":%q`, alg)
	}
	return s + "}"
}

func edJWK(k ed25519.PublicKey, kid string) string {
	return fmt.Sprintf(`{"kty":"OKP","crv":"Ed25519","x":%q,"kid":%q}`, b64(k), kid)
}

func pemBlock(typ string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}

func mustPKIX(pub any) []byte {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		panic(err)
	}
	return der
}

// b64tokenRE is RFC 6750 §2.1 b64token.
var b64tokenRE = regexp.MustCompile(`^[A-Za-z0-9\-._~+/]+=*$`)

// TestAttacks runs every SECURITY.md §3 case that applies to access-token
// verification (A1-A28, A30-A33; A29 is refresh work, A10 has its own test)
// through the full middleware.
func TestAttacks(t *testing.T) {
	k := testKeys()
	d := newDeployments(t)
	es := signES(k.ec256)
	h0, c0 := baseHeader(), baseClaims()
	good := baseToken()
	goodSig := signatureOf(good)
	b64h, b64c := b64([]byte(h0.String())), b64([]byte(c0.String()))

	// A5: a server that would hand out the attacker's keys. The kit must
	// never ask it.
	var hits atomic.Int64
	evilJWKS := `{"keys":[` + ecJWK(&k.evilEC.PublicKey, "k1") + `]}`
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.Write([]byte(evilJWKS))
	}))
	defer srv.Close()

	var cases []attackCase
	add := func(cs ...attackCase) { cases = append(cases, cs...) }

	// A1: alg=none variants.
	for _, alg := range []string{"none", "None", "NONE", "nOnE"} {
		h := h0.set("alg", q(alg))
		in := b64([]byte(h.String())) + "." + b64c
		add(
			attackCase{id: "A1", name: alg + "/empty signature", token: in + ".", why: "three non-empty segments"},
			attackCase{id: "A1", name: alg + "/no signature segment", token: in, why: "three non-empty segments"},
			attackCase{id: "A1", name: alg + "/original signature", token: in + "." + b64(goodSig), why: "alg does not match"},
			attackCase{id: "A1", name: alg + "/no kid", token: b64([]byte(h.del("kid").String())) + "." + b64c + "." + b64(goodSig), why: "alg does not match"},
		)
	}

	// A2: the header names another algorithm than the key's, with a
	// signature that is valid for the k1 key over that very header.
	for _, alg := range []string{`"HS256"`, `"HS512"`, `"ES384"`, `"ES512"`, `"RS256"`, `"PS256"`, `"EdDSA"`, `"es256"`, `"ES256 "`, `"ES256\u0000"`} {
		add(attackCase{id: "A2", name: "alg " + alg, token: esToken(h0.set("alg", alg), c0), why: "alg does not match"})
	}
	add(
		attackCase{id: "A2", name: "alg absent", token: esToken(h0.del("alg"), c0), why: "header without alg"},
		attackCase{id: "A2", name: "alg number", token: esToken(h0.set("alg", "1"), c0), why: "not a string"},
		attackCase{id: "A2", name: "alg array", token: esToken(h0.set("alg", `["ES256"]`), c0), why: "not a string"},
		attackCase{id: "A2", name: "alg null", token: esToken(h0.set("alg", "null"), c0), why: "not a string"},
		attackCase{id: "A2", name: "alg duplicate none then ES256", token: esToken(obj{{"typ", q("at+jwt")}, {"alg", q("none")}, {"alg", q("ES256")}, {"kid", q("k1")}}, c0), why: "duplicate"},
		attackCase{id: "A2", name: "alg duplicate ES256 then none", token: esToken(h0.add("alg", q("none")), c0), why: "duplicate"},
	)

	// A3: key confusion. The attacker HMACs with the public key in every
	// form it could be configured in.
	ecPub := &k.ec256.PublicKey
	ecDER := mustPKIX(ecPub)
	ecPEM := pemBlock("PUBLIC KEY", ecDER)
	ecPoint, _ := ecPub.Bytes()
	rsaDER := mustPKIX(&k.rsa.PublicKey)
	rsaPEM := pemBlock("PUBLIC KEY", rsaDER)
	rsaPKCS1 := x509.MarshalPKCS1PublicKey(&k.rsa.PublicKey)
	for _, s := range []struct {
		name   string
		secret []byte
		jwt    *JWT[*testUser]
		kid    string
	}{
		{"ES PEM", ecPEM, d.es, "k1"},
		{"ES PEM without trailing newline", []byte(strings.TrimSuffix(string(ecPEM), "\n")), d.es, "k1"},
		{"ES DER SPKI", ecDER, d.es, "k1"},
		{"ES JWK", []byte(ecJWK(ecPub, "k1")), d.es, "k1"},
		{"ES raw x||y", ecPoint[1:], d.es, "k1"},
		{"ES uncompressed point", ecPoint, d.es, "k1"},
		{"RSA PEM", rsaPEM, d.rs, "r1"},
		{"RSA PKCS1 PEM", pemBlock("RSA PUBLIC KEY", rsaPKCS1), d.rs, "r1"},
		{"RSA DER", rsaDER, d.rs, "r1"},
		{"RSA JWK", []byte(rsaJWK(&k.rsa.PublicKey, "r1", "")), d.rs, "r1"},
		{"RSA modulus", k.rsa.N.Bytes(), d.rs, "r1"},
	} {
		tok := buildToken(headerFor("HS256", s.kid).String(), c0.String(), signHS256(s.secret))
		add(attackCase{id: "A3", name: s.name, token: tok, jwt: s.jwt, why: "alg does not match"})
		tok = buildToken(headerFor("HS256", s.kid).del("kid").String(), c0.String(), signHS256(s.secret))
		add(attackCase{id: "A3", name: s.name + " without kid", token: tok, jwt: s.jwt, why: "alg does not match"})
	}

	// A3 with the published RFC 7515 A.2 RSA key as the configured RS256 key.
	{
		v := loadVector(t, "rfc7515-a2-rs256")
		key, err := jwk.ParseKey(v.JWK)
		if err != nil {
			t.Fatal(err)
		}
		var pub rsa.PublicKey
		if err := jwk.Export(key, &pub); err != nil {
			t.Fatal(err)
		}
		rfc := newTestJWT(t, WithKey("rfc", &pub))
		der := mustPKIX(&pub)
		for name, secret := range map[string][]byte{"PEM": pemBlock("PUBLIC KEY", der), "DER": der, "JWK": v.JWK} {
			tok := buildToken(headerFor("HS256", "rfc").String(), c0.String(), signHS256(secret))
			add(attackCase{id: "A3", name: "RFC 7515 A.2 key " + name, token: tok, jwt: rfc, why: "alg does not match"})
		}
	}

	// A4: a key embedded in the header.
	evil := signES(k.evilEC)
	add(
		attackCase{id: "A4", name: "jwk EC with real kid", token: buildToken(h0.add("jwk", ecJWK(&k.evilEC.PublicKey, "k1")).String(), c0.String(), evil), why: `header parameter "jwk"`},
		attackCase{id: "A4", name: "jwk EC without kid", token: buildToken(h0.del("kid").add("jwk", ecJWK(&k.evilEC.PublicKey, "")).String(), c0.String(), evil), why: `header parameter "jwk"`},
		attackCase{id: "A4", name: "jwk RSA", token: buildToken(headerFor("RS256", "k1").add("jwk", rsaJWK(&k.evilRSA.PublicKey, "k1", "")).String(), c0.String(), signRS(k.evilRSA, crypto.SHA256)), why: `header parameter "jwk"`},
		attackCase{id: "A4", name: "jwk oct", token: buildToken(headerFor("HS256", "h1").add("jwk", `{"kty":"oct","k":"`+b64([]byte("attacker-secret-attacker-secret!"))+`"}`).String(), c0.String(), signHS256([]byte("attacker-secret-attacker-secret!"))), jwt: d.hs, why: `header parameter "jwk"`},
	)

	// A5: jku / x5u pointing at the attacker's server.
	add(
		attackCase{id: "A5", name: "jku", token: buildToken(h0.add("jku", q(srv.URL+"/jwks.json")).String(), c0.String(), evil), why: `header parameter "jku"`},
		attackCase{id: "A5", name: "jku without kid", token: buildToken(h0.del("kid").add("jku", q(srv.URL+"/jwks.json")).String(), c0.String(), evil), why: `header parameter "jku"`},
		attackCase{id: "A5", name: "jku unknown kid", token: buildToken(headerFor("ES256", "evil").add("jku", q(srv.URL+"/jwks.json")).String(), c0.String(), evil), why: `header parameter "jku"`},
		attackCase{id: "A5", name: "x5u", token: buildToken(h0.add("x5u", q(srv.URL+"/cert.pem")).String(), c0.String(), evil), why: `header parameter "x5u"`},
	)

	// A6: a certificate chain in the token.
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "attacker"}, NotBefore: testNow.Add(-time.Hour), NotAfter: testNow.Add(time.Hour)}
	certDER, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.evilEC.PublicKey, k.evilEC)
	if err != nil {
		t.Fatal(err)
	}
	sha1sum := sha1.Sum(certDER)
	sha256sum := sha256.Sum256(certDER)
	add(
		attackCase{id: "A6", name: "x5c", token: buildToken(h0.add("x5c", `["`+base64.StdEncoding.EncodeToString(certDER)+`"]`).String(), c0.String(), evil), why: `header parameter "x5c"`},
		attackCase{id: "A6", name: "x5t", token: buildToken(h0.add("x5t", q(b64(sha1sum[:]))).String(), c0.String(), evil), why: `header parameter "x5t"`},
		attackCase{id: "A6", name: "x5t#S256", token: buildToken(h0.add("x5t#S256", q(b64(sha256sum[:]))).String(), c0.String(), evil), why: `header parameter "x5t#S256"`},
	)

	// A7: kid injection.
	hsEmpty := signHS256(nil)
	for _, j := range []struct {
		name string
		jwt  *JWT[*testUser]
	}{{"ES deployment", d.es}, {"HS deployment", d.hs}} {
		for _, kid := range []string{"../../../../../../dev/null", "/dev/null", "x' UNION SELECT '1';--", "|sleep 10", "k1/../k1", "K1", "h1 ", "%6b1"} {
			sign := hsEmpty
			if strings.Contains(kid, "UNION") {
				sign = signHS256([]byte("1"))
			}
			add(attackCase{id: "A7", name: j.name + " kid " + kid, token: buildToken(headerFor("HS256", kid).String(), c0.String(), sign), jwt: j.jwt, why: "no key for this kid"})
		}
	}
	longKID := strings.Repeat("a", 10<<10)
	add(
		attackCase{id: "A7", name: "10 KB kid", token: esToken(headerFor("ES256", longKID), c0), why: "size limit"},
		attackCase{id: "A7", name: "10 KB kid under a large size cap", token: esToken(headerFor("ES256", longKID), c0), jwt: d.big, why: "bad kid"},
		attackCase{id: "A7", name: "257-byte kid", token: esToken(headerFor("ES256", strings.Repeat("k", 257)), c0), why: "bad kid"},
		attackCase{id: "A7", name: "empty kid", token: esToken(headerFor("ES256", ""), c0), why: "bad kid"},
		attackCase{id: "A7", name: "kid number", token: esToken(h0.set("kid", "1"), c0), why: "not a string"},
		attackCase{id: "A7", name: "kid object", token: esToken(h0.set("kid", `{"$ne":null}`), c0), why: "not a string"},
		attackCase{id: "A7", name: "kid array", token: esToken(h0.set("kid", `["k1"]`), c0), why: "not a string"},
		attackCase{id: "A7", name: "kid null", token: esToken(h0.set("kid", `null`), c0), why: "not a string"},
		attackCase{id: "A7", name: "unknown kid signed by another configured key", token: buildToken(headerFor("ES256", "k3").String(), c0.String(), signES(k.ec256b)), jwt: d.multi, why: "no key for this kid"},
		attackCase{id: "A7", name: "kid k1 signed by the k2 key", token: buildToken(headerFor("ES256", "k1").String(), c0.String(), signES(k.ec256b)), jwt: d.multi, why: "signature"},
		attackCase{id: "A7", name: "no kid with two keys configured", token: buildToken(h0.del("kid").String(), c0.String(), signES(k.ec256b)), jwt: d.multi, why: "no key for this kid"},
	)

	// A8: weak and blank HMAC secrets against an HS deployment.
	for _, s := range []string{"", "secret", "your-256-bit-secret", "password", "changeme", "jwt", "key", "123456", string(make([]byte, 32))} {
		add(attackCase{id: "A8", name: fmt.Sprintf("secret %q", s), token: buildToken(headerFor("HS256", "h1").String(), c0.String(), signHS256([]byte(s))), jwt: d.hs, why: "signature"})
	}

	// A9: psychic signatures (CVE-2022-21449) and other malformed ECDSA
	// signatures.
	n := elliptic.P256().Params().N
	r0, s0 := new(big.Int).SetBytes(goodSig[:32]), new(big.Int).SetBytes(goodSig[32:])
	pack := func(r, s *big.Int) []byte { return packRS(elliptic.P256(), r, s) }
	derSig := signESDER(k.ec256)([]byte(signingInputOf(good)))
	for _, s := range []struct {
		name string
		sig  []byte
	}{
		{"64 zero bytes", make([]byte, 64)},
		{"r=0 with the real s", pack(big.NewInt(0), s0)},
		{"real r with s=0", pack(r0, big.NewInt(0))},
		{"r=n, s=n", pack(n, n)},
		{"r=n with the real s", pack(n, s0)},
		{"r=1, s=1", pack(big.NewInt(1), big.NewInt(1))},
		{"all 0xff", []byte(strings.Repeat("\xff", 64))},
		{"DER-encoded valid signature", derSig},
		{"valid signature plus a zero byte", append(append([]byte(nil), goodSig...), 0)},
		{"zero byte plus valid signature", append([]byte{0}, goodSig...)},
		{"valid signature minus its last byte", goodSig[:63]},
		{"r and s swapped", append(append([]byte(nil), goodSig[32:]...), goodSig[:32]...)},
	} {
		add(attackCase{id: "A9", name: s.name, token: withSignature(good, s.sig), why: "signature"})
	}

	// A11: non-canonical base64url on every segment.
	add(a11Cases(t)...)

	// A12: empty or stripped signatures.
	other := esToken(h0, c0.set("jti", q("another-token")))
	add(
		attackCase{id: "A12", name: "header.payload.", token: b64h + "." + b64c + ".", why: "three non-empty segments"},
		attackCase{id: "A12", name: "header.payload", token: b64h + "." + b64c, why: "three non-empty segments"},
		attackCase{id: "A12", name: "signature AA", token: b64h + "." + b64c + ".AA", why: "signature"},
		attackCase{id: "A12", name: "signature A", token: b64h + "." + b64c + ".A", why: "signature segment"},
		attackCase{id: "A12", name: "signature of another token", token: withSignature(good, signatureOf(other)), why: "signature"},
	)

	// A13: segment count and format confusion.
	gsig := good[strings.LastIndexByte(good, '.')+1:]
	flattened := fmt.Sprintf(`{"payload":%q,"protected":%q,"signature":%q}`, b64c, b64h, gsig)
	general := fmt.Sprintf(`{"payload":%q,"signatures":[{"protected":%q,"signature":%q}]}`, b64c, b64h, gsig)
	add(
		attackCase{id: "A13", name: "1 segment", token: b64h, why: "three non-empty segments"},
		attackCase{id: "A13", name: "2 segments", token: b64h + "." + b64c, why: "three non-empty segments"},
		attackCase{id: "A13", name: "4 segments", token: good + "." + gsig, why: "more than three segments"},
		attackCase{id: "A13", name: "5 segments", token: good + ".AAAA." + gsig, why: "more than three segments"},
		attackCase{id: "A13", name: "trailing dot", token: good + ".", why: "more than three segments"},
		attackCase{id: "A13", name: "leading dot", token: "." + good, why: "more than three segments"},
		attackCase{id: "A13", name: "empty header", token: "." + b64c + "." + gsig, why: "three non-empty segments"},
		attackCase{id: "A13", name: "empty payload", token: b64h + ".." + gsig, why: "three non-empty segments"},
		attackCase{id: "A13", name: "only dots", token: "..", why: "three non-empty segments"},
		attackCase{id: "A13", name: "10^6 dots", token: strings.Repeat(".", 1_000_000), why: "size limit"},
		attackCase{id: "A13", name: "10^6 dots in a token under a large cap", token: good + strings.Repeat(".", 1_000_000), jwt: d.big, why: "more than three segments"},
		attackCase{id: "A13", name: "JSON flattened serialization", token: flattened, status: 400, why: "b64token"},
		attackCase{id: "A13", name: "JSON general serialization", token: general, status: 400, why: "b64token"},
		attackCase{id: "A13", name: "trailing space", token: good + " ", status: 400, why: "b64token"},
		attackCase{id: "A13", name: "trailing tab", token: good + "\t", status: 400, why: "b64token"},
		attackCase{id: "A13", name: "trailing newline", token: good + "\n", status: 400, why: "b64token"},
		attackCase{id: "A13", name: "leading tab", token: "\t" + good, status: 400, why: "b64token"},
	)

	// A14/A15: JWE and nested tokens.
	for _, name := range []string{"rfc7519-a1-encrypted-jwt", "rfc7519-a2-nested-jwt"} {
		v := loadVector(t, name)
		add(attackCase{id: "A14/A15", name: name, token: v.Token, why: "more than three segments"})
	}
	jwe := func(h string) string {
		return b64([]byte(h)) + "." + b64(make([]byte, 16)) + "." + b64(make([]byte, 12)) + "." + b64([]byte("ciphertext")) + "." + b64(make([]byte, 16))
	}
	add(
		attackCase{id: "A14", name: "JWE p2c 2e9", token: jwe(`{"alg":"PBES2-HS256+A128KW","enc":"A128GCM","p2c":2000000000,"p2s":"AAAAAAAAAAAAAAAAAAAAAA","kid":"k1"}`), why: "more than three segments"},
		attackCase{id: "A14", name: "JWE zip DEF", token: jwe(`{"alg":"dir","enc":"A128GCM","zip":"DEF","kid":"k1"}`), why: "more than three segments"},
		attackCase{id: "A14", name: "3-segment token with enc", token: esToken(h0.add("enc", q("A128GCM")), c0), why: `header parameter "enc"`},
		attackCase{id: "A14", name: "3-segment token with p2c", token: esToken(h0.add("p2c", "2000000000"), c0), why: `header parameter "p2c"`},
		attackCase{id: "A14", name: "3-segment token with zip", token: esToken(h0.add("zip", q("DEF")), c0), why: `header parameter "zip"`},
		attackCase{id: "A15", name: "payload is another kit token", token: buildToken(h0.String(), good, es), why: "not a JSON object"},
		attackCase{id: "A15", name: "payload is another kit token, cty JWT", token: buildToken(h0.add("cty", q("JWT")).String(), good, es), why: `header parameter "cty"`},
		attackCase{id: "A15", name: "cty JWT over ordinary claims", token: esToken(h0.add("cty", q("JWT")), c0), why: `header parameter "cty"`},
	)

	// A16: crit and b64.
	rawPayload := b64h + "." + c0.String() + "." + gsig
	add(
		attackCase{id: "A16", name: `crit ["x-foo"] with x-foo`, token: esToken(h0.add("crit", `["x-foo"]`).add("x-foo", "true"), c0), why: `header parameter "crit"`},
		attackCase{id: "A16", name: `crit ["exp"]`, token: esToken(h0.add("crit", `["exp"]`), c0), why: `header parameter "crit"`},
		attackCase{id: "A16", name: `crit []`, token: esToken(h0.add("crit", `[]`), c0), why: `header parameter "crit"`},
		attackCase{id: "A16", name: `crit "b64"`, token: esToken(h0.add("crit", q("b64")), c0), why: `header parameter "crit"`},
		attackCase{id: "A16", name: `b64 false with crit`, token: esToken(h0.add("b64", "false").add("crit", `["b64"]`), c0), why: `header parameter "b64"`},
		attackCase{id: "A16", name: `b64 false, raw payload between dots`, token: rawPayload, status: 400, why: "b64token"},
		attackCase{id: "A16", name: "rfc7797-4.2 detached", token: loadVector(t, "rfc7797-4.2-b64-false-detached").Token, why: "three non-empty segments"},
	)

	// A17: token type confusion.
	for _, typ := range []string{`absent`, `"JWT"`, `"jwt"`, `"rt+jwt"`, `"application/rt+jwt"`, `"dpop+jwt"`, `"application/jwt"`, `"at+jwt "`, `" at+jwt"`, `""`, `"at-jwt"`, `"application/application/at+jwt"`, `"at+jwt; charset=utf-8"`, `"application/at+jwt/"`, `1`, `null`, `["at+jwt"]`} {
		h := h0.set("typ", typ)
		if typ == "absent" {
			h = h0.del("typ")
		}
		add(attackCase{id: "A17", name: "typ " + typ, token: esToken(h, c0)})
	}
	idToken := c0.set("aud", q("client-1")).add("nonce", q("n-0S6_WzA2Mj")).add("azp", q("client-1")).add("auth_time", nowPlus(-60))
	add(
		attackCase{id: "A17", name: "ID-token-shaped (typ JWT)", token: esToken(h0.set("typ", q("JWT")), idToken), why: "wrong token type"},
		attackCase{id: "A17", name: "ID-token-shaped, no typ", token: esToken(h0.del("typ"), idToken), why: "wrong token type"},
		attackCase{id: "A17", name: "kit refresh token as access token", token: esToken(h0.set("typ", q("rt+jwt")), c0.set("aud", q(testIssuer+"/refresh")).add("fam", q("f1")).add("ver", "1")), why: "wrong token type"},
	)

	// A18: exp type and value abuse.
	for _, exp := range []string{`"9999999999"`, `"2999-01-01T00:00:00Z"`, `"soon"`, `null`, `true`, `[]`, `{}`, `-1`, `0`, `1e300`, `9223372036854775808`, `1.5e9`, `NaN`, `Infinity`, `-0.5`, `1E400`, `253402300800`, `0x7fffffff`, `+1767225900`, `01767225900`, `1767225900.`} {
		add(attackCase{id: "A18", name: "exp " + exp, token: esToken(h0, c0.set("exp", exp))})
	}
	add(attackCase{id: "A18", name: "exp missing", token: esToken(h0, c0.del("exp")), why: "required claim"})

	// A19: nbf in the future.
	add(
		attackCase{id: "A19", name: "nbf now+3600", token: esToken(h0, c0.add("nbf", nowPlus(3600))), why: "nbf"},
		attackCase{id: "A19", name: `nbf "0"`, token: esToken(h0, c0.add("nbf", q("0"))), why: `claim "nbf"`},
		attackCase{id: "A19", name: "nbf now+leeway+1", token: esToken(h0, c0.add("nbf", nowPlus(31))), why: "nbf"},
		attackCase{id: "A19", name: "nbf null", token: esToken(h0, c0.add("nbf", "null")), why: `claim "nbf"`},
	)

	// A20: iat abuse.
	add(
		attackCase{id: "A20", name: "iat now+3600", token: esToken(h0, c0.set("iat", nowPlus(3600)).set("exp", nowPlus(3900))), why: "issued in the future"},
		attackCase{id: "A20", name: "iat string", token: esToken(h0, c0.set("iat", q(nowPlus(0)))), why: `claim "iat"`},
		attackCase{id: "A20", name: "iat missing", token: esToken(h0, c0.del("iat")), why: "required claim"},
		attackCase{id: "A20", name: "iat now-30d, exp now+300", token: esToken(h0, c0.set("iat", nowPlus(-30*86400))), why: "lifetime"},
		attackCase{id: "A20", name: "exp-iat one second over the max lifetime", token: esToken(h0, c0.set("exp", nowPlus(3601))), why: "lifetime"},
		attackCase{id: "A20", name: "exp before iat", token: esToken(h0, c0.set("iat", nowPlus(10)).set("exp", nowPlus(5))), why: "expires before"},
	)

	// A21: leeway boundaries (default leeway 30s; the accepting side is in
	// TestAccepted).
	past := c0.set("iat", nowPlus(-600))
	add(
		attackCase{id: "A21", name: "exp = now-leeway", token: esToken(h0, past.set("exp", nowPlus(-30))), why: "exp has passed"},
		attackCase{id: "A21", name: "exp = now-leeway-1", token: esToken(h0, past.set("exp", nowPlus(-31))), why: "exp has passed"},
		attackCase{id: "A21", name: "exp = now-leeway-0.5", token: esToken(h0, past.set("exp", nowPlus(-31)+".5")), why: "exp has passed"},
		attackCase{id: "A21", name: "nbf = now+leeway+1", token: esToken(h0, c0.add("nbf", nowPlus(31))), why: "nbf"},
		attackCase{id: "A21", name: "nbf = now+leeway+0.5", token: esToken(h0, c0.add("nbf", nowPlus(30)+".5")), why: "nbf"},
		attackCase{id: "A21", name: "iat = now+leeway+1", token: esToken(h0, c0.set("iat", nowPlus(31)).set("exp", nowPlus(331))), why: "issued in the future"},
		attackCase{id: "A21", name: "leeway 0: exp = now", token: esToken(h0, c0.set("exp", nowPlus(0)).set("iat", nowPlus(-60))), jwt: newTestJWT(t, WithKey("k1", ecPub), WithLeeway(0)), why: "exp has passed"},
		attackCase{id: "A21", name: "leeway 60s: exp = now-60", token: esToken(h0, past.set("exp", nowPlus(-60))), jwt: newTestJWT(t, WithKey("k1", ecPub), WithLeeway(time.Minute)), why: "exp has passed"},
	)

	// A22: aud shapes.
	for _, aud := range []string{`["x"]`, `[]`, `""`, `42`, `{"0":"api"}`, `"API"`, `[["api"]]`, `"api "`, `" api"`, `null`, `true`, `["API","x"]`, `[1,"api"]`, `"apI"`, `["ap","i"]`} {
		add(attackCase{id: "A22", name: "aud " + aud, token: esToken(h0, c0.set("aud", aud))})
	}
	add(attackCase{id: "A22", name: "aud missing", token: esToken(h0, c0.del("aud")), why: "required claim"})

	// A23: substitution.
	add(
		attackCase{id: "A23", name: "iss other", token: esToken(h0, c0.set("iss", q("https://evil.example"))), why: "wrong issuer"},
		attackCase{id: "A23", name: "iss with trailing slash", token: esToken(h0, c0.set("iss", q(testIssuer+"/"))), why: "wrong issuer"},
		attackCase{id: "A23", name: "iss missing", token: esToken(h0, c0.del("iss")), why: "required claim"},
		attackCase{id: "A23", name: "iss empty", token: esToken(h0, c0.set("iss", `""`)), why: "wrong issuer"},
		attackCase{id: "A23", name: "iss number", token: esToken(h0, c0.set("iss", `1`)), why: `claim "iss"`},
		attackCase{id: "A23", name: "sub missing", token: esToken(h0, c0.del("sub")), why: "required claim"},
		attackCase{id: "A23", name: "sub empty", token: esToken(h0, c0.set("sub", `""`)), why: "required claim"},
		attackCase{id: "A23", name: "sub number", token: esToken(h0, c0.set("sub", `42`)), why: `claim "sub"`},
		attackCase{id: "A23", name: "minted for another audience", token: esToken(h0, c0.set("aud", q("billing"))), why: "wrong audience"},
	)

	// A24: duplicate members.
	var many obj
	for i := range 20 {
		many = append(many, kv{fmt.Sprintf("x%d", i), num(int64(i))})
	}
	add(
		attackCase{id: "A24", name: "sub twice", token: esToken(h0, c0.add("sub", q("admin"))), why: "duplicate"},
		attackCase{id: "A24", name: "aud twice", token: esToken(h0, c0.add("aud", q("other"))), why: "duplicate"},
		attackCase{id: "A24", name: "exp twice", token: esToken(h0, c0.add("exp", nowPlus(3000))), why: "duplicate"},
		attackCase{id: "A24", name: "iss twice, same value", token: esToken(h0, c0.add("iss", q(testIssuer))), why: "duplicate"},
		attackCase{id: `A24`, name: `"s\u0075b" after sub`, token: esToken(h0, c0.add(`s\u0075b`, q("admin"))), why: "duplicate"},
		attackCase{id: `A24`, name: `"\u0073ub" before sub`, token: esToken(h0, append(obj{{`\u0073ub`, q("admin")}}, c0...)), why: "duplicate"},
		attackCase{id: "A24", name: "sub twice after 20 other claims", token: esToken(h0, append(append(c0, many...), kv{"sub", q("admin")})), why: "duplicate"},
		attackCase{id: "A24", name: "header typ twice", token: esToken(h0.add("typ", q("at+jwt")), c0), why: "duplicate"},
		attackCase{id: "A24", name: "header kid twice", token: esToken(h0.add("kid", q("k2")), c0), why: "duplicate"},
		attackCase{id: `A24`, name: `header "\u0061lg" twice`, token: esToken(h0.add(`\u0061lg`, q("none")), c0), why: "duplicate"},
	)

	// A25: size and shape.
	deep := strings.Repeat("[", 20000) + strings.Repeat("]", 20000)
	add(
		attackCase{id: "A25", name: "8 MiB token", token: strings.Repeat("A", 4<<20) + "." + strings.Repeat("A", 4<<20-2) + ".A", why: "size limit"},
		attackCase{id: "A25", name: "1 MiB of dots", token: strings.Repeat(".", 1<<20), why: "size limit"},
		attackCase{id: "A25", name: "100 KB kid", token: esToken(headerFor("ES256", strings.Repeat("k", 100_000)), c0), why: "size limit"},
		attackCase{id: "A25", name: "100 KB kid under a 1 MiB cap", token: esToken(headerFor("ES256", strings.Repeat("k", 100_000)), c0), jwt: d.big, why: "bad kid"},
		attackCase{id: "A25", name: "20000-deep claim", token: esToken(h0, c0.add("deep", deep)), why: "size limit"},
		attackCase{id: "A25", name: "20000-deep claim under a 1 MiB cap", token: esToken(h0, c0.add("deep", deep)), jwt: d.big, why: "nested too deeply"},
		attackCase{id: "A25", name: "33-deep claim under a 1 MiB cap", token: esToken(h0, c0.add("deep", strings.Repeat("[", 32)+strings.Repeat("]", 32))), jwt: d.big, why: "nested too deeply"},
		attackCase{id: "A25", name: "20000-deep header member under a 1 MiB cap", token: esToken(h0.add("x", deep), c0), jwt: d.big, why: "nested too deeply"},
		attackCase{id: "A25", name: "1 MB Authorization header", token: strings.Repeat("A", 1<<20), why: "size limit"},
		attackCase{id: "A25", name: "1 MB Authorization header of junk", token: strings.Repeat("{", 1<<20), status: 400, why: "b64token"},
	)

	// A26: non-object JSON.
	for _, h := range []string{`["ES256"]`, `"x"`, `null`, `1`, `true`, ``, ` `, `{}{}`, `{"typ":"at+jwt","alg":"ES256","kid":"k1"} x`, `{"typ":"at+jwt","alg":"ES256","kid":"k1",}`} {
		add(attackCase{id: "A26", name: "header " + h, token: buildToken(h, c0.String(), es)})
	}
	for _, p := range []string{`Payload`, `[]`, `["sub","alice"]`, `"x"`, `null`, `1`, `{}`, c0.String() + `{}`, c0.String() + ` x`, `{"sub":"alice",}`, `{'sub':'alice'}`, `{sub:"alice"}`} {
		add(attackCase{id: "A26", name: "payload " + p, token: buildToken(h0.String(), p, es)})
	}

	// A27: encodings other than UTF-8, invalid UTF-8, lone surrogates.
	utf16le := func(s string) string {
		var b []byte
		for _, c := range []byte(s) {
			b = append(b, c, 0)
		}
		return string(b)
	}
	add(
		attackCase{id: "A27", name: "BOM before header", token: buildToken("\ufeff"+h0.String(), c0.String(), es), why: "not a JSON object"},
		attackCase{id: "A27", name: "BOM before payload", token: buildToken(h0.String(), "\ufeff"+c0.String(), es), why: "not a JSON object"},
		attackCase{id: "A27", name: "UTF-16LE header", token: buildToken(utf16le(h0.String()), c0.String(), es)},
		attackCase{id: "A27", name: "UTF-16LE header with BOM", token: buildToken("\xff\xfe"+utf16le(h0.String()), c0.String(), es), why: "UTF-8"},
		attackCase{id: "A27", name: "UTF-16LE payload", token: buildToken(h0.String(), utf16le(c0.String()), es)},
		attackCase{id: "A27", name: "invalid UTF-8 in sub", token: esToken(h0, c0.set("sub", "\"ali\xffce\"")), why: "UTF-8"},
		attackCase{id: "A27", name: "invalid UTF-8 in a claim name", token: esToken(h0, c0.add("x\xc3", "1")), why: "UTF-8"},
		attackCase{id: "A27", name: "overlong '/' in kid", token: esToken(h0.set("kid", "\"k\xc0\xaf1\""), c0), why: "UTF-8"},
		attackCase{id: "A27", name: "UTF-8-encoded surrogate", token: esToken(h0, c0.set("sub", "\"\xed\xa0\x80\"")), why: "UTF-8"},
		attackCase{id: "A27", name: `lone high surrogate \ud800`, token: esToken(h0, c0.set("sub", `"alice\ud800"`)), why: "surrogate"},
		attackCase{id: "A27", name: `lone low surrogate \udc00`, token: esToken(h0, c0.set("sub", `"\udc00alice"`)), why: "surrogate"},
		attackCase{id: "A27", name: `high surrogate then a letter`, token: esToken(h0, c0.set("sub", `"\ud800\u0041"`)), why: "surrogate"},
		attackCase{id: "A27", name: `two high surrogates`, token: esToken(h0, c0.set("sub", `"\ud800\ud800"`)), why: "surrogate"},
		attackCase{id: "A27", name: `lone surrogate in the header`, token: esToken(h0.set("kid", `"k1\udbff"`), c0), why: "surrogate"},
		attackCase{id: "A27", name: `lone surrogate in a claim name`, token: esToken(h0, c0.add(`x\ud800`, "1")), why: "surrogate"},
		attackCase{id: "A27", name: "raw control character in sub", token: esToken(h0, c0.set("sub", "\"ali\x01ce\"")), why: "malformed JSON"},
	)

	// A28: claim type juggling.
	add(
		attackCase{id: "A28", name: `scope ["admin"]`, token: esToken(h0, c0.add("scope", `["admin"]`)), why: `claim "scope"`},
		attackCase{id: "A28", name: `sub {"id":1}`, token: esToken(h0, c0.set("sub", `{"id":1}`)), why: `claim "sub"`},
		attackCase{id: "A28", name: `client_id number`, token: esToken(h0, c0.set("client_id", `42`)), why: `claim "client_id"`},
		attackCase{id: "A28", name: `jti number`, token: esToken(h0, c0.set("jti", `42`)), why: `claim "jti"`},
		attackCase{id: "A28", name: `ver string`, token: esToken(h0, c0.add("ver", `"1"`)), why: `claim "ver"`},
		attackCase{id: "A28", name: `ver negative`, token: esToken(h0, c0.add("ver", `-1`)), why: `claim "ver"`},
		attackCase{id: "A28", name: `ver fraction`, token: esToken(h0, c0.add("ver", `1.5`)), why: `claim "ver"`},
		attackCase{id: "A28", name: `ver exponent`, token: esToken(h0, c0.add("ver", `1e3`)), why: `claim "ver"`},
		attackCase{id: "A28", name: `ver overflow`, token: esToken(h0, c0.add("ver", `9223372036854775808`)), why: `claim "ver"`},
		attackCase{id: "A28", name: `exp string`, token: esToken(h0, c0.set("exp", q(nowPlus(300)))), why: `claim "exp"`},
	)

	// A30: signature of another token.
	otherUser := esToken(h0.set("typ", q("AT+JWT")), c0.set("sub", q("admin")))
	add(
		attackCase{id: "A30", name: "B's header+payload with A's signature", token: withSignature(otherUser, goodSig), why: "signature"},
		attackCase{id: "A30", name: "A's header with B's payload and signature", token: b64h + otherUser[strings.IndexByte(otherUser, '.'):], why: "signature"},
	)

	// A31: more than one transport.
	withQuery := func(q string, auth string) func() *http.Request {
		return func() *http.Request {
			r := httptest.NewRequest(http.MethodGet, "/resource?"+q, nil)
			if auth != "" {
				r.Header.Set("Authorization", auth)
			}
			return r
		}
	}
	withCookie := func(auth string, cookies ...string) func() *http.Request {
		return func() *http.Request {
			r := httptest.NewRequest(http.MethodGet, "/resource", nil)
			if auth != "" {
				r.Header.Set("Authorization", auth)
			}
			for _, c := range cookies {
				r.Header.Add("Cookie", "at="+c)
			}
			return r
		}
	}
	add(
		attackCase{id: "A31", name: "header + query", req: withQuery("access_token="+good, "Bearer "+good), status: 400, why: "query"},
		attackCase{id: "A31", name: "header + empty query parameter", req: withQuery("x=1&access_token=", "Bearer "+good), status: 400, why: "query"},
		attackCase{id: "A31", name: "header + percent-encoded query name", req: withQuery("access%5Ftoken="+good, "Bearer "+good), status: 400, why: "query"},
		attackCase{id: "A31", name: "header + query, cookie deployment", req: withQuery("access_token="+good, "Bearer "+good), jwt: d.cookie, status: 400, why: "query"},
		attackCase{id: "A31", name: "header + cookie", req: withCookie("Bearer "+good, good), jwt: d.cookie, status: 400, why: "cookie"},
		attackCase{id: "A31", name: "cookie twice", req: withCookie("", good, good), jwt: d.cookie, status: 400, why: "more than once"},
		attackCase{id: "A31", name: "cookie + query", req: func() *http.Request {
			r := withCookie("", good)()
			r.URL.RawQuery = "access_token=" + good
			return r
		}, jwt: d.cookie, status: 400, why: "query"},
		attackCase{id: "A31", name: "query only", req: withQuery("access_token="+good, ""), challenge: chBare},
		attackCase{id: "A31", name: "query only, cookie deployment", req: withQuery("access_token="+good, ""), jwt: d.cookie, challenge: chBare},
		attackCase{id: "A31", name: "cookie only, header deployment", req: withCookie("", good), challenge: chBare},
	)

	// A32: Authorization header syntax (accepted forms are in TestAccepted).
	add(
		attackCase{id: "A32", name: `Bearer\tx`, auth: strp("Bearer\t" + good), status: 400, why: "spaces"},
		attackCase{id: "A32", name: `Bearer`, auth: strp("Bearer"), status: 400, why: "without a token"},
		attackCase{id: "A32", name: `Bearer + SP`, auth: strp("Bearer "), status: 400, why: "without a token"},
		attackCase{id: "A32", name: `Bearer + 3 SP`, auth: strp("Bearer   "), status: 400, why: "without a token"},
		attackCase{id: "A32", name: `Bearer x y`, auth: strp("Bearer " + good + " y"), status: 400, why: "b64token"},
		attackCase{id: "A32", name: `Bearer x,`, auth: strp("Bearer " + good + ","), status: 400, why: "b64token"},
		attackCase{id: "A32", name: `token with %`, auth: strp("Bearer " + strings.Replace(good, ".", "%2E", 1)), status: 400, why: "b64token"},
		attackCase{id: "A32", name: `token with ,`, auth: strp("Bearer " + strings.Replace(good, ".", ",", 1)), status: 400, why: "b64token"},
		attackCase{id: "A32", name: `token with = inside`, auth: strp("Bearer " + strings.Replace(good, ".", "=.", 1)), status: 400, why: "b64token"},
		attackCase{id: "A32", name: `token with quotes`, auth: strp(`Bearer "` + good + `"`), status: 400, why: "b64token"},
		attackCase{id: "A32", name: `token as auth-param`, auth: strp(`Bearer token="` + good + `"`), status: 400, why: "b64token"},
		attackCase{id: "A32", name: `two Authorization headers`, req: func() *http.Request {
			r := bearerRequest(good)
			r.Header.Add("Authorization", "Bearer "+good)
			return r
		}, status: 400, why: "more than one Authorization"},
		attackCase{id: "A32", name: `Bearer + Basic headers`, req: func() *http.Request {
			r := bearerRequest(good)
			r.Header.Add("Authorization", "Basic dXNlcjpwYXNz")
			return r
		}, status: 400, why: "more than one Authorization"},
		attackCase{id: "A32", name: `Basic`, auth: strp("Basic dXNlcjpwYXNz"), challenge: chBare},
		attackCase{id: "A32", name: `Bearerx`, auth: strp("Bearerx " + good), challenge: chBare},
		attackCase{id: "A32", name: `Bearer NBSP`, auth: strp("Bearer\u00a0" + good), challenge: chBare},
		attackCase{id: "A32", name: `empty Authorization`, auth: strp(""), challenge: chBare},
		attackCase{id: "A32", name: `no Authorization`, req: func() *http.Request { return httptest.NewRequest(http.MethodGet, "/", nil) }, challenge: chBare},
		attackCase{id: "A32", name: `b64token with trailing =`, auth: strp("Bearer " + good + "="), why: "base64url alphabet"},
		attackCase{id: "A32", name: `b64token of ~+/`, auth: strp("Bearer ~+/"), why: "base64url alphabet"},
	)

	for _, c := range cases {
		t.Run(c.id+"/"+c.name, func(t *testing.T) {
			runAttack(t, d, c)
			if n := hits.Load(); n != 0 {
				t.Fatalf("the attacker's key server got %d requests", n)
			}
		})
	}
	if n := hits.Load(); n != 0 {
		t.Errorf("A5: the attacker's key server got %d requests, want 0", n)
	}
}

// a11Cases builds the non-canonical base64url variants of a valid token
// (SECURITY.md A11) against a deployment whose kid ("~~~") and jti make
// every segment contain '-' or '_' and end in a character with unused bits.
func a11Cases(t *testing.T) []attackCase {
	k := testKeys()
	j := newTestJWT(t, WithKey("~~~", &k.ec256.PublicKey))
	var tok string
	ok := func(seg string) bool { return strings.ContainsAny(seg, "-_") && len(seg)%4 != 0 }
search:
	for n := range 8 {
		for m := range 8 {
			h := "{" + strings.Repeat(" ", n) + `"typ":"at+jwt","alg":"ES256","kid":"~~~"}`
			c := baseClaims().set("jti", q("~~~"+strings.Repeat("?", m))).String()
			for range 50 {
				tok = buildToken(h, c, signES(k.ec256))
				segs := strings.Split(tok, ".")
				if ok(segs[0]) && ok(segs[1]) && ok(segs[2]) {
					break search
				}
			}
			tok = ""
		}
	}
	if tok == "" {
		t.Fatal("A11: found no token whose segments all have '-'/'_' and unused bits")
	}
	if res := serve(j, bearerRequest(tok)); res.rec.Code != http.StatusOK {
		t.Fatalf("A11 base token refused: %v", res.err)
	}
	segs := strings.Split(tok, ".")
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	mutations := []struct {
		name string
		f    func(string) string
	}{
		{"pad =", func(s string) string { return s + "=" }},
		{"pad ==", func(s string) string { return s + "==" }},
		{"+/ alphabet", func(s string) string { return strings.NewReplacer("-", "+", "_", "/").Replace(s) }},
		{"space inside", func(s string) string { return s[:4] + " " + s[4:] }},
		{"tab inside", func(s string) string { return s[:4] + "\t" + s[4:] }},
		{"LF inside", func(s string) string { return s[:4] + "\n" + s[4:] }},
		{"CRLF inside", func(s string) string { return s[:4] + "\r\n" + s[4:] }},
		{"unused low bits flipped", func(s string) string {
			last := strings.IndexByte(alphabet, s[len(s)-1])
			return s[:len(s)-1] + string(alphabet[last^1])
		}},
		{"zero-width space", func(s string) string { return s[:4] + "\u200b" + s[4:] }},
		{"fullwidth letter", func(s string) string {
			i := strings.IndexAny(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZ")
			return s[:i] + string(rune(0xFF21+rune(s[i]-'A'))) + s[i+1:]
		}},
	}
	var cases []attackCase
	for i, name := range []string{"header", "payload", "signature"} {
		for _, m := range mutations {
			mut := append([]string(nil), segs...)
			mut[i] = m.f(segs[i])
			token := strings.Join(mut, ".")
			if token == tok {
				t.Fatalf("A11 %s %s: mutation changed nothing", name, m.name)
			}
			if m.name == "unused low bits flipped" {
				// Prove the variant decodes to the same bytes under a lax
				// decoder: only strict decoding tells them apart.
				a, _ := base64.RawURLEncoding.DecodeString(segs[i])
				b, err := base64.RawURLEncoding.DecodeString(mut[i])
				if err != nil || string(a) != string(b) {
					t.Fatalf("A11 %s: flipped variant does not decode to the same bytes", name)
				}
			}
			c := attackCase{id: "A11", name: name + "/" + m.name, token: token, jwt: j}
			if !b64tokenRE.MatchString(token) {
				c.status, c.why = http.StatusBadRequest, "b64token"
			}
			cases = append(cases, c)
			// The verifier refuses them on its own too, whatever transport
			// delivered them.
			if _, err := j.v.check(context.Background(), token); !errors.Is(err, ErrInvalidToken) {
				t.Errorf("A11 %s/%s: verify = %v, want ErrInvalidToken", name, m.name, err)
			}
		}
	}
	return cases
}

// TestAccepted is the accepting side of the table: the boundary cases and
// the spellings the kit must accept.
func TestAccepted(t *testing.T) {
	k := testKeys()
	d := newDeployments(t)
	h0, c0 := baseHeader(), baseClaims()
	good := baseToken()
	past := c0.set("iat", nowPlus(-600))
	cases := []struct {
		id, name string
		req      *http.Request
		jwt      *JWT[*testUser]
	}{
		{"base", "baseline token", bearerRequest(good), nil},
		{"A17", "typ application/at+jwt", bearerRequest(esToken(h0.set("typ", q("application/at+jwt")), c0)), nil},
		{"A17", "typ AT+JWT", bearerRequest(esToken(h0.set("typ", q("AT+JWT")), c0)), nil},
		{"A17", "typ Application/At+Jwt", bearerRequest(esToken(h0.set("typ", q("Application/At+Jwt")), c0)), nil},
		{"A2", `alg escaped "ES2\u0035\u0036"`, bearerRequest(esToken(h0.set("alg", `"ES2\u0035\u0036"`), c0)), nil},
		{"A17", `typ escaped "at\u002bjwt"`, bearerRequest(esToken(h0.set("typ", `"at\u002bjwt"`), c0)), nil},
		{"A21", "exp = now", bearerRequest(esToken(h0, c0.set("exp", nowPlus(0)).set("iat", nowPlus(-60)))), nil},
		{"A21", "exp = now-leeway+1", bearerRequest(esToken(h0, past.set("exp", nowPlus(-29)))), nil},
		{"A21", "exp = now-leeway+0.5", bearerRequest(esToken(h0, past.set("exp", nowPlus(-30)+".5"))), nil},
		{"A21", "nbf = now+leeway-1", bearerRequest(esToken(h0, c0.add("nbf", nowPlus(29)))), nil},
		{"A21", "nbf = now+leeway", bearerRequest(esToken(h0, c0.add("nbf", nowPlus(30)))), nil},
		{"A21", "iat = now+leeway", bearerRequest(esToken(h0, c0.set("iat", nowPlus(30)).set("exp", nowPlus(330)))), nil},
		{"A21", "exp-iat = max lifetime", bearerRequest(esToken(h0, c0.set("exp", nowPlus(3600)))), nil},
		{"A21", "leeway 0: exp = now+1", bearerRequest(esToken(h0, c0.set("exp", nowPlus(1)))), newTestJWT(t, WithKey("k1", &k.ec256.PublicKey), WithLeeway(0))},
		{"A21", "leeway 60s: exp = now-59", bearerRequest(esToken(h0, past.set("exp", nowPlus(-59)))), newTestJWT(t, WithKey("k1", &k.ec256.PublicKey), WithLeeway(time.Minute))},
		{"A22", `aud "api"`, bearerRequest(esToken(h0, c0.set("aud", `"api"`))), nil},
		{"A22", `aud ["x","api"]`, bearerRequest(esToken(h0, c0.set("aud", `["x","api"]`))), nil},
		{"A22", `aud [ "api" ] with spaces`, bearerRequest(esToken(h0, c0.set("aud", `[ "x" , "api" ]`))), nil},
		{"A22", `aud escaped "\u0061pi"`, bearerRequest(esToken(h0, c0.set("aud", `"\u0061pi"`))), nil},
		{"A28", `scope "admin"`, bearerRequest(esToken(h0, c0.add("scope", `"admin"`))), nil},
		{"A32", "bearer (lower case)", authRequest("bearer " + good), nil},
		{"A32", "BEARER", authRequest("BEARER " + good), nil},
		{"A32", "Bearer + 2 SP", authRequest("Bearer  " + good), nil},
		{"A31", "header token, cookie ignored without WithTokenCookie", func() *http.Request {
			r := bearerRequest(good)
			r.Header.Add("Cookie", "at="+good)
			return r
		}(), nil},
		{"A31", "cookie token, cookie deployment", func() *http.Request {
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			r.Header.Add("Cookie", "at="+good)
			return r
		}(), d.cookie},
		{"A31", "other query parameters", func() *http.Request {
			r := httptest.NewRequest(http.MethodGet, "/?token=x&access_tokens=y", nil)
			r.Header.Set("Authorization", "Bearer "+good)
			return r
		}(), nil},
		{"A7", "no kid with one key configured", bearerRequest(esToken(h0.del("kid"), c0)), nil},
		{"A7", "kid k2 of two keys", bearerRequest(buildToken(headerFor("ES256", "k2").String(), c0.String(), signES(k.ec256b))), d.multi},
		{"F3", "whitespace around JSON", bearerRequest(buildToken(" \t\r\n"+h0.String()+"\n", "\n"+c0.String()+" ", signES(k.ec256))), nil},
	}
	for _, c := range cases {
		t.Run(c.id+"/"+c.name, func(t *testing.T) {
			j := c.jwt
			if j == nil {
				j = d.es
			}
			checkAccepted(t, serve(j, c.req))
		})
	}
}

// TestA10MalleableSignature: the (r, n-s) twin of an ECDSA signature
// verifies (that is ECDSA), so the kit's verdict carries the same iss and jti
// and a revocation keyed on (iss, jti) catches both; re-encodings of the same
// token never verify.
func TestA10MalleableSignature(t *testing.T) {
	d := newDeployments(t)
	good := baseToken()
	sig := signatureOf(good)
	n := elliptic.P256().Params().N
	s := new(big.Int).SetBytes(sig[32:])
	twin := withSignature(good, packRS(elliptic.P256(), new(big.Int).SetBytes(sig[:32]), new(big.Int).Sub(n, s)))
	if twin == good {
		t.Fatal("twin equals the original")
	}
	c1, err1 := d.es.v.check(context.Background(), good)
	c2, err2 := d.es.v.check(context.Background(), twin)
	if err1 != nil || err2 != nil {
		t.Fatalf("verify: %v, %v", err1, err2)
	}
	if c1.ID == "" || c1.ID != c2.ID || c1.Issuer != c2.Issuer {
		t.Errorf("twin claims (iss %q, jti %q) differ from the original's (%q, %q)", c2.Issuer, c2.ID, c1.Issuer, c1.ID)
	}
	for _, v := range []string{good + "=", strings.NewReplacer("-", "+", "_", "/").Replace(good)} {
		if v == good {
			continue
		}
		if _, err := d.es.v.check(context.Background(), v); !errors.Is(err, ErrInvalidToken) {
			t.Errorf("verify(%q) = %v, want ErrInvalidToken", v, err)
		}
	}
}

// TestMutations changes every byte of valid tokens, one at a time, and
// expects each variant to be refused.
func TestMutations(t *testing.T) {
	k := testKeys()
	c0 := baseClaims()
	cases := []struct {
		alg   string
		jwt   *JWT[*testUser]
		token string
	}{
		{"ES256", newTestJWT(t, WithKey("k1", &k.ec256.PublicKey)), baseToken()},
		{"EdDSA", newTestJWT(t, WithKey("k1", k.ed)), buildToken(headerFor("EdDSA", "k1").String(), c0.String(), signEd(k.ed))},
		{"HS256", newTestJWT(t, WithKey("k1", k.hmac)), buildToken(headerFor("HS256", "k1").String(), c0.String(), signHS256(k.hmac))},
		{"RS256", newTestJWT(t, WithKey("k1", &k.rsa.PublicKey)), buildToken(headerFor("RS256", "k1").String(), c0.String(), signRS(k.rsa, crypto.SHA256))},
	}
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	for _, c := range cases {
		t.Run(c.alg, func(t *testing.T) {
			if res := serve(c.jwt, bearerRequest(c.token)); res.rec.Code != http.StatusOK {
				t.Fatalf("valid token refused: %v", res.err)
			}
			tried := 0
			for i := 0; i < len(c.token); i++ {
				orig := c.token[i]
				var repl []byte
				if j := strings.IndexByte(alphabet, orig); j >= 0 {
					// The neighbour differs in the lowest bit only; the
					// opposite one in the highest.
					repl = append(repl, alphabet[j^1], alphabet[(j+32)%64])
				}
				repl = append(repl, '.', '=')
				for _, r := range repl {
					if r == orig {
						continue
					}
					mut := c.token[:i] + string(r) + c.token[i+1:]
					res := serve(c.jwt, bearerRequest(mut))
					tried++
					if res.called || res.rec.Code == http.StatusOK {
						t.Fatalf("byte %d %q→%q accepted", i, orig, r)
					}
					want := chInvalidToken
					if res.rec.Code == http.StatusBadRequest {
						want = chInvalidRequest
					} else if res.rec.Code != http.StatusUnauthorized {
						t.Fatalf("byte %d %q→%q: status %d", i, orig, r, res.rec.Code)
					}
					if got := res.rec.Header().Get("WWW-Authenticate"); got != want {
						t.Fatalf("byte %d %q→%q: WWW-Authenticate %q", i, orig, r, got)
					}
				}
			}
			t.Logf("%d variants refused", tried)
		})
	}
}

// TestExpiredOnlyAfterSignature: a forged expired token is invalid, not
// expired (CVE-2024-51744 class); a genuine expired one is both.
func TestExpiredOnlyAfterSignature(t *testing.T) {
	k := testKeys()
	d := newDeployments(t)
	claims := baseClaims().set("iat", nowPlus(-1000)).set("exp", nowPlus(-700))
	genuine := esToken(baseHeader(), claims)
	forged := buildToken(baseHeader().String(), claims.String(), signES(k.evilEC))
	_, err := d.es.v.check(context.Background(), genuine)
	if !errors.Is(err, ErrTokenExpired) || !errors.Is(err, ErrInvalidToken) {
		t.Errorf("genuine expired: %v, want ErrTokenExpired and ErrInvalidToken", err)
	}
	_, err = d.es.v.check(context.Background(), forged)
	if errors.Is(err, ErrTokenExpired) || !errors.Is(err, ErrInvalidToken) {
		t.Errorf("forged expired: %v, want ErrInvalidToken only", err)
	}
	notYet := esToken(baseHeader(), baseClaims().add("nbf", nowPlus(100)))
	if _, err := d.es.v.check(context.Background(), notYet); !errors.Is(err, ErrTokenExpired) {
		t.Errorf("not yet valid: %v, want ErrTokenExpired", err)
	}
	for _, tok := range []string{genuine, forged, notYet} {
		checkRefused(t, serve(d.es, bearerRequest(tok)), 401, chInvalidToken, "", tok)
	}
}

// TestHappyPaths verifies a token of every supported algorithm, configured
// each way the options allow.
func TestHappyPaths(t *testing.T) {
	k := testKeys()
	c0 := baseClaims()
	jwks := `{"keys":[` +
		ecJWK(&k.ec256.PublicKey, "j-es256") + `,` +
		ecJWK(&k.ec384.PublicKey, "j-es384") + `,` +
		edJWK(k.ed.Public().(ed25519.PublicKey), "j-ed") + `,` +
		rsaJWK(&k.rsa.PublicKey, "j-rs", "") + `,` +
		rsaJWK(&k.rsa.PublicKey, "j-ps", "PS256") + `]}`
	hs384 := append(append([]byte(nil), k.hmac...), k.hmac[:16]...)
	hs512sum := sha512.Sum512(k.hmac) // not k.hmac twice: a repeated secret is refused
	hs512 := hs512sum[:]
	cases := []struct {
		name, alg, kid string
		opt            Option
		sign           signFunc
	}{
		{"HS256 WithHMACSecret", "HS256", "h", WithKey("h", k.hmac), signHS256(k.hmac)},
		{"HS384 WithKeyAlgorithm", "HS384", "h", WithKeyAlgorithm("h", "HS384", hs384), signHMAC(sha512.New384, hs384)},
		{"HS512 WithKeyAlgorithm", "HS512", "h", WithKeyAlgorithm("h", "HS512", hs512), signHMAC(sha512.New, hs512)},
		{"ES256 WithKey public", "ES256", "e", WithKey("e", &k.ec256.PublicKey), signES(k.ec256)},
		{"ES256 WithKey private", "ES256", "e", WithKey("e", k.ec256), signES(k.ec256)},
		{"ES256 WithKey public value", "ES256", "e", WithKey("e", k.ec256.PublicKey), signES(k.ec256)},
		{"ES384 WithKey", "ES384", "e", WithKey("e", &k.ec384.PublicKey), signES(k.ec384)},
		{"ES512 WithKey", "ES512", "e", WithKey("e", &k.ec521.PublicKey), signES(k.ec521)},
		{"EdDSA WithKey", "EdDSA", "e", WithKey("e", k.ed.Public()), signEd(k.ed)},
		{"EdDSA WithKey private", "EdDSA", "e", WithKey("e", k.ed), signEd(k.ed)},
		{"Ed25519 WithKeyAlgorithm", "Ed25519", "e", WithKeyAlgorithm("e", "Ed25519", k.ed.Public()), signEd(k.ed)},
		{"RS256 WithKey", "RS256", "r", WithKey("r", &k.rsa.PublicKey), signRS(k.rsa, crypto.SHA256)},
		{"RS256 WithKey crypto.Signer", "RS256", "r", WithKey("r", crypto.Signer(k.rsa)), signRS(k.rsa, crypto.SHA256)},
		{"RS384 WithKeyAlgorithm", "RS384", "r", WithKeyAlgorithm("r", "RS384", &k.rsa.PublicKey), signRS(k.rsa, crypto.SHA384)},
		{"RS512 WithKeyAlgorithm", "RS512", "r", WithKeyAlgorithm("r", "RS512", &k.rsa.PublicKey), signRS(k.rsa, crypto.SHA512)},
		{"PS256 WithKeyAlgorithm", "PS256", "r", WithKeyAlgorithm("r", "PS256", &k.rsa.PublicKey), signPS(k.rsa, crypto.SHA256)},
		{"PS384 WithKeyAlgorithm", "PS384", "r", WithKeyAlgorithm("r", "PS384", &k.rsa.PublicKey), signPS(k.rsa, crypto.SHA384)},
		{"PS512 WithKeyAlgorithm", "PS512", "r", WithKeyAlgorithm("r", "PS512", &k.rsa.PublicKey), signPS(k.rsa, crypto.SHA512)},
		{"ES256 WithJWKSet", "ES256", "j-es256", WithJWKSet([]byte(jwks)), signES(k.ec256)},
		{"ES384 WithJWKSet", "ES384", "j-es384", WithJWKSet([]byte(jwks)), signES(k.ec384)},
		{"EdDSA WithJWKSet", "EdDSA", "j-ed", WithJWKSet([]byte(jwks)), signEd(k.ed)},
		{"RS256 WithJWKSet", "RS256", "j-rs", WithJWKSet([]byte(jwks)), signRS(k.rsa, crypto.SHA256)},
		{"PS256 WithJWKSet", "PS256", "j-ps", WithJWKSet([]byte(jwks)), signPS(k.rsa, crypto.SHA256)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			j := newTestJWT(t, c.opt)
			tok := buildToken(headerFor(c.alg, c.kid).String(), c0.String(), c.sign)
			checkAccepted(t, serve(j, bearerRequest(tok)))
			// The same key refuses the token under any other alg name.
			other := "ES256"
			if c.alg == "ES256" {
				other = "HS256"
			}
			bad := buildToken(headerFor(other, c.kid).String(), c0.String(), c.sign)
			checkRefused(t, serve(j, bearerRequest(bad)), 401, chInvalidToken, "", bad)
		})
	}
}

// TestClaimsContent checks what a verified token's Claims hold.
func TestClaimsContent(t *testing.T) {
	d := newDeployments(t)
	c := baseClaims().
		set("aud", `["other","api"]`).
		set("exp", nowPlus(300)+".25").
		add("nbf", nowPlus(-5)).
		add("ver", "7").
		add("scope", q("read write")).
		add("roles", `["admin", "dev"]`).
		add("cnf", `{"jkt":"abc"}`).
		add("esc\\u0061ped", `"v"`)
	claims, err := d.es.v.check(context.Background(), esToken(baseHeader(), c))
	if err != nil {
		t.Fatal(err)
	}
	want := Claims{
		Issuer: testIssuer, Subject: "alice", Audience: []string{"other", "api"},
		ExpiresAt: testNow.Add(300*time.Second + 250*time.Millisecond).UTC(),
		IssuedAt:  testNow.UTC(), NotBefore: testNow.Add(-5 * time.Second).UTC(),
		ID: "b9d1c0e8-3f0c-4d5e-9a1b-6c2f7e8d9a01", Version: 7, ClientID: "client-1", Scope: "read write",
		granted: []string{"read", "write"},
	}
	got := *claims
	got.extra = nil
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("claims = %+v\nwant     %+v", got, want)
	}
	if len(claims.extra) != 3 || string(claims.extra["cnf"]) != `{"jkt":"abc"}` || string(claims.extra["escaped"]) != `"v"` {
		t.Errorf("extra = %q", claims.extra)
	}
	var roles []string
	if ok, err := claims.DecodeExtra("roles", &roles); !ok || err != nil || len(roles) != 2 || roles[0] != "admin" {
		t.Errorf("DecodeExtra(roles) = %v, %v, %q", ok, err, roles)
	}
	var n int
	if ok, err := claims.DecodeExtra("roles", &n); !ok || err == nil {
		t.Errorf("DecodeExtra(roles into int) = %v, %v; want a type error", ok, err)
	}
	if ok, err := claims.DecodeExtra("missing", &n); ok || err != nil {
		t.Errorf("DecodeExtra(missing) = %v, %v", ok, err)
	}
	// A token without extra claims has a nil Extra and no NotBefore.
	claims, err = d.es.v.check(context.Background(), baseToken())
	if err != nil || claims.extra != nil || !claims.NotBefore.IsZero() || claims.Version != 0 {
		t.Errorf("baseline claims: %+v, %v", claims, err)
	}
}

// TestNewJWTErrors: construction refuses every bad configuration with an
// error (never a panic).
func TestNewJWTErrors(t *testing.T) {
	k := testKeys()
	ecPub := &k.ec256.PublicKey
	small := &rsa.PublicKey{N: new(big.Int).Lsh(big.NewInt(1), 2046), E: 65537} // 2047 bits
	p224, err := ecdsa.GenerateKey(elliptic.P224(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	oneKey := func(kid string, jwk string) []byte { return []byte(`{"keys":[` + jwk + `]}`) }
	secret32 := k.hmac
	cases := []struct {
		name string
		opts []Option // added to a valid issuer+audience+clock
		want string   // substring of the error
	}{
		{"no key", nil, "no verification key"},
		{"RSA 2047 bits", []Option{WithKey("r", small)}, "at least 2048"},
		{"RSA without modulus", []Option{WithKey("r", &rsa.PublicKey{E: 65537})}, "at least 2048"},
		{"ES384 for a P-256 key", []Option{WithKeyAlgorithm("e", "ES384", ecPub)}, `"ES384" does not go with`},
		{"RS256 for an EC key", []Option{WithKeyAlgorithm("e", "RS256", ecPub)}, `"RS256" does not go with`},
		{"HS256 for an EC key", []Option{WithKeyAlgorithm("e", "HS256", ecPub)}, `"HS256" does not go with`},
		{"ES256 for an RSA key", []Option{WithKeyAlgorithm("r", "ES256", &k.rsa.PublicKey)}, `"ES256" does not go with an RSA key`},
		{"EdDSA for an RSA key", []Option{WithKeyAlgorithm("r", "EdDSA", &k.rsa.PublicKey)}, `does not go with an RSA key`},
		{"RS256 for an Ed25519 key", []Option{WithKeyAlgorithm("e", "RS256", k.ed.Public())}, `does not go with an Ed25519 key`},
		{"PS256 for a secret", []Option{WithKeyAlgorithm("h", "PS256", secret32)}, `does not go with an HMAC secret`},
		{"none for a secret", []Option{WithKeyAlgorithm("h", "none", secret32)}, `does not go with an HMAC secret`},
		{"P-224 key", []Option{WithKey("e", &p224.PublicKey)}, "unsupported ECDSA curve"},
		{"short Ed25519 key", []Option{WithKey("e", ed25519.PublicKey(make([]byte, 31)))}, "wrong size"},
		{"string key", []Option{WithKey("e", "secret")}, "unsupported key type"},
		{"nil key", []Option{WithKey("e", nil)}, "nil key"},
		{"kid over 256 bytes", []Option{WithKey(strings.Repeat("k", 257), ecPub)}, "longer than 256"},
		{"duplicate kid", []Option{WithKey("k1", ecPub), WithKey("k1", &k.ec256b.PublicKey)}, `duplicate key ID "k1"`},
		{"duplicate kid across WithKey and WithJWKSet", []Option{WithKey("k1", ecPub), WithJWKSet(oneKey("k1", ecJWK(&k.ec256b.PublicKey, "k1")))}, `duplicate key ID "k1"`},
		{"two keys without kid", []Option{WithKey("", ecPub), WithKey("", &k.ec256b.PublicKey)}, "without a key ID"},
		{"nil key", []Option{WithKey("h", nil)}, "nil key"},
		{"HMAC secret of 0 bytes", []Option{WithKey("h", []byte{})}, "at least 32"},
		{"HMAC secret of 16 bytes", []Option{WithKey("h", secret32[:16])}, "at least 32"},
		{"HMAC secret of 31 bytes", []Option{WithKey("h", secret32[:31])}, "at least 32"},
		{"HS384 secret of 47 bytes", []Option{WithKeyAlgorithm("h", "HS384", make([]byte, 47))}, "at least 48"},
		{"HMAC secret that is a PEM public key", []Option{WithKey("h", pemBlock("PUBLIC KEY", mustPKIX(ecPub)))}, "PEM"},
		{"HMAC secret with a PEM inside", []Option{WithKey("h", append([]byte("my secret: "), pemBlock("PUBLIC KEY", mustPKIX(&k.rsa.PublicKey))...))}, "PEM"},
		{"HMAC secret that is a JWK", []Option{WithKey("h", []byte(ecJWK(ecPub, "k1")))}, "JWK"},
		{"HMAC secret that is a DER public key", []Option{WithKey("h", mustPKIX(ecPub))}, "DER"},
		{"HMAC secret that is a DER RSA public key", []Option{WithKey("h", mustPKIX(&k.rsa.PublicKey))}, "DER"},
		{"HMAC secret that is a PKCS#1 RSA public key", []Option{WithKey("h", x509.MarshalPKCS1PublicKey(&k.rsa.PublicKey))}, "DER"},
		{"WithKey given DER bytes", []Option{WithKey("k", mustPKIX(ecPub))}, "DER"},
		{"JWK Set with an oct key", []Option{WithJWKSet(oneKey("o", `{"kty":"oct","kid":"o","k":"`+b64(secret32)+`"}`))}, "symmetric"},
		{"JWK Set with a key without kid", []Option{WithJWKSet([]byte(`{"keys":[` + ecJWK(ecPub, "a") + `,` + ecJWK(&k.ec256b.PublicKey, "") + `]}`))}, "has no kid"},
		{"JWK Set with use enc", []Option{WithJWKSet(oneKey("e", strings.TrimSuffix(ecJWK(ecPub, "e"), "}")+`,"use":"enc"}`))}, `use "enc"`},
		{"JWK Set with an alg that does not fit", []Option{WithJWKSet(oneKey("e", strings.TrimSuffix(ecJWK(ecPub, "e"), "}")+`,"alg":"RS256"}`))}, `does not go with`},
		{"JWK Set with a small RSA key", []Option{WithJWKSet(oneKey("r", rsaJWK(small, "r", "")))}, "at least 2048"},
		{"empty JWK Set", []Option{WithJWKSet([]byte(`{"keys":[]}`))}, "no keys"},
		{"JWK Set that is not JSON", []Option{WithJWKSet([]byte(`nope`))}, "WithJWKSet"},
		{"leeway over a minute", []Option{WithKey("k1", ecPub), WithLeeway(time.Minute + time.Nanosecond)}, "between 0 and 1m0s"},
		{"negative leeway", []Option{WithKey("k1", ecPub), WithLeeway(-time.Second)}, "between 0 and 1m0s"},
		{"zero max lifetime", []Option{WithKey("k1", ecPub), WithMaxTokenLifetime(0)}, "must be positive"},
		{"tiny max size", []Option{WithKey("k1", ecPub), WithMaxTokenSize(63)}, "too small"},
		{"nil clock", []Option{WithKey("k1", ecPub), WithClock(nil)}, "WithClock(nil)"},
		{"empty cookie name", []Option{WithKey("k1", ecPub), WithTokenCookie("")}, "empty name"},
		{"nil version lookup", []Option{WithKey("k1", ecPub), WithVersionCheck(nil)}, "WithVersionCheck(nil)"},
		{"empty issuer", []Option{WithKey("k1", ecPub), WithIssuer("")}, `WithIssuer("")`},
		{"empty audience", []Option{WithKey("k1", ecPub), WithAudience("")}, `WithAudience("")`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			opts := append([]Option{WithIssuer(testIssuer), WithAudience(testAudience), WithClock(fixedClock)}, c.opts...)
			j, err := NewJWT(toTestUser, opts...)
			if err == nil || j != nil {
				t.Fatalf("NewJWT = %v, %v; want an error", j, err)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %q does not mention %q", err, c.want)
			}
			if !strings.HasPrefix(err.Error(), "authkit: ") {
				t.Errorf("error %q lacks the package prefix", err)
			}
		})
	}

	// Required settings: every missing one is named at once.
	_, err = NewJWT(toTestUser)
	for _, want := range []string{"WithIssuer is required", "WithAudience is required", "no verification key"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("NewJWT() = %v, want it to mention %q", err, want)
		}
	}
	if _, err := NewJWT[*testUser](nil, WithIssuer("i"), WithAudience("a"), WithKey("k", ecPub)); err == nil {
		t.Error("NewJWT(nil toUser) succeeded")
	}
	// The boundaries themselves are accepted.
	for _, o := range []Option{WithLeeway(time.Minute), WithLeeway(0), WithKey("h", secret32), WithMaxTokenSize(64)} {
		if _, err := NewJWT(toTestUser, WithIssuer("i"), WithAudience("a"), WithKey("k", ecPub), o); err != nil {
			t.Errorf("NewJWT with a boundary option: %v", err)
		}
	}
	// The default leeway is 30 seconds.
	j := newTestJWT(t, WithKey("k1", ecPub))
	if j.v.leeway != 30*time.Second || defaultLeeway != 30*time.Second {
		t.Errorf("default leeway = %v", j.v.leeway)
	}
}

// TestToUserAndVersionCheck: the toUser callback and the version check map
// refusals to 401 and failures to 500, and run once per accepted request.
func TestToUserAndVersionCheck(t *testing.T) {
	k := testKeys()
	errStore := errors.New("store down")
	tok := esToken(baseHeader(), baseClaims().add("ver", "3"))

	t.Run("toUser", func(t *testing.T) {
		for _, c := range []struct {
			name   string
			err    error
			status int
		}{
			{"unknown user", fmt.Errorf("user 42: %w", ErrUnknownUser), 401},
			{"invalid token", fmt.Errorf("%w: disabled", ErrInvalidToken), 401},
			{"store failure", errStore, 500},
		} {
			t.Run(c.name, func(t *testing.T) {
				j, err := NewJWT(func(context.Context, *Claims) (*testUser, error) { return nil, c.err },
					WithIssuer(testIssuer), WithAudience(testAudience), WithClock(fixedClock), WithKey("k1", &k.ec256.PublicKey))
				if err != nil {
					t.Fatal(err)
				}
				res := serve(j, bearerRequest(tok))
				if c.status == 401 {
					checkRefused(t, res, 401, chInvalidToken, "", tok)
					return
				}
				checkServerError(t, res, errStore)
			})
		}
		calls := 0
		j, _ := NewJWT(func(_ context.Context, c *Claims) (*testUser, error) { calls++; return &testUser{ID: c.Subject}, nil },
			WithIssuer(testIssuer), WithAudience(testAudience), WithClock(fixedClock), WithKey("k1", &k.ec256.PublicKey))
		serve(j, bearerRequest(esToken(baseHeader(), baseClaims().set("aud", q("x")))))
		if calls != 0 {
			t.Errorf("toUser called %d times for a refused token", calls)
		}
		checkAccepted(t, serve(j, bearerRequest(tok)))
		if calls != 1 {
			t.Errorf("toUser called %d times for one request", calls)
		}
	})

	t.Run("version", func(t *testing.T) {
		var current int64
		var lookupErr error
		calls := 0
		lookup := func(_ context.Context, userID string) (int64, error) {
			calls++
			if userID != "alice" {
				t.Errorf("lookup(%q)", userID)
			}
			return current, lookupErr
		}
		j := newTestJWT(t, WithKey("k1", &k.ec256.PublicKey), WithVersionCheck(lookup))
		for _, c := range []struct {
			name    string
			current int64
			err     error
		}{{"same version", 3, nil}, {"older current version", 2, nil}} {
			current, lookupErr = c.current, c.err
			calls = 0
			checkAccepted(t, serve(j, bearerRequest(tok)))
			if calls != 1 {
				t.Errorf("%s: %d lookups", c.name, calls)
			}
		}
		current, lookupErr = 4, nil
		res := serve(j, bearerRequest(tok))
		checkRefused(t, res, 401, chInvalidToken, "", tok)
		if !errors.Is(res.err, ErrTokenRevoked) {
			t.Errorf("bumped version: %v, want ErrTokenRevoked", res.err)
		}
		// No ver claim is version 0: refused once the user has version 1.
		current = 1
		checkRefused(t, serve(j, bearerRequest(baseToken())), 401, chInvalidToken, "", "")
		current, lookupErr = 0, fmt.Errorf("gone: %w", ErrUnknownUser)
		checkRefused(t, serve(j, bearerRequest(tok)), 401, chInvalidToken, "user", tok)
		current, lookupErr = 0, errStore
		checkServerError(t, serve(j, bearerRequest(tok)), errStore)
		calls = 0
		serve(j, bearerRequest(esToken(baseHeader(), baseClaims().set("aud", q("x")))))
		if calls != 0 {
			t.Errorf("version looked up %d times for a refused token", calls)
		}
	})
}

// checkServerError asserts a 500 that fails closed and says nothing.
func checkServerError(t *testing.T, res result, cause error) {
	t.Helper()
	if res.called || res.rec.Code != http.StatusInternalServerError {
		t.Errorf("status %d, handler called %v; want 500, not called", res.rec.Code, res.called)
	}
	if got := res.rec.Header().Values("WWW-Authenticate"); len(got) != 0 {
		t.Errorf("WWW-Authenticate on 500: %q", got)
	}
	if res.rec.Header().Get("Cache-Control") != "no-store" || res.rec.Body.String() != "Internal Server Error\n" {
		t.Errorf("headers %v, body %q", res.rec.Header(), res.rec.Body)
	}
	if !errors.Is(res.err, cause) || errors.Is(res.err, ErrInvalidToken) {
		t.Errorf("error handler got %v, want %v", res.err, cause)
	}
}

// TestFormBodyTokenIgnored pins A31's header + form-body case as built: the
// kit never reads request bodies, so a token in a form body is never used
// (RFC 6750 §2.2 stays disabled) and the body reaches the handler unread;
// the request is not refused with 400.
func TestFormBodyTokenIgnored(t *testing.T) {
	d := newDeployments(t)
	good := baseToken()
	body := "access_token=" + url.QueryEscape(good)
	r := httptest.NewRequest(http.MethodPost, "/resource", strings.NewReader(body))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r.Header.Set("Authorization", "Bearer "+good)
	var read string
	h := Require[*testUser](d.es)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.PostForm != nil {
			t.Error("the middleware parsed the form")
		}
		buf := make([]byte, len(body)+1)
		n, _ := r.Body.Read(buf)
		read = string(buf[:n])
	}))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, r)
	if rec.Code != http.StatusOK || read != body {
		t.Errorf("status %d, body read by the handler %q", rec.Code, read)
	}
	// A form token alone is no credential.
	r = httptest.NewRequest(http.MethodPost, "/resource", strings.NewReader(body))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	checkRefused(t, serve(d.es, r), 401, chBare, "", good)
}
