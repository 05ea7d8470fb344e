package interop

// DPoP (RFC 9449, issue 13) against node-oidc-provider: the test is the
// client. It holds its own key, builds its proofs with jwx v3 as a Go client
// would, gets a DPoP-bound access token from the provider's token endpoint
// (client credentials, answering the provider's use_dpop_nonce challenge),
// and presents it to the kit with a fresh proof per request.

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/authkit-go/authkit"
	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jwk"
	"github.com/lestrrat-go/jwx/v3/jws"
	"github.com/lestrrat-go/jwx/v3/jwt"
)

// nodeDPoPClient is server.mjs's client whose access tokens must be
// DPoP-bound (dpop_bound_access_tokens), signed ES256.
const nodeDPoPClient = "cc-dpop"

// dpopAlgs lists the kit's proof algorithms, as its DPoP challenge names
// them (RFC 9449 §7.1 algs).
const dpopAlgs = "ES256 ES384 ES512 EdDSA Ed25519 PS256 PS384 PS512 RS256 RS384 RS512"

// dpopKey is a client's DPoP key pair, as jwx holds it.
type dpopKey struct {
	alg  jwa.SignatureAlgorithm
	priv jwk.Key
	pub  jwk.Key
	jkt  string // the RFC 7638 SHA-256 thumbprint of pub, base64url
}

// newDPoPKey makes a fresh key for alg: ES256, or EdDSA and Ed25519 (RFC
// 9864's fully specified name), both an Ed25519 key.
func newDPoPKey(t testing.TB, alg string) *dpopKey {
	t.Helper()
	var raw any
	var err error
	switch alg {
	case "ES256":
		raw, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case "EdDSA", "Ed25519":
		_, raw, err = ed25519.GenerateKey(rand.Reader)
	default:
		t.Fatalf("no DPoP key for %s", alg)
	}
	if err != nil {
		t.Fatal(err)
	}
	a, ok := jwa.LookupSignatureAlgorithm(alg)
	if !ok {
		t.Fatalf("jwa has no %s", alg)
	}
	priv, err := jwk.Import(raw)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := priv.PublicKey()
	if err != nil {
		t.Fatal(err)
	}
	tp, err := pub.Thumbprint(crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	return &dpopKey{alg: a, priv: priv, pub: pub, jkt: base64.RawURLEncoding.EncodeToString(tp)}
}

// proof is a DPoP proof JWT (RFC 9449 §4.2) for a request with method to
// htu: typ dpop+jwt, alg, the public jwk; a fresh jti, iat now, htm, htu,
// ath (the hash of accessToken) when accessToken is set, and nonce when set.
func (k *dpopKey) proof(t testing.TB, method, htu, accessToken, nonce string) string {
	t.Helper()
	hdr := jws.NewHeaders()
	if err := hdr.Set(jws.TypeKey, "dpop+jwt"); err != nil {
		t.Fatal(err)
	}
	if err := hdr.Set(jws.JWKKey, k.pub); err != nil {
		t.Fatal(err)
	}
	b := jwt.NewBuilder().JwtID(rand.Text()).IssuedAt(time.Now()).Claim("htm", method).Claim("htu", htu)
	if accessToken != "" {
		sum := sha256.Sum256([]byte(accessToken))
		b = b.Claim("ath", base64.RawURLEncoding.EncodeToString(sum[:]))
	}
	if nonce != "" {
		b = b.Claim("nonce", nonce)
	}
	tok, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	signed, err := jwt.Sign(tok, jwt.WithKey(k.alg, k.priv, jws.WithProtectedHeaders(hdr)))
	if err != nil {
		t.Fatal(err)
	}
	return string(signed)
}

// dpopClientCredentials gets an access token for the API from the
// client-credentials client clientID with a DPoP proof by key, as a client
// does: the first proof carries no nonce; the provider (which requires
// them) answers 400 use_dpop_nonce with a DPoP-Nonce header, and the client
// sends a new proof with that nonce (RFC 9449 §8). It returns the token
// response and how many requests it took.
func (p *nodeProvider) dpopClientCredentials(t testing.TB, clientID string, key *dpopKey) (tokenResponse, int) {
	t.Helper()
	form := url.Values{"grant_type": {"client_credentials"}, "resource": {apiAudience}, "scope": {"api:read"}}
	nonce := ""
	for attempt := 1; ; attempt++ {
		req := mustRequest(t, http.MethodPost, p.Discovery.TokenEndpoint, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(url.QueryEscape(clientID), url.QueryEscape(nodeCCSecret))
		req.Header.Set("DPoP", key.proof(t, http.MethodPost, p.Discovery.TokenEndpoint, "", nonce))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("token request: %v", err)
		}
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		resp.Body.Close()
		var e struct {
			Error string `json:"error"`
		}
		_ = json.Unmarshal(body, &e)
		if resp.StatusCode == http.StatusBadRequest && e.Error == "use_dpop_nonce" && attempt == 1 {
			if nonce = resp.Header.Get("DPoP-Nonce"); nonce == "" {
				t.Fatalf("use_dpop_nonce without a DPoP-Nonce header: %s", body)
			}
			continue
		}
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("token request with a DPoP proof (attempt %d): status %d: %s", attempt, resp.StatusCode, body)
		}
		var tr tokenResponse
		if err := json.Unmarshal(body, &tr); err != nil || tr.AccessToken == "" {
			t.Fatalf("token response: %v: %s", err, body)
		}
		return tr, attempt
	}
}

