package authkit

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The issuer's limits.
const (
	refreshTokenType = "rt+jwt"
	maxClaimLen      = 1024 // bytes of a user ID, issuer or audience
	maxRefreshBody   = defaultMaxTokenSize + 1024
)

var errNotBuilt = errors.New("authkit: Issuer not built by NewIssuer")

// Issuer mints access and refresh tokens and serves the refresh, logout and
// JWK Set endpoints. Build one with [NewIssuer]; it is immutable and safe for
// concurrent use.
//
// # Tokens
//
// [Issuer.Issue], called after the application has checked the user's
// password, starts a refresh-token family and returns a [TokenPair]:
//
//   - an access token (RFC 9068): header typ "at+jwt", alg and kid; claims
//     iss, sub (the user ID), aud, exp (default 15 minutes), iat, jti and ver
//     (the user's token version). [NewJWT] with [WithTokensFrom] accepts it.
//   - a refresh token: header typ "rt+jwt"; audience the refresh audience
//     (default: the issuer name, never the access audience), plus "fam", the
//     family ID. Neither token passes for the other: the types and the
//     audiences differ (RFC 8725 §3.11-3.12).
//
// Both are signed with the configured private key (ES256 for a P-256 key,
// EdDSA for Ed25519, RS256 for RSA, HS256 for a secret). The claims are
// written by the kit from typed fields; there is no way to add a claim by
// name.
//
// # Refresh
//
// [Issuer.RefreshHandler] (or [Issuer.Refresh]) exchanges a refresh token for
// a new pair. It verifies the token (type, signature, issuer, refresh
// audience, exp: the idle expiry), asks the [VersionLookup] once for the
// user's current version (a token issued under an older version is refused; a
// failing lookup refuses the refresh with 500 and issues nothing), then
// rotates the family in one atomic conditional update of the [FamilyStore]:
// the presented token becomes invalid, a new one is issued. The family's
// absolute lifetime (default 7 days) is never extended by rotation; a refresh
// token never outlives its family.
//
// # Reuse and concurrency: strict
//
// Presenting a refresh token that was already rotated revokes its whole
// family (RFC 9700 §4.14.2) and reports a [ReuseEvent] (see
// [WithReuseHandler]). The policy is strict, with no grace window: of several
// concurrent refreshes with the same token exactly one succeeds, the others
// count as reuse, and the family is revoked, so no successor stays valid
// (the user logs in again). Clients must therefore serialize their refreshes
// (one refresh in flight; other requests wait for its result). A grace window
// was not implemented: handing a second caller the same successor needs the
// successor stored or derivable, and keeps a stolen token usable during the
// window.
//
// # Logging out
//
// [Issuer.LogoutHandler] (or [Issuer.Revoke]) revokes the family of the
// presented refresh token and clears the cookie: "log out on this device".
// To end a session as well, wrap LogoutHandler in a handler that also calls
// [Session.Logout].
//
// "Log out everywhere" is a version bump: [VersionCache.Bump]. From then on every refresh token
// and session of the user is refused, and access tokens too where [NewJWT]
// has [WithVersionCheck]; without it, an access token stays valid until it
// expires (at most the access TTL).
type Issuer struct {
	issuer, audience string
	cfg              issuerConfig
	families         FamilyStore
	versions         VersionLookup
	signer           *signer
	accessHeader     string
	refreshHeader    string
	refresh          verifier
	jwks             []byte
}

// issuerConfig is what the options of NewIssuer set.
type issuerConfig struct {
	common
	refreshAudience string
	accessTTL       time.Duration
	refreshTTL      time.Duration
	familyTTL       time.Duration
	onReuse         func(context.Context, ReuseEvent)
	cookieName      string
	cookiePath      string
	kid, alg        string
	extra           []*verifyKey
	extraJWK        [][]byte
}

