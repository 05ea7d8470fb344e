package authkit

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"
)

// jwtConfig is what the options of NewJWT set, over the defaults of
// newJWTConfig.
type jwtConfig struct {
	common
	issuer      string
	audience    []string
	keys        []*verifyKey
	from        *Issuer // WithTokensFrom
	jwksURL     string  // WithJWKSURL
	jwksCtx     context.Context
	jwks        jwksConfig
	leeway      time.Duration
	maxLifetime time.Duration
	maxSize     int
	cookieName  string
	cacheSize   int
	profile     *profileRules   // WithProfile; nil: the kit's own
	trusted     []trustedConfig // WithTrustedIssuer
	resource    *resourceConfig // WithResource
	dpop        DPoPMode        // WithDPoP
}

func newJWTConfig(opts []Option) (*jwtConfig, error) {
	c := &jwtConfig{
		leeway:      defaultLeeway,
		maxLifetime: defaultMaxTokenLifetime,
		maxSize:     defaultMaxTokenSize,
		cacheSize:   defaultTokenCacheSize,
		jwks:        defaultJWKSConfig(),
	}
	err := applyOptions(opts, forJWT, c)
	c.jwks.events, c.jwks.issuer = c.events, c.issuer
	if err := errors.Join(err, c.resolve()); err != nil {
		return nil, err
	}
	return c, nil
}

// resolve takes the issuer, audience, keys and lifetime from WithTokensFrom
// where it was given, and checks what no single option can: the required
// settings and the options that exclude each other.
func (c *jwtConfig) resolve() error {
	var errs []error
	if c.from != nil {
		if iss := c.from.issuer; c.issuer != "" && c.issuer != iss {
			errs = append(errs, fmt.Errorf("WithIssuer(%q) contradicts WithTokensFrom, whose issuer is %q", c.issuer, iss))
		}
		if c.issuer == "" {
			c.issuer = c.from.issuer
		}
		if !slices.Contains(c.audience, c.from.audience) {
			c.audience = append(c.audience, c.from.audience)
		}
		c.keys = append(c.keys, c.from.verifyKeys()...)
		if !c.has("WithMaxTokenLifetime") {
			c.maxLifetime = c.from.cfg.accessTTL
		}
	}
	direct := c.issuer != "" || len(c.audience) > 0 || len(c.keys) > 0 || c.jwksURL != ""
	if direct || len(c.trusted) == 0 {
		if c.issuer == "" {
			errs = append(errs, errors.New("WithIssuer is required (or WithTrustedIssuer)"))
		}
		if len(c.audience) == 0 && c.resource == nil {
			errs = append(errs, errors.New("WithAudience is required (or WithResource)"))
		}
		if len(c.keys) == 0 && c.jwksURL == "" {
			errs = append(errs, errors.New("no verification key: use WithKey, WithJWKSet, WithJWKSURL or WithTokensFrom"))
		}
	}
	seen := map[string]bool{c.issuer: c.issuer != ""}
	for _, t := range c.trusted {
		if seen[t.issuer] {
			errs = append(errs, fmt.Errorf("issuer %q configured twice", t.issuer))
		}
		seen[t.issuer] = true
		if len(t.audiences) == 0 && c.resource == nil {
			errs = append(errs, fmt.Errorf("WithTrustedIssuer(%q): no audience (or WithResource)", t.issuer))
		}
	}
	if c.profile != nil {
		for _, name := range []string{"WithTokensFrom", "WithVersionCheck"} {
			if c.has(name) {
				errs = append(errs, fmt.Errorf("WithProfile cannot be combined with %s: only the kit's own tokens carry its version", name))
			}
		}
	}
	if c.has("WithDPoP") && c.issuer == "" {
		errs = append(errs, errors.New("WithDPoP needs WithIssuer: a trusted issuer's mode is TrustedIssuer.DPoP"))
	}
	if used := c.dpopOptionsUsed(); len(used) > 0 && !c.acceptsDPoP() {
		errs = append(errs, fmt.Errorf("%s: no issuer accepts DPoP (WithDPoP, TrustedIssuer.DPoP)", strings.Join(used, ", ")))
	}
	if c.versions != nil && c.issuer == "" {
		errs = append(errs, errors.New("WithVersionCheck needs WithIssuer: trusted issuers' tokens carry no kit version"))
	}
	switch {
	case len(c.keys) > 0 && c.jwksURL != "":
		errs = append(errs, errors.New("WithJWKSURL cannot be combined with static keys (WithKey, WithKeyAlgorithm, WithJWKSet, WithTokensFrom)"))
	}
	if c.jwksURL == "" && len(c.trusted) == 0 {
		for _, name := range []string{"WithHTTPClient", "WithInsecureJWKSURL", "WithJWKSRefresh"} {
			if c.has(name) {
				errs = append(errs, fmt.Errorf("%s needs WithJWKSURL or WithTrustedIssuer", name))
			}
		}
	}
	return errors.Join(errs...)
}

// acceptsDPoP reports whether some issuer of c accepts DPoP.
func (c *jwtConfig) acceptsDPoP() bool {
	if c.issuer != "" && c.dpop != DPoPOff {
		return true
	}
	for _, t := range c.trusted {
		if t.dpop != DPoPOff {
			return true
		}
	}
	return false
}

