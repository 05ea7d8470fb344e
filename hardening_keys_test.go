package authkit

// Issue 10, items 1, 2 and 5: keys that must be refused when they enter the
// kit (WithKey, WithJWKSet, WithJWKSURL, NewIssuer and WithAdditionalKey),
// with an error and never a panic.

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"encoding/hex"
	"fmt"
	"strings"
	"testing"
)

// ed25519SmallOrder are the encodings of the 8 points of order at most 8
// (the torsion subgroup), as published with libsodium's blocklist.
var ed25519SmallOrder = []string{
	"0100000000000000000000000000000000000000000000000000000000000000", // identity (order 1)
	"ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", // y = -1 (order 2)
	"0000000000000000000000000000000000000000000000000000000000000000", // y = 0 (order 4)
	"0000000000000000000000000000000000000000000000000000000000000080", // y = 0, other x (order 4)
	"26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05", // order 8
	"26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85", // order 8
	"c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a", // order 8
	"c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa", // order 8
}

// ed25519NonCanonical are encodings that no conforming encoder produces:
// y >= p, or x = 0 with the sign bit set; several decode to small-order
// points in lenient decoders. The last one is not a point at all.
var ed25519NonCanonical = []string{
	"0100000000000000000000000000000000000000000000000000000000000080", // identity with the sign bit
	"ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff", // y = -1 with the sign bit
	"edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", // y = p (= 0)
	"edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff", // y = p, sign bit
	"eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", // y = p+1 (= 1)
	"eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff", // y = p+1, sign bit
	"ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", // y = 2^255-1
	"0200000000000000000000000000000000000000000000000000000000000000", // y = 2: not on the curve
}

