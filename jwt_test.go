package authkit

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha512"
	"crypto/x509"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"
)

// The WWW-Authenticate values of the default realm (RFC 6750 §3).
const (
	chInvalidToken   = `Bearer realm="authkit", error="invalid_token"`
	chInvalidRequest = `Bearer realm="authkit", error="invalid_request"`
	chBare           = `Bearer realm="authkit"`
)

func toTestUser(_ context.Context, c *Claims) (*testUser, error) {
	return &testUser{ID: c.Subject}, nil
}

// newTestJWT builds an access-token authenticator for the test issuer and
// audience on the fixed clock, plus opts.
func newTestJWT(t testing.TB, opts ...Option) *JWT[*testUser] {
	t.Helper()
	base := []Option{WithIssuer(testIssuer), WithAudience(testAudience), WithClock(fixedClock)}
	j, err := NewJWT(toTestUser, append(base, opts...)...)
	if err != nil {
		t.Fatalf("NewJWT: %v", err)
	}
	return j
}

// result is what one request through Require produced.
type result struct {
	rec    *httptest.ResponseRecorder
	called bool
	err    error // what the error handler was given
	user   *testUser
	hasU   bool
	claims *Claims
	method Method
}

// serve sends req through Require(a) with an error handler that records the
// error and delegates to DefaultErrorHandler.
func serve(a Authenticator[*testUser], req *http.Request, opts ...Option) result {
	var res result
	eh := func(w http.ResponseWriter, r *http.Request, err error) {
		res.err = err
		DefaultErrorHandler(w, r, err)
	}
	h := Require(a, append([]Option{WithErrorHandler(eh)}, opts...)...)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		res.called = true
		res.user, res.hasU = UserFrom[*testUser](r.Context())
		res.claims, _ = ClaimsFrom(r.Context())
		res.method, _ = MethodFrom(r.Context())
		w.WriteHeader(http.StatusOK)
	}))
	res.rec = httptest.NewRecorder()
	h.ServeHTTP(res.rec, req)
	return res
}

func bearerRequest(token string) *http.Request {
	return authRequest("Bearer " + token)
}

func authRequest(authorization string) *http.Request {
	r := httptest.NewRequest(http.MethodGet, "/resource", nil)
	r.Header["Authorization"] = []string{authorization}
	return r
}

// checkRefused asserts a refusal: status, the exact and only WWW-Authenticate
// value, Cache-Control: no-store, the handler not called, a body that is the
// bare status text (so it holds no token bytes), the sentinel the error
// handler saw, and, when why is set, that the error names the intended check.
func checkRefused(t *testing.T, res result, status int, challenge, why, token string) {
	t.Helper()
	if res.called {
		t.Error("handler was called")
	}
	if res.rec.Code != status {
		t.Errorf("status = %d, want %d (err: %v)", res.rec.Code, status, res.err)
	}
	if got := res.rec.Header().Values("WWW-Authenticate"); len(got) != 1 || got[0] != challenge {
		t.Errorf("WWW-Authenticate = %q, want exactly %q", got, challenge)
	}
	checkChallengeHygiene(t, challenge)
	if got := res.rec.Header().Get("Cache-Control"); got != "no-store" {
		t.Errorf("Cache-Control = %q, want no-store", got)
	}
	body := res.rec.Body.String()
	if body != http.StatusText(status)+"\n" {
		t.Errorf("body = %q, want the bare status text", body)
	}
	if token != "" {
		for _, seg := range strings.Split(token, ".") {
			if len(seg) >= 8 && strings.Contains(body, seg) {
				t.Errorf("body echoes token bytes %q", seg)
			}
		}
	}
	var sentinel error
	switch challenge {
	case chInvalidRequest:
		sentinel = ErrInvalidRequest
	case chBare:
		sentinel = ErrNoCredentials
	default:
		sentinel = ErrInvalidToken
	}
	if !errors.Is(res.err, sentinel) {
		t.Errorf("error handler got %v, want one matching %v", res.err, sentinel)
	}
	if why != "" && (res.err == nil || !strings.Contains(res.err.Error(), why)) {
		t.Errorf("error = %v, want it to mention %q", res.err, why)
	}
}