// verifier builds the access-token verifier. A JWKS source starts fetching
// only here, once the rest of the configuration is known to be valid, so
// that a refused configuration leaves no goroutine or request behind.
func (c *jwtConfig) verifier() (verifier, error) {
	base := verifier{
		typ:         accessTokenType,
		leeway:      c.leeway,
		maxLifetime: c.maxLifetime,
		maxSize:     c.maxSize,
		now:         c.clock(),
	}
	var all []*verifier
	if c.issuer != "" {
		v := base
		v.issuer, v.audiences, v.rules, v.headers = c.issuer, c.audience, c.profile, new(headerMemo)
		c.bindToResource(&v)
		if c.jwksURL != "" {
			s, err := startJWKSURL(c.jwksCtx, c.issuer, c.jwksURL, c.jwks, v.now)
			if err != nil {
				return verifier{}, err
			}
			v.keys = s
		} else {
			set, err := newKeySet(c.keys)
			if err != nil {
				return verifier{}, err
			}
			v.keys = set
		}
		all = append(all, &v)
	}
	for _, t := range c.trusted {
		// Checked above; no I/O: discovery runs in the background.
		s, err := startDiscovery(t.ctx, t.issuer, c.jwks, base.now)
		if err != nil {
			return verifier{}, err
		}
		v := base
		v.issuer, v.audiences, v.rules, v.keys, v.headers = t.issuer, t.audiences, t.rules, s, new(headerMemo)
		c.bindToResource(&v)
		all = append(all, &v)
	}
	if len(all) == 1 {
		return *all[0], nil
	}
	base.byIssuer = make(map[string]*verifier, len(all))
	for _, v := range all {
		base.byIssuer[v.issuer] = v
	}
	return base, nil
}

// WithIssuer sets the issuer ("iss") a token must name, compared exactly.
// Required (or given by [WithTokensFrom]).
func WithIssuer(iss string) Option {
	return singleOption("WithIssuer", fmt.Sprintf("%q", iss), forJWT, func(c *jwtConfig) error {
		if !validClaimString(iss, maxClaimLen) {
			return fmt.Errorf("WithIssuer(%q): must be a non-empty UTF-8 string", iss)
		}
		c.issuer = iss
		return nil
	})
}

// WithAudience adds an audience a token's "aud" may name, compared exactly:
// a token is accepted when it names at least one of the audiences given.
// Required (or given by [WithTokensFrom]), unless [WithResource] binds the
// audience to the resource.
func WithAudience(aud string) Option {
	return optionFor("WithAudience", forJWT, func(c *jwtConfig) error {
		if !validClaimString(aud, maxClaimLen) {
			return fmt.Errorf("WithAudience(%q): must be a non-empty UTF-8 string", aud)
		}
		if slices.Contains(c.audience, aud) {
			return fmt.Errorf("WithAudience(%q) given twice", aud)
		}
		c.audience = append(c.audience, aud)
		return nil
	})
}

// WithKey adds a verification key under the key ID kid: an
// *ecdsa.PublicKey (P-256/384/521: ES256/384/512), an ed25519.PublicKey
// (EdDSA; small-order and non-canonical points refused), an *rsa.PublicKey of
// at least 2048 bits with an odd exponent ≥ 3 (RS256), or an HMAC secret
// ([]byte, HS256) of at least 32 random bytes. A secret that is key material
// (PEM, DER, an SSH line, a JWK, an EC point, or base64 or hex of one: the
// key-confusion attack) or obviously low-entropy ("changeme", repeated or
// consecutive bytes) is refused. A private key or [crypto.Signer] gives its
// public half; a nil or incomplete key is an error. The key verifies with
// that one algorithm ([WithKeyAlgorithm] for another). A token's kid must
// name a configured key; a token without kid needs exactly one key.
func WithKey(kid string, key any) Option {
	return WithKeyAlgorithm(kid, "", key)
}

// WithKeyAlgorithm is [WithKey] with an explicit algorithm, which must fit
// the key: ES256/ES384/ES512 by curve, EdDSA, RS256/384/512 or PS256/384/512
// for RSA, HS256/384/512 for a []byte secret.
func WithKeyAlgorithm(kid, alg string, key any) Option {
	return optionFor("WithKeyAlgorithm", forJWT, func(c *jwtConfig) error {
		k, err := newVerifyKey(kid, alg, key)
		if err != nil {
			return fmt.Errorf("key %q: %w", kid, err)
		}
		c.keys = append(c.keys, k)
		return nil
	})
}

// WithJWKSet adds the public keys of a JWK Set given as JSON (RFC 7517 §5).
// Each key needs a "kid" when the set holds several; "use" must be absent or
// "sig"; "key_ops", when present, must include "verify"; "alg", when
// present, must fit the key, and is otherwise derived from it. Symmetric
// keys, keys with private members ("d", …), a member name given twice at any
// depth, and a single JWK in place of a set are refused.
func WithJWKSet(data []byte) Option {
	return optionFor("WithJWKSet", forJWT, func(c *jwtConfig) error {
		keys, err := parseJWKSet(data)
		if err != nil {
			return fmt.Errorf("WithJWKSet: %w", err)
		}
		c.keys = append(c.keys, keys...)
		return nil
	})
}