// TokenPair is what [Issuer.Issue] and [Issuer.Refresh] return: a new access
// token and a new refresh token. [Issuer.WriteTokens] writes it as an
// RFC 6749 §5.1 response.
type TokenPair struct {
	AccessToken           string
	AccessTokenExpiresAt  time.Time
	RefreshToken          string
	RefreshTokenExpiresAt time.Time // the idle expiry, capped by the family's absolute one
	IssuedAt              time.Time
	UserID                string
	Version               int64  // the user's token version the tokens carry
	FamilyID              string // the refresh-token family
}

// ReuseEvent reports that an already rotated refresh token was presented and
// its family revoked (RFC 9700 §4.14.2): either the legitimate client or an
// attacker holds a stolen copy. It is reported once per family.
type ReuseEvent struct {
	UserID          string
	FamilyID        string
	TokenID         string    // the jti of the presented token
	TokenIssuedAt   time.Time // when the presented token was issued
	FamilyCreatedAt time.Time // the login that started the family
	DetectedAt      time.Time
}

// NewIssuer returns an issuer of tokens named issuer (the "iss" claim, e.g.
// "https://auth.example.com"), for the API audience (the access tokens'
// "aud"). key signs the tokens: an *ecdsa.PrivateKey (P-256: ES256, the
// recommended default; P-384: ES384; P-521: ES512), an ed25519.PrivateKey
// (EdDSA), an *rsa.PrivateKey of at least 2048 bits (RS256), any other
// [crypto.Signer] with one of those public keys (a KMS or HSM key), or an
// HMAC secret of at least 32 random bytes ([]byte, HS256; only where the
// verifiers may hold the secret). families keeps the refresh-token families;
// versions tells users' token versions: both are required (wrap versions in a
// [VersionCache] to spare the store).
//
// NewIssuer checks everything once and returns one error naming every
// problem: a bad key, a key ID collision, a TTL out of range, a refresh
// audience equal to the access audience, an option given twice.
func NewIssuer(issuer, audience string, key any, families FamilyStore, versions VersionLookup, opts ...Option) (*Issuer, error) {
	cfg := issuerConfig{
		refreshAudience: issuer,
		accessTTL:       defaultAccessTokenTTL,
		refreshTTL:      defaultRefreshTokenTTL,
		familyTTL:       defaultRefreshFamilyLifetime,
		onReuse:         logReuse,
		cookieName:      defaultRefreshCookieName,
		cookiePath:      defaultRefreshCookiePath,
	}
	errs := []error{applyOptions(opts, forIssuer, &cfg)}
	if !validClaimString(issuer, maxClaimLen) {
		errs = append(errs, errors.New("issuer: must be a non-empty UTF-8 string"))
	}
	if !validClaimString(audience, maxClaimLen) {
		errs = append(errs, errors.New("audience: must be a non-empty UTF-8 string"))
	}
	if isNil(families) {
		errs = append(errs, errors.New("nil FamilyStore"))
	}
	if versions == nil {
		errs = append(errs, errors.New("nil VersionLookup"))
	}
	if cfg.refreshAudience == audience {
		errs = append(errs, fmt.Errorf("the refresh audience must differ from the access audience %q: see WithRefreshAudience", audience))
	}
	if cfg.refreshTTL > cfg.familyTTL {
		errs = append(errs, fmt.Errorf("refresh token TTL %v is longer than the family lifetime %v", cfg.refreshTTL, cfg.familyTTL))
	}
	cfg.now = cfg.clock()
	s, err := newSigner(cfg.kid, cfg.alg, key)
	if err != nil {
		errs = append(errs, fmt.Errorf("signing key: %w", err))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("authkit: NewIssuer: %w", err)
	}
	i := &Issuer{issuer: issuer, audience: audience, cfg: cfg, families: families, versions: versions, signer: s,
		accessHeader: s.header(accessTokenType), refreshHeader: s.header(refreshTokenType)}
	set, err := newKeySet(i.verifyKeys())
	if err != nil {
		return nil, fmt.Errorf("authkit: NewIssuer: %w", err)
	}
	i.refresh = verifier{
		keys:        set,
		typ:         refreshTokenType,
		issuer:      issuer,
		audiences:   []string{cfg.refreshAudience},
		leeway:      defaultLeeway,
		maxLifetime: cfg.refreshTTL,
		maxSize:     defaultMaxTokenSize,
		now:         cfg.now,
	}
	var keys [][]byte
	for _, k := range append([][]byte{s.jwk}, cfg.extraJWK...) {
		if k != nil {
			keys = append(keys, k)
		}
	}
	i.jwks = slices.Concat([]byte(`{"keys":[`), bytes.Join(keys, []byte(",")), []byte("]}"))
	return i, nil
}