// checkAccepted asserts that the handler ran with user alice, authenticated
// by a bearer token whose claims reached the context.
func checkAccepted(t *testing.T, res result) {
	t.Helper()
	if res.rec.Code != http.StatusOK || !res.called {
		t.Fatalf("status = %d, handler called = %v, want 200 and called (err: %v)", res.rec.Code, res.called, res.err)
	}
	if !res.hasU || res.user == nil || res.user.ID != "alice" {
		t.Errorf("UserFrom = %+v, %v; want alice", res.user, res.hasU)
	}
	if res.method != MethodBearer {
		t.Errorf("MethodFrom = %q, want %q", res.method, MethodBearer)
	}
	if res.claims == nil || res.claims.Subject != "alice" || res.claims.Issuer != testIssuer {
		t.Errorf("ClaimsFrom = %+v", res.claims)
	}
	if got := res.rec.Header().Values("WWW-Authenticate"); len(got) != 0 {
		t.Errorf("WWW-Authenticate on success: %q", got)
	}
}

var challengeParam = regexp.MustCompile(`^([a-z_]+)="([^"]*)"$`)

// checkChallengeHygiene checks RFC 6750 §3 rules on a challenge: scheme
// Bearer, each attribute at most once, and values only of
// %x20-21 / %x23-5B / %x5D-7E.
func checkChallengeHygiene(t *testing.T, ch string) {
	t.Helper()
	rest, ok := strings.CutPrefix(ch, "Bearer ")
	if !ok {
		t.Errorf("challenge %q does not start with the Bearer scheme", ch)
		return
	}
	seen := map[string]bool{}
	for _, p := range strings.Split(rest, ", ") {
		m := challengeParam.FindStringSubmatch(p)
		if m == nil {
			t.Errorf("challenge %q: bad auth-param %q", ch, p)
			continue
		}
		switch m[1] {
		case "realm", "scope", "error", "error_description", "error_uri":
		default:
			t.Errorf("challenge %q: unexpected attribute %q", ch, m[1])
		}
		if seen[m[1]] {
			t.Errorf("challenge %q: attribute %q twice", ch, m[1])
		}
		seen[m[1]] = true
		for _, c := range []byte(m[2]) {
			if c < 0x20 || c > 0x7e || c == '"' || c == '\\' {
				t.Errorf("challenge %q: byte %#x in a value", ch, c)
			}
		}
	}
	if !seen["realm"] {
		t.Errorf("challenge %q has no realm", ch)
	}
}

// deployments are the authenticators the attack table runs against.
type deployments struct {
	es     *JWT[*testUser] // ES256 key k1: the baseline deployment
	multi  *JWT[*testUser] // ES256 keys k1 and k2
	hs     *JWT[*testUser] // HS256 secret h1
	rs     *JWT[*testUser] // RS256 key r1
	big    *JWT[*testUser] // as es, with a 1 MiB size cap, to reach the checks behind the cap
	cookie *JWT[*testUser] // as es, also reading the token from cookie "at"
}

func newDeployments(t *testing.T) *deployments {
	k := testKeys()
	return &deployments{
		es:     newTestJWT(t, WithKey("k1", &k.ec256.PublicKey)),
		multi:  newTestJWT(t, WithKey("k1", &k.ec256.PublicKey), WithKey("k2", &k.ec256b.PublicKey)),
		hs:     newTestJWT(t, WithKey("h1", k.hmac)),
		rs:     newTestJWT(t, WithKey("r1", &k.rsa.PublicKey)),
		big:    newTestJWT(t, WithKey("k1", &k.ec256.PublicKey), WithMaxTokenSize(1<<20)),
		cookie: newTestJWT(t, WithKey("k1", &k.ec256.PublicKey), WithTokenCookie("at")),
	}
}