// WithJWKSURL verifies tokens with the keys published as a JWK Set at jwksURL
// (an identity provider's jwks_uri), and no other: a token's jku, x5u, jwk or
// x5c header is refused. The URL must be https unless [WithInsecureJWKSURL].
// [NewJWT] does not wait for the network: the set is fetched in the
// background, retried with backoff up to a minute until a fetch succeeds;
// until then tokens are refused with [ErrNotReady] (503 with Retry-After),
// never accepted, and [JWT.Ready] reports it (a service that must not start
// without keys waits for Ready with a deadline of its own). The set is then
// refetched in the background ([WithJWKSRefresh], default every 15
// minutes), keeping the last good keys when a fetch fails (logged). A key
// published with private members is logged as a security incident and stops
// verifying at once. A token with an unknown kid triggers one refetch, at
// most once per miss interval (default 1 minute), which the request waits
// for. Unusable keys are skipped and logged, a kid given twice dropped.
// Cancel ctx at shutdown to stop the background work. It cannot be combined
// with static keys.
func WithJWKSURL(ctx context.Context, jwksURL string) Option {
	return singleOption("WithJWKSURL", fmt.Sprintf("%q", jwksURL), forJWT, func(c *jwtConfig) error {
		if ctx == nil {
			return errors.New("WithJWKSURL: nil context")
		}
		if jwksURL == "" {
			return errors.New("WithJWKSURL: empty URL")
		}
		c.jwksURL, c.jwksCtx = jwksURL, ctx
		return nil
	})
}

// WithProfile sets the [Profile] of the tokens of [WithIssuer], for a
// provider configured by hand (a JWKS URL or static keys, such as Supabase's
// HS256 secret). It also stops "ver" being read as the kit's token version,
// so it cannot be combined with [WithVersionCheck] or [WithTokensFrom].
// Default: the kit's own profile, RFC 9068 with "ver".
func WithProfile(p Profile) Option {
	return singleOption("WithProfile", fmt.Sprintf("%q", p.Name), forJWT, func(c *jwtConfig) error {
		r, err := p.rules()
		if err != nil {
			return fmt.Errorf("WithProfile: %w", err)
		}
		c.profile = r
		return nil
	})
}

// WithDPoP sets whether the tokens of [WithIssuer] may ([DPoPAllowed]) or
// must ([DPoPRequired]) be DPoP-bound (RFC 9449): sent as Authorization:
// DPoP <token> with exactly one DPoP proof header, signed by the key the
// token's cnf.jkt names (ES256/384/512, EdDSA, PS256/384/512 or
// RS256/384/512), for this request's method and URL (see
// [WithDPoPOrigin]), issued within the last minute (the leeway in the
// future), never seen before (a bounded replay cache per [JWT], or the
// store's with [WithDPoPStore]), with the hash of this token as ath, and
// with the server's nonce under [WithDPoPNonce]. A refused proof is
// [ErrInvalidDPoPProof] (401). A DPoP-bound token presented as Bearer is
// refused in every mode, [DPoPOff] too; a proof sent with a token not
// presented as DPoP is [ErrInvalidRequest] (400). The token cache never
// spares the proof. Default: [DPoPOff], bearer tokens only.
func WithDPoP(mode DPoPMode) Option {
	return singleOption("WithDPoP", mode, forJWT, func(c *jwtConfig) error {
		if mode < DPoPOff || mode > DPoPRequired {
			return fmt.Errorf("WithDPoP(%v): unknown mode", mode)
		}
		c.dpop = mode
		return nil
	})
}

// TrustedIssuer is an identity provider whose access tokens a [JWT] accepts,
// found by its issuer URL alone; see [WithTrustedIssuer].
type TrustedIssuer struct {
	// Issuer is the issuer identifier, exactly as the provider's tokens and
	// discovery document name it (e.g. "https://example.eu.auth0.com/"):
	// https, or http on a loopback host with [WithInsecureJWKSURL].
	Issuer string
	// Audiences lists the accepted audiences, at least one unless
	// [WithResource] is given (then by default the resource); a token must
	// name one of them in its profile's audience claim ("aud" by default).
	Audiences []string
	// Profile says what the provider's access tokens look like. Default (the
	// zero Profile): RFC 9068. See [Preset].
	Profile Profile
	// DPoP says whether the provider's tokens may or must be DPoP-bound, as
	// [WithDPoP] does for [WithIssuer]. Default: [DPoPOff].
	DPoP DPoPMode
	// Tenants, for a multi-tenant provider, is the allowlist of tenant IDs:
	// Issuer then holds "{tenant}" once, as in Entra's
	// "https://login.microsoftonline.com/{tenant}/v2.0", and each tenant is
	// discovered and verified as an issuer of its own (its own document and
	// keys; a token's iss must be one tenant's URL exactly, and, under the
	// Entra presets, its "tid" that tenant). Give the tenant ID (a GUID for
	// Entra), which tokens name, not a domain; "common", "organizations" and
	// "consumers" are refused. Default: none, a single-tenant issuer.
	Tenants []string
}

