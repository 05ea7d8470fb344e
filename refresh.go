package authkit

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Defaults of [NewIssuer].
const (
	DefaultAccessTokenTTL        = 15 * time.Minute           // lifetime of an access token
	DefaultRefreshTokenTTL       = 24 * time.Hour             // idle expiry: lifetime of one refresh token
	DefaultRefreshFamilyLifetime = 7 * 24 * time.Hour         // absolute expiry of a login's refresh tokens
	DefaultRefreshCookieName     = "__Secure-authkit-refresh" // name of the refresh-token cookie
	DefaultRefreshCookiePath     = "/token"                   // path of the refresh-token cookie

	refreshTokenType = "rt+jwt"
	maxUserIDLen     = 1024
	maxRefreshBody   = DefaultMaxTokenSize + 1024
)

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
// To end a session as well, call [Issuer.RevokeRequest] from the
// application's own logout handler next to the session logout.
//
// "Log out everywhere" is a version bump: [VersionCache.Bump] (or a store's
// Bump followed by [VersionCache.Forget]). From then on every refresh token
// and session of the user is refused, and access tokens too where [NewJWT]
// has [WithVersionCheck]; without it, an access token stays valid until it
// expires (at most the access TTL).
type Issuer struct {
	issuer          string
	audience        string
	refreshAudience string
	accessTTL       time.Duration
	refreshTTL      time.Duration
	familyTTL       time.Duration
	now             func() time.Time
	families        FamilyStore
	versions        VersionLookup
	onReuse         func(context.Context, ReuseEvent)
	cookieName      string
	cookiePath      string

	kid, alg      string
	extra         []*verifyKey
	extraJWK      [][]byte
	signer        *signer
	accessHeader  string
	refreshHeader string
	refresh       verifier
	jwks          []byte
}

