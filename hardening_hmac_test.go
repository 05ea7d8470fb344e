package authkit

// Issue 10, item 3: HMAC secrets that are recognisably key material in some
// encoding, or obviously low in entropy, are refused with an error that
// says why; random secrets, raw or as base64 or hex text, stay accepted.

import (
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"strings"
	"testing"
)

func TestHardeningHMACSecretRefused(t *testing.T) {
	k := testKeys()
	ecPub := &k.ec256.PublicKey
	spkiEC, spkiRSA := mustPKIX(ecPub), mustPKIX(&k.rsa.PublicKey)
	pkcs1 := x509.MarshalPKCS1PublicKey(&k.rsa.PublicKey)
	pkcs8, err := x509.MarshalPKCS8PrivateKey(k.ed)
	if err != nil {
		t.Fatal(err)
	}
	point := func(c elliptic.Curve) []byte {
		key, err := ecdsa.GenerateKey(c, rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		b, err := key.PublicKey.Bytes()
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	jwkText := ecJWK(ecPub, "k1")
	low := make([]byte, 40) // four byte values, no period, none consecutive
	rand.Read(low)
	for i := range low {
		low[i] = 'a' + 2*(low[i]%4)
	}
	cases := []struct {
		name   string
		secret []byte
		why    string // substring of the error
	}{
		{"base64 of SPKI (EC)", []byte(base64.StdEncoding.EncodeToString(spkiEC)), "base64"},
		{"base64 of SPKI (RSA), PEM body without armour", []byte(strings.TrimSuffix(strings.SplitN(string(pemBlock("PUBLIC KEY", spkiRSA)), "\n", 2)[1], "-----END PUBLIC KEY-----\n")), "DER"},
		{"unpadded base64 of SPKI", []byte(base64.RawStdEncoding.EncodeToString(spkiEC)), "DER"},
		{"base64url of SPKI", []byte(base64.URLEncoding.EncodeToString(spkiRSA)), "DER"},
		{"unpadded base64url of SPKI", []byte(base64.RawURLEncoding.EncodeToString(spkiRSA)), "DER"},
		{"base64 of PKCS#1", []byte(base64.StdEncoding.EncodeToString(pkcs1)), "DER"},
		{"base64 of PKCS#8", []byte(base64.StdEncoding.EncodeToString(pkcs8)), "private key"},
		{"PKCS#8 DER", pkcs8, "private key"},
		{"hex of SPKI", []byte(hex.EncodeToString(spkiEC)), "hex"},
		{"lower-case PEM armour", []byte(strings.ToLower(string(pemBlock("PUBLIC KEY", spkiEC)))), "PEM"},
		{"PEM private key", pemBlock("PRIVATE KEY", pkcs8), "PEM"},
		{"uncompressed P-256 point", point(elliptic.P256()), "EC point"},
		{"uncompressed P-384 point", point(elliptic.P384()), "EC point"},
		{"uncompressed P-521 point", point(elliptic.P521()), "EC point"},
		{"base64url of a JWK", []byte(base64.RawURLEncoding.EncodeToString([]byte(jwkText))), "JWK"},
		{"JWK with a UTF-8 BOM", []byte("\ufeff" + jwkText), "JWK"},
		{"JWK with leading space", []byte(" \n" + jwkText), "JWK"},
		{"JWK Set as an array", []byte("[" + jwkText + "]"), "JWK"},
		{"JWK Set", []byte(`{"keys":[` + jwkText + `]}`), "JWK"},
		{"ssh-ed25519 line", []byte("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl alice@host"), "SSH"},
		{"ssh-rsa line", []byte("ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQC7 bob@host\n"), "SSH"},
		{"ecdsa-sha2 line", []byte("ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTY= c@h"), "SSH"},
		{"32 zero bytes", make([]byte, 32), "one byte value"},
		{"64 0xff bytes", []byte(strings.Repeat("\xff", 64)), "one byte value"},
		{"four distinct bytes", low, "distinct"},
		{"repeated pattern", []byte(strings.Repeat("x7Q!", 10)), "repeats"},
		{"hex digits repeated", []byte("0123456789abcdef0123456789abcdef"), "repeats"},
		{"changeme", []byte("changemechangemechangemechangeme"), "changeme"},
		{"changeme with suffix", []byte("changeme-please-0123456789-abcdef-XYZ"), "changeme"},
		{"jwt.io default", []byte("your-256-bit-secret-your-256-bit-secret"), "secret"},
		{"a password", []byte("MyVeryLongPassword-For-Production!"), "password"},
		{"secret in words", []byte("this is the super secret jwt signing key"), "secret"},
		{"alphabet", []byte("abcdefghijklmnopqrstuvwxyz0123456789"), "consecutive"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := NewJWT(toTestUser, WithIssuer(testIssuer), WithAudience(testAudience), WithKey("h", c.secret))
			if err == nil {
				t.Fatalf("secret %q accepted", c.secret)
			}
			if !strings.Contains(err.Error(), c.why) {
				t.Errorf("error %q does not say %q", err, c.why)
			}
			// The signing side refuses it too.
			store := NewMemoryStore("alice")
			if _, err := NewIssuer(testIssuer, testAudience, c.secret, store, store.Version); err == nil {
				t.Errorf("NewIssuer accepted secret %q", c.secret)
			}
		})
	}
}

// TestHardeningHMACRandomSecretsAccepted: the recognisers must not refuse
// random secrets, raw, as base64/base64url (padded or not) or as hex text,
// nor the secrets the test suite uses.
func TestHardeningHMACRandomSecretsAccepted(t *testing.T) {
	accept := func(what string, secret []byte) {
		t.Helper()
		if _, err := newVerifyKey("h", "", secret); err != nil {
			t.Fatalf("%s secret %q refused: %v", what, secret, err)
		}
	}
	accept("the test suite's", testKeys().hmac)
	// A 65-byte secret starting with 0x04 that is not a curve point.
	notPoint := make([]byte, 65)
	rand.Read(notPoint)
	notPoint[0] = 4
	if _, err := ecdh.P256().NewPublicKey(notPoint); err != nil {
		accept("65 bytes with 0x04 off the curve", notPoint)
	}
	for range 2000 {
		raw := make([]byte, 32)
		rand.Read(raw)
		accept("raw random", raw)
		accept("base64", []byte(base64.StdEncoding.EncodeToString(raw)))
		accept("unpadded base64url", []byte(base64.RawURLEncoding.EncodeToString(raw)))
		accept("hex", []byte(hex.EncodeToString(raw)))
		long := make([]byte, 64)
		rand.Read(long)
		accept("raw random (64 bytes)", long)
	}
}
