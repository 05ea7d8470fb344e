package authkit

// The attack catalogue: every way of getting a forged, altered or misused
// access token past Require that the kit knows of, as one table grouped by
// concern. Each case is refused with an exact status and WWW-Authenticate
// value, Cache-Control: no-store, a bare body, the handler not called, and
// an error naming the check that refused it (checkRefused). The case IDs
// (A1-A32) name the cases for traceability. TestAccepted is the accepting
// side: the boundary cases and spellings that must pass.

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwk"
)

// attackFixture holds what the groups build their cases from.
type attackFixture struct {
	k          *testKeySet
	d          *deployments
	h0, c0     obj      // the baseline header and claims
	good       string   // the baseline token, valid on d.es
	goodSig    []byte   // its signature
	b64h, b64c string   // its header and payload segments
	gsig       string   // its signature segment
	es         signFunc // the k1 key of d.es
	ecPub      *ecdsa.PublicKey
	evil       signFunc         // the attacker's ES256 key
	srv        *httptest.Server // the attacker's key server (A5)
	hits       *atomic.Int64    // requests it got: always 0

	// The dialect the cases are written in: the kit's own by default, a
	// preset's in TestAttacksPerPreset.
	headerFor func(alg, kid string) obj                          // a valid header
	newJWT    func(t testing.TB, opts ...Option) *JWT[*testUser] // a deployment beside d's
}

func newAttackFixture(t *testing.T) *attackFixture {
	k := testKeys()
	h0, c0 := baseHeader(), baseClaims()
	good := baseToken()
	f := &attackFixture{
		k: k, d: newDeployments(t), h0: h0, c0: c0,
		good: good, goodSig: signatureOf(good),
		b64h: b64([]byte(h0.String())), b64c: b64([]byte(c0.String())),
		gsig:  good[strings.LastIndexByte(good, '.')+1:],
		es:    signES(k.ec256),
		ecPub: &k.ec256.PublicKey,
		evil:  signES(k.evilEC),
		hits:  new(atomic.Int64),

		headerFor: headerFor,
		newJWT:    newTestJWT,
	}
	// A5: a server that would hand out the attacker's keys. The kit must
	// never ask it.
	evilJWKS := `{"keys":[` + ecJWK(&k.evilEC.PublicKey, "k1") + `]}`
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.hits.Add(1)
		w.Write([]byte(evilJWKS))
	}))
	t.Cleanup(f.srv.Close)
	return f
}

// attackGroups is the catalogue, by concern.
var attackGroups = []struct {
	name  string
	cases func(t *testing.T, f *attackFixture) []attackCase
}{
	{"format", formatAttacks},
	{"json", jsonAttacks},
	{"header", headerAttacks},
	{"algorithm", algorithmAttacks},
	{"signature", signatureAttacks},
	{"claims", claimAttacks},
	{"time", timeAttacks},
	{"transport", transportAttacks},
}

// TestAttacks runs every case of the catalogue that applies to access-token
// verification (A1-A28, A30-A32; A29 is refresh work, A10 has its own test)
// through the full middleware, as TestAttacks/<group>/<ID>/<case>.
func TestAttacks(t *testing.T) {
	f := newAttackFixture(t)
	for _, g := range attackGroups {
		t.Run(g.name, func(t *testing.T) {
			for _, c := range g.cases(t, f) {
				t.Run(c.id+"/"+c.name, func(t *testing.T) {
					runAttack(t, f.d, c)
					if n := f.hits.Load(); n != 0 {
						t.Fatalf("the attacker's key server got %d requests", n)
					}
				})
			}
		})
	}
	if n := f.hits.Load(); n != 0 {
		t.Errorf("A5: the attacker's key server got %d requests, want 0", n)
	}
}

