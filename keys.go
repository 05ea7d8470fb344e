package authkit

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"math/big"
	"reflect"
	"slices"
	"sync"

	"github.com/lestrrat-go/jwx/v3/jwk"
)

// This file turns configured keys into verifiers. Each key verifies with
// exactly one algorithm, fixed here, at construction; the token's header can
// only select a key by kid and must then name that key's algorithm.
//
// Signatures are checked with the standard library over the exact bytes
// received (jwx's higher-level jws.Verify re-encodes the segments it
// decoded, which is how it accepts non-canonical encodings): crypto/ed25519,
// crypto/rsa and crypto/ecdsa's VerifyASN1, with the digest on the stack and
// the DER form of r||s built there (what ecdsa.Verify builds after its
// big.Int conversions, and jwx's jwsbb, which the kit called before, after
// its own); HMAC with crypto/hmac and keyed state kept per key
// (hmacVerifier). Only this file, jwks.go and sign.go import jwx.

const (
	minRSABits = 2048
	maxKIDLen  = 256
)

// verifyKey is one configured verification key.
type verifyKey struct {
	id     string
	alg    string
	public any // []byte for HMAC, else the crypto public key
	verify func(signingInput, sig []byte) error
}

var errSignature = errors.New("signature does not verify")

// newVerifyKey checks key and pins its algorithm. alg may be empty, in which
// case it follows from the key: ES256/ES384/ES512 by curve, EdDSA, RS256, or
// HS256 for a secret.
func newVerifyKey(kid, alg string, key any) (*verifyKey, error) {
	if len(kid) > maxKIDLen {
		return nil, fmt.Errorf("key ID longer than %d bytes", maxKIDLen)
	}
	switch k := key.(type) {
	case []byte:
		return newHMACKey(kid, alg, k)
	case *ecdsa.PrivateKey:
		if k == nil {
			return nil, errors.New("nil ECDSA private key")
		}
		return newVerifyKey(kid, alg, &k.PublicKey)
	case ecdsa.PublicKey:
		return newVerifyKey(kid, alg, &k)
	case *ecdsa.PublicKey:
		return newECDSAKey(kid, alg, k)
	case ed25519.PrivateKey:
		if len(k) != ed25519.PrivateKeySize {
			return nil, errors.New("Ed25519 private key has the wrong size")
		}
		return newVerifyKey(kid, alg, k.Public())
	case ed25519.PublicKey:
		if len(k) != ed25519.PublicKeySize {
			return nil, errors.New("Ed25519 public key has the wrong size")
		}
		if err := checkEd25519Point(k); err != nil {
			return nil, err
		}
		k = bytes.Clone(k) // the caller's slice may change
		if alg == "" {
			alg = "EdDSA"
		}
		if alg != "EdDSA" && alg != "Ed25519" {
			return nil, fmt.Errorf("algorithm %q does not go with an Ed25519 key", alg)
		}
		return &verifyKey{id: kid, alg: alg, public: k, verify: func(in, sig []byte) error {
			if len(sig) != ed25519.SignatureSize || !ed25519.Verify(k, in, sig) {
				return errSignature
			}
			return nil
		}}, nil
	case *rsa.PrivateKey:
		if k == nil {
			return nil, errors.New("nil RSA private key")
		}
		return newVerifyKey(kid, alg, &k.PublicKey)
	case rsa.PublicKey:
		return newVerifyKey(kid, alg, &k)
	case *rsa.PublicKey:
		return newRSAKey(kid, alg, k)
	case jwk.Key:
		if isNilPointer(k) {
			return nil, errors.New("nil key")
		}
		var raw any
		if err := jwk.Export(k, &raw); err != nil {
			return nil, fmt.Errorf("exporting JWK: %w", err)
		}
		return newVerifyKey(kid, alg, raw)
	case crypto.Signer:
		if isNilPointer(k) {
			return nil, fmt.Errorf("nil key of type %T", key)
		}
		return newVerifyKey(kid, alg, k.Public())
	case nil:
		return nil, errors.New("nil key")
	}
	return nil, fmt.Errorf("unsupported key type %T", key)
}