// WithTrustedIssuer accepts the access tokens of an identity provider,
// configured by its issuer URL: the kit reads the provider's OpenID
// Connect discovery document ({issuer}/.well-known/openid-configuration, or
// RFC 8414's oauth-authorization-server), requires its "issuer" to equal
// t.Issuer exactly, and verifies with the keys at its "jwks_uri", with the
// caching, refresh and unknown-kid refetch of [WithJWKSURL] ([WithHTTPClient]
// and [WithJWKSRefresh] apply). Both must be https unless
// [WithInsecureJWKSURL], which allows http on loopback hosts only; a redirect
// to another origin is not followed. It may be given several times, and
// with [WithIssuer]: a token's "iss" picks the issuer, and only that
// issuer's keys, audiences and profile apply to it (RFC 8725 §3.8).
//
// [NewJWT] does not wait for the network: discovery runs in the background,
// retried with backoff up to a minute until it succeeds. Until then a token
// of that issuer is refused with [ErrNotReady] (503 with Retry-After); see
// [JWT.Ready]. Cancel ctx at shutdown to stop the background work.
func WithTrustedIssuer(ctx context.Context, t TrustedIssuer) Option {
	return optionFor("WithTrustedIssuer", forJWT, func(c *jwtConfig) error {
		var errs []error
		if ctx == nil {
			errs = append(errs, errors.New("nil context"))
		}
		issuers, err := tenantIssuers(t.Issuer, t.Tenants)
		errs = append(errs, err)
		for _, ti := range issuers {
			if _, err := issuerURL(ti.issuer, true); err != nil {
				errs = append(errs, err)
			}
		}
		for i, a := range t.Audiences {
			if !validClaimString(a, maxClaimLen) || slices.Index(t.Audiences, a) != i {
				errs = append(errs, fmt.Errorf("audience %q: empty, not UTF-8, or given twice", a))
			}
		}
		r, err := t.Profile.rules()
		errs = append(errs, err)
		if t.DPoP < DPoPOff || t.DPoP > DPoPRequired {
			errs = append(errs, fmt.Errorf("unknown DPoP mode %v", t.DPoP))
		}
		if err := errors.Join(errs...); err != nil {
			return fmt.Errorf("WithTrustedIssuer(%q): %w", t.Issuer, err)
		}
		for _, ti := range issuers {
			c.trusted = append(c.trusted, trustedConfig{ctx: ctx, issuer: ti.issuer, audiences: slices.Clone(t.Audiences), rules: r.forTenant(ti.tenant), dpop: t.DPoP})
		}
		return nil
	})
}

// WithResource makes [NewJWT]'s tokens those of the resource r:
//
//   - Audience: where no audience is configured ([WithAudience] or
//     [WithTokensFrom] for [WithIssuer], [TrustedIssuer.Audiences] for a
//     trusted issuer), a token must name r.URL in its audience (RFC 8707,
//     RFC 9068 §4): the tokens issued for this resource and no other. The
//     comparison is on the canonical form (RFC 3986 §6.2.2–6.2.3: scheme
//     and host case, default port, empty path as "/", percent-encoding), so
//     "HTTPS://MCP.example.com:443/mcp" names "https://mcp.example.com/mcp";
//     a trailing slash after a path is significant. Configured audiences
//     replace this default and are compared exactly.
//   - Metadata: [JWT.ResourceMetadataHandler] serves r as RFC 9728
//     metadata at [JWT.ResourceMetadataURL], and the 401 and 403 challenges
//     of [Require] and [Optional] with this JWT carry
//     resource_metadata="<that URL>" (RFC 9728 §5.1), so that clients find
//     the authorization servers.
//
// Default: no resource; the audiences must be configured.
func WithResource(r Resource) Option {
	return singleOption("WithResource", fmt.Sprintf("%q", r.URL), forJWT, func(c *jwtConfig) error {
		rc, err := newResourceConfig(r)
		if err != nil {
			return fmt.Errorf("WithResource(%q): %w", r.URL, err)
		}
		c.resource = rc
		return nil
	})
}

// trustedConfig is one WithTrustedIssuer.
type trustedConfig struct {
	ctx       context.Context
	issuer    string
	audiences []string
	rules     *profileRules
	dpop      DPoPMode
}

// WithHTTPClient sets the HTTP client that fetches the JWK Set of
// [WithJWKSURL] (a proxy, custom roots, tests). It is copied: a zero Timeout
// becomes 10 seconds, and redirects are limited to 5 within the JWKS URL's
// origin. Default: such a client, never [net/http.DefaultClient].
func WithHTTPClient(client *http.Client) Option {
	return singleOption("WithHTTPClient", "client", forJWT, func(c *jwtConfig) error {
		if client == nil {
			return errors.New("WithHTTPClient(nil)")
		}
		c.jwks.client = client
		return nil
	})
}

// WithInsecureJWKSURL lets [WithJWKSURL] fetch over plain http, and
// [WithTrustedIssuer] too but on loopback hosts only, for local development
// and tests. Default: https only.
func WithInsecureJWKSURL() Option {
	return singleOption("WithInsecureJWKSURL", "", forJWT, func(c *jwtConfig) error {
		c.jwks.insecureHTTP = true
		return nil
	})
}