// TestMutations changes every byte of valid tokens, one at a time, and
// expects each variant to be refused.
func TestMutations(t *testing.T) {
	k := testKeys()
	c0 := baseClaims()
	cases := []struct {
		alg   string
		jwt   *JWT[*testUser]
		token string
	}{
		{"ES256", newTestJWT(t, WithKey("k1", &k.ec256.PublicKey)), baseToken()},
		{"EdDSA", newTestJWT(t, WithKey("k1", k.ed)), buildToken(headerFor("EdDSA", "k1").String(), c0.String(), signEd(k.ed))},
		{"HS256", newTestJWT(t, WithKey("k1", k.hmac)), buildToken(headerFor("HS256", "k1").String(), c0.String(), signHS256(k.hmac))},
		{"RS256", newTestJWT(t, WithKey("k1", &k.rsa.PublicKey)), buildToken(headerFor("RS256", "k1").String(), c0.String(), signRS(k.rsa, crypto.SHA256))},
	}
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	for _, c := range cases {
		t.Run(c.alg, func(t *testing.T) {
			if res := serve(c.jwt, bearerRequest(c.token)); res.rec.Code != http.StatusOK {
				t.Fatalf("valid token refused: %v", res.err)
			}
			tried := 0
			for i := 0; i < len(c.token); i++ {
				orig := c.token[i]
				var repl []byte
				if j := strings.IndexByte(alphabet, orig); j >= 0 {
					// The neighbour differs in the lowest bit only; the
					// opposite one in the highest.
					repl = append(repl, alphabet[j^1], alphabet[(j+32)%64])
				}
				repl = append(repl, '.', '=')
				for _, r := range repl {
					if r == orig {
						continue
					}
					mut := c.token[:i] + string(r) + c.token[i+1:]
					res := serve(c.jwt, bearerRequest(mut))
					tried++
					if res.called || res.rec.Code == http.StatusOK {
						t.Fatalf("byte %d %q→%q accepted", i, orig, r)
					}
					want := chInvalidToken
					if res.rec.Code == http.StatusBadRequest {
						want = chInvalidRequest
					} else if res.rec.Code != http.StatusUnauthorized {
						t.Fatalf("byte %d %q→%q: status %d", i, orig, r, res.rec.Code)
					}
					if got := res.rec.Header().Get("WWW-Authenticate"); got != want {
						t.Fatalf("byte %d %q→%q: WWW-Authenticate %q", i, orig, r, got)
					}
				}
			}
			t.Logf("%d variants refused", tried)
		})
	}
}

// TestExpiredOnlyAfterSignature: a forged expired token is invalid, not
// expired (CVE-2024-51744 class); a genuine expired one is both.
func TestExpiredOnlyAfterSignature(t *testing.T) {
	k := testKeys()
	d := newDeployments(t)
	claims := baseClaims().set("iat", nowPlus(-1000)).set("exp", nowPlus(-700))
	genuine := esToken(baseHeader(), claims)
	forged := buildToken(baseHeader().String(), claims.String(), signES(k.evilEC))
	_, err := d.es.v.check(context.Background(), genuine)
	if !errors.Is(err, ErrTokenExpired) || !errors.Is(err, ErrInvalidToken) {
		t.Errorf("genuine expired: %v, want ErrTokenExpired and ErrInvalidToken", err)
	}
	_, err = d.es.v.check(context.Background(), forged)
	if errors.Is(err, ErrTokenExpired) || !errors.Is(err, ErrInvalidToken) {
		t.Errorf("forged expired: %v, want ErrInvalidToken only", err)
	}
	notYet := esToken(baseHeader(), baseClaims().add("nbf", nowPlus(100)))
	if _, err := d.es.v.check(context.Background(), notYet); !errors.Is(err, ErrTokenExpired) {
		t.Errorf("not yet valid: %v, want ErrTokenExpired", err)
	}
	for _, tok := range []string{genuine, forged, notYet} {
		checkRefused(t, serve(d.es, bearerRequest(tok)), 401, chInvalidToken, "", tok)
	}
}