// isNilPointer reports whether key is a typed nil pointer (or nil slice, map
// or func), on which a method such as Public would panic.
func isNilPointer(key any) bool {
	switch v := reflect.ValueOf(key); v.Kind() {
	case reflect.Pointer, reflect.Slice, reflect.Map, reflect.Func, reflect.Interface, reflect.Chan:
		return v.IsNil()
	}
	return false
}

// Ed25519 point checks (RFC 8032 §5.1.3), with math/big: this runs once per
// configured key, never per token.
var (
	ed25519P = new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 255), big.NewInt(19))
	// ed25519D is d = -121665/121666 mod p.
	ed25519D = func() *big.Int {
		d := new(big.Int).ModInverse(big.NewInt(121666), ed25519P)
		d.Mul(d, big.NewInt(-121665))
		return d.Mod(d, ed25519P)
	}()
	// ed25519SmallOrderY are the y coordinates (little-endian, as encoded,
	// sign bit clear) of the 8 points of order at most 8: y = 1 (the
	// identity), y = -1 (order 2), y = 0 (the two points of order 4), and
	// the two y values of the four points of order 8.
	ed25519SmallOrderY = [][32]byte{
		{0x01},
		{0xec, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
			0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f},
		{},
		{0x26, 0xe8, 0x95, 0x8f, 0xc2, 0xb2, 0x27, 0xb0, 0x45, 0xc3, 0xf4, 0x89, 0xf2, 0xef, 0x98, 0xf0,
			0xd5, 0xdf, 0xac, 0x05, 0xd3, 0xc6, 0x33, 0x39, 0xb1, 0x38, 0x02, 0x88, 0x6d, 0x53, 0xfc, 0x05},
		{0xc7, 0x17, 0x6a, 0x70, 0x3d, 0x4d, 0xd8, 0x4f, 0xba, 0x3c, 0x0b, 0x76, 0x0d, 0x10, 0x67, 0x0f,
			0x2a, 0x20, 0x53, 0xfa, 0x2c, 0x39, 0xcc, 0xc6, 0x4e, 0xc7, 0xfd, 0x77, 0x92, 0xac, 0x03, 0x7a},
	}
)

// checkEd25519Point refuses an Ed25519 public key that is not the canonical
// encoding of a curve point, or that is a point of small order. A key of
// small order admits signatures made without any private key: with R the
// identity and S = 0, crypto/ed25519 accepts the signature of one message in
// up to eight (issue 10, item 1). Every other point of the curve is accepted
// (those with a small-order component cannot be told apart cheaply, and
// sign nothing without the private key).
func checkEd25519Point(pub []byte) error {
	var y [32]byte
	copy(y[:], pub)
	y[31] &= 0x7f // the sign bit of x
	for _, s := range ed25519SmallOrderY {
		if y == s {
			return errors.New("Ed25519 public key is a point of small order, which admits forged signatures")
		}
	}
	be := make([]byte, 32)
	for i, b := range y {
		be[31-i] = b
	}
	yy := new(big.Int).SetBytes(be)
	if yy.Cmp(ed25519P) >= 0 {
		return errors.New("Ed25519 public key is not canonically encoded (y >= p)")
	}
	// x² = (y² - 1) / (d·y² + 1) must have a square root; x = 0 only for
	// y = ±1, refused above, so the sign bit needs no check.
	y2 := new(big.Int).Mul(yy, yy)
	u := new(big.Int).Sub(y2, big.NewInt(1))
	v := new(big.Int).Mul(ed25519D, y2)
	v.Add(v, big.NewInt(1)).Mod(v, ed25519P)
	x2 := u.Mul(u, v.ModInverse(v, ed25519P)).Mod(u, ed25519P)
	if big.Jacobi(x2, ed25519P) != 1 {
		return errors.New("Ed25519 public key is not a point of the curve")
	}
	return nil
}

