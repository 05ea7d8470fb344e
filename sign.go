package authkit

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jwk"
	"github.com/lestrrat-go/jwx/v3/jws/jwsbb"
)

// This file signs the tokens the Issuer mints. Signatures come from jwx's
// building blocks (jws/jwsbb); the header and the claims set are written by
// the kit itself from typed fields, never from a map of caller-chosen claim
// names (GHSA-4cf7-xm37-g63h). Only this file, keys.go and jwks.go import
// jwx.

// signer signs with one private key under one algorithm, fixed at
// construction.
type signer struct {
	kid    string
	alg    string
	key    any        // crypto.Signer, or []byte for HMAC
	public *verifyKey // the matching verification key
	jwk    []byte     // the public key as a JWK (JSON); nil for HMAC
}

// newSigner checks key, pins its algorithm (alg may be empty: ES256 for
// P-256, ES384, ES512, EdDSA, RS256 or HS256, by key), derives kid from the
// key's RFC 7638 thumbprint when kid is empty, and proves the pair by
// signing and verifying once.
func newSigner(kid, alg string, key any) (*signer, error) {
	var pub any
	switch k := key.(type) {
	case []byte:
		pub = k
	case crypto.Signer:
		if err := checkPrivateKey(k); err != nil {
			return nil, err
		}
		pub = k.Public()
	case nil:
		return nil, errors.New("nil signing key")
	default:
		return nil, fmt.Errorf("signing key of type %T: a private key (crypto.Signer) or an HMAC secret ([]byte) is required", key)
	}
	if kid == "" {
		var err error
		if kid, err = thumbprint(pub); err != nil {
			return nil, err
		}
	}
	vk, err := newVerifyKey(kid, alg, pub)
	if err != nil {
		return nil, err
	}
	if _, ok := jwsbb.GetDsigAlgorithm(vk.alg); !ok {
		return nil, fmt.Errorf("algorithm %q cannot sign", vk.alg)
	}
	s := &signer{kid: kid, alg: vk.alg, key: key, public: vk}
	if _, ok := key.([]byte); !ok {
		if s.jwk, err = publicJWK(kid, vk.alg, pub); err != nil {
			return nil, err
		}
	} else {
		s.key = vk.public // newVerifyKey's private copy of the secret
	}
	in := []byte("authkit signing self-test")
	sig, err := selfTestSign(s.key, s.alg, in)
	if err != nil {
		return nil, fmt.Errorf("signing with %s: %w", s.alg, err)
	}
	if err := vk.verify(in, sig); err != nil {
		return nil, fmt.Errorf("a %s signature made with the key does not verify: %w", s.alg, err)
	}
	return s, nil
}

// checkPrivateKey refuses the private keys on which Public or Sign would
// panic: typed nils, and the standard library's key types without their
// private part or with the wrong size.
func checkPrivateKey(k crypto.Signer) error {
	if isNilPointer(k) {
		return fmt.Errorf("nil signing key of type %T", k)
	}
	switch k := k.(type) {
	case *ecdsa.PrivateKey:
		if k.D == nil || k.D.Sign() <= 0 {
			return errors.New("ECDSA private key without its private scalar")
		}
	case *rsa.PrivateKey:
		if k.D == nil || k.D.Sign() <= 0 || len(k.Primes) < 2 {
			return errors.New("RSA private key without its private exponent and primes")
		}
	case ed25519.PrivateKey:
		if len(k) != ed25519.PrivateKeySize {
			return errors.New("Ed25519 private key has the wrong size")
		}
	}
	return nil
}

// selfTestSign signs in with key, turning a panic of a third-party
// crypto.Signer into an error: construction fails, it does not crash.
func selfTestSign(key any, alg string, in []byte) (sig []byte, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("the signing key panicked: %v", p)
		}
	}()
	return jwsbb.Sign(key, alg, in, nil)
}

// thumbprint returns the base64url RFC 7638 SHA-256 thumbprint of a public
// key (or, for a secret, of its "oct" JWK, which reveals nothing of a random
// secret of 32 bytes or more).
func thumbprint(pub any) (string, error) {
	k, err := jwk.Import(pub)
	if err != nil {
		return "", fmt.Errorf("key of type %T: %w", pub, err)
	}
	tp, err := k.Thumbprint(crypto.SHA256)
	if err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(tp), nil
}