// attackCase is one row of the catalogue: the request, the deployment it
// goes to, and what its refusal must look like (runAttack).
type attackCase struct {
	id        string // the catalogue ID (A1-A32), kept as the case name
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

// b64tokenRE is RFC 6750 §2.1 b64token.
var b64tokenRE = regexp.MustCompile(`^[A-Za-z0-9\-._~+/]+=*$`)

// formatAttacks: the compact serialization itself. Exactly three non-empty
// segments of canonical base64url (A11, A13), no JWE or nested token
// (A14/A15), and a size cap checked before any parsing (A25).
func formatAttacks(t *testing.T, f *attackFixture) []attackCase {
	d, es, h0, c0, good, b64h, b64c, gsig := f.d, f.es, f.h0, f.c0, f.good, f.b64h, f.b64c, f.gsig
	var cases []attackCase
	add := func(cs ...attackCase) { cases = append(cases, cs...) }

	// A11: non-canonical base64url on every segment.
	add(a11Cases(t, f)...)

	// A13: segment count and format confusion.
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

	// A25: size and shape.
	deep := strings.Repeat("[", 20000) + strings.Repeat("]", 20000)
	add(
		attackCase{id: "A25", name: "8 MiB token", token: strings.Repeat("A", 4<<20) + "." + strings.Repeat("A", 4<<20-2) + ".A", why: "size limit"},
		attackCase{id: "A25", name: "1 MiB of dots", token: strings.Repeat(".", 1<<20), why: "size limit"},
		attackCase{id: "A25", name: "100 KB kid", token: esToken(f.headerFor("ES256", strings.Repeat("k", 100_000)), c0), why: "size limit"},
		attackCase{id: "A25", name: "100 KB kid under a 1 MiB cap", token: esToken(f.headerFor("ES256", strings.Repeat("k", 100_000)), c0), jwt: d.big, why: "bad kid"},
		attackCase{id: "A25", name: "20000-deep claim", token: esToken(h0, c0.add("deep", deep)), why: "size limit"},
		attackCase{id: "A25", name: "20000-deep claim under a 1 MiB cap", token: esToken(h0, c0.add("deep", deep)), jwt: d.big, why: "nested too deeply"},
		attackCase{id: "A25", name: "33-deep claim under a 1 MiB cap", token: esToken(h0, c0.add("deep", strings.Repeat("[", 32)+strings.Repeat("]", 32))), jwt: d.big, why: "nested too deeply"},
		attackCase{id: "A25", name: "20000-deep header member under a 1 MiB cap", token: esToken(h0.add("x", deep), c0), jwt: d.big, why: "nested too deeply"},
		attackCase{id: "A25", name: "1 MB Authorization header", token: strings.Repeat("A", 1<<20), why: "size limit"},
		attackCase{id: "A25", name: "1 MB Authorization header of junk", token: strings.Repeat("{", 1<<20), status: 400, why: "b64token"},
	)

	return cases
}

// jsonAttacks: the JSON of header and payload. No duplicate member however
// it is spelled (A24), one object each (A26), UTF-8 only and no lone
// surrogates (A27).
func jsonAttacks(t *testing.T, f *attackFixture) []attackCase {
	es, h0, c0 := f.es, f.h0, f.c0
	var cases []attackCase
	add := func(cs ...attackCase) { cases = append(cases, cs...) }

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

	return cases
}

// headerAttacks: header parameters that would pick the key or change the
// processing. Embedded keys and key URLs are never used (A4-A6), kid is
// matched exactly (A7), crit and b64 are refused (A16), typ must be at+jwt
// (A17).
func headerAttacks(t *testing.T, f *attackFixture) []attackCase {
	k, d, h0, c0, b64h, gsig, evil, srv := f.k, f.d, f.h0, f.c0, f.b64h, f.gsig, f.evil, f.srv
	var cases []attackCase
	add := func(cs ...attackCase) { cases = append(cases, cs...) }

	// A4: a key embedded in the header.
	add(
		attackCase{id: "A4", name: "jwk EC with real kid", token: buildToken(h0.add("jwk", ecJWK(&k.evilEC.PublicKey, "k1")).String(), c0.String(), evil), why: `header parameter "jwk"`},
		attackCase{id: "A4", name: "jwk EC without kid", token: buildToken(h0.del("kid").add("jwk", ecJWK(&k.evilEC.PublicKey, "")).String(), c0.String(), evil), why: `header parameter "jwk"`},
		attackCase{id: "A4", name: "jwk RSA", token: buildToken(f.headerFor("RS256", "k1").add("jwk", rsaJWK(&k.evilRSA.PublicKey, "k1", "")).String(), c0.String(), signRS(k.evilRSA, crypto.SHA256)), why: `header parameter "jwk"`},
		attackCase{id: "A4", name: "jwk oct", token: buildToken(f.headerFor("HS256", "h1").add("jwk", `{"kty":"oct","k":"`+b64([]byte("attacker-secret-attacker-secret!"))+`"}`).String(), c0.String(), signHS256([]byte("attacker-secret-attacker-secret!"))), jwt: d.hs, why: `header parameter "jwk"`},
	)

	// A5: jku / x5u pointing at the attacker's server.
	add(
		attackCase{id: "A5", name: "jku", token: buildToken(h0.add("jku", q(srv.URL+"/jwks.json")).String(), c0.String(), evil), why: `header parameter "jku"`},
		attackCase{id: "A5", name: "jku without kid", token: buildToken(h0.del("kid").add("jku", q(srv.URL+"/jwks.json")).String(), c0.String(), evil), why: `header parameter "jku"`},
		attackCase{id: "A5", name: "jku unknown kid", token: buildToken(f.headerFor("ES256", "evil").add("jku", q(srv.URL+"/jwks.json")).String(), c0.String(), evil), why: `header parameter "jku"`},
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
			add(attackCase{id: "A7", name: j.name + " kid " + kid, token: buildToken(f.headerFor("HS256", kid).String(), c0.String(), sign), jwt: j.jwt, why: "no key for this kid"})
		}
	}
	longKID := strings.Repeat("a", 10<<10)
	add(
		attackCase{id: "A7", name: "10 KB kid", token: esToken(f.headerFor("ES256", longKID), c0), why: "size limit"},
		attackCase{id: "A7", name: "10 KB kid under a large size cap", token: esToken(f.headerFor("ES256", longKID), c0), jwt: d.big, why: "bad kid"},
		attackCase{id: "A7", name: "257-byte kid", token: esToken(f.headerFor("ES256", strings.Repeat("k", 257)), c0), why: "bad kid"},
		attackCase{id: "A7", name: "empty kid", token: esToken(f.headerFor("ES256", ""), c0), why: "bad kid"},
		attackCase{id: "A7", name: "kid number", token: esToken(h0.set("kid", "1"), c0), why: "not a string"},
		attackCase{id: "A7", name: "kid object", token: esToken(h0.set("kid", `{"$ne":null}`), c0), why: "not a string"},
		attackCase{id: "A7", name: "kid array", token: esToken(h0.set("kid", `["k1"]`), c0), why: "not a string"},
		attackCase{id: "A7", name: "kid null", token: esToken(h0.set("kid", `null`), c0), why: "not a string"},
		attackCase{id: "A7", name: "unknown kid signed by another configured key", token: buildToken(f.headerFor("ES256", "k3").String(), c0.String(), signES(k.ec256b)), jwt: d.multi, why: "no key for this kid"},
		attackCase{id: "A7", name: "kid k1 signed by the k2 key", token: buildToken(f.headerFor("ES256", "k1").String(), c0.String(), signES(k.ec256b)), jwt: d.multi, why: "signature"},
		attackCase{id: "A7", name: "no kid with two keys configured", token: buildToken(h0.del("kid").String(), c0.String(), signES(k.ec256b)), jwt: d.multi, why: "no key for this kid"},
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

	return cases
}

// algorithmAttacks: the algorithm comes from the configured key, never
// from the token. alg none (A1), another alg with a signature valid for it
// (A2), HMAC keyed with the public key in every form (A3), guessable HMAC
// secrets (A8).
func algorithmAttacks(t *testing.T, f *attackFixture) []attackCase {
	k, d, h0, c0, goodSig, b64c, ecPub := f.k, f.d, f.h0, f.c0, f.goodSig, f.b64c, f.ecPub
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
		tok := buildToken(f.headerFor("HS256", s.kid).String(), c0.String(), signHS256(s.secret))
		add(attackCase{id: "A3", name: s.name, token: tok, jwt: s.jwt, why: "alg does not match"})
		tok = buildToken(f.headerFor("HS256", s.kid).del("kid").String(), c0.String(), signHS256(s.secret))
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
		rfc := f.newJWT(t, WithKey("rfc", &pub))
		der := mustPKIX(&pub)
		for name, secret := range map[string][]byte{"PEM": pemBlock("PUBLIC KEY", der), "DER": der, "JWK": v.JWK} {
			tok := buildToken(f.headerFor("HS256", "rfc").String(), c0.String(), signHS256(secret))
			add(attackCase{id: "A3", name: "RFC 7515 A.2 key " + name, token: tok, jwt: rfc, why: "alg does not match"})
		}
	}

	// A8: weak and blank HMAC secrets against an HS deployment.
	for _, s := range []string{"", "secret", "your-256-bit-secret", "password", "changeme", "jwt", "key", "123456", string(make([]byte, 32))} {
		add(attackCase{id: "A8", name: fmt.Sprintf("secret %q", s), token: buildToken(f.headerFor("HS256", "h1").String(), c0.String(), signHS256([]byte(s))), jwt: d.hs, why: "signature"})
	}

	return cases
}

