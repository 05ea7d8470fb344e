package authkit

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwk"
)

// VersionLookup returns the current token version of a user: a number the
// application stores per user and only ever increases. Every session and
// token records the version it was issued under; once the user's version is
// higher, they are refused. Bumping it logs the user out everywhere.
//
// A lookup for a user that does not exist or is disabled must return an error
// wrapping [ErrUnknownUser]: the credential is refused (401). Any other
// non-nil error means the store failed: the kit fails closed (500 on a
// protected route, no token issued on refresh), it never lets the request
// through. A VersionLookup is called concurrently and must be safe for that.
type VersionLookup func(ctx context.Context, userID string) (int64, error)

// JWTOption configures [NewJWT].
type JWTOption func(*jwtConfig) error

type jwtConfig struct {
	issuer      string
	audience    string
	keys        []*verifyKey
	source      keySource // set by WithJWKSURL
	leeway      time.Duration
	maxLifetime time.Duration
	maxSize     int
	now         func() time.Time
	cookieName  string
	versions    VersionLookup
	cacheSize   int
}

func newJWTConfig(opts []JWTOption) (*jwtConfig, error) {
	c := &jwtConfig{
		leeway:      DefaultLeeway,
		maxLifetime: DefaultMaxTokenLifetime,
		maxSize:     DefaultMaxTokenSize,
		now:         time.Now,
		cacheSize:   DefaultTokenCacheSize,
	}
	var errs []error
	for _, o := range opts {
		if o == nil {
			continue
		}
		if err := o(c); err != nil {
			errs = append(errs, err)
		}
	}
	if c.issuer == "" {
		errs = append(errs, errors.New("WithIssuer is required"))
	}
	if c.audience == "" {
		errs = append(errs, errors.New("WithAudience is required"))
	}
	switch {
	case len(c.keys) == 0 && c.source == nil:
		errs = append(errs, errors.New("no verification key: use WithKey, WithHMACSecret, WithJWKSet or WithJWKSURL"))
	case len(c.keys) > 0 && c.source != nil:
		errs = append(errs, errors.New("WithJWKSURL cannot be combined with static keys"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("authkit: %w", err)
	}
	// The JWKS source starts fetching only once the rest of the
	// configuration is known to be valid, so that a refused configuration
	// leaves no goroutine or request behind.
	if s, ok := c.source.(*jwksSource); ok {
		if err := s.start(c.now); err != nil {
			return nil, fmt.Errorf("authkit: %w", err)
		}
	}
	return c, nil
}

// verifier builds the verifier for tokens of type typ.
func (c *jwtConfig) verifier(typ string, maxLifetime time.Duration) (verifier, error) {
	src := c.source
	if src == nil {
		set, err := newKeySet(c.keys)
		if err != nil {
			return verifier{}, fmt.Errorf("authkit: %w", err)
		}
		src = set
	}
	return verifier{
		keys:        src,
		typ:         typ,
		issuer:      c.issuer,
		audience:    c.audience,
		leeway:      c.leeway,
		maxLifetime: maxLifetime,
		maxSize:     c.maxSize,
		now:         c.now,
	}, nil
}

// WithIssuer sets the issuer ("iss") a token must name, compared exactly.
// Required.
func WithIssuer(iss string) JWTOption {
	return func(c *jwtConfig) error {
		if iss == "" {
			return errors.New("WithIssuer: empty issuer")
		}
		c.issuer = iss
		return nil
	}
}

// WithAudience sets the audience a token's "aud" must contain, compared
// exactly. Required.
func WithAudience(aud string) JWTOption {
	return func(c *jwtConfig) error {
		if aud == "" {
			return errors.New("WithAudience: empty audience")
		}
		c.audience = aud
		return nil
	}
}

// WithKey adds a public verification key under the key ID kid. key is an
// *ecdsa.PublicKey (P-256, P-384 or P-521: ES256, ES384, ES512), an
// ed25519.PublicKey (EdDSA) or an *rsa.PublicKey of at least 2048 bits
// (RS256); a private key or a [crypto.Signer] is accepted and only its public
// half kept. The key verifies with that one algorithm; use
// [WithKeyAlgorithm] for another (RS384, PS256, …).
//
// A token with a kid must name a configured key. A token without kid is
// accepted only when exactly one key is configured. kid may be empty for that
// single key.
func WithKey(kid string, key any) JWTOption {
	return WithKeyAlgorithm(kid, "", key)
}

// WithKeyAlgorithm is [WithKey] with an explicit algorithm, which must fit
// the key: ES256/ES384/ES512 by curve, EdDSA, RS256/384/512 or PS256/384/512
// for RSA, HS256/384/512 for a []byte secret.
func WithKeyAlgorithm(kid, alg string, key any) JWTOption {
	return func(c *jwtConfig) error {
		k, err := newVerifyKey(kid, alg, key)
		if err != nil {
			return fmt.Errorf("key %q: %w", kid, err)
		}
		c.keys = append(c.keys, k)
		return nil
	}
}

// WithHMACSecret adds an HS256 secret under the key ID kid. The secret must be
// at least 32 random bytes (RFC 7518 §3.2; RFC 8725 §3.5): shorter secrets,
// and anything that looks like a PEM block or a JWK (the key-confusion attack),
// are refused. Use a separate secret per purpose. Prefer asymmetric keys when
// another party verifies the tokens.
func WithHMACSecret(kid string, secret []byte) JWTOption {
	return WithKeyAlgorithm(kid, "HS256", secret)
}

// WithJWKSet adds the public keys of a JWK Set given as JSON (RFC 7517 §5).
// Each key needs a "kid" when the set holds several; "use" must be absent or
// "sig"; "alg", when present, must fit the key, and is otherwise derived from
// it. Symmetric keys are refused.
func WithJWKSet(data []byte) JWTOption {
	return func(c *jwtConfig) error {
		if err := checkJWKSetJSON(data); err != nil {
			return fmt.Errorf("WithJWKSet: %w", err)
		}
		set, err := jwk.Parse(data)
		if err != nil {
			return fmt.Errorf("WithJWKSet: %w", err)
		}
		keys, err := keysFromJWKSet(set)
		if err != nil {
			return fmt.Errorf("WithJWKSet: %w", err)
		}
		c.keys = append(c.keys, keys...)
		return nil
	}
}

// WithLeeway sets the clock skew tolerated on "exp", "nbf" and "iat". It must
// be between 0 and [MaxLeeway] (one minute). Default: [DefaultLeeway] (30s).
func WithLeeway(d time.Duration) JWTOption {
	return func(c *jwtConfig) error {
		if d < 0 || d > MaxLeeway {
			return fmt.Errorf("WithLeeway(%v): must be between 0 and %v", d, MaxLeeway)
		}
		c.leeway = d
		return nil
	}
}

// WithMaxTokenLifetime sets the longest lifetime ("exp" minus "iat") of an
// accepted token; longer-lived tokens are refused. Default:
// [DefaultMaxTokenLifetime] (one hour, RFC 6750 §5.3).
func WithMaxTokenLifetime(d time.Duration) JWTOption {
	return func(c *jwtConfig) error {
		if d <= 0 {
			return fmt.Errorf("WithMaxTokenLifetime(%v): must be positive", d)
		}
		c.maxLifetime = d
		return nil
	}
}

// WithMaxTokenSize sets the largest token, in bytes, that is decoded at all;
// larger ones are refused before any work. Default: [DefaultMaxTokenSize]
// (8 KiB).
func WithMaxTokenSize(n int) JWTOption {
	return func(c *jwtConfig) error {
		if n < 64 {
			return fmt.Errorf("WithMaxTokenSize(%d): too small", n)
		}
		c.maxSize = n
		return nil
	}
}

// WithClock sets the function that tells the current time, for tests.
// Default: [time.Now].
func WithClock(now func() time.Time) JWTOption {
	return func(c *jwtConfig) error {
		if now == nil {
			return errors.New("WithClock(nil)")
		}
		c.now = now
		return nil
	}
}

// WithTokenCookie also reads the access token from the cookie name. A
// request that carries the token both there and in the Authorization header,
// or the cookie twice, is refused with 400. A token in a cookie must be
// protected like a session cookie (RFC 6750 §5.3): set it Secure and
// HttpOnly; the kit refuses cross-origin state-changing requests that carry
// it with 403 ([ErrCrossOrigin], checked by [net/http.CrossOriginProtection]). Default: no cookie; the token is read
// from the Authorization header only, and never from the query string.
func WithTokenCookie(name string) JWTOption {
	return func(c *jwtConfig) error {
		if name == "" {
			return errors.New("WithTokenCookie: empty name")
		}
		c.cookieName = name
		return nil
	}
}

// WithVersionCheck checks, on every request, that the token's "ver" claim is
// not below the user's current version, so that bumping the version revokes
// access tokens too, not only sessions and refresh tokens. Wrap lookup in a
// [VersionCache] so that this costs a store query per user per TTL, not per
// request; a bump then reaches access tokens within the cache's TTL. Without
// this option (the default) an access token stays valid until it expires.
// A failing lookup fails closed (500).
func WithVersionCheck(lookup VersionLookup) JWTOption {
	return func(c *jwtConfig) error {
		if lookup == nil {
			return errors.New("WithVersionCheck(nil)")
		}
		c.versions = lookup
		return nil
	}
}

// WithTokenCache sets how many verified access tokens the authenticator
// remembers, keyed by the SHA-256 of their exact bytes, so that a token seen
// again skips parsing and signature verification; 0 turns the cache off.
// Default: [DefaultTokenCacheSize] (10 000 tokens, a few MB at most).
//
// It is on by default because clients present the same access token on every
// request for its whole lifetime, and a hit skips nothing that can change:
// every hit still checks that the token has not expired and that the key that
// verified it is still configured, and the version check ([WithVersionCheck])
// and toUser run as on a miss. Only tokens that verified are stored, so
// forged tokens cannot fill it; when it is full an arbitrary entry is evicted.
func WithTokenCache(size int) JWTOption {
	return func(c *jwtConfig) error {
		if size < 0 {
			return fmt.Errorf("WithTokenCache(%d): negative size", size)
		}
		c.cacheSize = size
		return nil
	}
}
