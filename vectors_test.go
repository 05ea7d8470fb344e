package authkit

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwk"
)

// The published JOSE test vectors, in testdata/jwt/vectors.

type vector struct {
	Name            string          `json:"name"`
	Alg             string          `json:"alg"`
	Token           string          `json:"token"`
	Header          map[string]any  `json:"header"`
	JWK             json.RawMessage `json:"jwk"`
	DetachedPayload string          `json:"detached_payload"`
	PayloadText     string          `json:"payload_text"`
	Expected        struct {
		ValidSignature         bool `json:"valid_signature"`
		ValidDetachedSignature bool `json:"valid_signature_over_detached_payload"`
		IsJWE                  bool `json:"is_jwe"`
		Accept                 bool `json:"accept_under_kit_production_policy"`
	} `json:"expected"`
}

func loadVector(t testing.TB, name string) vector {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "jwt", "vectors", name+".json"))
	if err != nil {
		t.Fatal(err)
	}
	var v vector
	if err := json.Unmarshal(data, &v); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return v
}

func loadVectors(t testing.TB) []vector {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", "jwt", "vectors", "*.json"))
	if err != nil || len(files) != 14 {
		t.Fatalf("vectors: %d files, %v", len(files), err)
	}
	var vs []vector
	for _, f := range files {
		vs = append(vs, loadVector(t, strings.TrimSuffix(filepath.Base(f), ".json")))
	}
	return vs
}

// vectorKey returns the vector's verification key (a jwk.Key, which the
// kit's key constructor accepts) and the kid its header names, or ok=false
// when the vector has no signature key (none, JWE).
func vectorKey(t *testing.T, v vector) (key any, kid string, ok bool) {
	t.Helper()
	if len(v.JWK) == 0 || string(v.JWK) == "null" {
		return nil, "", false
	}
	k, err := jwk.ParseKey(v.JWK)
	if err != nil {
		t.Fatalf("%s: jwk: %v", v.Name, err)
	}
	kid, _ = v.Header["kid"].(string)
	return k, kid, true
}

// vectorClock is before every vector's exp (1300819380), so that no vector
// is refused merely as expired.
func vectorClock() time.Time { return time.Unix(1300819000, 0) }

// TestVectorsRefusedByProductionPolicy configures each vector's own key with
// its own algorithm, on a clock before the vectors' exp, and checks that the
// production verifier refuses every vector for the reason documented in the
// vector, before any claim is trusted.
func TestVectorsRefusedByProductionPolicy(t *testing.T) {
	// The first check that refuses each vector, and the documented reason
	// it stands for.
	why := map[string]string{
		"rfc7515-a1-hs256":               "wrong token type", // typ JWT, not at+jwt
		"rfc7515-a2-rs256":               "wrong token type", // no typ
		"rfc7515-a3-es256":               "wrong token type",
		"rfc7515-a4-es512":               "wrong token type", // and the payload is not JSON
		"rfc7515-a5-none":                "three non-empty segments",
		"rfc7519-a1-encrypted-jwt":       "more than three segments", // JWE
		"rfc7519-a2-nested-jwt":          "more than three segments",
		"rfc7520-4.1-rs256":              "wrong token type",
		"rfc7520-4.2-ps384":              "wrong token type",
		"rfc7520-4.3-es512":              "wrong token type",
		"rfc7520-4.4-hs256":              "wrong token type",
		"rfc7797-4.1-hs256-b64-true":     "wrong token type",
		"rfc7797-4.2-b64-false-detached": "three non-empty segments", // detached payload
	}
	// The RFC 8037 vector has no typ either.
	why["rfc8037-a4-ed25519"] = "wrong token type"
	for _, v := range loadVectors(t) {
		t.Run(v.Name, func(t *testing.T) {
			if v.Expected.Accept {
				t.Fatal("a vector is marked as acceptable under the production policy")
			}
			opts := []Option{WithIssuer("joe"), WithAudience(testAudience), WithClock(vectorClock)}
			if key, kid, ok := vectorKey(t, v); ok {
				opts = append(opts, WithKeyAlgorithm(kid, v.Alg, key))
			} else {
				opts = append(opts, WithKey("k1", &testKeys().ec256.PublicKey))
			}
			j, err := NewJWT(toTestUser, opts...)
			if err != nil {
				t.Fatalf("the vector's key is refused: %v", err)
			}
			_, err = j.v.check(context.Background(), v.Token)
			if !errors.Is(err, ErrInvalidToken) || errors.Is(err, ErrTokenExpired) {
				t.Fatalf("verify = %v, want ErrInvalidToken (not expired)", err)
			}
			if w := why[v.Name]; w == "" || !strings.Contains(err.Error(), w) {
				t.Errorf("verify = %v, want it to say %q", err, w)
			}
			checkRefused(t, serve(j, bearerRequest(v.Token)), 401, chInvalidToken, why[v.Name], v.Token)
		})
	}
}

