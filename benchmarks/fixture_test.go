package benchmarks

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/big"
	"strings"
	"time"
	"unsafe"
)

// The claims every token carries, and what every middleware is configured to
// expect.
const (
	issuer   = "https://issuer.example"
	audience = "https://api.example"
	subject  = "user-1"
	kid      = "k1"
)

var algs = []string{"HS256", "ES256", "EdDSA", "RS256"}

// fixture is one algorithm's keys and tokens, all built once with the
// standard library.
type fixture struct {
	alg    string
	secret []byte // HS256
	pub    any    // verification key: *ecdsa.PublicKey, ed25519.PublicKey, *rsa.PublicKey
	sign   func(signingInput []byte) []byte

	token string // valid: typ at+jwt, kid k1, sub iss aud exp iat jti ver

	// Tokens every middleware must refuse, so that the comparison is between
	// middlewares that really verify.
	bad map[string]string
}

var fixtures = func() map[string]*fixture {
	m := make(map[string]*fixture, len(algs))
	for _, alg := range algs {
		m[alg] = newFixture(alg)
	}
	return m
}()

func newFixture(alg string) *fixture {
	f := &fixture{alg: alg}
	switch alg {
	case "HS256":
		// Fixed, so that runs are comparable; 32 bytes (RFC 7518 §3.2).
		s := sha256.Sum256([]byte("authkit benchmark secret"))
		f.secret = s[:]
		f.sign = func(in []byte) []byte {
			mac := hmac.New(sha256.New, f.secret)
			mac.Write(in)
			return mac.Sum(nil)
		}
	case "ES256":
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		check(err)
		f.pub = &k.PublicKey
		f.sign = func(in []byte) []byte {
			h := sha256.Sum256(in)
			r, s, err := ecdsa.Sign(rand.Reader, k, h[:])
			check(err)
			sig := make([]byte, 64)
			r.FillBytes(sig[:32])
			s.FillBytes(sig[32:])
			return sig
		}
	case "EdDSA":
		pub, priv, err := ed25519.GenerateKey(rand.Reader)
		check(err)
		f.pub = pub
		f.sign = func(in []byte) []byte { return ed25519.Sign(priv, in) }
	case "RS256":
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		check(err)
		f.pub = &k.PublicKey
		f.sign = func(in []byte) []byte {
			h := sha256.Sum256(in)
			sig, err := rsa.SignPKCS1v15(rand.Reader, k, crypto.SHA256, h[:])
			check(err)
			return sig
		}
	default:
		panic("unknown algorithm " + alg)
	}

	// Real time: auth0's and echo-jwt's validators read time.Now and take no
	// clock, so every middleware runs on the real clock. One hour is the
	// longest lifetime authkit accepts by default, and longer than a run.
	now := time.Now().Unix()
	claims := func(edit func(map[string]any)) map[string]any {
		c := map[string]any{
			"sub": subject, "iss": issuer, "aud": audience,
			"exp": now + 3600, "iat": now,
			"jti": "0b3ad52c-9f61-4f4b-8c6e-6b1f1d2c8a70", "ver": 3,
		}
		if edit != nil {
			edit(c)
		}
		return c
	}
	f.token = f.build(claims(nil))

	// The valid header and signature with another payload: the signature
	// must not verify.
	h, _, _ := strings.Cut(f.token, ".")
	sig := f.token[strings.LastIndexByte(f.token, '.')+1:]
	forged := h + "." + b64(claims(func(c map[string]any) { c["sub"] = "admin" })) + "." + sig
	// The valid token with one bit of its signature flipped.
	rawSig, err := base64.RawURLEncoding.DecodeString(sig)
	check(err)
	rawSig[len(rawSig)/2] ^= 1
	flipped := f.token[:strings.LastIndexByte(f.token, '.')+1] + base64.RawURLEncoding.EncodeToString(rawSig)

	f.bad = map[string]string{
		"forged payload":   forged,
		"flipped sig bit":  flipped,
		"wrong issuer":     f.build(claims(func(c map[string]any) { c["iss"] = "https://evil.example" })),
		"wrong audience":   f.build(claims(func(c map[string]any) { c["aud"] = "https://other.example" })),
		"expired":          f.build(claims(func(c map[string]any) { c["iat"], c["exp"] = now-7200, now-3600 })),
		"no signature alg": noneToken(claims(nil)),
	}
	return f
}

// build signs claims with the fixture's key, header
// {"alg":..,"typ":"at+jwt","kid":"k1"}.
func (f *fixture) build(claims map[string]any) string {
	hdr := b64(map[string]any{"alg": f.alg, "typ": "at+jwt", "kid": kid})
	in := hdr + "." + b64(claims)
	return in + "." + base64.RawURLEncoding.EncodeToString(f.sign([]byte(in)))
}

func noneToken(claims map[string]any) string {
	return b64(map[string]any{"alg": "none", "typ": "at+jwt", "kid": kid}) + "." + b64(claims) + "."
}

func b64(v any) string {
	j, err := json.Marshal(v)
	check(err)
	return base64.RawURLEncoding.EncodeToString(j)
}

func check(err error) {
	if err != nil {
		panic(err)
	}
}

// rawVerify is the floor: only the signature check of a token, with the
// standard library, no header or claims parsing, no HTTP. It splits at the
// last dot, decodes the signature into a stack buffer and verifies it over
// the signing input in place.
func (f *fixture) rawVerify(token string) bool {
	dot := strings.LastIndexByte(token, '.')
	if dot < 0 {
		return false
	}
	in := unsafe.Slice(unsafe.StringData(token), dot)
	seg := token[dot+1:]
	var buf [512]byte
	if base64.RawURLEncoding.DecodedLen(len(seg)) > len(buf) {
		return false
	}
	n, err := base64.RawURLEncoding.Decode(buf[:], unsafe.Slice(unsafe.StringData(seg), len(seg)))
	if err != nil {
		return false
	}
	sig := buf[:n]
	switch f.alg {
	case "HS256":
		mac := hmac.New(sha256.New, f.secret)
		mac.Write(in)
		var sum [sha256.Size]byte
		return hmac.Equal(mac.Sum(sum[:0]), sig)
	case "ES256":
		if len(sig) != 64 {
			return false
		}
		h := sha256.Sum256(in)
		r, s := new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])
		return ecdsa.Verify(f.pub.(*ecdsa.PublicKey), h[:], r, s)
	case "EdDSA":
		return ed25519.Verify(f.pub.(ed25519.PublicKey), in, sig)
	case "RS256":
		h := sha256.Sum256(in)
		return rsa.VerifyPKCS1v15(f.pub.(*rsa.PublicKey), crypto.SHA256, h[:], sig) == nil
	}
	panic(fmt.Sprint("unknown algorithm ", f.alg))
}

// verifyKey is what a library takes to verify: the secret or the public key.
func (f *fixture) verifyKey() any {
	if f.secret != nil {
		return f.secret
	}
	return f.pub
}
