package authkit

// This file builds test tokens byte by byte with the standard library only:
// header JSON text + payload JSON text + a signer. Nothing here goes through
// the kit's own parser or a JOSE library, so tests can produce what no
// well-behaved library would: duplicate members, odd escapes, non-canonical
// encodings, bad signatures.

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"hash"
	"math/big"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// obj is a JSON object written as text, member by member, in order. Names
// are written verbatim between quotes (so "s\\u0075b" stays escaped) and
// values are raw JSON text, so an obj can hold duplicates and any value.
type obj []kv

type kv struct{ name, raw string }

// String returns the object's JSON text.
func (o obj) String() string {
	var b strings.Builder
	b.WriteByte('{')
	for i, m := range o {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`"` + m.name + `":` + m.raw)
	}
	b.WriteByte('}')
	return b.String()
}

// set returns a copy of o with member name set to raw (replaced in place, or
// appended).
func (o obj) set(name, raw string) obj {
	out := append(obj(nil), o...)
	for i := range out {
		if out[i].name == name {
			out[i].raw = raw
			return out
		}
	}
	return append(out, kv{name, raw})
}

// add returns a copy of o with name appended, even if already present.
func (o obj) add(name, raw string) obj {
	return append(append(obj(nil), o...), kv{name, raw})
}

// del returns a copy of o without member name.
func (o obj) del(name string) obj {
	var out obj
	for _, m := range o {
		if m.name != name {
			out = append(out, m)
		}
	}
	return out
}

// q quotes s as a JSON string (s must need no escaping).
func q(s string) string { return `"` + s + `"` }

// num writes an integer as JSON text.
func num(n int64) string { return strconv.FormatInt(n, 10) }

// signFunc signs a signing input (the ASCII bytes "header64.payload64").
type signFunc func(signingInput []byte) []byte

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// buildToken assembles a compact JWS from header and payload text. With a nil
// signer the signature segment is empty (the token ends with a dot).
func buildToken(header, payload string, sign signFunc) string {
	in := b64([]byte(header)) + "." + b64([]byte(payload))
	if sign == nil {
		return in + "."
	}
	return in + "." + b64(sign([]byte(in)))
}

// signingInput returns the part of a compact token before its last dot.
func signingInputOf(token string) string { return token[:strings.LastIndexByte(token, '.')] }

// signatureOf returns the decoded signature of a compact token.
func signatureOf(token string) []byte {
	sig, err := base64.RawURLEncoding.DecodeString(token[strings.LastIndexByte(token, '.')+1:])
	if err != nil {
		panic(err)
	}
	return sig
}

// withSignature replaces the signature of token with sig.
func withSignature(token string, sig []byte) string {
	return signingInputOf(token) + "." + b64(sig)
}

func signHMAC(h func() hash.Hash, secret []byte) signFunc {
	return func(in []byte) []byte {
		m := hmac.New(h, secret)
		m.Write(in)
		return m.Sum(nil)
	}
}

func signHS256(secret []byte) signFunc { return signHMAC(sha256.New, secret) }

func hashFor(h crypto.Hash, in []byte) []byte {
	d := h.New()
	d.Write(in)
	return d.Sum(nil)
}

// ecHash returns the JWS hash of an ECDSA key's curve.
func ecHash(k *ecdsa.PublicKey) crypto.Hash {
	switch k.Curve {
	case elliptic.P384():
		return crypto.SHA384
	case elliptic.P521():
		return crypto.SHA512
	}
	return crypto.SHA256
}

// signES signs with ECDSA and returns the JWS form R||S, each zero-padded to
// the curve's size.
func signES(k *ecdsa.PrivateKey) signFunc {
	return func(in []byte) []byte {
		r, s, err := ecdsa.Sign(rand.Reader, k, hashFor(ecHash(&k.PublicKey), in))
		if err != nil {
			panic(err)
		}
		return packRS(k.Curve, r, s)
	}
}

// signESDER signs with ECDSA but returns the ASN.1 DER form, which JWS does
// not allow.
func signESDER(k *ecdsa.PrivateKey) signFunc {
	return func(in []byte) []byte {
		sig, err := ecdsa.SignASN1(rand.Reader, k, hashFor(ecHash(&k.PublicKey), in))
		if err != nil {
			panic(err)
		}
		return sig
	}
}

func packRS(c elliptic.Curve, r, s *big.Int) []byte {
	size := (c.Params().BitSize + 7) / 8
	out := make([]byte, 2*size)
	r.FillBytes(out[:size])
	s.FillBytes(out[size:])
	return out
}

func signEd(k ed25519.PrivateKey) signFunc {
	return func(in []byte) []byte { return ed25519.Sign(k, in) }
}