// signatureAttacks: signatures that are malformed (A9, ECDSA, including
// CVE-2022-21449), missing (A12) or taken from another token (A30).
func signatureAttacks(t *testing.T, f *attackFixture) []attackCase {
	k, h0, c0, good, goodSig, b64h, b64c := f.k, f.h0, f.c0, f.good, f.goodSig, f.b64h, f.b64c
	var cases []attackCase
	add := func(cs ...attackCase) { cases = append(cases, cs...) }

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

	// A12: empty or stripped signatures.
	other := esToken(h0, c0.set("jti", q("another-token")))
	add(
		attackCase{id: "A12", name: "header.payload.", token: b64h + "." + b64c + ".", why: "three non-empty segments"},
		attackCase{id: "A12", name: "header.payload", token: b64h + "." + b64c, why: "three non-empty segments"},
		attackCase{id: "A12", name: "signature AA", token: b64h + "." + b64c + ".AA", why: "signature"},
		attackCase{id: "A12", name: "signature A", token: b64h + "." + b64c + ".A", why: "signature segment"},
		attackCase{id: "A12", name: "signature of another token", token: withSignature(good, signatureOf(other)), why: "signature"},
	)

	// A30: signature of another token.
	otherUser := esToken(append(append(obj(nil), h0[1:]...), h0[0]), c0.set("sub", q("admin"))) // another header text too
	add(
		attackCase{id: "A30", name: "B's header+payload with A's signature", token: withSignature(otherUser, goodSig), why: "signature"},
		attackCase{id: "A30", name: "A's header with B's payload and signature", token: b64h + otherUser[strings.IndexByte(otherUser, '.'):], why: "signature"},
	)

	return cases
}