// TestHappyPaths verifies a token of every supported algorithm, configured
// each way the options allow.
func TestHappyPaths(t *testing.T) {
	k := testKeys()
	c0 := baseClaims()
	jwks := `{"keys":[` +
		ecJWK(&k.ec256.PublicKey, "j-es256") + `,` +
		ecJWK(&k.ec384.PublicKey, "j-es384") + `,` +
		edJWK(k.ed.Public().(ed25519.PublicKey), "j-ed") + `,` +
		rsaJWK(&k.rsa.PublicKey, "j-rs", "") + `,` +
		rsaJWK(&k.rsa.PublicKey, "j-ps", "PS256") + `]}`
	hs384 := append(append([]byte(nil), k.hmac...), k.hmac[:16]...)
	hs512sum := sha512.Sum512(k.hmac) // not k.hmac twice: a repeated secret is refused
	hs512 := hs512sum[:]
	cases := []struct {
		name, alg, kid string
		opt            Option
		sign           signFunc
	}{
		{"HS256 WithHMACSecret", "HS256", "h", WithKey("h", k.hmac), signHS256(k.hmac)},
		{"HS384 WithKeyAlgorithm", "HS384", "h", WithKeyAlgorithm("h", "HS384", hs384), signHMAC(sha512.New384, hs384)},
		{"HS512 WithKeyAlgorithm", "HS512", "h", WithKeyAlgorithm("h", "HS512", hs512), signHMAC(sha512.New, hs512)},
		{"ES256 WithKey public", "ES256", "e", WithKey("e", &k.ec256.PublicKey), signES(k.ec256)},
		{"ES256 WithKey private", "ES256", "e", WithKey("e", k.ec256), signES(k.ec256)},
		{"ES256 WithKey public value", "ES256", "e", WithKey("e", k.ec256.PublicKey), signES(k.ec256)},
		{"ES384 WithKey", "ES384", "e", WithKey("e", &k.ec384.PublicKey), signES(k.ec384)},
		{"ES512 WithKey", "ES512", "e", WithKey("e", &k.ec521.PublicKey), signES(k.ec521)},
		{"EdDSA WithKey", "EdDSA", "e", WithKey("e", k.ed.Public()), signEd(k.ed)},
		{"EdDSA WithKey private", "EdDSA", "e", WithKey("e", k.ed), signEd(k.ed)},
		{"Ed25519 WithKeyAlgorithm", "Ed25519", "e", WithKeyAlgorithm("e", "Ed25519", k.ed.Public()), signEd(k.ed)},
		{"RS256 WithKey", "RS256", "r", WithKey("r", &k.rsa.PublicKey), signRS(k.rsa, crypto.SHA256)},
		{"RS256 WithKey crypto.Signer", "RS256", "r", WithKey("r", crypto.Signer(k.rsa)), signRS(k.rsa, crypto.SHA256)},
		{"RS384 WithKeyAlgorithm", "RS384", "r", WithKeyAlgorithm("r", "RS384", &k.rsa.PublicKey), signRS(k.rsa, crypto.SHA384)},
		{"RS512 WithKeyAlgorithm", "RS512", "r", WithKeyAlgorithm("r", "RS512", &k.rsa.PublicKey), signRS(k.rsa, crypto.SHA512)},
		{"PS256 WithKeyAlgorithm", "PS256", "r", WithKeyAlgorithm("r", "PS256", &k.rsa.PublicKey), signPS(k.rsa, crypto.SHA256)},
		{"PS384 WithKeyAlgorithm", "PS384", "r", WithKeyAlgorithm("r", "PS384", &k.rsa.PublicKey), signPS(k.rsa, crypto.SHA384)},
		{"PS512 WithKeyAlgorithm", "PS512", "r", WithKeyAlgorithm("r", "PS512", &k.rsa.PublicKey), signPS(k.rsa, crypto.SHA512)},
		{"ES256 WithJWKSet", "ES256", "j-es256", WithJWKSet([]byte(jwks)), signES(k.ec256)},
		{"ES384 WithJWKSet", "ES384", "j-es384", WithJWKSet([]byte(jwks)), signES(k.ec384)},
		{"EdDSA WithJWKSet", "EdDSA", "j-ed", WithJWKSet([]byte(jwks)), signEd(k.ed)},
		{"RS256 WithJWKSet", "RS256", "j-rs", WithJWKSet([]byte(jwks)), signRS(k.rsa, crypto.SHA256)},
		{"PS256 WithJWKSet", "PS256", "j-ps", WithJWKSet([]byte(jwks)), signPS(k.rsa, crypto.SHA256)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			j := newTestJWT(t, c.opt)
			tok := buildToken(headerFor(c.alg, c.kid).String(), c0.String(), c.sign)
			checkAccepted(t, serve(j, bearerRequest(tok)))
			// The same key refuses the token under any other alg name.
			other := "ES256"
			if c.alg == "ES256" {
				other = "HS256"
			}
			bad := buildToken(headerFor(other, c.kid).String(), c0.String(), c.sign)
			checkRefused(t, serve(j, bearerRequest(bad)), 401, chInvalidToken, "", bad)
		})
	}
}

