package authkit

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/alexedwards/scs/v2"
	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jwk"
	jwxjws "github.com/lestrrat-go/jwx/v3/jws"
)

// The fuzz targets of issue 10's "Fuzzing in CI": the token reader, the
// Authorization header, the session cookie, the refresh request body and
// (issue 13) the DPoP proof
// (the JSON reader against encoding/json is FuzzParseObject in
// json_test.go). .ci/run runs each for a bounded time; their seed corpora
// are in testdata/fuzz.

// fuzzVerifier is an EdDSA access-token verifier at a fixed time, and a
// valid token for it.
func fuzzVerifier() (*verifier, ed25519.PrivateKey, string) {
	key := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{9}, 32))
	vk, err := newVerifyKey("k1", "", key.Public())
	if err != nil {
		panic(err)
	}
	set, err := newKeySet([]*verifyKey{vk})
	if err != nil {
		panic(err)
	}
	v := &verifier{keys: set, typ: accessTokenType, issuer: "iss", audiences: []string{"api"},
		leeway: defaultLeeway, maxLifetime: defaultMaxTokenLifetime, maxSize: defaultMaxTokenSize,
		now: func() time.Time { return time.Unix(1_800_000_000, 0) }}
	claims := obj{{"iss", q("iss")}, {"sub", q("alice")}, {"aud", q("api")},
		{"exp", num(1_800_000_300)}, {"iat", num(1_800_000_000)}, {"jti", q("j")}}
	tok := buildToken(obj{{"alg", q("EdDSA")}, {"typ", q("at+jwt")}, {"kid", q("k1")}}.String(), claims.String(), signEd(key))
	return v, key, tok
}

// FuzzVerifyToken: whatever the input, the verifier does not panic; what it
// accepts has exactly one encoding (re-encoding its segments gives it back),
// a signature that verifies with the key, and the claims the verifier
// reports; the cache answers as the verifier does, on a miss and on a hit.
func FuzzVerifyToken(f *testing.F) {
	v, key, tok := fuzzVerifier()
	f.Add(tok)
	f.Add(tok + "=")
	f.Add(strings.Replace(tok, ".", "..", 1))
	f.Add("e30.e30.AA")
	f.Add("")
	cache := newTokenCache(64)
	f.Fuzz(func(t *testing.T, token string) {
		ver, err := v.verify(context.Background(), token)
		c1, err1 := cache.verify(context.Background(), v, token)
		c2, err2 := cache.verify(context.Background(), v, token)
		if (err == nil) != (err1 == nil) || (err == nil) != (err2 == nil) {
			t.Fatalf("%q: verifier %v, cache miss %v, cache hit %v", token, err, err1, err2)
		}
		if err != nil {
			if !errors.Is(err, ErrInvalidToken) {
				t.Fatalf("%q: refused with %v, not ErrInvalidToken", token, err)
			}
			return
		}
		seg := strings.Split(token, ".")
		var dec [3][]byte
		for i, s := range seg {
			b, err := base64.RawURLEncoding.Strict().DecodeString(s)
			if err != nil || base64.RawURLEncoding.EncodeToString(b) != s {
				t.Fatalf("%q accepted with a non-canonical segment %d", token, i)
			}
			dec[i] = b
		}
		if !ed25519.Verify(key.Public().(ed25519.PublicKey), []byte(seg[0]+"."+seg[1]), dec[2]) {
			t.Fatalf("%q accepted without a valid signature", token)
		}
		if c1.Subject != ver.claims.Subject || c2.Subject != ver.claims.Subject || !c2.ExpiresAt.Equal(ver.claims.ExpiresAt) {
			t.Fatalf("%q: the cache's claims differ from the verifier's", token)
		}
	})
}