// claimAttacks: claim values. The audience (A22), issuer and subject
// (A23), and the type of every registered claim (A28).
func claimAttacks(t *testing.T, f *attackFixture) []attackCase {
	h0, c0 := f.h0, f.c0
	var cases []attackCase
	add := func(cs ...attackCase) { cases = append(cases, cs...) }

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

	return cases
}

// timeAttacks: exp, nbf and iat. Their types and values (A18-A20) and the
// leeway boundaries (A21; the accepting side is in TestAccepted).
func timeAttacks(t *testing.T, f *attackFixture) []attackCase {
	h0, c0, ecPub := f.h0, f.c0, f.ecPub
	var cases []attackCase
	add := func(cs ...attackCase) { cases = append(cases, cs...) }

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
		attackCase{id: "A21", name: "leeway 0: exp = now", token: esToken(h0, c0.set("exp", nowPlus(0)).set("iat", nowPlus(-60))), jwt: f.newJWT(t, WithKey("k1", ecPub), WithLeeway(0)), why: "exp has passed"},
		attackCase{id: "A21", name: "leeway 60s: exp = now-60", token: esToken(h0, past.set("exp", nowPlus(-60))), jwt: f.newJWT(t, WithKey("k1", ecPub), WithLeeway(time.Minute)), why: "exp has passed"},
	)

	return cases
}

// transportAttacks: where the token travels. One transport, never the
// query (A31), and the syntax of the Authorization header (A32).
func transportAttacks(t *testing.T, f *attackFixture) []attackCase {
	d, good := f.d, f.good
	var cases []attackCase
	add := func(cs ...attackCase) { cases = append(cases, cs...) }

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

	return cases
}

// a11Cases builds the non-canonical base64url variants of a valid token
// (A11) against a deployment whose kid ("~~~") and jti make
// every segment contain '-' or '_' and end in a character with unused bits.
func a11Cases(t *testing.T, f *attackFixture) []attackCase {
	k := testKeys()
	j := f.newJWT(t, WithKey("~~~", &k.ec256.PublicKey))
	var tok string
	ok := func(seg string) bool { return strings.ContainsAny(seg, "-_") && len(seg)%4 != 0 }
search:
	for n := range 8 {
		for m := range 8 {
			h := "{" + strings.Repeat(" ", n) + f.headerFor("ES256", "~~~").String()[1:]
			c := f.c0.set("jti", q("~~~"+strings.Repeat("?", m))).String()
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