// TestClaimsContent checks what a verified token's Claims hold.
func TestClaimsContent(t *testing.T) {
	d := newDeployments(t)
	c := baseClaims().
		set("aud", `["other","api"]`).
		set("exp", nowPlus(300)+".25").
		add("nbf", nowPlus(-5)).
		add("ver", "7").
		add("scope", q("read write")).
		add("roles", `["admin", "dev"]`).
		add("cnf", `{"jkt":"abc"}`).
		add("esc\\u0061ped", `"v"`)
	claims, err := d.es.v.check(context.Background(), esToken(baseHeader(), c))
	if err != nil {
		t.Fatal(err)
	}
	want := Claims{
		Issuer: testIssuer, Subject: "alice", Audience: []string{"other", "api"},
		ExpiresAt: testNow.Add(300*time.Second + 250*time.Millisecond).UTC(),
		IssuedAt:  testNow.UTC(), NotBefore: testNow.Add(-5 * time.Second).UTC(),
		ID: "b9d1c0e8-3f0c-4d5e-9a1b-6c2f7e8d9a01", Version: 7, ClientID: "client-1", Scope: "read write",
		granted: []string{"read", "write"},
	}
	got := *claims
	got.extra, got.room = nil, nil // room: the request's context, allocated with the claims
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("claims = %+v\nwant     %+v", got, want)
	}
	if len(claims.extra) != 3 || string(claims.extra["cnf"]) != `{"jkt":"abc"}` || string(claims.extra["escaped"]) != `"v"` {
		t.Errorf("extra = %q", claims.extra)
	}
	var roles []string
	if ok, err := claims.DecodeExtra("roles", &roles); !ok || err != nil || len(roles) != 2 || roles[0] != "admin" {
		t.Errorf("DecodeExtra(roles) = %v, %v, %q", ok, err, roles)
	}
	var n int
	if ok, err := claims.DecodeExtra("roles", &n); !ok || err == nil {
		t.Errorf("DecodeExtra(roles into int) = %v, %v; want a type error", ok, err)
	}
	if ok, err := claims.DecodeExtra("missing", &n); ok || err != nil {
		t.Errorf("DecodeExtra(missing) = %v, %v", ok, err)
	}
	// A token without extra claims has a nil Extra and no NotBefore.
	claims, err = d.es.v.check(context.Background(), baseToken())
	if err != nil || claims.extra != nil || !claims.NotBefore.IsZero() || claims.Version != 0 {
		t.Errorf("baseline claims: %+v, %v", claims, err)
	}
}