func newHMACKey(kid, alg string, secret []byte) (*verifyKey, error) {
	if alg == "" {
		alg = "HS256"
	}
	var h func() hash.Hash
	var min int
	switch alg {
	case "HS256":
		h, min = sha256.New, 32
	case "HS384":
		h, min = sha512.New384, 48
	case "HS512":
		h, min = sha512.New, 64
	default:
		return nil, fmt.Errorf("algorithm %q does not go with an HMAC secret", alg)
	}
	if len(secret) < min {
		return nil, fmt.Errorf("%s secret is %d bytes; at least %d random bytes are required (RFC 7518 §3.2)", alg, len(secret), min)
	}
	// Key material used as an HMAC secret is the key-confusion attack (RFC
	// 8725 §2.1), never a deliberate choice; a low-entropy secret is a
	// password (SECURITY.md K5).
	if why := keyMaterial(secret, true); why != "" {
		return nil, fmt.Errorf("HMAC secret %s; use a random secret, and pass public keys as keys", why)
	}
	if why := weakSecret(secret); why != "" {
		return nil, fmt.Errorf("HMAC secret %s; use at least %d bytes from a CSPRNG (crypto/rand), not a password or placeholder", why, min)
	}
	key := bytes.Clone(secret)
	return &verifyKey{id: kid, alg: alg, public: key, verify: newHMACVerifier(key, h).verify}, nil
}

// hmacVerifier checks HMAC signatures of one key. hmac.New keys a hash once
// (the padded inner and outer blocks) and Reset restores that state, so a
// pool of them saves building and keying an HMAC per verification. Safe for
// concurrent use: each check takes its own state from the pool.
type hmacVerifier struct{ pool sync.Pool }

// hmacState is one keyed HMAC and the buffer its sums go to.
type hmacState struct {
	mac hash.Hash
	sum []byte
}

func newHMACVerifier(key []byte, h func() hash.Hash) *hmacVerifier {
	v := new(hmacVerifier)
	v.pool.New = func() any {
		m := hmac.New(h, key)
		return &hmacState{mac: m, sum: make([]byte, 0, m.Size())}
	}
	return v
}

// verify checks sig over the exact bytes in, in constant time.
func (v *hmacVerifier) verify(in, sig []byte) error {
	s := v.pool.Get().(*hmacState)
	s.mac.Reset()
	s.mac.Write(in)
	s.sum = s.mac.Sum(s.sum[:0])
	ok := hmac.Equal(s.sum, sig)
	v.pool.Put(s)
	if !ok {
		return errSignature
	}
	return nil
}