// verifyKeys returns the signing key's verification half and the additional
// keys.
func (i *Issuer) verifyKeys() []*verifyKey {
	return append([]*verifyKey{i.signer.public}, i.cfg.extra...)
}

func logReuse(ctx context.Context, e ReuseEvent) {
	slog.WarnContext(ctx, "authkit: refresh token reused; family revoked",
		"user_id", e.UserID, "family_id", e.FamilyID, "jti", e.TokenID, "token_issued_at", e.TokenIssuedAt)
}

func wholeSeconds(name string, d time.Duration) error {
	if d < time.Second || d%time.Second != 0 {
		return fmt.Errorf("%s(%v): must be a positive whole number of seconds", name, d)
	}
	return nil
}

// WithAccessTokenTTL sets the lifetime of access tokens: a whole number of
// seconds, at most [defaultMaxTokenLifetime] (RFC 6750 §5.3). It is
// also the longest an access token stays valid after "log out everywhere"
// when [NewJWT] does not check versions. Default: 15 minutes.
func WithAccessTokenTTL(d time.Duration) Option {
	return singleOption("WithAccessTokenTTL", d, forIssuer, func(i *issuerConfig) error {
		if err := wholeSeconds("WithAccessTokenTTL", d); err != nil {
			return err
		}
		if d > defaultMaxTokenLifetime {
			return fmt.Errorf("WithAccessTokenTTL(%v): at most %v", d, defaultMaxTokenLifetime)
		}
		i.accessTTL = d
		return nil
	})
}

// WithRefreshTokenTTL sets the idle expiry of refresh tokens: each refresh
// token expires this long after it was issued (but never after its family),
// so a family unused for longer dies. A whole number of seconds, at most the
// family lifetime. Default: 24 hours.
func WithRefreshTokenTTL(d time.Duration) Option {
	return singleOption("WithRefreshTokenTTL", d, forIssuer, func(i *issuerConfig) error {
		if err := wholeSeconds("WithRefreshTokenTTL", d); err != nil {
			return err
		}
		i.refreshTTL = d
		return nil
	})
}

// WithRefreshFamilyLifetime sets the absolute lifetime of a refresh-token
// family, counted from the login; rotation does not extend it (ASVS 5.0
// 10.4.8). A whole number of seconds. Default: 7
// days.
func WithRefreshFamilyLifetime(d time.Duration) Option {
	return singleOption("WithRefreshFamilyLifetime", d, forIssuer, func(i *issuerConfig) error {
		if err := wholeSeconds("WithRefreshFamilyLifetime", d); err != nil {
			return err
		}
		i.familyTTL = d
		return nil
	})
}

// WithRefreshAudience sets the "aud" of refresh tokens. It must differ from
// the access audience, so that no access-token verifier accepts a refresh
// token. Default: the issuer name.
func WithRefreshAudience(aud string) Option {
	return singleOption("WithRefreshAudience", fmt.Sprintf("%q", aud), forIssuer, func(i *issuerConfig) error {
		if !validClaimString(aud, maxClaimLen) {
			return errors.New("WithRefreshAudience: must be a non-empty UTF-8 string")
		}
		i.refreshAudience = aud
		return nil
	})
}