// IssuerOption configures [NewIssuer].
type IssuerOption func(*Issuer) error

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
// NewIssuer checks everything once and returns an error for a bad key, a
// key ID collision, a TTL out of range or a refresh audience equal to the
// access audience.
func NewIssuer(issuer, audience string, key any, families FamilyStore, versions VersionLookup, opts ...IssuerOption) (*Issuer, error) {
	i := &Issuer{
		issuer:          issuer,
		audience:        audience,
		refreshAudience: issuer,
		accessTTL:       DefaultAccessTokenTTL,
		refreshTTL:      DefaultRefreshTokenTTL,
		familyTTL:       DefaultRefreshFamilyLifetime,
		now:             time.Now,
		families:        families,
		versions:        versions,
		onReuse:         logReuse,
		cookieName:      DefaultRefreshCookieName,
		cookiePath:      DefaultRefreshCookiePath,
	}
	var errs []error
	if !validClaimString(issuer, maxUserIDLen) {
		errs = append(errs, errors.New("issuer: must be a non-empty UTF-8 string"))
	}
	if !validClaimString(audience, maxUserIDLen) {
		errs = append(errs, errors.New("audience: must be a non-empty UTF-8 string"))
	}
	if families == nil {
		errs = append(errs, errors.New("nil FamilyStore"))
	}
	if versions == nil {
		errs = append(errs, errors.New("nil VersionLookup"))
	}
	for _, o := range opts {
		if o == nil {
			continue
		}
		if err := o(i); err != nil {
			errs = append(errs, err)
		}
	}
	if i.refreshAudience == i.audience {
		errs = append(errs, fmt.Errorf("the refresh audience must differ from the access audience %q: see WithRefreshAudience", i.audience))
	}
	if i.refreshTTL > i.familyTTL {
		errs = append(errs, fmt.Errorf("refresh token TTL %v is longer than the family lifetime %v", i.refreshTTL, i.familyTTL))
	}
	s, err := newSigner(i.kid, i.alg, key)
	if err != nil {
		errs = append(errs, fmt.Errorf("signing key: %w", err))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("authkit: NewIssuer: %w", err)
	}
	i.signer = s
	i.accessHeader = s.header(accessTokenType)
	i.refreshHeader = s.header(refreshTokenType)
	set, err := newKeySet(i.verifyKeys())
	if err != nil {
		return nil, fmt.Errorf("authkit: NewIssuer: %w", err)
	}
	i.refresh = verifier{
		keys:        set,
		typ:         refreshTokenType,
		issuer:      i.issuer,
		audience:    i.refreshAudience,
		leeway:      DefaultLeeway,
		maxLifetime: i.refreshTTL,
		maxSize:     DefaultMaxTokenSize,
		now:         i.now,
	}
	var keys [][]byte
	for _, k := range append([][]byte{s.jwk}, i.extraJWK...) {
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
	return append([]*verifyKey{i.signer.public}, i.extra...)
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
// seconds, at most [DefaultMaxTokenLifetime] (one hour, RFC 6750 §5.3). It is
// also the longest an access token stays valid after "log out everywhere"
// when [NewJWT] does not check versions. Default: [DefaultAccessTokenTTL]
// (15 minutes).
func WithAccessTokenTTL(d time.Duration) IssuerOption {
	return func(i *Issuer) error {
		if err := wholeSeconds("WithAccessTokenTTL", d); err != nil {
			return err
		}
		if d > DefaultMaxTokenLifetime {
			return fmt.Errorf("WithAccessTokenTTL(%v): at most %v", d, DefaultMaxTokenLifetime)
		}
		i.accessTTL = d
		return nil
	}
}

// WithRefreshTokenTTL sets the idle expiry of refresh tokens: each refresh
// token expires this long after it was issued (but never after its family),
// so a family unused for longer dies. A whole number of seconds, at most the
// family lifetime. Default: [DefaultRefreshTokenTTL] (24 hours).
func WithRefreshTokenTTL(d time.Duration) IssuerOption {
	return func(i *Issuer) error {
		if err := wholeSeconds("WithRefreshTokenTTL", d); err != nil {
			return err
		}
		i.refreshTTL = d
		return nil
	}
}

// WithRefreshFamilyLifetime sets the absolute lifetime of a refresh-token
// family, counted from the login; rotation does not extend it (ASVS 5.0
// 10.4.8). A whole number of seconds. Default: [DefaultRefreshFamilyLifetime]
// (7 days).
func WithRefreshFamilyLifetime(d time.Duration) IssuerOption {
	return func(i *Issuer) error {
		if err := wholeSeconds("WithRefreshFamilyLifetime", d); err != nil {
			return err
		}
		i.familyTTL = d
		return nil
	}
}

// WithRefreshAudience sets the "aud" of refresh tokens. It must differ from
// the access audience, so that no access-token verifier accepts a refresh
// token. Default: the issuer name.
func WithRefreshAudience(aud string) IssuerOption {
	return func(i *Issuer) error {
		if !validClaimString(aud, maxUserIDLen) {
			return errors.New("WithRefreshAudience: must be a non-empty UTF-8 string")
		}
		i.refreshAudience = aud
		return nil
	}
}

// WithRefreshCookie sets the name and path of the refresh-token cookie. The
// cookie is always Secure, HttpOnly and SameSite=Strict, and persistent
// until the refresh token expires. The name must start with "__Secure-" (or
// "__Host-", which requires path "/"); the path should cover the token
// routes only, e.g. "/token" for /token/refresh and /token/logout. Default:
// [DefaultRefreshCookieName] and [DefaultRefreshCookiePath].
func WithRefreshCookie(name, path string) IssuerOption {
	return func(i *Issuer) error {
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
	}
}

// WithSigningKeyID sets the key ID ("kid") of the signing key. It must be at
// most 256 bytes. Default: the key's RFC 7638 JWK thumbprint (SHA-256,
// base64url).
func WithSigningKeyID(kid string) IssuerOption {
	return func(i *Issuer) error {
		if kid == "" || len(kid) > maxKIDLen {
			return fmt.Errorf("WithSigningKeyID(%q): must be 1 to %d bytes", kid, maxKIDLen)
		}
		i.kid = kid
		return nil
	}
}

// WithSigningAlgorithm sets the signing algorithm, which must fit the key:
// ES256/ES384/ES512 by curve, EdDSA, RS256/384/512 or PS256/384/512 for RSA,
// HS256/384/512 for a secret. Default: the key's natural algorithm (ES256,
// ES384, ES512, EdDSA, RS256 or HS256).
func WithSigningAlgorithm(alg string) IssuerOption {
	return func(i *Issuer) error {
		if alg == "" {
			return errors.New("WithSigningAlgorithm: empty algorithm")
		}
		i.alg = alg
		return nil
	}
}

// WithAdditionalKey adds a verification key under kid that does not sign:
// the previous signing key after a key rotation (refresh tokens it signed
// stay valid), or the next one, published ahead of its use. key is a public
// or private key as for [WithKey] (only the public half is kept), or an HMAC
// secret. Asymmetric keys are published in the JWK Set; all are passed on by
// [WithTokensFrom].
func WithAdditionalKey(kid string, key any) IssuerOption {
	return func(i *Issuer) error {
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
	}
}

// WithIssuerClock sets the function that tells the current time, for tests.
// Default: [time.Now].
func WithIssuerClock(now func() time.Time) IssuerOption {
	return func(i *Issuer) error {
		if now == nil {
			return errors.New("WithIssuerClock(nil)")
		}
		i.now = now
		return nil
	}
}

// WithReuseHandler sets the function told about refresh-token reuse, once
// per revoked family, synchronously, with the request's context; it should
// return quickly. Default: a warning through [log/slog].
func WithReuseHandler(h func(ctx context.Context, e ReuseEvent)) IssuerOption {
	return func(i *Issuer) error {
		if h == nil {
			return errors.New("WithReuseHandler(nil)")
		}
		i.onReuse = h
		return nil
	}
}

// WithTokensFrom configures [NewJWT] to accept the access tokens that iss
// mints, as WithIssuer, WithAudience and WithKeyAlgorithm for each of iss's
// verification keys would (the signing key and [WithAdditionalKey] keys,
// HMAC secrets included), and sets the longest accepted token lifetime to
// iss's access-token TTL. Options after it may override these. For a
// verifier in another process, serve [Issuer.JWKSHandler] and use its JSON
// with [WithJWKSet] instead.
func WithTokensFrom(iss *Issuer) JWTOption {
	return func(c *jwtConfig) error {
		if iss == nil {
			return errors.New("WithTokensFrom(nil)")
		}
		c.issuer = iss.issuer
		c.audience = iss.audience
		c.keys = append(c.keys, iss.verifyKeys()...)
		c.maxLifetime = iss.accessTTL
		return nil
	}
}

// JWKSet returns the issuer's public keys as a JWK Set (RFC 7517 §5): the
// signing key and the asymmetric [WithAdditionalKey] keys, each with kid,
// alg and use "sig". HMAC secrets are never published; with an HMAC signing
// key the set may be empty. The result is a fresh copy.
func (i *Issuer) JWKSet() []byte {
	return bytes.Clone(i.jwks)
}

// JWKSHandler serves [Issuer.JWKSet] to GET and HEAD requests, as
// application/jwk-set+json with Cache-Control: public, max-age=300; other
// methods get 405.
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
	if !validClaimString(userID, maxUserIDLen) {
		return nil, errors.New("authkit: Issue: the user ID must be 1 to 1024 bytes of UTF-8 without NUL")
	}
	ver, err := i.versions(ctx, userID)
	if err != nil {
		return nil, fmt.Errorf("authkit: version lookup: %w", err)
	}
	now := i.now()
	f := RefreshFamily{
		ID:         rand.Text(),
		UserID:     userID,
		Version:    ver,
		CreatedAt:  now,
		ExpiresAt:  now.Add(i.familyTTL),
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
	refreshExp := now.Add(i.refreshTTL)
	if !famExpires.IsZero() && famExpires.Before(refreshExp) {
		refreshExp = famExpires.Truncate(time.Second)
	}
	buf := make([]byte, 0, 512)
	at := tokenClaims{issuer: i.issuer, subject: userID, audience: i.audience,
		issuedAt: now, expiresAt: now.Add(i.accessTTL), id: rand.Text(), version: ver}
	access, err := i.signer.sign(i.accessHeader, at.appendJSON(buf))
	if err != nil {
		return nil, err
	}
	rt := tokenClaims{issuer: i.issuer, subject: userID, audience: i.refreshAudience,
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

// Refresh exchanges a refresh token for a new pair and invalidates the
// presented token; see "Refresh" in the [Issuer] documentation for the
// checks. A refused token is an error wrapping [ErrInvalidToken] (also
// [ErrTokenExpired] or [ErrTokenRevoked] where that applies); a rotated token
// presented again revokes its family and reports a [ReuseEvent]. Any other
// error is a failure of the [VersionLookup] or the [FamilyStore], and nothing
// was issued.
func (i *Issuer) Refresh(ctx context.Context, refreshToken string) (*TokenPair, error) {
	c, err := i.refresh.verify(ctx, refreshToken)
	if err != nil {
		return nil, err
	}
	now := i.now()
	if !now.Before(c.ExpiresAt) {
		return nil, expiredToken("refresh token expired")
	}
	famID, err := familyOf(c)
	if err != nil {
		return nil, err
	}
	current, err := i.versions(ctx, c.Subject)
	if err != nil {
		if errors.Is(err, ErrUnknownUser) {
			return nil, invalidTokenCause("user", err)
		}
		return nil, fmt.Errorf("authkit: version lookup: %w", err)
	}
	if c.Version < current {
		return nil, revokedToken("refresh token version below the user's current version")
	}
	// Sign before rotating, so that a signer failing (a remote KMS, say)
	// leaves the presented token valid for a retry.
	next := rand.Text()
	pair, err := i.mint(c.Subject, current, famID, time.Time{}, next, now)
	if err != nil {
		return nil, err
	}
	f, err := i.families.RotateFamily(ctx, famID, hashTokenID(c.ID), hashTokenID(next), now)
	switch {
	case errors.Is(err, ErrFamilyNotFound):
		return nil, revokedToken("unknown refresh family")
	case errors.Is(err, ErrFamilyNotRotated):
		switch {
		case !f.RevokedAt.IsZero():
			return nil, revokedToken("refresh family revoked")
		case !f.ExpiresAt.IsZero() && !now.Before(f.ExpiresAt):
			// (A store that returns no family falls through to revocation:
			// reuse detection must not depend on the store's diligence.)
			return nil, expiredToken("refresh family past its absolute lifetime")
		}
		revoked, err := i.families.RevokeFamily(ctx, famID, now)
		if err != nil {
			return nil, err
		}
		if revoked {
			i.onReuse(ctx, ReuseEvent{
				UserID:          f.UserID,
				FamilyID:        famID,
				TokenID:         c.ID,
				TokenIssuedAt:   c.IssuedAt,
				FamilyCreatedAt: f.CreatedAt,
				DetectedAt:      now,
			})
		}
		return nil, revokedToken("refresh token reused; family revoked")
	case err != nil:
		return nil, err
	}
	if f.UserID != c.Subject {
		// Only possible with a forged token or a corrupted store.
		if _, err := i.families.RevokeFamily(ctx, famID, now); err != nil {
			return nil, err
		}
		return nil, revokedToken("refresh family of another user")
	}
	if f.ExpiresAt.Before(pair.RefreshTokenExpiresAt) {
		// Within a refresh TTL of the family's end: no token outlives it.
		return i.mint(c.Subject, current, famID, f.ExpiresAt, next, now)
	}
	return pair, nil
}

// familyOf returns the family ID of a verified refresh token.
func familyOf(c *Claims) (string, error) {
	if c.ID == "" {
		return "", invalidToken("refresh token without jti")
	}
	raw, ok := c.Extra["fam"]
	if !ok {
		return "", invalidToken("refresh token without fam")
	}
	fam, err := jsonString(raw)
	if err != nil || fam == "" || len(fam) > 128 {
		return "", invalidToken("bad fam claim")
	}
	return fam, nil
}

// Revoke revokes the family of refreshToken, which must verify (signature,
// type, issuer, audience, not expired), whether or not it is the family's
// current token: "log out on this device". A token that does not verify is
// an error wrapping [ErrInvalidToken]; any other error is a failure of the
// [FamilyStore].
func (i *Issuer) Revoke(ctx context.Context, refreshToken string) error {
	c, err := i.refresh.verify(ctx, refreshToken)
	if err != nil {
		return err
	}
	famID, err := familyOf(c)
	if err != nil {
		return err
	}
	_, err = i.families.RevokeFamily(ctx, famID, i.now())
	return err
}

// RefreshHandler returns the refresh endpoint, for POST requests (other
// methods: 405). The refresh token comes from the refresh cookie (see
// [WithRefreshCookie]) or from a JSON body {"refresh_token": "…"} sent with
// Content-Type: application/json (at most 9 KiB; a "grant_type" member, if
// present, must be "refresh_token"; other members are ignored, so a body
// without "refresh_token" leaves the cookie to carry the token).
//
// Answers, all JSON with Cache-Control: no-store:
//
//   - 200: the new pair as RFC 6749 §5.1 ({"access_token", "token_type":
//     "Bearer", "expires_in", "refresh_token"}), and the new refresh cookie.
//     When the token came in the cookie, the new one goes only in the cookie:
//     the body then has no "refresh_token", so scripts never see it.
//   - 403 {"error":"invalid_request"}: the token came in the cookie and the
//     request is cross-origin ([net/http.CrossOriginProtection]), so a
//     sibling site cannot make the browser refresh (or, at the logout
//     endpoint, revoke) on its behalf.
//   - 400 {"error":"invalid_request"}: no token, a token in both the cookie
//     and the body, the cookie twice, a body that is not such JSON.
//   - 400 {"error":"invalid_grant"} (RFC 6749 §5.2): the token is refused:
//     malformed, forged, expired, of an older version, of a revoked or
//     expired family, an unknown or disabled user, or reused (which revokes
//     the family). The refresh cookie, if it carried the token, is cleared.
//     400 rather than 401 because RFC 6749 §5.2 says so and OAuth clients
//     expect it.
//   - 500 {"error":"server_error"}: the VersionLookup or the FamilyStore
//     failed (logged with [log/slog]); nothing was issued or rotated, so the
//     client may retry with the same token.
func (i *Issuer) RefreshHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			methodNotAllowed(w)
			return
		}
		token, fromCookie, err := i.presentedToken(r)
		if err == nil && token == "" {
			err = invalidRequest("no refresh token")
		}
		if err == nil && fromCookie {
			err = crossOriginCheck(r)
		}
		if err == nil {
			var pair *TokenPair
			if pair, err = i.Refresh(r.Context(), token); err == nil {
				// A token that came in the HttpOnly cookie goes back only in
				// the cookie: echoing it in the body would hand it to any
				// script that can call this endpoint.
				i.writeTokens(w, pair, !fromCookie)
				return
			}
		}
		i.writeError(w, r, err, fromCookie)
	})
}