// FuzzDecodeB64: the one-pass decoder of token segments accepts exactly
// what strict unpadded base64url decoding accepts, less the line breaks that
// encoding/base64 skips, decodes to the same bytes, and what it accepts is
// the one encoding of those bytes.
func FuzzDecodeB64(f *testing.F) {
	for _, s := range []string{"", "A", "AA", "AB", "AAA", "AAB", "AAAA", "eyJhbGciOiJIUzI1NiJ9", "a+/b", "ab==",
		"ab\ncd", "abcd\r", "_-_-_-_-_-", strings.Repeat("z", 17), strings.Repeat("A", 15) + ".", "A\x00AAAAAAAAAA"} {
		f.Add(s)
	}
	for i := range 12 { // a character outside the alphabet at each place
		f.Add(strings.Repeat("A", i) + "=" + strings.Repeat("A", 11-i))
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := decodeB64(make([]byte, strictB64.DecodedLen(len(s))), s)
		want, werr := strictB64.DecodeString(s)
		if strings.ContainsAny(s, "\r\n") {
			werr = errors.New("line break")
		}
		switch {
		case (err == nil) != (werr == nil):
			t.Fatalf("%q: decodeB64 %v, strict encoding/base64 %v", s, err, werr)
		case err == nil && !bytes.Equal(got, want):
			t.Fatalf("%q: decodeB64 %x, encoding/base64 %x", s, got, want)
		case err == nil && base64.RawURLEncoding.EncodeToString(got) != s:
			t.Fatalf("%q accepted, but it is not the encoding of its bytes", s)
		}
	})
}

var b64token = regexp.MustCompile(`^[A-Za-z0-9\-._~+/]+=*$`)

// FuzzBearerToken: the Authorization header parser takes exactly the
// RFC 6750 §2.1 forms: the scheme in any case, one or more spaces, one
// b64token; another scheme is no credentials, and a malformed Bearer an
// invalid request.
func FuzzBearerToken(f *testing.F) {
	for _, s := range []string{"Bearer abc", "bearer a.b.c", "BEARER  x=", "Bearer", "Bearer ", "Bearer\tx",
		"Bearer x y", "Basic dXNlcjpwYXNz", "Bearerish x", "Bearer a%2Cb", "Bearer ==", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, h string) {
		tok, ok, err := bearerToken(h)
		if err != nil && !errors.Is(err, ErrInvalidRequest) {
			t.Fatalf("%q: %v, not ErrInvalidRequest", h, err)
		}
		isBearer := len(h) >= 6 && strings.EqualFold(h[:6], "bearer") && (len(h) == 6 || h[6] == ' ' || h[6] == '\t')
		rest := ""
		if len(h) > 6 && h[6] == ' ' {
			rest = strings.TrimLeft(h[6:], " ")
		}
		want := isBearer && b64token.MatchString(rest)
		switch {
		case ok != want:
			t.Fatalf("%q: ok = %v, want %v", h, ok, want)
		case ok && (tok != rest || err != nil):
			t.Fatalf("%q: token %q (err %v), want %q", h, tok, err, rest)
		case !ok && isBearer && err == nil:
			t.Fatalf("%q: a malformed Bearer header is not an invalid request", h)
		case !isBearer && (ok || err != nil):
			t.Fatalf("%q: another scheme gave %q, %v", h, tok, err)
		}
	})
}

// FuzzSessionCookie: a session cookie is looked up only when it has the
// shape of an scs token (43 base64url characters), and whatever the
// request's Cookie header holds, the session middleware answers without a
// panic and without a 500, and authenticates nobody.
func FuzzSessionCookie(f *testing.F) {
	sm := NewSessionManager(nil)
	sess, err := NewSession(sm, func(_ context.Context, id string) (string, error) { return id, nil })
	if err != nil {
		f.Fatal(err)
	}
	h := Optional[string](sess)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u, ok := UserFrom[string](r.Context()); ok {
			t := r.Context().Value(fuzzTKey{}).(*testing.T)
			t.Fatalf("a forged cookie authenticated %q", u)
		}
	}))
	name := sm.Cookie.Name
	for _, s := range []string{strings.Repeat("A", 43), strings.Repeat("A", 42) + "=", strings.Repeat("-", 43),
		"' OR 1=1--", "", strings.Repeat("A", 44), "%41%41", name + "=x; " + name + "=y"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		want := len(v) == 43
		for i := 0; i < len(v); i++ {
			c := v[i]
			want = want && (c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_')
		}
		if got := validSessionToken(v); got != want {
			t.Fatalf("validSessionToken(%q) = %v, want %v", v, got, want)
		}
		req := httptest.NewRequest("GET", "/", nil)
		req.Header.Set("Cookie", name+"="+v)
		req = req.WithContext(context.WithValue(req.Context(), fuzzTKey{}, t))
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("cookie %q: %d", v, rec.Code)
		}
	})
}