// WithJWKSRefresh sets how often the JWK Set of [WithJWKSURL] is refetched
// in the background (interval, at least one minute; it bounds how long a key
// the provider withdrew keeps verifying), and the least time between two
// refetches for tokens with an unknown kid (missInterval, at least one
// second). Default: 15 minutes and 1 minute.
func WithJWKSRefresh(interval, missInterval time.Duration) Option {
	return singleOption("WithJWKSRefresh", fmt.Sprintf("%v, %v", interval, missInterval), forJWT, func(c *jwtConfig) error {
		if interval < minJWKSRefreshInterval || missInterval < minJWKSMissInterval {
			return fmt.Errorf("WithJWKSRefresh(%v, %v): the interval must be at least %v, the miss interval at least %v",
				interval, missInterval, minJWKSRefreshInterval, minJWKSMissInterval)
		}
		c.jwks.refresh, c.jwks.miss = interval, missInterval
		return nil
	})
}

// WithTokensFrom accepts the access tokens that iss mints: its issuer name,
// its audience, its verification keys (the signing key and those added with
// [WithAdditionalKey]) and, unless [WithMaxTokenLifetime] is given, its
// access-token lifetime as the longest accepted. [WithAudience] may add
// further audiences. It cannot be combined with [WithJWKSURL]. For a verifier
// in another process, serve [Issuer.JWKSHandler] and use [WithJWKSURL].
func WithTokensFrom(iss *Issuer) Option {
	return singleOption("WithTokensFrom", "issuer", forJWT, func(c *jwtConfig) error {
		if iss == nil || iss.signer == nil {
			return errors.New("WithTokensFrom: the Issuer was not built by NewIssuer")
		}
		c.from = iss
		return nil
	})
}

// WithLeeway sets the clock skew tolerated on "exp", "nbf" and "iat": between
// 0 and one minute. Default: 30 seconds.
func WithLeeway(d time.Duration) Option {
	return singleOption("WithLeeway", d, forJWT, func(c *jwtConfig) error {
		if d < 0 || d > maxLeeway {
			return fmt.Errorf("WithLeeway(%v): must be between 0 and %v", d, maxLeeway)
		}
		c.leeway = d
		return nil
	})
}

// WithMaxTokenLifetime sets the longest lifetime ("exp" minus "iat") of an
// accepted token; longer-lived tokens are refused. Default: one hour
// (RFC 6750 §5.3).
func WithMaxTokenLifetime(d time.Duration) Option {
	return singleOption("WithMaxTokenLifetime", d, forJWT, func(c *jwtConfig) error {
		if d <= 0 {
			return fmt.Errorf("WithMaxTokenLifetime(%v): must be positive", d)
		}
		c.maxLifetime = d
		return nil
	})
}

// WithMaxTokenSize sets the largest token, in bytes, that is decoded at all;
// larger ones are refused before any work. Default: 8 KiB.
func WithMaxTokenSize(n int) Option {
	return singleOption("WithMaxTokenSize", n, forJWT, func(c *jwtConfig) error {
		if n < 64 {
			return fmt.Errorf("WithMaxTokenSize(%d): too small", n)
		}
		c.maxSize = n
		return nil
	})
}

// WithTokenCookie also reads the access token from the cookie name. A
// request that carries the token both there and in the Authorization header,
// or the cookie twice, is refused with 400. A token in a cookie must be
// protected like a session cookie (RFC 6750 §5.3): set it Secure and
// HttpOnly; the kit refuses cross-origin state-changing requests that carry
// it with 403 (see [WithCrossOriginProtection]). Default: no cookie; the
// token is read from the Authorization header only, never from the query.
func WithTokenCookie(name string) Option {
	return singleOption("WithTokenCookie", fmt.Sprintf("%q", name), forJWT, func(c *jwtConfig) error {
		if name == "" {
			return errors.New("WithTokenCookie: empty name")
		}
		c.cookieName = name
		return nil
	})
}

// WithTokenCacheSize sets how many verified access tokens the authenticator
// remembers, so that a token seen again skips parsing and the signature; 0
// turns the cache off. Whatever n, the cache also stops at 16 MiB, each
// token counted as its length plus 512 bytes (more than it keeps): 10 000
// tokens of 1 KiB fit, about 2 000 near the 8 KiB size cap. A token is found
// by the SHA-256 of its header.payload and its low-S signature, so both ECDSA
// twins (r, s) and (r, n-s) of one token are one entry. A hit still checks
// the token's times (exp, iat, nbf) and that its key is still configured;
// the version check and toUser run as on a miss. Default: 10 000 tokens.
func WithTokenCacheSize(n int) Option {
	return singleOption("WithTokenCacheSize", n, forJWT, func(c *jwtConfig) error {
		if n < 0 {
			return fmt.Errorf("WithTokenCacheSize(%d): negative size", n)
		}
		c.cacheSize = n
		return nil
	})
}