// RevokeRequest does the work of [Issuer.LogoutHandler] without writing the
// status or a body, so that an application's own logout handler can combine
// it with ending a session (and then redirect, say). It revokes the family of
// the refresh token the request carries (cookie or JSON body, as for
// [Issuer.RefreshHandler]) and sets a header that clears the refresh cookie.
// A request without a token, or with one that does not verify, has nothing
// to revoke: it returns nil. A malformed request is an error wrapping
// [ErrInvalidRequest]; a failing store returns its error and leaves the
// cookie alone.
func (i *Issuer) RevokeRequest(w http.ResponseWriter, r *http.Request) error {
	token, fromCookie, err := i.presentedToken(r)
	if err != nil {
		return err
	}
	if fromCookie {
		if err := crossOriginCheck(r); err != nil {
			return err
		}
	}
	if token != "" {
		if err := i.Revoke(r.Context(), token); err != nil && !errors.Is(err, ErrInvalidToken) {
			return err
		}
	}
	i.ClearRefreshCookie(w)
	return nil
}

// LogoutHandler returns the "log out on this device" endpoint, for POST
// requests (other methods: 405): it revokes the family of the presented
// refresh token and clears the refresh cookie (see [Issuer.RevokeRequest]).
// It answers 204 No Content, also when there was no valid token (logging out
// twice is not an error); 400 {"error":"invalid_request"} for a malformed
// request; 500 {"error":"server_error"} when the store failed. All answers
// carry Cache-Control: no-store.
func (i *Issuer) LogoutHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			methodNotAllowed(w)
			return
		}
		if err := i.RevokeRequest(w, r); err != nil {
			i.writeError(w, r, err, false)
			return
		}
		noStore(w.Header())
		w.WriteHeader(http.StatusNoContent)
	})
}