type fuzzTKey struct{}

// FuzzRefreshBody: the refresh endpoint's body reader, JSON or form, never
// panics, refuses with ErrInvalidRequest only, and what it accepts is what
// encoding/json or net/url read from the same body.
func FuzzRefreshBody(f *testing.F) {
	for _, s := range []string{`{"refresh_token":"a.b.c"}`, `{"grant_type":"refresh_token","refresh_token":"x"}`,
		`{"refresh_token":"x","refresh_token":"y"}`, `{"refresh_token":""}`, `[]`, ` `,
		"grant_type=refresh_token&refresh_token=a.b.c", "grant_type=password&username=a",
		"grant_type=refresh_token&refresh_token=x&refresh_token=y", "refresh_token=%zz"} {
		f.Add(s, strings.HasPrefix(s, "grant_type=") || strings.HasPrefix(s, "refresh_token="))
	}
	f.Fuzz(func(t *testing.T, body string, form bool) {
		req := httptest.NewRequest("POST", "/token/refresh", strings.NewReader(body))
		ct := "application/json"
		if form {
			ct = "application/x-www-form-urlencoded"
		}
		req.Header.Set("Content-Type", ct)
		tok, err := refreshTokenFromBody(req)
		if err != nil {
			if !errors.Is(err, ErrInvalidRequest) {
				t.Fatalf("%q: %v, not ErrInvalidRequest", body, err)
			}
			return
		}
		if tok == "" {
			if strings.TrimSpace(body) != "" && form {
				t.Fatalf("%q: a form without a token accepted", body)
			}
			return
		}
		if form {
			v, perr := url.ParseQuery(body)
			if perr != nil || v.Get("refresh_token") != tok || v.Get("grant_type") != "refresh_token" || len(v["refresh_token"]) != 1 {
				t.Fatalf("form %q: token %q; net/url: %v %v", body, tok, v, perr)
			}
			return
		}
		var m map[string]any
		if jerr := json.Unmarshal([]byte(body), &m); jerr != nil || m["refresh_token"] != tok {
			t.Fatalf("JSON %q: token %q; encoding/json: %v %v", body, tok, m, jerr)
		}
	})
}

// fuzzProofKeys are fixed DPoP keys, so that the seed corpus's proofs stay
// valid: an Ed25519 key (deterministic signatures) and a P-256 key.
func fuzzProofKeys(t testing.TB) (ed, es dpopKey) {
	t.Helper()
	edPriv := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{10}, 32))
	ecPriv, err := ecdsa.ParseRawPrivateKey(elliptic.P256(), bytes.Repeat([]byte{11}, 32))
	if err != nil {
		t.Fatal(err)
	}
	edJKT, err := thumbprint(edPriv.Public())
	if err != nil {
		t.Fatal(err)
	}
	return dpopKey{sign: signEd(edPriv), alg: "EdDSA", jwk: edJWK(edPriv.Public().(ed25519.PublicKey), ""), jkt: edJKT},
		ecDPoPKey(t, ecPriv)
}