// TestNewJWTErrors: construction refuses every bad configuration with an
// error (never a panic).
func TestNewJWTErrors(t *testing.T) {
	k := testKeys()
	ecPub := &k.ec256.PublicKey
	small := &rsa.PublicKey{N: new(big.Int).Lsh(big.NewInt(1), 2046), E: 65537} // 2047 bits
	p224, err := ecdsa.GenerateKey(elliptic.P224(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	oneKey := func(kid string, jwk string) []byte { return []byte(`{"keys":[` + jwk + `]}`) }
	secret32 := k.hmac
	cases := []struct {
		name string
		opts []Option // added to a valid issuer+audience+clock
		want string   // substring of the error
	}{
		{"no key", nil, "no verification key"},
		{"RSA 2047 bits", []Option{WithKey("r", small)}, "at least 2048"},
		{"RSA without modulus", []Option{WithKey("r", &rsa.PublicKey{E: 65537})}, "at least 2048"},
		{"ES384 for a P-256 key", []Option{WithKeyAlgorithm("e", "ES384", ecPub)}, `"ES384" does not go with`},
		{"RS256 for an EC key", []Option{WithKeyAlgorithm("e", "RS256", ecPub)}, `"RS256" does not go with`},
		{"HS256 for an EC key", []Option{WithKeyAlgorithm("e", "HS256", ecPub)}, `"HS256" does not go with`},
		{"ES256 for an RSA key", []Option{WithKeyAlgorithm("r", "ES256", &k.rsa.PublicKey)}, `"ES256" does not go with an RSA key`},
		{"EdDSA for an RSA key", []Option{WithKeyAlgorithm("r", "EdDSA", &k.rsa.PublicKey)}, `does not go with an RSA key`},
		{"RS256 for an Ed25519 key", []Option{WithKeyAlgorithm("e", "RS256", k.ed.Public())}, `does not go with an Ed25519 key`},
		{"PS256 for a secret", []Option{WithKeyAlgorithm("h", "PS256", secret32)}, `does not go with an HMAC secret`},
		{"none for a secret", []Option{WithKeyAlgorithm("h", "none", secret32)}, `does not go with an HMAC secret`},
		{"P-224 key", []Option{WithKey("e", &p224.PublicKey)}, "unsupported ECDSA curve"},
		{"short Ed25519 key", []Option{WithKey("e", ed25519.PublicKey(make([]byte, 31)))}, "wrong size"},
		{"string key", []Option{WithKey("e", "secret")}, "unsupported key type"},
		{"nil key", []Option{WithKey("e", nil)}, "nil key"},
		{"kid over 256 bytes", []Option{WithKey(strings.Repeat("k", 257), ecPub)}, "longer than 256"},
		{"duplicate kid", []Option{WithKey("k1", ecPub), WithKey("k1", &k.ec256b.PublicKey)}, `duplicate key ID "k1"`},
		{"duplicate kid across WithKey and WithJWKSet", []Option{WithKey("k1", ecPub), WithJWKSet(oneKey("k1", ecJWK(&k.ec256b.PublicKey, "k1")))}, `duplicate key ID "k1"`},
		{"two keys without kid", []Option{WithKey("", ecPub), WithKey("", &k.ec256b.PublicKey)}, "without a key ID"},
		{"nil key", []Option{WithKey("h", nil)}, "nil key"},
		{"HMAC secret of 0 bytes", []Option{WithKey("h", []byte{})}, "at least 32"},
		{"HMAC secret of 16 bytes", []Option{WithKey("h", secret32[:16])}, "at least 32"},
		{"HMAC secret of 31 bytes", []Option{WithKey("h", secret32[:31])}, "at least 32"},
		{"HS384 secret of 47 bytes", []Option{WithKeyAlgorithm("h", "HS384", make([]byte, 47))}, "at least 48"},
		{"HMAC secret that is a PEM public key", []Option{WithKey("h", pemBlock("PUBLIC KEY", mustPKIX(ecPub)))}, "PEM"},
		{"HMAC secret with a PEM inside", []Option{WithKey("h", append([]byte("my secret: "), pemBlock("PUBLIC KEY", mustPKIX(&k.rsa.PublicKey))...))}, "PEM"},
		{"HMAC secret that is a JWK", []Option{WithKey("h", []byte(ecJWK(ecPub, "k1")))}, "JWK"},
		{"HMAC secret that is a DER public key", []Option{WithKey("h", mustPKIX(ecPub))}, "DER"},
		{"HMAC secret that is a DER RSA public key", []Option{WithKey("h", mustPKIX(&k.rsa.PublicKey))}, "DER"},
		{"HMAC secret that is a PKCS#1 RSA public key", []Option{WithKey("h", x509.MarshalPKCS1PublicKey(&k.rsa.PublicKey))}, "DER"},
		{"WithKey given DER bytes", []Option{WithKey("k", mustPKIX(ecPub))}, "DER"},
		{"JWK Set with an oct key", []Option{WithJWKSet(oneKey("o", `{"kty":"oct","kid":"o","k":"`+b64(secret32)+`"}`))}, "symmetric"},
		{"JWK Set with a key without kid", []Option{WithJWKSet([]byte(`{"keys":[` + ecJWK(ecPub, "a") + `,` + ecJWK(&k.ec256b.PublicKey, "") + `]}`))}, "has no kid"},
		{"JWK Set with use enc", []Option{WithJWKSet(oneKey("e", strings.TrimSuffix(ecJWK(ecPub, "e"), "}")+`,"use":"enc"}`))}, `use "enc"`},
		{"JWK Set with an alg that does not fit", []Option{WithJWKSet(oneKey("e", strings.TrimSuffix(ecJWK(ecPub, "e"), "}")+`,"alg":"RS256"}`))}, `does not go with`},
		{"JWK Set with a small RSA key", []Option{WithJWKSet(oneKey("r", rsaJWK(small, "r", "")))}, "at least 2048"},
		{"empty JWK Set", []Option{WithJWKSet([]byte(`{"keys":[]}`))}, "no keys"},
		{"JWK Set that is not JSON", []Option{WithJWKSet([]byte(`nope`))}, "WithJWKSet"},
		{"leeway over a minute", []Option{WithKey("k1", ecPub), WithLeeway(time.Minute + time.Nanosecond)}, "between 0 and 1m0s"},
		{"negative leeway", []Option{WithKey("k1", ecPub), WithLeeway(-time.Second)}, "between 0 and 1m0s"},
		{"zero max lifetime", []Option{WithKey("k1", ecPub), WithMaxTokenLifetime(0)}, "must be positive"},
		{"tiny max size", []Option{WithKey("k1", ecPub), WithMaxTokenSize(63)}, "too small"},
		{"nil clock", []Option{WithKey("k1", ecPub), WithClock(nil)}, "WithClock(nil)"},
		{"empty cookie name", []Option{WithKey("k1", ecPub), WithTokenCookie("")}, "empty name"},
		{"nil version lookup", []Option{WithKey("k1", ecPub), WithVersionCheck(nil)}, "WithVersionCheck(nil)"},
		{"empty issuer", []Option{WithKey("k1", ecPub), WithIssuer("")}, `WithIssuer("")`},
		{"empty audience", []Option{WithKey("k1", ecPub), WithAudience("")}, `WithAudience("")`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			opts := append([]Option{WithIssuer(testIssuer), WithAudience(testAudience), WithClock(fixedClock)}, c.opts...)
			j, err := NewJWT(toTestUser, opts...)
			if err == nil || j != nil {
				t.Fatalf("NewJWT = %v, %v; want an error", j, err)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %q does not mention %q", err, c.want)
			}
			if !strings.HasPrefix(err.Error(), "authkit: ") {
				t.Errorf("error %q lacks the package prefix", err)
			}
		})
	}

	// Required settings: every missing one is named at once.
	_, err = NewJWT(toTestUser)
	for _, want := range []string{"WithIssuer is required", "WithAudience is required", "no verification key"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("NewJWT() = %v, want it to mention %q", err, want)
		}
	}
	if _, err := NewJWT[*testUser](nil, WithIssuer("i"), WithAudience("a"), WithKey("k", ecPub)); err == nil {
		t.Error("NewJWT(nil toUser) succeeded")
	}
	// The boundaries themselves are accepted.
	for _, o := range []Option{WithLeeway(time.Minute), WithLeeway(0), WithKey("h", secret32), WithMaxTokenSize(64)} {
		if _, err := NewJWT(toTestUser, WithIssuer("i"), WithAudience("a"), WithKey("k", ecPub), o); err != nil {
			t.Errorf("NewJWT with a boundary option: %v", err)
		}
	}
	// The default leeway is 30 seconds.
	j := newTestJWT(t, WithKey("k1", ecPub))
	if j.v.leeway != 30*time.Second || defaultLeeway != 30*time.Second {
		t.Errorf("default leeway = %v", j.v.leeway)
	}
}