func mustHex(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

// forgeEd25519 returns a token for kid that verifies under the small-order
// public key pub with Go's crypto/ed25519, made without any private key:
// R = identity, S = 0 verifies whenever [k]pub is the identity, which for a
// point of order n holds for about one message in n. ok is false when no
// message among the tries worked.
func forgeEd25519(pub ed25519.PublicKey, kid string) (token string, ok bool) {
	sig := append(mustHex(ed25519SmallOrder[0]), make([]byte, 32)...)
	for i := range 256 {
		h := headerFor("EdDSA", kid).String()
		c := baseClaims().set("sub", q("admin")).set("jti", q(fmt.Sprintf("forged-%d", i))).String()
		tok := buildToken(h, c, func([]byte) []byte { return sig })
		if ed25519.Verify(pub, []byte(signingInputOf(tok)), sig) {
			return tok, true
		}
	}
	return "", false
}

// TestHardeningEd25519ForgeryWithSmallOrderKey (item 1): the attack of the
// review, end to end. Each small-order key admits a token forged without a
// private key (checked here with crypto/ed25519 itself); every way in must
// refuse the key, so that no such token reaches a handler.
func TestHardeningEd25519ForgeryWithSmallOrderKey(t *testing.T) {
	for _, enc := range ed25519SmallOrder {
		pub := ed25519.PublicKey(mustHex(enc))
		forged, ok := forgeEd25519(pub, "bad")
		if !ok {
			t.Fatalf("%s: no forgery found; is it really of small order?", enc)
		}
		t.Run(enc[:8]+"…"+enc[60:], func(t *testing.T) {
			tryJWT := func(what string, opts ...Option) {
				t.Helper()
				opts = append([]Option{WithIssuer(testIssuer), WithAudience(testAudience), WithClock(fixedClock)}, opts...)
				j, err := NewJWT(toTestUser, opts...)
				if err == nil {
					res := serve(j, bearerRequest(forged))
					t.Errorf("%s: NewJWT accepted the small-order key; the forged token got %d (handler called: %v)", what, res.rec.Code, res.called)
					return
				}
				if !strings.Contains(err.Error(), "Ed25519 public key") {
					t.Errorf("%s: error %q does not say the Ed25519 key is the problem", what, err)
				}
			}
			tryJWT("WithKey", WithKey("bad", pub))
			tryJWT("WithKeyAlgorithm", WithKeyAlgorithm("bad", "EdDSA", pub))
			tryJWT("WithJWKSet", WithJWKSet([]byte(`{"keys":[`+edJWK(pub, "bad")+`]}`)))

			// WithJWKSURL: the key is skipped (logged), the good one stays.
			good := newTestSigner(t, "good")
			srv := newJWKSServer(t, jwksOf(t, good, edJWK(pub, "bad")))
			j := mustJWKSAuth(t, srv, newTestClock(testNow))
			if k := sourceOf(j).keys.Load().byID["bad"]; k != nil {
				t.Error("WithJWKSURL: the small-order key is in use")
			}

			// NewIssuer: as an additional key, and as the public half of the
			// signing key.
			store := NewMemoryStore("alice")
			if _, err := NewIssuer(testIssuer, testAudience, testKeys().ec256, store, store.Version,
				WithAdditionalKey("bad", pub)); err == nil {
				t.Error("WithAdditionalKey accepted the small-order key")
			} else if !strings.Contains(err.Error(), "Ed25519 public key") {
				t.Errorf("WithAdditionalKey: error %q does not say the Ed25519 key is the problem", err)
			}
			priv := ed25519.PrivateKey(append(testKeys().ed.Seed(), pub...))
			if _, err := NewIssuer(testIssuer, testAudience, priv, store, store.Version); err == nil {
				t.Error("NewIssuer accepted a private key whose public half is of small order")
			} else if !strings.Contains(err.Error(), "Ed25519 public key") {
				t.Errorf("NewIssuer: error %q does not say the Ed25519 public key is the problem", err)
			}
			tryJWT("WithKey(private key)", WithKey("bad", priv))
		})
	}
}

// TestHardeningEd25519NonCanonicalRefused (item 1): encodings with y >= p,
// x = 0 with the sign bit, and one that is no point, are refused by every
// way in, with an error that names the problem.
func TestHardeningEd25519NonCanonicalRefused(t *testing.T) {
	for _, enc := range append(append([]string(nil), ed25519SmallOrder...), ed25519NonCanonical...) {
		pub := ed25519.PublicKey(mustHex(enc))
		ways := map[string][]Option{
			"WithKey":    {WithKey("bad", pub)},
			"WithJWKSet": {WithJWKSet([]byte(`{"keys":[` + edJWK(pub, "bad") + `]}`))},
		}
		for way, opts := range ways {
			opts = append([]Option{WithIssuer(testIssuer), WithAudience(testAudience)}, opts...)
			_, err := NewJWT(toTestUser, opts...)
			if err == nil {
				t.Errorf("%s accepted Ed25519 key %s", way, enc)
				continue
			}
			if !strings.Contains(err.Error(), "Ed25519 public key") {
				t.Errorf("%s(%s): error %q does not name the Ed25519 key", way, enc, err)
			}
		}
		store := NewMemoryStore("alice")
		if _, err := NewIssuer(testIssuer, testAudience, testKeys().ec256, store, store.Version,
			WithAdditionalKey("bad", pub)); err == nil {
			t.Errorf("WithAdditionalKey accepted Ed25519 key %s", enc)
		}
	}
	// Real keys stay accepted, the configured one and fresh ones.
	for i := range 50 {
		pub := testKeys().ed.Public().(ed25519.PublicKey)
		if i > 0 {
			var err error
			if pub, _, err = ed25519.GenerateKey(rand.Reader); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := newVerifyKey("e", "", pub); err != nil {
			t.Fatalf("a real Ed25519 key was refused: %v", err)
		}
	}
}

// TestHardeningRSAExponentRefused (item 2): even exponents and exponents
// below 3 are refused at construction, by WithKey and in a JWK Set.
func TestHardeningRSAExponentRefused(t *testing.T) {
	n := testKeys().rsa.N
	for _, e := range []int{-3, 0, 1, 2, 4, 6, 65536, 65538} {
		key := &rsa.PublicKey{N: n, E: e}
		_, err := NewJWT(toTestUser, WithIssuer(testIssuer), WithAudience(testAudience), WithKey("r", key))
		if err == nil || !strings.Contains(err.Error(), "exponent") {
			t.Errorf("WithKey(RSA e=%d) = %v, want an error about the exponent", e, err)
		}
		if e > 0 {
			_, err = NewJWT(toTestUser, WithIssuer(testIssuer), WithAudience(testAudience),
				WithJWKSet([]byte(`{"keys":[`+rsaJWK(key, "r", "RS256")+`]}`)))
			if err == nil || !strings.Contains(err.Error(), "exponent") {
				t.Errorf("WithJWKSet(RSA e=%d) = %v, want an error about the exponent", e, err)
			}
		}
	}
	for _, e := range []int{3, 17, 65537} {
		if _, err := newVerifyKey("r", "", &rsa.PublicKey{N: n, E: e}); err != nil {
			t.Errorf("RSA e=%d refused: %v", e, err)
		}
	}
}