// JWT authenticates requests by a JWT access token (RFC 9068), sent as
// Authorization: Bearer <token> (RFC 6750 §2.1) or, when configured with
// [WithTokenCookie], in a cookie. Build one with [NewJWT]; use it with
// [Require], [Optional] and [Any]. A JWT is immutable and safe for concurrent
// use.
type JWT[U any] struct {
	v           verifier
	cache       *tokenCache // nil: off
	toUser      func(context.Context, *Claims) (U, error)
	cookieName  string
	crossOrigin *http.CrossOriginProtection
	versions    VersionLookup
	ownIssuer   string          // the issuer whose tokens carry the kit's version; "" for none
	notBefore   time.Time       // the version check refuses own tokens issued before (WithTokensFrom an in-memory Issuer)
	resource    *resourceConfig // WithResource; nil: none
	servers     []string        // the issuers, the own one first: the resource's authorization servers
	dpop        *dpopPolicy     // nil: no issuer accepts DPoP
}

// NewJWT returns an authenticator of access tokens. toUser turns verified
// claims into the program's user type; it is called on every authenticated
// request and should not query a database (that is what the token spares).
// The claims are the request's own copy. An error from toUser that wraps
// [ErrUnknownUser] or [ErrInvalidToken] refuses the token (401); any other
// error is a failure (500).
//
// [WithIssuer], [WithAudience] (or [WithResource]) and the keys ([WithKey], [WithKeyAlgorithm],
// [WithJWKSet], [WithJWKSURL] or [WithTokensFrom]) are required. NewJWT
// checks every option and returns one error naming each problem; it does
// no I/O (keys from a URL are fetched in the background, see [JWT.Ready]).
func NewJWT[U any](toUser func(context.Context, *Claims) (U, error), opts ...Option) (*JWT[U], error) {
	if toUser == nil {
		return nil, errors.New("authkit: NewJWT: toUser is nil")
	}
	cfg, err := newJWTConfig(opts)
	if err != nil {
		return nil, fmt.Errorf("authkit: NewJWT: %w", err)
	}
	v, err := cfg.verifier()
	if err != nil {
		return nil, fmt.Errorf("authkit: NewJWT: %w", err)
	}
	j := &JWT[U]{v: v, toUser: toUser, cookieName: cfg.cookieName, crossOrigin: cfg.crossOrigin, versions: cfg.versions}
	if cfg.profile == nil {
		j.ownIssuer = cfg.issuer
	}
	if cfg.from != nil {
		j.notBefore = cfg.from.notBefore
	}
	j.resource, j.servers = cfg.resource, cfg.servers()
	if cfg.cacheSize > 0 {
		j.cache = newTokenCache(cfg.cacheSize)
		j.cache.events = cfg.events
	}
	modes := map[string]DPoPMode{}
	if cfg.issuer != "" {
		modes[cfg.issuer] = cfg.dpop
	}
	for _, t := range cfg.trusted {
		modes[t.issuer] = t.dpop
	}
	j.dpop = newDPoPPolicy(modes, &cfg.common, v.now, cfg.leeway)
	return j, nil
}

// Authenticate verifies the request's access token and returns its user.
func (j *JWT[U]) Authenticate(r *http.Request) (U, error) {
	u, _, _, err := j.identify(r)
	return u, err
}

// identify verifies the request's access token (through the cache when it
// is on) and its DPoP proof, checks the user's version when configured, and
// turns the claims into the user.
func (j *JWT[U]) identify(r *http.Request) (U, *Claims, Method, error) {
	var zero U
	if j == nil || j.toUser == nil {
		return zero, nil, MethodBearer, errors.New("authkit: JWT not built by NewJWT")
	}
	u, c, m, err := j.identifyToken(r)
	return u, c, m, j.dpop.wrap(err, m == MethodDPoP)
}

func (j *JWT[U]) identifyToken(r *http.Request) (U, *Claims, Method, error) {
	var zero U
	token, usedDPoP, unchecked, err := j.token(r)
	if err != nil {
		return zero, nil, MethodBearer, err
	}
	method := MethodBearer
	if usedDPoP {
		method = MethodDPoP
	}
	var admit func(string) error
	if unchecked {
		admit = checkB64token
	}
	u, c, err := j.verifyToken(r.Context(), token, admit, func(c *Claims) error {
		return j.dpop.check(r, token, usedDPoP, c)
	})
	return u, c, method, err
}

// Verify verifies an access token that reached the program by another way
// than an HTTP request's header or cookie (a framework's middleware, such
// as the MCP SDK's, a WebSocket message), exactly as [Require] would: the
// signature, claims, audience, version check and toUser. It returns the
// user and the request's own copy of the claims; the errors are those of
// [Authenticator]. It is safe for concurrent use.
func (j *JWT[U]) Verify(ctx context.Context, token string) (U, *Claims, error) {
	if j == nil || j.toUser == nil {
		var zero U
		return zero, nil, errors.New("authkit: JWT not built by NewJWT")
	}
	// Without a request there is no DPoP proof: a DPoP-bound token is
	// refused, as when presented as Bearer.
	return j.verifyToken(ctx, token, nil, func(c *Claims) error { return j.dpop.check(nil, token, false, c) })
}

