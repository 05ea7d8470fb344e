package server

// The demo's DPoP contract (DESIGN.md): POST /token and POST /token/refresh
// with a valid DPoP proof answer token_type DPoP with a token bound to the
// proof's key; GET /api/me accepts it with a proof and refuses it as Bearer.

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// dpopClient holds a DPoP key and makes proofs with it.
type dpopClient struct {
	key *ecdsa.PrivateKey
	jwk string
	n   int
}

func newDPoPClient(t *testing.T) *dpopClient {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := k.PublicKey.Bytes()
	enc := base64.RawURLEncoding.EncodeToString
	return &dpopClient{key: k, jwk: fmt.Sprintf(`{"kty":"EC","crv":"P-256","x":%q,"y":%q}`, enc(b[1:33]), enc(b[33:]))}
}

// proof signs a proof for method and url, with the ath of token when set.
func (c *dpopClient) proof(t *testing.T, method, url, token string) string {
	enc := base64.RawURLEncoding.EncodeToString
	c.n++
	claims := map[string]any{"jti": fmt.Sprintf("demo-%d-%d", time.Now().UnixNano(), c.n), "htm": method, "htu": url, "iat": time.Now().Unix()}
	if token != "" {
		sum := sha256.Sum256([]byte(token))
		claims["ath"] = enc(sum[:])
	}
	cb, _ := json.Marshal(claims)
	in := enc([]byte(`{"typ":"dpop+jwt","alg":"ES256","jwk":`+c.jwk+`}`)) + "." + enc(cb)
	h := sha256.Sum256([]byte(in))
	r, s, err := ecdsa.Sign(rand.Reader, c.key, h[:])
	if err != nil {
		t.Fatal(err)
	}
	sig := make([]byte, 64)
	r.FillBytes(sig[:32])
	s.FillBytes(sig[32:])
	return in + "." + enc(sig)
}

func testDPoP(t *testing.T, base string) {
	c := &client{t: t, base: base, hc: http.DefaultClient}
	d := newDPoPClient(t)
	tokenType := func(body string) (tokens, string) {
		var tok tokens
		json.Unmarshal([]byte(body), &tok)
		return tok, tok.TokenType
	}
	resp, body := c.postJSON("/token", map[string]string{"username": "alice", "password": "alice-password"},
		http.Header{"Dpop": {d.proof(t, "POST", base+"/token", "")}})
	tok, typ := tokenType(body)
	if resp.StatusCode != 200 || typ != "DPoP" {
		t.Fatalf("POST /token with a proof: %d %s", resp.StatusCode, body)
	}
	me := func(auth, proof string) (int, string) {
		h := http.Header{"Authorization": {auth}}
		if proof != "" {
			h.Set("DPoP", proof)
		}
		status, _, body := c.me(h)
		return status, body
	}
	if status, body := me("DPoP "+tok.AccessToken, d.proof(t, "GET", base+"/api/me", tok.AccessToken)); status != 200 || body != `{"id":"1","name":"alice","via":"jwt"}`+"\n" {
		t.Fatalf("GET /api/me with DPoP: %d %q", status, body)
	}
	if status, _ := me("Bearer "+tok.AccessToken, ""); status != 401 {
		t.Fatalf("the bound token as Bearer: %d", status)
	}
	if status, _ := me("DPoP "+tok.AccessToken, ""); status != 401 {
		t.Fatalf("DPoP without a proof: %d", status)
	}
	// The bound refresh token needs a proof by the key.
	resp, body = c.postJSON("/token/refresh", map[string]string{"refresh_token": tok.RefreshToken}, nil)
	if resp.StatusCode != 400 || !strings.Contains(body, "invalid_dpop_proof") {
		t.Fatalf("refresh without a proof: %d %s", resp.StatusCode, body)
	}
	resp, body = c.postJSON("/token/refresh", map[string]string{"refresh_token": tok.RefreshToken},
		http.Header{"Dpop": {d.proof(t, "POST", base+"/token/refresh", "")}})
	if _, typ := tokenType(body); resp.StatusCode != 200 || typ != "DPoP" {
		t.Fatalf("refresh with a proof: %d %s", resp.StatusCode, body)
	}
	// A proof for another URL is refused at /token.
	resp, body = c.postJSON("/token", map[string]string{"username": "alice", "password": "alice-password"},
		http.Header{"Dpop": {d.proof(t, "POST", base+"/token/refresh", "")}})
	if resp.StatusCode != 400 || !strings.Contains(body, "invalid_dpop_proof") {
		t.Fatalf("POST /token with a proof for another URL: %d %s", resp.StatusCode, body)
	}
}

func TestDPoP(t *testing.T) {
	h, _ := newTestApp(t)
	srv := httptest.NewServer(h)
	defer srv.Close()
	testDPoP(t, srv.URL)
}

func TestE2EDPoP(t *testing.T) {
	p := startDemo(t, nil)
	testDPoP(t, p.URL)
}