// TestToUserAndVersionCheck: the toUser callback and the version check map
// refusals to 401 and failures to 500, and run once per accepted request.
func TestToUserAndVersionCheck(t *testing.T) {
	k := testKeys()
	errStore := errors.New("store down")
	tok := esToken(baseHeader(), baseClaims().add("ver", "3"))

	t.Run("toUser", func(t *testing.T) {
		for _, c := range []struct {
			name   string
			err    error
			status int
		}{
			{"unknown user", fmt.Errorf("user 42: %w", ErrUnknownUser), 401},
			{"invalid token", fmt.Errorf("%w: disabled", ErrInvalidToken), 401},
			{"store failure", errStore, 500},
		} {
			t.Run(c.name, func(t *testing.T) {
				j, err := NewJWT(func(context.Context, *Claims) (*testUser, error) { return nil, c.err },
					WithIssuer(testIssuer), WithAudience(testAudience), WithClock(fixedClock), WithKey("k1", &k.ec256.PublicKey))
				if err != nil {
					t.Fatal(err)
				}
				res := serve(j, bearerRequest(tok))
				if c.status == 401 {
					checkRefused(t, res, 401, chInvalidToken, "", tok)
					return
				}
				checkServerError(t, res, errStore)
			})
		}
		calls := 0
		j, _ := NewJWT(func(_ context.Context, c *Claims) (*testUser, error) { calls++; return &testUser{ID: c.Subject}, nil },
			WithIssuer(testIssuer), WithAudience(testAudience), WithClock(fixedClock), WithKey("k1", &k.ec256.PublicKey))
		serve(j, bearerRequest(esToken(baseHeader(), baseClaims().set("aud", q("x")))))
		if calls != 0 {
			t.Errorf("toUser called %d times for a refused token", calls)
		}
		checkAccepted(t, serve(j, bearerRequest(tok)))
		if calls != 1 {
			t.Errorf("toUser called %d times for one request", calls)
		}
	})

	t.Run("version", func(t *testing.T) {
		var current int64
		var lookupErr error
		calls := 0
		lookup := func(_ context.Context, userID string) (int64, error) {
			calls++
			if userID != "alice" {
				t.Errorf("lookup(%q)", userID)
			}
			return current, lookupErr
		}
		j := newTestJWT(t, WithKey("k1", &k.ec256.PublicKey), WithVersionCheck(lookup))
		for _, c := range []struct {
			name    string
			current int64
			err     error
		}{{"same version", 3, nil}, {"older current version", 2, nil}} {
			current, lookupErr = c.current, c.err
			calls = 0
			checkAccepted(t, serve(j, bearerRequest(tok)))
			if calls != 1 {
				t.Errorf("%s: %d lookups", c.name, calls)
			}
		}
		current, lookupErr = 4, nil
		res := serve(j, bearerRequest(tok))
		checkRefused(t, res, 401, chInvalidToken, "", tok)
		if !errors.Is(res.err, ErrTokenRevoked) {
			t.Errorf("bumped version: %v, want ErrTokenRevoked", res.err)
		}
		// No ver claim is version 0: refused once the user has version 1.
		current = 1
		checkRefused(t, serve(j, bearerRequest(baseToken())), 401, chInvalidToken, "", "")
		current, lookupErr = 0, fmt.Errorf("gone: %w", ErrUnknownUser)
		checkRefused(t, serve(j, bearerRequest(tok)), 401, chInvalidToken, "user", tok)
		current, lookupErr = 0, errStore
		checkServerError(t, serve(j, bearerRequest(tok)), errStore)
		calls = 0
		serve(j, bearerRequest(esToken(baseHeader(), baseClaims().set("aud", q("x")))))
		if calls != 0 {
			t.Errorf("version looked up %d times for a refused token", calls)
		}
	})
}