// keyMaterial says what secret is when it is recognisably a key in some
// encoding (PEM in any case, DER, an uncompressed EC point, a JWK or JWK Set,
// an SSH public key line, and, when decode is set, base64 or hex of any of
// these), or returns "". Only unambiguous encodings are recognised: a raw
// 32-byte Ed25519 public key looks like random bytes and passes.
func keyMaterial(secret []byte, decode bool) string {
	lower := bytes.ToLower(secret)
	if bytes.Contains(lower, []byte("-----begin")) || bytes.Contains(lower, []byte("---- begin ssh2")) {
		return "looks like a PEM block"
	}
	trimmed := bytes.TrimSpace(bytes.TrimPrefix(bytes.TrimSpace(secret), []byte("\ufeff")))
	for _, p := range []string{"ssh-ed25519 ", "ssh-rsa ", "ssh-dss ", "ecdsa-sha2-", "sk-ssh-ed25519@", "sk-ecdsa-sha2-"} {
		if bytes.HasPrefix(bytes.ToLower(trimmed), []byte(p)) {
			return "is an SSH public key line"
		}
	}
	if len(trimmed) > 0 && (trimmed[0] == '{' || trimmed[0] == '[') &&
		(json.Valid(trimmed) || bytes.Contains(trimmed, []byte(`"kty"`))) {
		return "looks like a JWK or JWK Set (JSON)"
	}
	switch {
	case parses(x509.ParsePKIXPublicKey, secret), parses(x509.ParsePKCS1PublicKey, secret):
		return "is a DER-encoded public key"
	case parses(x509.ParsePKCS8PrivateKey, secret), parses(x509.ParsePKCS1PrivateKey, secret), parses(x509.ParseECPrivateKey, secret):
		return "is a DER-encoded private key"
	case parses(x509.ParseCertificate, secret):
		return "is a DER-encoded certificate"
	}
	if len(secret) > 0 && secret[0] == 4 {
		for _, c := range []ecdh.Curve{ecdh.P256(), ecdh.P384(), ecdh.P521()} {
			if _, err := c.NewPublicKey(secret); err == nil {
				return "is an uncompressed EC point (a public key)"
			}
		}
	}
	if !decode {
		return ""
	}
	text := bytes.Map(func(r rune) rune {
		if r == ' ' || r == '\t' || r == '\r' || r == '\n' {
			return -1
		}
		return r
	}, trimmed)
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if raw, err := enc.DecodeString(string(text)); err == nil {
			if why := keyMaterial(raw, false); why != "" {
				return "is base64 of something that " + why
			}
		}
	}
	if raw, err := hex.DecodeString(string(text)); err == nil {
		if why := keyMaterial(raw, false); why != "" {
			return "is hex of something that " + why
		}
	}
	return ""
}

func parses[T any](parse func([]byte) (T, error), b []byte) bool {
	_, err := parse(b)
	return err == nil
}

// placeholderWords are words that turn up in secrets typed by people, and
// almost never (six letters or more) by chance in random text.
var placeholderWords = []string{
	"changeme", "change-me", "change_me", "changethis", "secret", "password", "passwd", "passphrase",
	"placeholder", "replaceme", "replace-me", "replace_me", "example", "default", "letmein", "qwerty",
}

// weakSecret says why secret is obviously not random, or returns "": a
// single repeated byte, very few distinct byte values, a repeated pattern,
// mostly consecutive bytes (abcd…, 0123…), or a placeholder word. Random
// secrets of 32 bytes or more, raw or as base64 or hex text, pass.
func weakSecret(secret []byte) string {
	var seen [256]bool
	distinct := 0
	for _, b := range secret {
		if !seen[b] {
			seen[b] = true
			distinct++
		}
	}
	if distinct == 1 {
		return "is one byte value repeated"
	}
	lower := bytes.ToLower(secret)
	for _, w := range placeholderWords {
		if bytes.Contains(lower, []byte(w)) {
			return fmt.Sprintf("contains the word %q, like a password or placeholder", w)
		}
	}
	for period := 1; period <= len(secret)/2; period++ {
		if bytes.Equal(secret[period:], secret[:len(secret)-period]) {
			return fmt.Sprintf("repeats a %d-byte pattern", period)
		}
	}
	consecutive := 0
	for i := 1; i < len(secret); i++ {
		if d := int(secret[i]) - int(secret[i-1]); d == 1 || d == -1 {
			consecutive++
		}
	}
	if consecutive >= len(secret)/2 {
		return "is mostly consecutive bytes (such as abcd… or 0123…)"
	}
	if distinct < 8 {
		return fmt.Sprintf("has only %d distinct byte values", distinct)
	}
	return ""
}