// WriteTokens writes pair as a successful RFC 6749 §5.1 token response: 200,
// Cache-Control: no-store, Pragma: no-cache, the refresh cookie (Secure,
// HttpOnly, SameSite=Strict, scoped to the refresh path, expiring with the
// refresh token), and the JSON body
//
//	{"access_token":"…","token_type":"Bearer","expires_in":900,"refresh_token":"…"}
//
// The body carries the refresh token too, for clients without cookies; a
// browser client should leave it in the HttpOnly cookie and not keep the
// body's copy where scripts can read it. Call WriteTokens before anything
// else is written to w.
func (i *Issuer) WriteTokens(w http.ResponseWriter, pair *TokenPair) {
	i.writeTokens(w, pair, true)
}

func (i *Issuer) writeTokens(w http.ResponseWriter, pair *TokenPair, refreshInBody bool) {
	h := w.Header()
	noStore(h)
	h.Set("Content-Type", "application/json")
	http.SetCookie(w, i.cookie(pair.RefreshToken, int(pair.RefreshTokenExpiresAt.Sub(pair.IssuedAt)/time.Second)))
	b := make([]byte, 0, len(pair.AccessToken)+len(pair.RefreshToken)+96)
	b = append(b, `{"access_token":`...)
	b = appendJSONString(b, pair.AccessToken)
	b = append(b, `,"token_type":"Bearer","expires_in":`...)
	b = strconv.AppendInt(b, int64(pair.AccessTokenExpiresAt.Sub(pair.IssuedAt)/time.Second), 10)
	if refreshInBody {
		b = append(b, `,"refresh_token":`...)
		b = appendJSONString(b, pair.RefreshToken)
	}
	b = append(b, "}\n"...)
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(b)
}