// WithRefreshCookie sets the name and path of the refresh-token cookie. The
// cookie is always Secure, HttpOnly and SameSite=Strict, and persistent
// until the refresh token expires. The name must start with "__Secure-" (or
// "__Host-", which requires path "/"); the path should cover the token
// routes only, e.g. "/token" for /token/refresh and /token/logout. Default:
// "__Secure-authkit-refresh" and "/token".
func WithRefreshCookie(name, path string) Option {
	return singleOption("WithRefreshCookie", fmt.Sprintf("%q, %q", name, path), forIssuer, func(i *issuerConfig) error {
		c := &http.Cookie{Name: name, Value: "x", Path: path}
		switch {
		case c.Valid() != nil:
			return fmt.Errorf("WithRefreshCookie(%q, %q): %w", name, path, c.Valid())
		case !strings.HasPrefix(path, "/"):
			return fmt.Errorf("WithRefreshCookie(%q, %q): the path must start with /", name, path)
		case strings.HasPrefix(name, "__Host-") && path != "/":
			return fmt.Errorf("WithRefreshCookie(%q, %q): a __Host- cookie must have path /", name, path)
		case !strings.HasPrefix(name, "__Secure-") && !strings.HasPrefix(name, "__Host-"):
			return fmt.Errorf("WithRefreshCookie(%q, %q): the name must start with __Secure- or __Host-", name, path)
		}
		i.cookieName, i.cookiePath = name, path
		return nil
	})
}

// WithSigningKeyID sets the key ID ("kid") of the signing key. It must be at
// most 256 bytes. Default: the key's RFC 7638 JWK thumbprint (SHA-256,
// base64url).
func WithSigningKeyID(kid string) Option {
	return singleOption("WithSigningKeyID", fmt.Sprintf("%q", kid), forIssuer, func(i *issuerConfig) error {
		if kid == "" || len(kid) > maxKIDLen {
			return fmt.Errorf("WithSigningKeyID(%q): must be 1 to %d bytes", kid, maxKIDLen)
		}
		i.kid = kid
		return nil
	})
}

// WithSigningAlgorithm sets the signing algorithm, which must fit the key:
// ES256/ES384/ES512 by curve, EdDSA, RS256/384/512 or PS256/384/512 for RSA,
// HS256/384/512 for a secret. Default: the key's natural algorithm (ES256,
// ES384, ES512, EdDSA, RS256 or HS256).
func WithSigningAlgorithm(alg string) Option {
	return singleOption("WithSigningAlgorithm", fmt.Sprintf("%q", alg), forIssuer, func(i *issuerConfig) error {
		if alg == "" {
			return errors.New("WithSigningAlgorithm: empty algorithm")
		}
		i.alg = alg
		return nil
	})
}

// WithAdditionalKey adds a verification key under kid that does not sign:
// the previous signing key after a key rotation (refresh tokens it signed
// stay valid), or the next one, published ahead of its use. key is a public
// or private key as for [WithKey] (only the public half is kept), or an HMAC
// secret. Asymmetric keys are published in the JWK Set; all are passed on by
// [WithTokensFrom].
func WithAdditionalKey(kid string, key any) Option {
	return optionFor("WithAdditionalKey", forIssuer, func(i *issuerConfig) error {
		if kid == "" {
			return errors.New("WithAdditionalKey: empty key ID")
		}
		vk, err := newVerifyKey(kid, "", key)
		if err != nil {
			return fmt.Errorf("WithAdditionalKey(%q): %w", kid, err)
		}
		i.extra = append(i.extra, vk)
		if _, secret := vk.public.([]byte); !secret {
			j, err := publicJWK(kid, vk.alg, vk.public)
			if err != nil {
				return fmt.Errorf("WithAdditionalKey(%q): %w", kid, err)
			}
			i.extraJWK = append(i.extraJWK, j)
		}
		return nil
	})
}

// WithReuseHandler sets the function told about refresh-token reuse, once
// per revoked family, synchronously, with the request's context; it should
// return quickly. Default: a warning through [log/slog].
func WithReuseHandler(h func(ctx context.Context, e ReuseEvent)) Option {
	return singleOption("WithReuseHandler", "func", forIssuer, func(i *issuerConfig) error {
		if h == nil {
			return errors.New("WithReuseHandler(nil)")
		}
		i.onReuse = h
		return nil
	})
}