// TestVectorsBehindTheTypeCheck relaxes the type check to "JWT" for the one
// vector that has a typ (RFC 7515 A.1 / RFC 7519 §3.1) and shows that the
// claims policy refuses it too: it has no aud and no sub, whatever the clock.
func TestVectorsBehindTheTypeCheck(t *testing.T) {
	v := loadVector(t, "rfc7515-a1-hs256")
	key, _, _ := vectorKey(t, v)
	vk, err := newVerifyKey("", "HS256", key)
	if err != nil {
		t.Fatal(err)
	}
	set, _ := newKeySet([]*verifyKey{vk})
	for _, now := range []time.Time{vectorClock(), testNow} {
		ver := verifier{keys: set, typ: "jwt", issuer: "joe", audiences: []string{testAudience}, leeway: defaultLeeway,
			maxLifetime: defaultMaxTokenLifetime, maxSize: defaultMaxTokenSize, now: func() time.Time { return now }}
		_, err := ver.check(context.Background(), v.Token)
		if !errors.Is(err, ErrInvalidToken) || errors.Is(err, ErrTokenExpired) || !strings.Contains(err.Error(), "required claim") {
			t.Errorf("clock %v: verify = %v, want a missing required claim", now, err)
		}
	}
}

// TestVectorsSignatureLayer proves the keys and algorithms work: every
// vector with a valid signature verifies at the signature layer over the
// exact received signing input, and fails once a bit changes.
func TestVectorsSignatureLayer(t *testing.T) {
	n := 0
	for _, v := range loadVectors(t) {
		if !v.Expected.ValidSignature && !v.Expected.ValidDetachedSignature {
			continue
		}
		n++
		t.Run(v.Name, func(t *testing.T) {
			key, kid, ok := vectorKey(t, v)
			if !ok {
				t.Fatal("no key")
			}
			vk, err := newVerifyKey(kid, v.Alg, key)
			if err != nil {
				t.Fatalf("newVerifyKey(%q): %v", v.Alg, err)
			}
			segs := strings.Split(v.Token, ".")
			if len(segs) != 3 {
				t.Fatalf("%d segments", len(segs))
			}
			input := segs[0] + "." + segs[1]
			if v.Expected.ValidDetachedSignature {
				// RFC 7797 b64=false: the payload is signed as is.
				input = segs[0] + "." + v.DetachedPayload
			}
			sig, err := base64.RawURLEncoding.Strict().DecodeString(segs[2])
			if err != nil {
				t.Fatal(err)
			}
			if err := vk.verify([]byte(input), sig); err != nil {
				t.Fatalf("valid signature refused: %v", err)
			}
			bad := append([]byte(nil), sig...)
			bad[len(bad)/2] ^= 1
			if err := vk.verify([]byte(input), bad); !errors.Is(err, errSignature) {
				t.Errorf("flipped signature bit: %v", err)
			}
			if err := vk.verify([]byte(input+"A"), sig); !errors.Is(err, errSignature) {
				t.Errorf("extended signing input: %v", err)
			}
		})
	}
	if n != 11 {
		t.Errorf("%d vectors with a valid signature, want 11", n)
	}
	// RFC 7515 A.1 signs a header that contains CRLF and a space: it only
	// verifies because the signing input is the received bytes, never a
	// re-serialization.
	v := loadVector(t, "rfc7515-a1-hs256")
	h, _ := base64.RawURLEncoding.DecodeString(strings.Split(v.Token, ".")[0])
	if !strings.Contains(string(h), "\r\n ") {
		t.Errorf("A.1 header %q has no CRLF", h)
	}
}