// verifyToken verifies token (through the cache when it is on), then proof
// (the DPoP policy) on its claims and the user's version when configured, and
// turns the claims into the user. admit, when not nil, is the transport's
// check of the token (the b64token of RFC 6750 §2.1), whose refusal comes
// first: it runs only when the verifier refuses, as a token that verified
// is three segments of base64url, which admit accepts.
func (j *JWT[U]) verifyToken(ctx context.Context, token string, admit func(string) error, proof func(*Claims) error) (U, *Claims, error) {
	var zero U
	var c *Claims
	var err error
	if j.cache != nil {
		c, err = j.cache.verify(ctx, &j.v, token)
	} else {
		var t verified
		t, err = j.v.verify(ctx, token)
		c = t.claims
	}
	if err != nil && admit != nil {
		if aerr := admit(token); aerr != nil {
			err = aerr
		}
	}
	if err == nil {
		err = proof(c)
	}
	if err != nil {
		return zero, nil, err
	}
	if j.versions != nil && c.Issuer == j.ownIssuer {
		if c.IssuedAt.Before(j.notBefore) {
			return zero, nil, revokedToken("token issued before its Issuer's in-memory store: its version cannot be vouched for")
		}
		if _, err := checkVersion(ctx, j.versions, c.Subject, c.Version); err != nil {
			return zero, nil, err
		}
	}
	u, err := j.toUser(ctx, c)
	if err != nil {
		if errors.Is(err, ErrUnknownUser) && !errors.Is(err, ErrInvalidToken) {
			err = invalidTokenCause("user", err)
		}
		return zero, nil, err
	}
	return u, c, nil
}

// CacheSize reports what j's caches hold, for a gauge: the verified-token
// cache's entries and the bytes they count against its 16 MiB bound (both 0
// with [WithTokenCacheSize](0)), and the DPoP proofs remembered against
// replay by j itself (0 without [WithDPoP], and with [WithDPoPStore], whose
// Store holds them). It takes each cache's lock briefly and is
// safe for concurrent use.
func (j *JWT[U]) CacheSize() (tokens, bytes, proofs int) {
	if j == nil {
		return 0, 0, 0
	}
	if j.cache != nil {
		tokens, bytes = j.cache.size()
	}
	if j.dpop != nil {
		if c, ok := j.dpop.proofs.seen.(*replayCache); ok { // not the Store's of WithDPoPStore
			proofs = c.len()
		}
	}
	return tokens, bytes, proofs
}

// Ready reports whether j can verify tokens of every issuer it trusts: nil
// once the keys of [WithJWKSURL] and of each [WithTrustedIssuer] were
// fetched once (static keys are there when [NewJWT] returns), else an
// error wrapping [ErrNotReady] naming the issuers that are not ready and
// why. Gate a readiness probe on it; it does no I/O and is safe for
// concurrent use.
func (j *JWT[U]) Ready() error {
	if j == nil {
		return errors.New("authkit: JWT not built by NewJWT")
	}
	var errs []error
	for _, v := range j.issuers() {
		if d, ok := v.keys.(*discoverySource); ok {
			errs = append(errs, d.ready())
		}
	}
	return errors.Join(errs...)
}

// issuers returns the verifier of each issuer j trusts.
func (j *JWT[U]) issuers() []*verifier {
	if j.v.byIssuer == nil {
		return []*verifier{&j.v}
	}
	all := make([]*verifier, 0, len(j.v.byIssuer))
	for _, v := range j.v.byIssuer {
		all = append(all, v)
	}
	return all
}

// token extracts the access token from the request (RFC 6750 §2): the
// Authorization header, or the configured cookie; never the query string. A
// token offered in more than one way is a malformed request. A Bearer token
// is returned unchecked (unchecked true): verifyToken checks its b64token
// when the verifier refuses it, and then that refusal comes first.
func (j *JWT[U]) token(r *http.Request) (token string, usedDPoP, unchecked bool, err error) {
	found := false
	switch hs := r.Header["Authorization"]; len(hs) {
	case 0:
	case 1:
		t, ok, err := bearerCredential(hs[0])
		unchecked = ok
		if err == nil && !ok && j.dpop != nil {
			t, ok, err = dpopToken(hs[0])
			usedDPoP = ok
		}
		if err != nil {
			return "", false, false, err
		}
		token, found = t, ok
	default:
		return "", false, false, invalidRequest("more than one Authorization header")
	}
	if j.cookieName != "" {
		cs := r.CookiesNamed(j.cookieName)
		switch {
		case len(cs) > 1:
			return "", false, false, invalidRequest("token cookie sent more than once")
		case len(cs) == 1 && found:
			return "", false, false, invalidRequest("token sent in both the Authorization header and a cookie")
		case len(cs) == 1:
			// The browser attaches the cookie by itself: refuse cross-origin
			// state-changing requests, as for sessions (RFC 6750 §5.3).
			if err := checkCrossOrigin(j.crossOrigin, r); err != nil {
				return "", false, false, err
			}
			token, found = cs[0].Value, true
		}
	}
	// Parse the query rather than search its raw text: "access%5Ftoken" is
	// the same parameter.
	if found && r.URL.RawQuery != "" && r.URL.Query().Has("access_token") {
		return "", false, false, invalidRequest("token sent in the query string as well")
	}
	if !found {
		return "", false, false, ErrNoCredentials
	}
	return token, usedDPoP, unchecked, nil
}