func newECDSAKey(kid, alg string, k *ecdsa.PublicKey) (*verifyKey, error) {
	if k == nil {
		return nil, errors.New("nil ECDSA public key")
	}
	switch k.Curve {
	case elliptic.P256(), elliptic.P384(), elliptic.P521():
	default:
		return nil, errors.New("unsupported ECDSA curve (P-256, P-384 and P-521 are supported)")
	}
	if k.X == nil || k.Y == nil {
		return nil, errors.New("ECDSA public key without coordinates")
	}
	if _, err := k.ECDH(); err != nil { // checks that the point is on the curve
		return nil, fmt.Errorf("ECDSA public key is not a valid %s point", k.Curve.Params().Name)
	}
	return ecdsaKey(kid, alg, k)
}

// ecdsaKey is newECDSAKey for a key whose point is known to be valid (a
// DPoP proof's, from ecdsa.ParseUncompressedPublicKey).
func ecdsaKey(kid, alg string, k *ecdsa.PublicKey) (*verifyKey, error) {
	var want string
	var h crypto.Hash
	switch k.Curve {
	case elliptic.P256():
		want, h = "ES256", crypto.SHA256
	case elliptic.P384():
		want, h = "ES384", crypto.SHA384
	case elliptic.P521():
		want, h = "ES512", crypto.SHA512
	default:
		return nil, errors.New("unsupported ECDSA curve (P-256, P-384 and P-521 are supported)")
	}
	if alg == "" {
		alg = want
	}
	if alg != want {
		return nil, fmt.Errorf("algorithm %q does not go with a %s key (%s does)", alg, k.Curve.Params().Name, want)
	}
	size := (k.Curve.Params().BitSize + 7) / 8
	return &verifyKey{id: kid, alg: alg, public: k, verify: func(in, sig []byte) error {
		// Exact R||S length (RFC 7518 §3.4); DER and truncated signatures
		// fail here. Zero or out-of-range r, s are refused by crypto/ecdsa.
		if len(sig) != 2*size || !verifyECDSA(k, h, in, sig) {
			return errSignature
		}
		return nil
	}}, nil
}

func newRSAKey(kid, alg string, k *rsa.PublicKey) (*verifyKey, error) {
	if k == nil {
		return nil, errors.New("nil RSA public key")
	}
	// An even exponent, or one below 3, makes no RSA key: such keys never
	// verify (crypto/rsa fails closed), so they are configuration errors.
	if k.E < 3 || k.E%2 == 0 {
		return nil, fmt.Errorf("RSA public exponent %d: it must be odd and at least 3 (usually 65537)", k.E)
	}
	bits := 0
	if k.N != nil {
		bits = k.N.BitLen()
	}
	if bits < minRSABits {
		return nil, fmt.Errorf("RSA key of %d bits; at least %d are required", bits, minRSABits)
	}
	if alg == "" {
		alg = "RS256"
	}
	var h crypto.Hash
	var pss bool
	switch alg {
	case "RS256":
		h = crypto.SHA256
	case "RS384":
		h = crypto.SHA384
	case "RS512":
		h = crypto.SHA512
	case "PS256":
		h, pss = crypto.SHA256, true
	case "PS384":
		h, pss = crypto.SHA384, true
	case "PS512":
		h, pss = crypto.SHA512, true
	default:
		return nil, fmt.Errorf("algorithm %q does not go with an RSA key", alg)
	}
	size := k.Size()
	var opts *rsa.PSSOptions // as jwx's jwsbb, which the kit called before
	if pss {
		opts = &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash, Hash: h}
	}
	return &verifyKey{id: kid, alg: alg, public: k, verify: func(in, sig []byte) error {
		if len(sig) != size {
			return errSignature
		}
		var buf [sha512.Size]byte
		digest := digestOf(h, in, &buf)
		var err error
		if pss {
			err = rsa.VerifyPSS(k, h, digest, sig, opts)
		} else {
			err = rsa.VerifyPKCS1v15(k, h, digest, sig)
		}
		if err != nil {
			return errSignature
		}
		return nil
	}}, nil
}