// checkServerError asserts a 500 that fails closed and says nothing.
func checkServerError(t *testing.T, res result, cause error) {
	t.Helper()
	if res.called || res.rec.Code != http.StatusInternalServerError {
		t.Errorf("status %d, handler called %v; want 500, not called", res.rec.Code, res.called)
	}
	if got := res.rec.Header().Values("WWW-Authenticate"); len(got) != 0 {
		t.Errorf("WWW-Authenticate on 500: %q", got)
	}
	if res.rec.Header().Get("Cache-Control") != "no-store" || res.rec.Body.String() != "Internal Server Error\n" {
		t.Errorf("headers %v, body %q", res.rec.Header(), res.rec.Body)
	}
	if !errors.Is(res.err, cause) || errors.Is(res.err, ErrInvalidToken) {
		t.Errorf("error handler got %v, want %v", res.err, cause)
	}
}

// TestFormBodyTokenIgnored pins A31's header + form-body case as built: the
// kit never reads request bodies, so a token in a form body is never used
// (RFC 6750 §2.2 stays disabled) and the body reaches the handler unread;
// the request is not refused with 400.
func TestFormBodyTokenIgnored(t *testing.T) {
	d := newDeployments(t)
	good := baseToken()
	body := "access_token=" + url.QueryEscape(good)
	r := httptest.NewRequest(http.MethodPost, "/resource", strings.NewReader(body))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r.Header.Set("Authorization", "Bearer "+good)
	var read string
	h := Require[*testUser](d.es)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.PostForm != nil {
			t.Error("the middleware parsed the form")
		}
		buf := make([]byte, len(body)+1)
		n, _ := r.Body.Read(buf)
		read = string(buf[:n])
	}))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, r)
	if rec.Code != http.StatusOK || read != body {
		t.Errorf("status %d, body read by the handler %q", rec.Code, read)
	}
	// A form token alone is no credential.
	r = httptest.NewRequest(http.MethodPost, "/resource", strings.NewReader(body))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	checkRefused(t, serve(d.es, r), 401, chBare, "", good)
}

// TestHeaderMemo: the verifier remembers a header segment only once a
// signature over it verified, answers from it only for that exact segment,
// and keeps the two of a key rotation.
func TestHeaderMemo(t *testing.T) {
	k := testKeys()
	secret2 := append([]byte(nil), k.hmac...)
	secret2[0] ^= 0xff
	j := newTestJWT(t, WithTokenCacheSize(0), WithKey("k1", k.hmac), WithKey("k2", secret2))
	h1, h2 := headerFor("HS256", "k1").String(), headerFor("HS256", "k2").String()
	remembered := func(h string) bool {
		_, ok := j.v.headers.get(b64([]byte(h)))
		return ok
	}
	forged := buildToken(h1, baseClaims().String(), signHS256(secret2))
	if _, err := j.v.verify(context.Background(), forged); !errors.Is(err, ErrInvalidToken) {
		t.Fatalf("forged token: %v", err)
	}
	if remembered(h1) {
		t.Fatal("the header of a forged token was remembered")
	}
	for _, tok := range []string{
		buildToken(h1, baseClaims().String(), signHS256(k.hmac)),
		buildToken(h2, baseClaims().String(), signHS256(secret2)),
	} {
		if _, err := j.v.verify(context.Background(), tok); err != nil {
			t.Fatal(err)
		}
	}
	if !remembered(h1) || !remembered(h2) {
		t.Fatal("the two headers of a rotation are not both remembered")
	}
	// A header that differs from a remembered one is read, and refused.
	h3 := strings.Replace(h1, `"at+jwt"`, `"JWT"`, 1)
	if _, err := j.v.verify(context.Background(), buildToken(h3, baseClaims().String(), signHS256(k.hmac))); !errors.Is(err, ErrInvalidToken) {
		t.Fatalf("typ JWT after a remembered at+jwt header: %v", err)
	}
}
