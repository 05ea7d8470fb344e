package server

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"os"

	"github.com/lestrrat-go/jwx/v3/jwk"
)

// signingKey is the private key that signs the demo's tokens.
type signingKey struct {
	signer crypto.Signer
	alg    string // ES256, EdDSA or RS256, by the key's type
	kid    string // the RFC 7638 thumbprint of the public key
}

// loadSigningKey reads a PEM PKCS#8 private key from path, or makes a fresh
// P-256 key when path is empty. The algorithm follows from the key: EC P-256
// signs ES256, Ed25519 EdDSA, RSA (2048 bits or more) RS256.
func loadSigningKey(path string) (*signingKey, error) {
	var priv crypto.Signer
	if path == "" {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return nil, err
		}
		priv = k
	} else {
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("signing key: %w", err)
		}
		if priv, err = parsePKCS8(data); err != nil {
			return nil, fmt.Errorf("signing key %s: %w", path, err)
		}
	}

	var alg string
	switch k := priv.(type) {
	case *ecdsa.PrivateKey:
		if k.Curve != elliptic.P256() {
			return nil, fmt.Errorf("signing key %s: EC curve %s: only P-256 (ES256) is supported", path, k.Curve.Params().Name)
		}
		alg = "ES256"
	case ed25519.PrivateKey:
		alg = "EdDSA"
	case *rsa.PrivateKey:
		if k.N.BitLen() < 2048 {
			return nil, fmt.Errorf("signing key %s: RSA key of %d bits: at least 2048 are needed", path, k.N.BitLen())
		}
		alg = "RS256"
	default:
		return nil, fmt.Errorf("signing key %s: unsupported key type %T", path, priv)
	}

	// The key ID is the key's thumbprint, so every process that loads the
	// same file names the key the same way.
	pub, err := jwk.Import(priv.Public())
	if err != nil {
		return nil, fmt.Errorf("signing key: %w", err)
	}
	tp, err := pub.Thumbprint(crypto.SHA256)
	if err != nil {
		return nil, fmt.Errorf("signing key: %w", err)
	}
	return &signingKey{signer: priv, alg: alg, kid: base64.RawURLEncoding.EncodeToString(tp)}, nil
}

// parsePKCS8 decodes the one "PRIVATE KEY" PEM block in data.
func parsePKCS8(data []byte) (crypto.Signer, error) {
	block, rest := pem.Decode(data)
	switch {
	case block == nil:
		return nil, errors.New("no PEM block found")
	case block.Type != "PRIVATE KEY":
		return nil, fmt.Errorf("PEM block %q: a PKCS#8 \"PRIVATE KEY\" is needed", block.Type)
	case len(block.Headers) > 0:
		return nil, errors.New("encrypted PEM blocks are not supported")
	}
	if next, _ := pem.Decode(rest); next != nil {
		return nil, errors.New("more than one PEM block")
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, err
	}
	s, ok := k.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("key of type %T cannot sign", k)
	}
	return s, nil
}