// digestOf is h (SHA-256, -384 or -512) of in, in buf.
func digestOf(h crypto.Hash, in []byte, buf *[sha512.Size]byte) []byte {
	switch h {
	case crypto.SHA256:
		*(*[sha256.Size]byte)(buf[:]) = sha256.Sum256(in)
		return buf[:sha256.Size]
	case crypto.SHA384:
		*(*[sha512.Size384]byte)(buf[:]) = sha512.Sum384(in)
		return buf[:sha512.Size384]
	}
	*buf = sha512.Sum512(in)
	return buf[:]
}

// verifyECDSA checks the JWS signature r||s (two halves of the curve's
// size) over in: the DER form crypto/ecdsa.VerifyASN1 reads, built on the
// stack exactly as ecdsa.Verify builds it from big.Ints (minimal integers,
// a zero r or s refused).
func verifyECDSA(k *ecdsa.PublicKey, h crypto.Hash, in, sig []byte) bool {
	var buf [sha512.Size]byte
	digest := digestOf(h, in, &buf)
	half := len(sig) / 2
	r, s := bytes.TrimLeft(sig[:half], "\x00"), bytes.TrimLeft(sig[half:], "\x00")
	if len(r) == 0 || len(s) == 0 {
		return false
	}
	// SEQUENCE { INTEGER r, INTEGER s }: at most 2 * (2 + 67) bytes of
	// content (P-521), after a header of two or three bytes.
	var der [3 + 2*(2+67)]byte
	n := len(appendDERInt(appendDERInt(der[3:3], r), s))
	start := 1
	if n < 0x80 {
		der[1], der[2] = 0x30, byte(n)
	} else {
		start = 0
		der[0], der[1], der[2] = 0x30, 0x81, byte(n)
	}
	return ecdsa.VerifyASN1(k, digest, der[start:3+n])
}

// appendDERInt appends the DER INTEGER of the unsigned big-endian v, which
// has no leading zero.
func appendDERInt(b, v []byte) []byte {
	if v[0]&0x80 != 0 {
		return append(append(b, 0x02, byte(len(v)+1), 0), v...)
	}
	return append(append(b, 0x02, byte(len(v))), v...)
}

// keySet is an immutable set of verification keys.
type keySet struct {
	byID map[string]*verifyKey
	only *verifyKey // the key for tokens without kid, when the set holds one key
}

func newKeySet(keys []*verifyKey) (*keySet, error) {
	s := &keySet{byID: make(map[string]*verifyKey, len(keys))}
	for _, k := range keys {
		if _, dup := s.byID[k.id]; dup {
			if k.id == "" {
				return nil, errors.New("several keys without a key ID: give each key its kid")
			}
			return nil, fmt.Errorf("duplicate key ID %q", k.id)
		}
		s.byID[k.id] = k
	}
	if len(keys) == 1 {
		s.only = keys[0]
	}
	return s, nil
}

// lookup selects the key for a token's kid. A token without kid uses the one
// configured key, if there is exactly one; a kid that is present must name a
// configured key (no fallback to "try every key").
func (s *keySet) lookup(kid string, hasKID bool) *verifyKey {
	if !hasKID {
		return s.only
	}
	return s.byID[kid]
}

// keysFromJWKSet converts a parsed JWK Set. Keys must be public signature keys
// ("use" absent or "sig"); a key's "alg", when present, must be one the key
// can verify, and otherwise follows from the key type. Symmetric ("oct") keys
// are refused: configure secrets with WithKey.
func keysFromJWKSet(set jwk.Set) ([]*verifyKey, error) {
	n := set.Len()
	if n == 0 {
		return nil, errors.New("JWK Set holds no keys")
	}
	keys := make([]*verifyKey, 0, n)
	for i := 0; i < n; i++ {
		k, _ := set.Key(i)
		vk, err := verifyKeyFromJWK(k, i, n > 1)
		if err != nil {
			return nil, err
		}
		keys = append(keys, vk)
	}
	return keys, nil
}