// dpopResource is the kit protecting a resource on a real listener, so
// that the proofs' htu is the URL the client calls.
type dpopResource struct {
	URL string // http://127.0.0.1:PORT/me
}

func newDPoPResource(t *testing.T, h http.Handler) *dpopResource {
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return &dpopResource{URL: srv.URL + "/me"}
}

// call sends GET to the resource with authorization as the Authorization
// header and proof (when set) as the DPoP header.
func (r *dpopResource) call(t *testing.T, authorization, proof string) *http.Response {
	t.Helper()
	req := mustRequest(t, http.MethodGet, r.URL, nil)
	req.Header.Set("Authorization", authorization)
	if proof != "" {
		req.Header.Set("DPoP", proof)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", r.URL, err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

// dpopAccepted asserts that the resource let the request through to the
// handler as subject sub.
func dpopAccepted(t *testing.T, resp *http.Response, sub string) {
	t.Helper()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || resp.Header.Get("X-Handler") != "called" {
		t.Fatalf("status %d, handler called: %t, kit error %q; want 200 and the handler",
			resp.StatusCode, resp.Header.Get("X-Handler") != "", resp.Header.Get("X-Kit-Error"))
	}
	if string(body) != sub {
		t.Fatalf("subject %q, want %q", body, sub)
	}
}

// dpopRefused asserts a 401 with exactly the challenges want (the
// WWW-Authenticate header fields, in order), the handler not called.
func dpopRefused(t *testing.T, resp *http.Response, want ...string) {
	t.Helper()
	if resp.Header.Get("X-Handler") != "" {
		t.Fatalf("the handler ran (status %d): the request was accepted", resp.StatusCode)
	}
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("status %d, want 401 (kit error %q)", resp.StatusCode, resp.Header.Get("X-Kit-Error"))
	}
	if got := resp.Header.Values("WWW-Authenticate"); !slices.Equal(got, want) {
		t.Fatalf("WWW-Authenticate %q, want %q (kit error %q)", got, want, resp.Header.Get("X-Kit-Error"))
	}
	t.Logf("401: %s", resp.Header.Get("X-Kit-Error"))
}

func TestNodeOIDCProviderDPoP(t *testing.T) {
	p := startNodeProvider(t)
	supported, _ := p.Discovery.Raw["dpop_signing_alg_values_supported"].([]any)
	t.Logf("node-oidc-provider at %s, dpop_signing_alg_values_supported %v", p.Issuer, supported)

	// The kit configured three ways: the trusted issuer found by discovery,
	// DPoP required or allowed, and the issuer and JWKS by hand with
	// WithDPoP.
	configs := []struct {
		name     string
		jwksURI  string
		mode     authkit.DPoPMode
		required bool
	}{
		{"trusted issuer, DPoP required", "", authkit.DPoPRequired, true},
		{"trusted issuer, DPoP allowed", "", authkit.DPoPAllowed, false},
		{"WithIssuer, WithDPoP allowed", p.Discovery.JWKSURI, authkit.DPoPAllowed, false},
	}
	// The challenges of the refusals (RFC 9449 §7.1, RFC 6750 §3): where
	// bearer tokens are accepted too, the Bearer challenge comes first
	// (with the error of a refused token) and the DPoP one follows; where
	// DPoP is required, the DPoP challenge alone carries the error.
	const realm = `realm="authkit"`
	dpopChallenge := `DPoP ` + realm + `, algs="` + dpopAlgs + `"`
	challenges := func(required bool, err string) []string {
		switch {
		case required:
			return []string{dpopChallenge + `, error="` + err + `"`}
		case err == "invalid_dpop_proof":
			return []string{`Bearer ` + realm, dpopChallenge + `, error="` + err + `"`}
		}
		return []string{`Bearer ` + realm + `, error="` + err + `"`, dpopChallenge}
	}

	for _, alg := range []string{"ES256", "EdDSA", "Ed25519"} {
		t.Run("proofs "+alg, func(t *testing.T) {
			if !slices.Contains(supported, any(alg)) {
				t.Fatalf("the provider does not list %s in dpop_signing_alg_values_supported %v", alg, supported)
			}
			key := newDPoPKey(t, alg)
			tr, attempts := p.dpopClientCredentials(t, nodeDPoPClient, key)
			describe(t, "DPoP-bound access token", tr.AccessToken)
			if attempts != 2 {
				t.Errorf("the token took %d requests, want 2: the provider requires a nonce, so the first is use_dpop_nonce", attempts)
			}
			if tr.TokenType != "DPoP" {
				t.Fatalf("token_type %q, want DPoP", tr.TokenType)
			}
			h, c := jwtParts(t, tr.AccessToken)
			cnf, _ := c["cnf"].(map[string]any)
			if h["typ"] != "at+jwt" || cnf["jkt"] != key.jkt {
				t.Fatalf("header %v, cnf %v: want typ at+jwt and cnf.jkt %s, the client key's thumbprint", h, c["cnf"], key.jkt)
			}
			token := tr.AccessToken
			unbound := p.clientCredentials(t, "cc-es256", apiAudience, "api:read").AccessToken
			if _, c := jwtParts(t, unbound); c["cnf"] != nil {
				t.Fatalf("cc-es256's token without a proof is bound: cnf %v", c["cnf"])
			}

			for _, cfg := range configs {
				t.Run(cfg.name, func(t *testing.T) {
					res := newDPoPResource(t, newDPoPVerifier(t, p.Issuer, apiAudience, cfg.jwksURI, cfg.mode))
					first := key.proof(t, http.MethodGet, res.URL, token, "")
					if h := header(first); !strings.Contains(h, `"alg":"`+alg+`"`) || !strings.Contains(h, `"typ":"dpop+jwt"`) {
						t.Fatalf("proof header %s, want alg %s and typ dpop+jwt", h, alg)
					}
					t.Run("DPoP with a proof", func(t *testing.T) {
						dpopAccepted(t, res.call(t, "DPoP "+token, first), nodeDPoPClient)
						// Each request, its own proof; the verified-token
						// cache answers the token now, never the proof.
						dpopAccepted(t, res.call(t, "DPoP "+token, key.proof(t, http.MethodGet, res.URL, token, "")), nodeDPoPClient)
					})
					t.Run("bound token as Bearer", func(t *testing.T) {
						dpopRefused(t, res.call(t, "Bearer "+token, ""), challenges(cfg.required, "invalid_token")...)
					})
					t.Run("bound token as Bearer with a proof", func(t *testing.T) {
						proof := key.proof(t, http.MethodGet, res.URL, token, "")
						dpopRefused(t, res.call(t, "Bearer "+token, proof), challenges(cfg.required, "invalid_token")...)
					})
					t.Run("proof by another key", func(t *testing.T) {
						other := newDPoPKey(t, alg)
						proof := other.proof(t, http.MethodGet, res.URL, token, "")
						dpopRefused(t, res.call(t, "DPoP "+token, proof), challenges(cfg.required, "invalid_dpop_proof")...)
					})
					t.Run("replayed proof", func(t *testing.T) {
						dpopRefused(t, res.call(t, "DPoP "+token, first), challenges(cfg.required, "invalid_dpop_proof")...)
					})
					t.Run("no proof", func(t *testing.T) {
						dpopRefused(t, res.call(t, "DPoP "+token, ""), challenges(cfg.required, "invalid_dpop_proof")...)
					})
					t.Run("proof for another URL", func(t *testing.T) {
						proof := key.proof(t, http.MethodGet, strings.TrimSuffix(res.URL, "/me")+"/other", token, "")
						dpopRefused(t, res.call(t, "DPoP "+token, proof), challenges(cfg.required, "invalid_dpop_proof")...)
					})
					t.Run("unbound token as Bearer", func(t *testing.T) {
						resp := res.call(t, "Bearer "+unbound, "")
						if cfg.required {
							dpopRefused(t, resp, challenges(true, "invalid_token")...)
						} else {
							dpopAccepted(t, resp, "cc-es256")
						}
					})
				})
			}
		})
	}

	// The provider itself refuses cc-dpop a token without a proof
	// (dpop_bound_access_tokens): what makes its tokens bound is the
	// provider's configuration, not the client's goodwill.
	t.Run("provider refuses an unbound token to cc-dpop", func(t *testing.T) {
		req := mustRequest(t, http.MethodPost, p.Discovery.TokenEndpoint, strings.NewReader(url.Values{
			"grant_type": {"client_credentials"}, "resource": {apiAudience}, "scope": {"api:read"},
		}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(nodeDPoPClient, nodeCCSecret)
		body := httpDo(t, http.DefaultClient, req, http.StatusBadRequest)
		var e struct {
			Error string `json:"error"`
		}
		if err := json.Unmarshal(body, &e); err != nil || e.Error != "invalid_grant" {
			t.Fatalf("400 %s, want error invalid_grant", body)
		}
	})
}