// bearerToken parses an Authorization header value. It reports ok=false for
// another scheme, and an invalid-request error for a Bearer credential that
// does not follow RFC 6750 §2.1:
//
//	credentials = "Bearer" 1*SP b64token
//	b64token    = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
func bearerToken(h string) (token string, ok bool, err error) {
	token, ok, err = bearerCredential(h)
	if ok {
		if err = checkB64token(token); err != nil {
			return "", false, err
		}
	}
	return token, ok, err
}

// bearerCredential is bearerToken without the check of the b64token itself,
// which the Authorization header's reader leaves to verifyToken: a token that
// verifies needs no such check, so neither a cache hit nor a valid token pays
// for a scan of the header.
func bearerCredential(h string) (token string, ok bool, err error) {
	const scheme = "bearer"
	if len(h) < len(scheme) || h[:len(scheme)] != "Bearer" && !strings.EqualFold(h[:len(scheme)], scheme) {
		return "", false, nil
	}
	rest := h[len(scheme):]
	if rest != "" && rest[0] != ' ' {
		if rest[0] != '\t' {
			return "", false, nil // another scheme, e.g. "Bearerish"
		}
		return "", false, invalidRequest("Bearer credentials must be separated by spaces")
	}
	rest = strings.TrimLeft(rest, " ")
	if rest == "" {
		return "", false, invalidRequest("Bearer without a token")
	}
	return rest, true, nil
}

// checkB64token refuses a Bearer token that is not a b64token.
func checkB64token(token string) error {
	i := b64tokenPrefix(token)
	if i == 0 {
		return invalidRequest("Bearer token is not a b64token")
	}
	for i < len(token) && token[i] == '=' {
		i++
	}
	if i != len(token) {
		return invalidRequest("Bearer token is not a b64token")
	}
	return nil
}

// ResourceMetadataHandler returns the [net/http.ServeMux] pattern and the
// handler of j's protected resource metadata (RFC 9728), for
// mux.Handle(j.ResourceMetadataHandler()): "GET
// /.well-known/oauth-protected-resource", followed by the resource's path
// when it has one (RFC 9728 §3.1: ".../oauth-protected-resource/mcp" for
// "https://mcp.example.com/mcp"). The document lists the resource
// ([Resource.URL]), its authorization servers (the issuer of [WithIssuer]
// or [WithTokensFrom], then every [WithTrustedIssuer], in order), its scopes
// and name, and bearer_methods_supported ["header"]: a token in a cookie
// ([WithTokenCookie]) is for the application's own pages, not a way for
// OAuth clients to send one. Where an issuer accepts DPoP ([WithDPoP],
// [TrustedIssuer.DPoP]) it lists dpop_signing_alg_values_supported (the
// proof algorithms the kit verifies) and dpop_bound_access_tokens_required
// (true when every issuer is [DPoPRequired]). It names no
// resource_signing_alg_values: the kit signs no responses. The answer is JSON, cacheable for an hour and
// readable from any origin (the metadata is public). It panics if j has no
// [WithResource]. The handler is safe for concurrent use.
func (j *JWT[U]) ResourceMetadataHandler() (pattern string, h http.Handler) {
	if j == nil || j.resource == nil {
		panic("authkit: ResourceMetadataHandler needs a JWT built with WithResource")
	}
	var algs []string
	if j.dpop != nil {
		algs = dpopAlgs
	}
	body := j.resource.metadata(j.servers, algs, j.dpop != nil && !j.dpop.bearer)
	return j.resource.pattern, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Type", "application/json")
		h.Set("Cache-Control", "public, max-age=3600")
		h.Set("Access-Control-Allow-Origin", "*")
		h.Set("X-Content-Type-Options", "nosniff")
		_, _ = w.Write(body)
	})
}

// ResourceMetadataURL returns the URL of j's protected resource metadata
// (RFC 9728 §3.1, see [JWT.ResourceMetadataHandler]), which the challenges
// name, or "" if j has no [WithResource].
func (j *JWT[U]) ResourceMetadataURL() string {
	if j == nil || j.resource == nil {
		return ""
	}
	return j.resource.metadataURL
}

// resourceMetadataURL lets the middleware find the URL its challenges name.
func (j *JWT[U]) resourceMetadataURL() string { return j.ResourceMetadataURL() }

// bindToResource makes the resource the audience of v, an issuer's verifier,
// when none is configured for it.
func (c *jwtConfig) bindToResource(v *verifier) {
	if c.resource != nil && len(v.audiences) == 0 {
		v.audiences, v.resource = []string{c.resource.URL}, c.resource.canonical
	}
}

// servers lists the issuers c accepts, its own first.
func (c *jwtConfig) servers() []string {
	var s []string
	if c.issuer != "" {
		s = append(s, c.issuer)
	}
	for _, t := range c.trusted {
		s = append(s, t.issuer)
	}
	return s
}

// dpopToken parses an Authorization header of the DPoP scheme (RFC 9449
// §7.1), whose token has the syntax of a Bearer one; ok is false for
// another scheme.
func dpopToken(h string) (token string, ok bool, err error) {
	const scheme = "dpop"
	if len(h) < len(scheme) || !strings.EqualFold(h[:len(scheme)], scheme) {
		return "", false, nil
	}
	return bearerToken("Bearer" + h[len(scheme):])
}