// ClearRefreshCookie sets a header on w that deletes the refresh cookie
// (Max-Age=0, same name, path and attributes). Use it in a handler of the
// application's that logs the user out in another way, e.g. everywhere.
func (i *Issuer) ClearRefreshCookie(w http.ResponseWriter) {
	http.SetCookie(w, i.cookie("", -1))
}

func (i *Issuer) cookie(value string, maxAge int) *http.Cookie {
	return &http.Cookie{
		Name:     i.cookieName,
		Value:    value,
		Path:     i.cookiePath,
		MaxAge:   maxAge,
		Secure:   true,
		HttpOnly: true,
		SameSite: http.SameSiteStrictMode,
	}
}

// presentedToken reads the refresh token from the cookie or the JSON body.
// It returns "" without error when there is none; a token in both places,
// the cookie twice or a malformed body is an invalid-request error.
func (i *Issuer) presentedToken(r *http.Request) (token string, fromCookie bool, err error) {
	cs := r.CookiesNamed(i.cookieName)
	if len(cs) > 1 {
		return "", false, invalidRequest("refresh cookie sent more than once")
	}
	var cookieToken string
	if len(cs) == 1 {
		cookieToken = cs[0].Value
	}
	bodyToken, err := refreshTokenFromBody(r)
	switch {
	case err != nil:
		return "", false, err
	case cookieToken != "" && bodyToken != "":
		return "", false, invalidRequest("refresh token in both the cookie and the body")
	case cookieToken != "":
		return cookieToken, true, nil
	}
	return bodyToken, false, nil
}

