package authkit

// Issue 10, item 4: JWK Sets with private members, key_ops without
// "verify", duplicate member names at any level, or a bare JWK where a set
// is expected, are refused, by WithJWKSet and by WithJWKSURL.

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwk"
)

// privateJWK is the JWK of a private key, as a careless exporter writes it.
func privateJWK(t *testing.T, key any, kid string) string {
	t.Helper()
	k, err := jwk.Import(key)
	if err != nil {
		t.Fatal(err)
	}
	if err := k.Set(jwk.KeyIDKey, kid); err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(k)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// withMember adds the member name: raw to the JWK object text j.
func withMember(j, name, raw string) string {
	return strings.TrimSuffix(j, "}") + `,"` + name + `":` + raw + "}"
}

func newJWTWithSet(data []byte) error {
	_, err := NewJWT(toTestUser, WithIssuer(testIssuer), WithAudience(testAudience), WithJWKSet(data))
	return err
}

func TestHardeningJWKSetPrivateKeyRefused(t *testing.T) {
	k := testKeys()
	ecPub := ecJWK(&k.ec256.PublicKey, "e")
	cases := map[string]string{
		"EC private key":      privateJWK(t, k.ec256, "e"),
		"RSA private key":     privateJWK(t, k.rsa, "r"),
		"Ed25519 private key": privateJWK(t, k.ed, "o"),
		"EC key with d only":  withMember(ecPub, "d", q(b64(k.ec256.D.FillBytes(make([]byte, 32))))), // fixed size: 1 key in 256 has a short D, which jwx refuses first
		"RSA key with p":      withMember(rsaJWK(&k.rsa.PublicKey, "r", "RS256"), "p", q(b64(k.rsa.Primes[0].Bytes()))),
		"RSA key with qi":     withMember(rsaJWK(&k.rsa.PublicKey, "r", "RS256"), "qi", q(b64(k.rsa.Precomputed.Qinv.Bytes()))),
		"EC key with dp":      withMember(ecPub, "dp", q("AQAB")),
	}
	for name, key := range cases {
		err := newJWTWithSet([]byte(`{"keys":[` + key + `]}`))
		if err == nil {
			t.Errorf("%s: accepted", name)
			continue
		}
		if !strings.Contains(err.Error(), "private key was published") || !strings.Contains(err.Error(), "incident") {
			t.Errorf("%s: error %q does not say a private key was published", name, err)
		}
	}
	// An oct key publishes its secret ("k"): already refused as symmetric,
	// now also named for what it is.
	err := newJWTWithSet([]byte(`{"keys":[{"kty":"oct","kid":"s","k":"` + b64(k.hmac) + `"}]}`))
	if err == nil || !strings.Contains(err.Error(), "symmetric") || !strings.Contains(err.Error(), "published") {
		t.Errorf("oct key: %v, want an error saying its secret was published", err)
	}
}

func TestHardeningJWKSetKeyOps(t *testing.T) {
	ecPub := ecJWK(&testKeys().ec256.PublicKey, "e")
	for _, ops := range []string{`["encrypt"]`, `["sign"]`, `["encrypt","decrypt","wrapKey"]`, `[]`} {
		err := newJWTWithSet([]byte(`{"keys":[` + withMember(ecPub, "key_ops", ops) + `]}`))
		if err == nil || !strings.Contains(err.Error(), "key_ops") {
			t.Errorf("key_ops %s: %v, want an error about key_ops", ops, err)
		}
	}
	for _, ops := range []string{`["verify"]`, `["sign","verify"]`} {
		if err := newJWTWithSet([]byte(`{"keys":[` + withMember(ecPub, "key_ops", ops) + `]}`)); err != nil {
			t.Errorf("key_ops %s refused: %v", ops, err)
		}
	}
}

// jwksStructureCases are JWK Set documents that must be refused as a whole.
func jwksStructureCases(t *testing.T) map[string][]byte {
	k := testKeys()
	good := ecJWK(&k.ec256.PublicKey, "e")
	other := ecJWK(&k.ec256b.PublicKey, "e")
	return map[string][]byte{
		"two keys members":             []byte(`{"keys":[],"keys":[` + good + `]}`),
		"two keys members, empty last": []byte(`{"keys":[` + good + `],"keys":[]}`),
		"two kid members":              []byte(`{"keys":[` + withMember(good, "kid", q("other")) + `]}`),
		"two x members":                []byte(`{"keys":[` + strings.Replace(other, `"kid":"e"`, `"kid":"e",`+strings.Split(good, ",")[2], 1) + `]}`),
		"escaped duplicate":            []byte(`{"keys":[` + withMember(good, `k\u0069d`, q("other")) + `]}`),
		"bare JWK":                     []byte(good),
		"keys not an array":            []byte(`{"keys":` + good + `}`),
	}
}

func TestHardeningJWKSetStructureRefused(t *testing.T) {
	for name, data := range jwksStructureCases(t) {
		err := newJWTWithSet(data)
		if err == nil {
			t.Errorf("%s: %s accepted", name, data)
			continue
		}
		if name == "bare JWK" && !strings.Contains(err.Error(), "not a JWK Set") {
			t.Errorf("bare JWK: error %q does not say it is not a set", err)
		}
		if strings.Contains(name, "two") || strings.Contains(name, "duplicate") {
			if !strings.Contains(err.Error(), "duplicate") {
				t.Errorf("%s: error %q does not say duplicate", name, err)
			}
		}
	}
	// The same set without the duplicates is accepted.
	if err := newJWTWithSet([]byte(`{"keys":[` + ecJWK(&testKeys().ec256.PublicKey, "e") + `]}`)); err != nil {
		t.Fatal(err)
	}
}

// TestHardeningJWKSURLStructureRefused: the JWKS URL path applies the same
// checks to what it fetches: a malformed document is refused (never ready).
func TestHardeningJWKSURLStructureRefused(t *testing.T) {
	for name, data := range jwksStructureCases(t) {
		srv := newJWKSServer(t, data)
		ctx, cancel := context.WithCancel(context.Background())
		_, err := newJWKSAuth(t, ctx, srv, newTestClock(testNow))
		cancel()
		if err == nil {
			t.Errorf("%s: WithJWKSURL accepted %s", name, data)
		}
	}
}

// TestHardeningJWKSURLPrivateKeySkipped: a published private key is skipped
// and logged as an incident; a key that becomes private in a later fetch
// stops verifying.
func TestHardeningJWKSURLPrivateKeySkipped(t *testing.T) {
	var logs bytes.Buffer
	old := slog.Default()
	slog.SetDefault(slog.New(slog.NewTextHandler(&logs, nil)))
	t.Cleanup(func() { slog.SetDefault(old) })

	a, b, c := newTestSigner(t, "a"), newTestSigner(t, "b"), newTestSigner(t, "c")
	srv := newJWKSServer(t, jwksOf(t, a, b, privateJWK(t, c.key, "c")))
	clock := newTestClock(testNow)
	j := mustJWKSAuth(t, srv, clock)
	wantAccepted(t, j, a.token(t, clock.Now(), ""), "public key a")
	wantRefused(t, j, c.token(t, clock.Now(), ""), "published private key c")
	if !strings.Contains(logs.String(), "private key was published") {
		t.Errorf("log does not report the published private key:\n%s", logs.String())
	}

	// The provider now publishes a's private part: a must stop verifying.
	srv.set(jwksOf(t, privateJWK(t, a.key, "a"), b))
	if err := sourceOf(j).ctrl.Refresh(context.Background(), sourceOf(j).url); err != nil {
		t.Fatal(err)
	}
	tok := a.token(t, clock.Now().Add(time.Second), "")
	wantRefused(t, j, tok, "key a after its private part was published")
	wantAccepted(t, j, b.token(t, clock.Now(), ""), "public key b")
}

// TestHardeningJWKSURLKeyTurnedPrivateDropped: a refetched set in which every
// key is now published with its private part has no usable key, which used to
// leave the last good keys, the leaked ones included, in use. The leaked keys
// must stop verifying at once (cached tokens too), be logged as an incident,
// and the keys the set does not mention stay, as after any refused refetch.
func TestHardeningJWKSURLKeyTurnedPrivateDropped(t *testing.T) {
	var logs bytes.Buffer
	old := slog.Default()
	slog.SetDefault(slog.New(slog.NewTextHandler(&logs, nil)))
	t.Cleanup(func() { slog.SetDefault(old) })
	noKID := `{"alg":"ES256","typ":"at+jwt"}`

	t.Run("the only key", func(t *testing.T) {
		logs.Reset()
		a := newTestSigner(t, "a")
		srv := newJWKSServer(t, jwksOf(t, a))
		clock := newTestClock(testNow)
		j := mustJWKSAuth(t, srv, clock)
		tok, tokNoKID := a.token(t, clock.Now(), ""), a.token(t, clock.Now(), noKID)
		wantAccepted(t, j, tok, "key a") // now in the verified-token cache
		wantAccepted(t, j, tokNoKID, "key a, token without kid")

		srv.set(jwksOf(t, privateJWK(t, a.key, "a")))
		if err := sourceOf(j).ctrl.Refresh(context.Background(), sourceOf(j).url); err == nil {
			t.Error("a set holding only a private key was taken as a good refetch")
		}
		wantRefused(t, j, tok, "cached token of key a after its private part was published")
		wantRefused(t, j, a.token(t, clock.Now().Add(time.Second), ""), "new token of key a")
		wantRefused(t, j, tokNoKID, "token without kid after a's private part was published")
		if !strings.Contains(logs.String(), "security incident") || !strings.Contains(logs.String(), "private key was published") {
			t.Errorf("log does not report the incident:\n%s", logs.String())
		}
	})

	t.Run("under another kid", func(t *testing.T) {
		logs.Reset()
		a, b := newTestSigner(t, "a"), newTestSigner(t, "b")
		srv := newJWKSServer(t, jwksOf(t, a, b))
		clock := newTestClock(testNow)
		j := mustJWKSAuth(t, srv, clock)
		tokA, tokB := a.token(t, clock.Now(), ""), b.token(t, clock.Now(), "")
		wantAccepted(t, j, tokA, "key a")
		wantAccepted(t, j, tokB, "key b")

		// a's private part under a new kid: a is known by its public key.
		srv.set(jwksOf(t, privateJWK(t, a.key, "a-2026")))
		_ = sourceOf(j).ctrl.Refresh(context.Background(), sourceOf(j).url)
		wantRefused(t, j, tokA, "key a after its private part was published as a-2026")
		wantAccepted(t, j, tokB, "key b, which the refused set does not mention")
		wantRefused(t, j, b.token(t, clock.Now(), noKID), "a token without kid: b is not the only key of a set")
	})

	t.Run("public and private in one set", func(t *testing.T) {
		logs.Reset()
		a, b := newTestSigner(t, "a"), newTestSigner(t, "b")
		srv := newJWKSServer(t, jwksOf(t, a, b))
		clock := newTestClock(testNow)
		j := mustJWKSAuth(t, srv, clock)
		tokA := a.token(t, clock.Now(), "")
		wantAccepted(t, j, tokA, "key a")

		// The set is usable (b), and still lists a publicly: a must go too.
		srv.set(jwksOf(t, a, privateJWK(t, a.key, "a-2026"), b))
		if err := sourceOf(j).ctrl.Refresh(context.Background(), sourceOf(j).url); err != nil {
			t.Fatal(err)
		}
		wantRefused(t, j, tokA, "key a, listed publicly beside its published private part")
		wantAccepted(t, j, b.token(t, clock.Now(), ""), "key b")
	})
}