// JWKSHandler serves the issuer's public keys as a JWK Set (RFC 7517 §5)
// to GET and HEAD requests: the signing key and the asymmetric
// [WithAdditionalKey] keys, each with kid, alg and use "sig" (HMAC secrets
// are never published; with an HMAC signing key the set may be empty). It
// answers application/jwk-set+json with Cache-Control: public, max-age=300;
// other methods get 405.
func (i *Issuer) JWKSHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, http.StatusText(http.StatusMethodNotAllowed), http.StatusMethodNotAllowed)
			return
		}
		h := w.Header()
		h.Set("Content-Type", "application/jwk-set+json")
		h.Set("Cache-Control", "public, max-age=300")
		h.Set("Content-Length", strconv.Itoa(len(i.jwks)))
		if r.Method == http.MethodGet {
			_, _ = w.Write(i.jwks)
		}
	})
}

// Issue starts a refresh-token family for userID and returns its first
// token pair. Call it once the application has authenticated the user (a
// password check, say); write the result with [Issuer.WriteTokens].
//
// It asks the [VersionLookup] for the user's version: an unknown or disabled
// user is an error wrapping [ErrUnknownUser], and any other lookup error is
// returned as is; either way nothing is issued. userID must be non-empty
// valid UTF-8 without NUL, at most 1024 bytes.
func (i *Issuer) Issue(ctx context.Context, userID string) (*TokenPair, error) {
	if i == nil || i.signer == nil {
		return nil, errNotBuilt
	}
	if !validClaimString(userID, maxClaimLen) {
		return nil, errors.New("authkit: Issue: the user ID must be 1 to 1024 bytes of UTF-8 without NUL")
	}
	ver, err := currentVersion(ctx, i.versions, userID)
	if err != nil {
		return nil, err
	}
	now := i.cfg.now()
	f := RefreshFamily{
		ID:         rand.Text(),
		UserID:     userID,
		Version:    ver,
		CreatedAt:  now,
		ExpiresAt:  now.Add(i.cfg.familyTTL),
		LastUsedAt: now,
	}
	jti := rand.Text()
	if err := i.families.CreateFamily(ctx, f, hashTokenID(jti)); err != nil {
		return nil, err
	}
	return i.mint(userID, ver, f.ID, f.ExpiresAt, jti, now)
}

// mint signs an access token and the refresh token jti of family famID,
// whose expiry is capped by famExpires unless that is zero.
func (i *Issuer) mint(userID string, ver int64, famID string, famExpires time.Time, jti string, now time.Time) (*TokenPair, error) {
	now = now.Truncate(time.Second)
	refreshExp := now.Add(i.cfg.refreshTTL)
	if !famExpires.IsZero() && famExpires.Before(refreshExp) {
		refreshExp = famExpires.Truncate(time.Second)
	}
	buf := make([]byte, 0, 512)
	at := tokenClaims{issuer: i.issuer, subject: userID, audience: i.audience,
		issuedAt: now, expiresAt: now.Add(i.cfg.accessTTL), id: rand.Text(), version: ver}
	access, err := i.signer.sign(i.accessHeader, at.appendJSON(buf))
	if err != nil {
		return nil, err
	}
	rt := tokenClaims{issuer: i.issuer, subject: userID, audience: i.cfg.refreshAudience,
		issuedAt: now, expiresAt: refreshExp, id: jti, version: ver, family: famID}
	refresh, err := i.signer.sign(i.refreshHeader, rt.appendJSON(buf[:0]))
	if err != nil {
		return nil, err
	}
	return &TokenPair{
		AccessToken:           access,
		AccessTokenExpiresAt:  at.expiresAt,
		RefreshToken:          refresh,
		RefreshTokenExpiresAt: refreshExp,
		IssuedAt:              now,
		UserID:                userID,
		Version:               ver,
		FamilyID:              famID,
	}, nil
}

// The issuer's defaults.
const (
	defaultAccessTokenTTL        = 15 * time.Minute
	defaultRefreshTokenTTL       = 24 * time.Hour
	defaultRefreshFamilyLifetime = 7 * 24 * time.Hour
	defaultRefreshCookieName     = "__Secure-authkit-refresh"
	defaultRefreshCookiePath     = "/token"
)
