// Package authkittest starts an in-process OpenID provider for the tests of
// a service that verifies tokens with authkit: discovery and a JWK Set over
// [net/http/httptest], and access tokens minted in the dialect of any of
// authkit's presets ([authkit.Preset]). A handler test then goes through the
// real verification path (discovery, keys, signature, profile, scopes)
// instead of bypassing it with [authkit.ContextWithUser].
//
//	p := authkittest.NewProvider("keycloak", "my-api")
//	defer p.Close()
//	auth, _ := authkit.NewJWT(toUser, p.Options(ctx)...)
//	authkittest.WaitReady(auth)
//	req.Header.Set("Authorization", "Bearer "+p.AccessToken("alice", authkittest.Scopes("read")))
//
// Never use it outside tests: its keys live in memory and its tokens are
// whatever the test asks for.
package authkittest

import (
	"context"
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
	"time"

	"github.com/authkit-go/authkit"
)

// Provider is an OpenID provider on 127.0.0.1 that signs with one fresh
// ES256 key. It serves {Issuer}/.well-known/openid-configuration and the key
// set it names, and mints tokens of its preset's dialect. Its methods are
// safe for concurrent use; Close it when done.
type Provider struct {
	// Issuer is the issuer identifier its tokens and discovery document name:
	// the server's URL plus a path in the provider's style (Keycloak's
	// /realms/…, Entra's /{tenant}/v2.0, Auth0's trailing slash).
	Issuer string
	// Audience is the audience its access tokens name unless [Audience]
	// says otherwise, in the claim the preset reads it from ("aud";
	// Cognito's "client_id"; Clerk's "azp").
	Audience string
	// Preset is the name of the [authkit.Preset] whose dialect it speaks.
	Preset string

	srv *httptest.Server
	key *ecdsa.PrivateKey
	kid string
	now func() time.Time
}

// NewProvider starts a provider for preset (a name [authkit.Preset] knows,
// "rfc9068" for the kit's default) whose access tokens are for audience,
// over plain http on 127.0.0.1: verify with [authkit.WithInsecureJWKSURL]
// (which [Provider.Options] includes). It panics on an unknown preset or an
// empty audience.
func NewProvider(preset, audience string) *Provider {
	return start(preset, audience, false)
}

// NewTLSProvider is [NewProvider] over https, with a certificate only
// [Provider.Client] trusts: verify with [authkit.WithHTTPClient] of that
// client (which [Provider.Options] includes).
func NewTLSProvider(preset, audience string) *Provider {
	return start(preset, audience, true)
}

func start(preset, audience string, tls bool) *Provider {
	d, ok := dialects[preset]
	if !ok {
		panic(fmt.Sprintf("authkittest: unknown preset %q", preset))
	}
	if audience == "" {
		panic("authkittest: empty audience")
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic("authkittest: " + err.Error())
	}
	p := &Provider{Audience: audience, Preset: preset, key: key, now: time.Now}
	sum := sha256.Sum256(key.PublicKey.X.Bytes())
	p.kid = b64(sum[:8])
	mux := http.NewServeMux()
	if tls {
		p.srv = httptest.NewUnstartedServer(mux)
		p.srv.StartTLS()
	} else {
		p.srv = httptest.NewServer(mux)
	}
	p.Issuer = p.srv.URL + d.path
	base := strings.TrimSuffix(p.Issuer, "/")
	jwksURI := base + "/keys"
	mux.HandleFunc("GET "+strings.TrimPrefix(base, p.srv.URL)+"/.well-known/openid-configuration", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, map[string]any{
			"issuer":                                p.Issuer,
			"jwks_uri":                              jwksURI,
			"authorization_endpoint":                base + "/authorize",
			"token_endpoint":                        base + "/token",
			"response_types_supported":              []string{"code"},
			"subject_types_supported":               []string{"public"},
			"id_token_signing_alg_values_supported": []string{"ES256"},
		})
	})
	mux.HandleFunc("GET "+strings.TrimPrefix(jwksURI, p.srv.URL), func(w http.ResponseWriter, _ *http.Request) {
		pt, _ := key.PublicKey.ECDH()
		raw := pt.Bytes() // 0x04 || X || Y
		writeJSON(w, map[string]any{"keys": []map[string]string{{
			"kty": "EC", "crv": "P-256", "use": "sig", "alg": "ES256", "kid": p.kid,
			"x": b64(raw[1:33]), "y": b64(raw[33:]),
		}}})
	})
	return p
}

// Close shuts the provider's server down.
func (p *Provider) Close() { p.srv.Close() }

// Client returns an HTTP client that trusts the provider's certificate (for
// [NewTLSProvider]; any client works over plain http).
func (p *Provider) Client() *http.Client { return p.srv.Client() }