func signRS(k *rsa.PrivateKey, h crypto.Hash) signFunc {
	return func(in []byte) []byte {
		sig, err := rsa.SignPKCS1v15(rand.Reader, k, h, hashFor(h, in))
		if err != nil {
			panic(err)
		}
		return sig
	}
}

func signPS(k *rsa.PrivateKey, h crypto.Hash) signFunc {
	return func(in []byte) []byte {
		sig, err := rsa.SignPSS(rand.Reader, k, h, hashFor(h, in), &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash})
		if err != nil {
			panic(err)
		}
		return sig
	}
}

// testKeySet holds the keys of the test deployments, generated once per test
// binary (crypto/rand; Go ignores custom randomness for key generation).
type testKeySet struct {
	ec256, ec256b, ec384, ec521 *ecdsa.PrivateKey
	ed                          ed25519.PrivateKey
	rsa                         *rsa.PrivateKey
	hmac                        []byte
	// attacker keys: never configured anywhere.
	evilEC  *ecdsa.PrivateKey
	evilRSA *rsa.PrivateKey
}

var testKeys = sync.OnceValue(func() *testKeySet {
	ec := func(c elliptic.Curve) *ecdsa.PrivateKey {
		k, err := ecdsa.GenerateKey(c, rand.Reader)
		if err != nil {
			panic(err)
		}
		return k
	}
	rk := func() *rsa.PrivateKey {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			panic(err)
		}
		return k
	}
	_, ed, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		panic(err)
	}
	secret := make([]byte, 32)
	rand.Read(secret)
	return &testKeySet{
		ec256: ec(elliptic.P256()), ec256b: ec(elliptic.P256()),
		ec384: ec(elliptic.P384()), ec521: ec(elliptic.P521()),
		ed: ed, rsa: rk(), hmac: secret,
		evilEC: ec(elliptic.P256()), evilRSA: rk(),
	}
})

// Fixed values of the test deployment.
const (
	testIssuer   = "https://issuer.example"
	testAudience = "api"
)

// testNow is the fixed clock of every test: 2026-01-01T00:00:00Z.
var testNow = time.Unix(1767225600, 0)

func fixedClock() time.Time { return testNow }

// nowPlus returns the test clock plus d seconds as a NumericDate text.
func nowPlus(d int64) string { return num(testNow.Unix() + d) }

// baseHeader is the header of the baseline token, the one valid token the
// attack catalogue (attacks_test.go) alters.
func baseHeader() obj {
	return obj{{"typ", q("at+jwt")}, {"alg", q("ES256")}, {"kid", q("k1")}}
}

// baseClaims is the claims set of the baseline token:
// exp=now+300, iat=now.
func baseClaims() obj {
	return obj{
		{"iss", q(testIssuer)},
		{"sub", q("alice")},
		{"aud", q(testAudience)},
		{"exp", nowPlus(300)},
		{"iat", nowPlus(0)},
		{"jti", q("b9d1c0e8-3f0c-4d5e-9a1b-6c2f7e8d9a01")},
		{"client_id", q("client-1")},
	}
}

// esToken signs header and claims with the k1 ES256 key.
func esToken(h, c obj) string { return buildToken(h.String(), c.String(), signES(testKeys().ec256)) }

// baseToken is the valid baseline token.
func baseToken() string { return esToken(baseHeader(), baseClaims()) }

// headerFor returns the baseline header for alg and kid.
func headerFor(alg, kid string) obj {
	return obj{{"typ", q("at+jwt")}, {"alg", q(alg)}, {"kid", q(kid)}}
}

// ---- keys written as an attacker or a configuration file holds them ----

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

// ---- reading tokens ----

// tokenParts decodes a compact token's header and claims.
func tokenParts(t testing.TB, tok string) (map[string]any, map[string]any) {
	t.Helper()
	seg := strings.Split(tok, ".")
	if len(seg) != 3 {
		t.Fatalf("token %q has %d segments", tok, len(seg))
	}
	var out [2]map[string]any
	for i := range out {
		b, err := base64.RawURLEncoding.DecodeString(seg[i])
		if err != nil {
			t.Fatal(err)
		}
		d := json.NewDecoder(bytes.NewReader(b))
		d.UseNumber()
		if err := d.Decode(&out[i]); err != nil {
			t.Fatal(err)
		}
	}
	return out[0], out[1]
}

func claim(t testing.TB, tok, name string) string {
	t.Helper()
	_, c := tokenParts(t, tok)
	return fmt.Sprint(c[name])
}

func jtiHash(t testing.TB, tok string) [32]byte {
	t.Helper()
	return hashTokenID(claim(t, tok, "jti"))
}
