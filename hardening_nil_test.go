package authkit

// Issue 10, item 5: typed nils and empty keys are refused at construction
// with an error, never a panic.

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"fmt"
	"io"
	"math/big"
	"testing"
)

// nilSigner is a crypto.Signer whose typed nil panics in Public.
type nilSigner struct{ k *ecdsa.PrivateKey }

func (s *nilSigner) Public() crypto.PublicKey { return s.k.Public() }
func (s *nilSigner) Sign(r io.Reader, d []byte, o crypto.SignerOpts) ([]byte, error) {
	return s.k.Sign(r, d, o)
}

// noPanic runs f and turns a panic into a test failure.
func noPanic(t *testing.T, what string, f func() error) (err error) {
	t.Helper()
	defer func() {
		if p := recover(); p != nil {
			t.Errorf("%s panicked: %v", what, p)
			err = fmt.Errorf("panic: %v", p)
		}
	}()
	return f()
}

// TestHardeningTypedNilKeys (item 5): typed nils and empty keys are refused
// with an error by WithKey, WithAdditionalKey and NewIssuer, never a panic.
func TestHardeningTypedNilKeys(t *testing.T) {
	badPublic := map[string]any{
		"(*ecdsa.PublicKey)(nil)":   (*ecdsa.PublicKey)(nil),
		"(*ecdsa.PrivateKey)(nil)":  (*ecdsa.PrivateKey)(nil),
		"(*rsa.PublicKey)(nil)":     (*rsa.PublicKey)(nil),
		"(*rsa.PrivateKey)(nil)":    (*rsa.PrivateKey)(nil),
		"ed25519.PrivateKey(nil)":   ed25519.PrivateKey(nil),
		"ed25519.PublicKey(nil)":    ed25519.PublicKey(nil),
		"short ed25519.PrivateKey":  ed25519.PrivateKey(make([]byte, 40)),
		"ecdsa.PublicKey{}":         ecdsa.PublicKey{},
		"&ecdsa.PublicKey{}":        &ecdsa.PublicKey{},
		"ECDSA key without X, Y":    &ecdsa.PublicKey{Curve: elliptic.P256()},
		"ECDSA point off the curve": &ecdsa.PublicKey{Curve: elliptic.P256(), X: big.NewInt(1), Y: big.NewInt(1)},
		"&rsa.PublicKey{}":          &rsa.PublicKey{},
		"(*nilSigner)(nil)":         (*nilSigner)(nil),
	}
	for name, key := range badPublic {
		err := noPanic(t, "WithKey("+name+")", func() error {
			_, err := NewJWT(toTestUser, WithIssuer(testIssuer), WithAudience(testAudience), WithKey("k", key))
			return err
		})
		if err == nil {
			t.Errorf("WithKey(%s) succeeded", name)
		}
		err = noPanic(t, "WithAdditionalKey("+name+")", func() error {
			store := NewMemoryStore("alice")
			_, err := NewIssuer(testIssuer, testAudience, testKeys().ec256, store, store.Version, WithAdditionalKey("k", key))
			return err
		})
		if err == nil {
			t.Errorf("WithAdditionalKey(%s) succeeded", name)
		}
	}

	badSigning := map[string]any{
		"nil":                      nil,
		"(*ecdsa.PrivateKey)(nil)": (*ecdsa.PrivateKey)(nil),
		"(*rsa.PrivateKey)(nil)":   (*rsa.PrivateKey)(nil),
		"ed25519.PrivateKey(nil)":  ed25519.PrivateKey(nil),
		"short ed25519.PrivateKey": ed25519.PrivateKey(make([]byte, 40)),
		"&ecdsa.PrivateKey{}":      &ecdsa.PrivateKey{},
		"ECDSA key without D":      &ecdsa.PrivateKey{PublicKey: testKeys().ec256.PublicKey},
		"&rsa.PrivateKey{}":        &rsa.PrivateKey{},
		"RSA key without D":        &rsa.PrivateKey{PublicKey: testKeys().rsa.PublicKey},
		"(*nilSigner)(nil)":        (*nilSigner)(nil),
		"[]byte(nil)":              []byte(nil),
	}
	for name, key := range badSigning {
		err := noPanic(t, "NewIssuer("+name+")", func() error {
			store := NewMemoryStore("alice")
			_, err := NewIssuer(testIssuer, testAudience, key, store, store.Version)
			return err
		})
		if err == nil {
			t.Errorf("NewIssuer(%s) succeeded", name)
		}
	}

	// The real keys still work.
	k := testKeys()
	for name, key := range map[string]any{"ECDSA": k.ec256, "RSA": k.rsa, "Ed25519": k.ed, "signer": &nilSigner{k.ec384}} {
		store := NewMemoryStore("alice")
		if _, err := NewIssuer(testIssuer, testAudience, key, store, store.Version); err != nil {
			t.Errorf("NewIssuer(%s): %v", name, err)
		}
	}
}