// Options returns the [authkit.NewJWT] options that trust the provider:
// [authkit.WithTrustedIssuer] with its issuer, audience and preset, and
// [authkit.WithInsecureJWKSURL] (plain http) or [authkit.WithHTTPClient] of
// [Provider.Client] (TLS). Cancel ctx to stop the kit's background work.
// Discovery runs in the background: see [WaitReady].
func (p *Provider) Options(ctx context.Context) []authkit.Option {
	opts := []authkit.Option{authkit.WithTrustedIssuer(ctx, authkit.TrustedIssuer{
		Issuer: p.Issuer, Audiences: []string{p.Audience}, Profile: authkit.Preset(p.Preset),
	})}
	if p.srv.TLS != nil {
		return append(opts, authkit.WithHTTPClient(p.Client()))
	}
	return append(opts, authkit.WithInsecureJWKSURL())
}

// WaitReady waits up to 10 seconds for a's Ready (such as [authkit.JWT.Ready])
// to report nil, that is for discovery and the first key fetch, and returns
// its last error if it never did.
func WaitReady(a interface{ Ready() error }) error {
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := a.Ready()
		if err == nil || time.Now().After(deadline) {
			return err
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Option changes a token that [Provider.AccessToken] or [Provider.IDToken]
// mints.
type Option func(*token)

type token struct {
	header, claims map[string]any
	p              *Provider
	sub            string
	lifetime       time.Duration
	expired        bool
	audience       string
	scopes         []string
	extra          map[string]any
	extraOrder     []string
}

// Expired mints a token that expired five minutes ago (iat ten minutes ago),
// beyond any leeway the kit allows.
func Expired() Option { return func(t *token) { t.expired = true } }

// Audience mints a token for aud instead of the provider's Audience, in
// the claim the preset reads audiences from.
func Audience(aud string) Option { return func(t *token) { t.audience = aud } }

// Scopes mints a token granting scopes, in the claim and form of the
// preset: "scope" space-delimited; Entra's "scp" string; Okta's "scp" array.
func Scopes(scopes ...string) Option {
	return func(t *token) { t.scopes = append(t.scopes, scopes...) }
}

// Claim sets the claim name to value (any value [encoding/json] encodes),
// over what the dialect writes; a nil value removes the claim. Claims are
// applied last, in order, so a test can write any claims set: a wrong iss, a
// missing sub, a nested duplicate-free object.
func Claim(name string, value any) Option {
	return func(t *token) {
		if t.extra == nil {
			t.extra = make(map[string]any)
		}
		if _, ok := t.extra[name]; !ok {
			t.extraOrder = append(t.extraOrder, name)
		}
		t.extra[name] = value
	}
}

// AccessToken mints an access token for the subject sub in the preset's
// dialect (header and claims as the provider writes them), valid for five
// minutes (one for Clerk) unless opts say otherwise.
func (p *Provider) AccessToken(sub string, opts ...Option) string {
	return p.mint(sub, false, opts)
}

// IDToken mints the access token's ID-token twin: the token of that
// provider that its access tokens must not be confused with, carrying the
// same issuer, subject and (where the provider allows) audience, so that
// only the preset's rule refuses it. Under every preset it is refused.
func (p *Provider) IDToken(sub string, opts ...Option) string {
	return p.mint(sub, true, opts)
}

func (p *Provider) mint(sub string, id bool, opts []Option) string {
	d := dialects[p.Preset]
	t := &token{p: p, sub: sub, lifetime: 5 * time.Minute, audience: p.Audience,
		header: map[string]any{"alg": "ES256", "kid": p.kid}}
	if d.lifetime > 0 {
		t.lifetime = d.lifetime
	}
	for _, o := range opts {
		o(t)
	}
	now := p.now().Truncate(time.Second)
	iat := now
	if t.expired {
		iat = now.Add(-10 * time.Minute)
		t.lifetime = 5 * time.Minute
	}
	t.claims = map[string]any{
		"iss": p.Issuer, "sub": sub, "iat": iat.Unix(), "exp": iat.Add(t.lifetime).Unix(),
		"jti": randomID(),
	}
	if id {
		d.id(t)
	} else {
		d.access(t)
	}
	for _, name := range t.extraOrder {
		if v := t.extra[name]; v == nil {
			delete(t.claims, name)
		} else {
			t.claims[name] = v
		}
	}
	return p.sign(t.header, t.claims)
}

// sign writes the compact JWS of header and claims.
func (p *Provider) sign(header, claims map[string]any) string {
	h, err := json.Marshal(header)
	if err != nil {
		panic("authkittest: header: " + err.Error())
	}
	c, err := json.Marshal(claims)
	if err != nil {
		panic("authkittest: claims: " + err.Error())
	}
	input := b64(h) + "." + b64(c)
	digest := sha256.Sum256([]byte(input))
	r, s, err := ecdsa.Sign(rand.Reader, p.key, digest[:])
	if err != nil {
		panic("authkittest: " + err.Error())
	}
	sig := make([]byte, 64)
	r.FillBytes(sig[:32])
	s.FillBytes(sig[32:])
	return input + "." + b64(sig)
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func randomID() string {
	b := make([]byte, 12)
	rand.Read(b)
	return b64(b)
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
}