func refreshTokenFromBody(r *http.Request) (string, error) {
	if r.Body == nil || r.Body == http.NoBody {
		return "", nil
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxRefreshBody+1))
	switch {
	case err != nil:
		return "", invalidRequest("reading the body: " + err.Error())
	case len(body) > maxRefreshBody:
		return "", invalidRequest("body too large")
	case len(bytes.TrimSpace(body)) == 0:
		return "", nil
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		return "", invalidRequest("the body must be application/json")
	}
	var token string
	found := false
	err = parseObject(body, func(name string, value []byte) error {
		var err error
		switch name {
		case "refresh_token":
			token, err = jsonString(value)
			found = true
		case "grant_type":
			var gt string
			if gt, err = jsonString(value); err == nil && gt != "refresh_token" {
				err = errors.New("grant_type is not refresh_token")
			}
		}
		return err
	})
	switch {
	case err != nil:
		return "", invalidRequest("body: " + err.Error())
	case found && token == "":
		return "", invalidRequest("empty refresh_token")
	}
	return token, nil
}

func noStore(h http.Header) {
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
}

func methodNotAllowed(w http.ResponseWriter) {
	w.Header().Set("Allow", http.MethodPost)
	writeOAuthError(w, http.StatusMethodNotAllowed, "invalid_request")
}

// writeError answers a failed refresh or logout: invalid_request or
// invalid_grant (400), or server_error (500) for a store or lookup failure.
func (i *Issuer) writeError(w http.ResponseWriter, r *http.Request, err error, fromCookie bool) {
	switch {
	case errors.Is(err, ErrCrossOrigin):
		slog.DebugContext(r.Context(), "authkit: token request refused", "err", err)
		writeOAuthError(w, http.StatusForbidden, "invalid_request")
	case errors.Is(err, ErrInvalidRequest):
		slog.DebugContext(r.Context(), "authkit: token request refused", "err", err)
		writeOAuthError(w, http.StatusBadRequest, "invalid_request")
	case errors.Is(err, ErrInvalidToken):
		slog.DebugContext(r.Context(), "authkit: refresh token refused", "err", err)
		if fromCookie {
			i.ClearRefreshCookie(w)
		}
		writeOAuthError(w, http.StatusBadRequest, "invalid_grant")
	default:
		slog.ErrorContext(r.Context(), "authkit: token request failed", "method", r.Method, "path", r.URL.Path, "err", err)
		writeOAuthError(w, http.StatusInternalServerError, "server_error")
	}
}

func writeOAuthError(w http.ResponseWriter, status int, code string) {
	h := w.Header()
	noStore(h)
	h.Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, `{"error":"`+code+`"}`+"\n")
}