// publicJWK returns pub as a JWK with kid, alg and use "sig".
func publicJWK(kid, alg string, pub any) ([]byte, error) {
	k, err := jwk.Import(pub)
	if err != nil {
		return nil, fmt.Errorf("key of type %T: %w", pub, err)
	}
	a, ok := jwa.LookupSignatureAlgorithm(alg)
	if !ok {
		return nil, fmt.Errorf("unknown algorithm %q", alg)
	}
	for name, v := range map[string]any{jwk.KeyIDKey: kid, jwk.AlgorithmKey: a, jwk.KeyUsageKey: "sig"} {
		if err := k.Set(name, v); err != nil {
			return nil, err
		}
	}
	return json.Marshal(k)
}

// header returns the base64url-encoded protected header for tokens of type
// typ.
func (s *signer) header(typ string) string {
	h, _ := json.Marshal(struct {
		Alg string `json:"alg"`
		Kid string `json:"kid"`
		Typ string `json:"typ"`
	}{s.alg, s.kid, typ}) // cannot fail: three strings
	return base64.RawURLEncoding.EncodeToString(h)
}

// sign returns the compact JWS of header64 (from header) and the claims
// set.
func (s *signer) sign(header64 string, claims []byte) (string, error) {
	enc := base64.RawURLEncoding
	buf := make([]byte, 0, len(header64)+2+enc.EncodedLen(len(claims))+enc.EncodedLen(512))
	buf = append(buf, header64...)
	buf = append(buf, '.')
	buf = enc.AppendEncode(buf, claims)
	sig, err := jwsbb.Sign(s.key, s.alg, buf, nil)
	if err != nil {
		return "", fmt.Errorf("authkit: signing a token: %w", err)
	}
	buf = append(buf, '.')
	buf = enc.AppendEncode(buf, sig)
	return string(buf), nil
}

// tokenClaims are the claims the kit writes into the tokens it mints. There
// is no way to add a claim by name.
type tokenClaims struct {
	issuer    string
	subject   string
	audience  string
	expiresAt time.Time
	issuedAt  time.Time
	id        string // jti
	version   int64  // ver
	family    string // fam: refresh tokens only
	scope     string // scope, when not empty
	jkt       string // cnf.jkt: the DPoP key the token is bound to, when not empty
}

// appendJSON writes c as a JSON object: iss, sub, aud, exp, iat, jti, ver,
// scope when there is one, cnf when the token is DPoP-bound and, for a
// refresh token, fam. NumericDates are
// whole seconds.
func (c *tokenClaims) appendJSON(b []byte) []byte {
	b = append(b, `{"iss":`...)
	b = appendJSONString(b, c.issuer)
	b = append(b, `,"sub":`...)
	b = appendJSONString(b, c.subject)
	b = append(b, `,"aud":`...)
	b = appendJSONString(b, c.audience)
	b = append(b, `,"exp":`...)
	b = strconv.AppendInt(b, c.expiresAt.Unix(), 10)
	b = append(b, `,"iat":`...)
	b = strconv.AppendInt(b, c.issuedAt.Unix(), 10)
	b = append(b, `,"jti":`...)
	b = appendJSONString(b, c.id)
	b = append(b, `,"ver":`...)
	b = strconv.AppendInt(b, c.version, 10)
	if c.scope != "" {
		b = append(b, `,"scope":`...)
		b = appendJSONString(b, c.scope)
	}
	if c.jkt != "" {
		b = append(b, `,"cnf":{"jkt":`...)
		b = appendJSONString(b, c.jkt)
		b = append(b, '}')
	}
	if c.family != "" {
		b = append(b, `,"fam":`...)
		b = appendJSONString(b, c.family)
	}
	return append(b, '}')
}

// appendJSONString appends s as a JSON string. s must be valid UTF-8 (the
// kit checks user IDs and configured names before they get here); quotes,
// backslashes and control characters are escaped (RFC 8259 §7).
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' {
			continue
		}
		b = append(b, s[start:i]...)
		switch c {
		case '"', '\\':
			b = append(b, '\\', c)
		case '\n':
			b = append(b, '\\', 'n')
		case '\r':
			b = append(b, '\\', 'r')
		case '\t':
			b = append(b, '\\', 't')
		default:
			b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		}
		start = i + 1
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