// FuzzDPoPProof: whatever the DPoP header holds, the proof parser does not
// panic and refuses with ErrInvalidDPoPProof only; what it accepts is, by
// encoding/json and jwx (not the parser under test), a JWS in canonical
// base64url whose header is typ dpop+jwt, an allowed alg and a public jwk
// and nothing else, whose signature verifies with that jwk, whose RFC 7638
// thumbprint is the one reported, and whose claims name this request
// (htm, htu), this token (ath), a recent iat and a jti; the nonce reported
// is the nonce claim.
func FuzzDPoPProof(f *testing.F) {
	const token, target = "an.access.token", "https://api.example/r"
	ed, es := fuzzProofKeys(f)
	claims := func() obj { return newProofClaims("GET", target, token, testNow).set("jti", q("seed")) }
	seeds := []string{
		ed.proof(ed.header(), claims()),
		es.proof(es.header(), claims()),
		ed.proof(ed.header(), claims().add("nonce", q("AAAAAAA"))),
		ed.proof(ed.header().set("typ", q("DPoP+JWT")), claims().set("htu", q("HTTPS://API.example:443/./r?q#f"))),
		ed.proof(ed.header().set("alg", q("none")), claims()),
		ed.proof(ed.header().set("alg", q("HS256")), claims()),
		ed.proof(ed.header().set("jwk", `{"kty":"oct","k":"AAAA"}`), claims()),
		ed.proof(ed.header().set("jwk", strings.TrimSuffix(ed.jwk, "}")+`,"d":"AAAA"}`), claims()),
		ed.proof(ed.header().add("x5c", `["MIIB"]`), claims()),
		ed.proof(ed.header(), claims().add("htm", q("POST"))),
		"", "a.b.c", "..", "e30.e30.AA", strings.Repeat("A", maxDPoPProofSize+1),
	}
	p := newProofVerifier(&common{}, fixedClock, defaultLeeway)
	for i, s := range seeds {
		f.Add(s)
		r := httptest.NewRequest("GET", target, nil)
		if _, err := p.verify(r, s, token); (err == nil) != (i < 4) {
			f.Fatalf("seed %d: %v", i, err) // the first four are valid, the others not
		}
	}
	sum := sha256.Sum256([]byte(token))
	wantAth := base64.RawURLEncoding.EncodeToString(sum[:])
	f.Fuzz(func(t *testing.T, raw string) {
		r := httptest.NewRequest("GET", target, nil)
		r.Header.Set("DPoP", raw)
		got, _, err := requestProof(r)
		var pr proof
		if err == nil {
			pr, err = p.verify(r, got, token)
		}
		if err != nil {
			if !errors.Is(err, ErrInvalidDPoPProof) || !errors.Is(err, ErrInvalidToken) {
				t.Fatalf("%q: refused with %v, not ErrInvalidDPoPProof", raw, err)
			}
			return
		}
		seg := strings.Split(raw, ".")
		if len(seg) != 3 {
			t.Fatalf("%q accepted with %d segments", raw, len(seg))
		}
		var dec [3][]byte
		for i, s := range seg {
			b, err := base64.RawURLEncoding.Strict().DecodeString(s)
			if err != nil || base64.RawURLEncoding.EncodeToString(b) != s {
				t.Fatalf("%q accepted with a non-canonical segment %d", raw, i)
			}
			dec[i] = b
		}
		var h map[string]json.RawMessage
		var typ, alg string
		if json.Unmarshal(dec[0], &h) != nil || json.Unmarshal(h["typ"], &typ) != nil || json.Unmarshal(h["alg"], &alg) != nil || len(h) != 3 || h["jwk"] == nil {
			t.Fatalf("%q accepted with the header %s", raw, dec[0])
		}
		if !strings.EqualFold(typ, "dpop+jwt") || !slices.Contains(dpopAlgs, alg) {
			t.Fatalf("%q accepted with typ %q, alg %q", raw, typ, alg)
		}
		key, err := jwk.ParseKey(h["jwk"])
		if err != nil {
			t.Fatalf("%q accepted; jwx refuses its jwk: %v", raw, err)
		}
		if private, err := jwk.IsPrivateKey(key); err != nil || private {
			t.Fatalf("%q accepted with a private or symmetric jwk (%v)", raw, err)
		}
		a, ok := jwa.LookupSignatureAlgorithm(alg)
		if _, err := jwxjws.Verify([]byte(raw), jwxjws.WithKey(a, key)); !ok || err != nil {
			t.Fatalf("%q accepted; jwx does not verify it: %v", raw, err)
		}
		tp, err := key.Thumbprint(crypto.SHA256)
		if err != nil || base64.RawURLEncoding.EncodeToString(tp) != pr.jkt {
			t.Fatalf("%q: thumbprint %q, jwx says %q (%v)", raw, pr.jkt, base64.RawURLEncoding.EncodeToString(tp), err)
		}
		var c struct {
			JTI, HTM, HTU, ATH string
			IAT                float64
			Nonce              *string
		}
		if err := json.Unmarshal(dec[1], &c); err != nil {
			t.Fatalf("%q accepted; encoding/json refuses its claims: %v", raw, err)
		}
		htu, ok := normalizeHTU(c.HTU)
		now := float64(testNow.Unix())
		switch {
		case c.HTM != "GET", !ok || htu != target, c.ATH != wantAth, c.JTI == "" || len(c.JTI) > maxDPoPJTILen,
			c.IAT < now-dpopProofLifetime.Seconds() || c.IAT > now+defaultLeeway.Seconds():
			t.Fatalf("%q accepted with the claims %s", raw, dec[1])
		case c.Nonce != nil && *c.Nonce != pr.nonce, c.Nonce == nil && pr.nonce != "":
			t.Fatalf("%q: nonce %q reported for the claims %s", raw, pr.nonce, dec[1])
		}
	})
}