// verifyKeyFromJWK converts key i of a JWK Set by the rules of
// keysFromJWKSet; needKID is set when the set holds several keys.
func verifyKeyFromJWK(k jwk.Key, i int, needKID bool) (*verifyKey, error) {
	kid, _ := k.KeyID()
	if needKID && kid == "" {
		return nil, fmt.Errorf("JWK %d has no kid; every key of a set with several keys needs one", i)
	}
	if u, ok := k.KeyUsage(); ok && u != "" && u != "sig" {
		return nil, fmt.Errorf("JWK %q has use %q, not \"sig\"", kid, u)
	}
	if k.KeyType().String() == "oct" {
		return nil, fmt.Errorf("JWK %q is a symmetric key, so its secret (\"k\") was published: treat it as compromised; a JWK Set may only hold public keys", kid)
	}
	for _, m := range jwkPrivateMembers {
		if k.Has(m) {
			return nil, fmt.Errorf("JWK %q has the private member %q: a private key was published in the JWK Set, a security incident (treat the key as compromised and replace it); the key is refused", kid, m)
		}
	}
	if ops, ok := k.KeyOps(); ok && !slices.Contains(ops, jwk.KeyOpVerify) {
		return nil, fmt.Errorf("JWK %q has key_ops %q, without \"verify\"", kid, ops)
	}
	var alg string
	if a, ok := k.Algorithm(); ok {
		alg = a.String()
	}
	pk, err := k.PublicKey()
	if err != nil {
		return nil, fmt.Errorf("JWK %q: %w", kid, err)
	}
	vk, err := newVerifyKey(kid, alg, pk)
	if err != nil {
		return nil, fmt.Errorf("JWK %q: %w", kid, err)
	}
	return vk, nil
}

// keySource finds the key for a token's kid: a static keySet answers from
// memory, a jwksSource may refetch, rate-limited.
type keySource interface {
	key(ctx context.Context, kid string, hasKID bool) (*verifyKey, error)
}

func (s *keySet) key(_ context.Context, kid string, hasKID bool) (*verifyKey, error) {
	return s.lookup(kid, hasKID), nil
}

// parseJWKSet reads a JWK Set given as JSON (RFC 7517 §5) and converts it by
// the rules of keysFromJWKSet.
func parseJWKSet(data []byte) ([]*verifyKey, error) {
	if err := checkJWKSetJSON(data); err != nil {
		return nil, err
	}
	set, err := jwk.Parse(data)
	if err != nil {
		return nil, err
	}
	return keysFromJWKSet(set)
}

// jwkPrivateMembers are the members of private asymmetric JWKs (RFC 7518
// §6.2.2, §6.3.2; RFC 8037 §2), including RSA's "oth" for further primes.
var jwkPrivateMembers = []string{"d", "p", "q", "dp", "dq", "qi", "oth"}

// checkJWKSetJSON validates the raw text of a JWK Set before jwk.Parse
// reads it, with the strict reader: jwk.Parse lets the last of duplicate
// members win at any level ({"keys":[],"keys":[…]}, two "kid"s in a key),
// and accepts a single JWK in place of a set.
func checkJWKSetJSON(data []byte) error {
	var keys []byte
	err := parseObject(data, func(name string, value []byte) error {
		if name == "keys" {
			keys = value
		}
		return nil
	})
	switch {
	case errors.Is(err, errDuplicate):
		return errors.New("the JWK Set has a duplicate member name, which readers may resolve differently")
	case err != nil:
		return fmt.Errorf("failed to parse the JWK Set: not a well-formed JSON object: %w", err)
	case keys == nil:
		return errors.New(`a single JWK or some other object, not a JWK Set: a set is {"keys":[…]} (RFC 7517 §5)`)
	}
	if err := forEachElement(keys, func(k []byte) error {
		if k[0] != '{' {
			return errNotObject
		}
		return nil
	}); err != nil {
		return errors.New(`the JWK Set's "keys" is not an array of objects`)
	}
	return nil
}