// FuzzSessionCodec: the session codec's decoder (sessioncodec.go), given
// any bytes, the kit's format or gob's, returns an error or a session, never
// panics, and what it returns encodes and decodes back to itself; a session
// built from the fuzzer's values round-trips exactly, types included, and so
// does the same session written by scs's GobCodec.
func FuzzSessionCodec(f *testing.F) {
	deadline := time.Date(2031, 5, 6, 7, 8, 9, 10, time.UTC)
	for _, v := range []map[string]any{
		{sessionUserKey: "1", sessionAuthKey: int64(1_800_000_000_000_000_000), sessionSeenKey: int64(1_800_000_000_000_000_000),
			sessionVersionKey: int64(3), sessionDeviceKey: "Zm9vYmFyYmF6cXV4cXV1eA"},
		{sessionUserKey: "2", sessionRememberKey: true, scsRememberKey: true, "cart": "apples", "n": 7, "f": 1.5,
			"i32": int32(-9), "b": []byte{1, 2}, "t": deadline, "nil": nil},
		{sessionUserKey: "3", "role": codecRole("admin"), "roles": []string{"a"}},
	} {
		b, err := sessionCodec{}.Encode(deadline, v)
		if err != nil {
			f.Fatal(err)
		}
		g, err := scs.GobCodec{}.Encode(deadline, v)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, "alice", int64(-1), true)
		f.Add(g, "", int64(1)<<40, false)
	}
	f.Fuzz(func(t *testing.T, blob []byte, s string, n int64, flag bool) {
		if d, v, err := (sessionCodec{}).Decode(blob); err == nil {
			if v == nil {
				t.Fatalf("% x: a nil map without an error", blob)
			}
			b, err := sessionCodec{}.Encode(d, v)
			if err != nil {
				t.Fatalf("% x decoded to %#v, which does not encode: %v", blob, v, err)
			}
			d2, v2, err := sessionCodec{}.Decode(b)
			if err != nil || !sameTime(d2, d) || !sameValues(v2, v) {
				t.Fatalf("% x: decoded %v %#v, re-encoded and decoded %v %#v (%v)", blob, d, v, d2, v2, err)
			}
		}
		values := map[string]any{sessionUserKey: s, sessionAuthKey: n, "k" + s: []byte(s), "i": int(n),
			"i32": int32(n), "f": float64(n) / 3, "flag": flag, "t": time.Unix(n%(1<<40), n%1e9).UTC(), "role": codecRole(s)}
		if s == "" {
			values["k"] = []byte(nil) // an empty []byte decodes as nil, from gob as from the kit's format
		}
		for name, enc := range map[string]scs.Codec{"kit": sessionCodec{}, "gob": scs.GobCodec{}} {
			b, err := enc.Encode(deadline, values)
			if err != nil {
				t.Fatal(err)
			}
			d, v, err := sessionCodec{}.Decode(b)
			if err != nil || !d.Equal(deadline) || !reflect.DeepEqual(v, values) {
				t.Fatalf("%s: %v %#v (%v), want %v %#v", name, d, v, err, deadline, values)
			}
		}
	})
}

// sameTime: equal instants, offsets and zone names (what time's binary form keeps).
func sameTime(a, b time.Time) bool {
	an, ao := a.Zone()
	bn, bo := b.Zone()
	return a.Equal(b) && ao == bo && an == bn
}

// sameValues is reflect.DeepEqual but for NaNs, equal to themselves here.
func sameValues(a, b map[string]any) bool {
	if len(a) != len(b) {
		return false
	}
	for k, va := range a {
		vb, ok := b[k]
		if !ok {
			return false
		}
		if ta, ok := va.(time.Time); ok {
			if tb, ok := vb.(time.Time); !ok || !sameTime(ta, tb) {
				return false
			}
			continue
		}
		if !reflect.DeepEqual(va, vb) && fmt.Sprintf("%T %#v", va, va) != fmt.Sprintf("%T %#v", vb, vb) {
			return false
		}
	}
	return true
}
