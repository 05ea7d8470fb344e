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
// [Issuer.Issue], called once the application has checked the user's
// password, starts a refresh-token family and returns a [TokenPair]: an
// access token (typ "at+jwt", accepted by [NewJWT] with [WithTokensFrom]) and
// a refresh token (typ "rt+jwt", another audience: neither passes for the
// other). [Issuer.Refresh] rotates the family: the presented token dies, a new
// one is issued, and the family's absolute lifetime is never extended. A
// rotated token presented again revokes the family (RFC 9700 §4.14.2) and is
// reported to [WithReuseHandler], with one exception, the retry: the token
// just rotated, presented again while its successor is unused and within
// [WithRefreshRetryWindow] (default 1 minute), gets the same successor
// again, so that a refresh whose answer was lost can be retried and
// concurrent refreshes with one token all get the one successor; a family
// never has two live successors. [Issuer.Revoke] ends one family ("log out on this device");
// [VersionCache.Bump] ends them all, with every session, and access tokens
// where [NewJWT] has [WithVersionCheck]. ARCHITECTURE.md explains the model.
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
	proofs           *proofVerifier // DPoP proofs of token requests
	// notBefore is, over an in-memory Store, the second the Issuer was
	// built: the version check refuses its access tokens issued before
	// (see NewIssuer); zero otherwise.
	notBefore time.Time
}

// issuerConfig is what the options of NewIssuer set.
type issuerConfig struct {
	common
	refreshAudience string
	accessTTL       time.Duration
	refreshTTL      time.Duration
	familyTTL       time.Duration
	onReuse         func(context.Context, ReuseEvent)
	retryWindow     time.Duration
	sessionUser     func(*http.Request) (string, error)
	cookieName      string
	cookiePath      string
	kid, alg        string
	extra           []*verifyKey
	extraJWK        [][]byte
	scopes          func(ctx context.Context, userID string) ([]string, error) // WithScopeLookup
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
	// DPoPThumbprint is the RFC 7638 thumbprint of the DPoP key both tokens
	// are bound to (their cnf.jkt; token_type DPoP), "" for bearer tokens.
	DPoPThumbprint string

	dpopNonce string // the DPoP nonce WriteTokens hands out (WithDPoPNonce), "" for none
}

// ReuseEvent reports that an already rotated refresh token was presented and
// its family revoked (RFC 9700 §4.14.2): either the legitimate client or an
// attacker holds a stolen copy. It is reported once per family, whatever
// else refuses the token: also after a bump (the version check refuses it)
// and, with the kit's [Store], when the family was revoked already (a bump,
// a logout on that device). A retry (see [WithRefreshRetryWindow]) is not
// reuse.
type ReuseEvent struct {
	UserID          string
	FamilyID        string
	TokenID         string    // the jti of the presented token
	TokenIssuedAt   time.Time // when the presented token was issued
	FamilyCreatedAt time.Time // the login that started the family
	DetectedAt      time.Time
}

// NewIssuer returns an issuer of tokens named issuer ("iss", e.g.
// "https://auth.example.com") for the API audience ("aud"). key signs: an
// *ecdsa.PrivateKey (P-256: ES256, the recommended default; P-384, P-521), an
// ed25519.PrivateKey (EdDSA), an *rsa.PrivateKey of at least 2048 bits
// (RS256), another [crypto.Signer] of those (a KMS key), or an HMAC secret of
// at least 32 random bytes ([]byte, HS256). families and versions are
// required (front versions with a [VersionCache]). It returns one error
// naming every problem of the configuration.
//
// Over a [NewMemoryStore] store, whose versions start again at 0 when the
// process restarts, the version check of a [NewJWT] with [WithTokensFrom]
// refuses (as revoked) the Issuer's access tokens issued before the second
// it was built: they come from an earlier process, whose families and
// sessions are gone too, and their version cannot be vouched for. So a
// restart with the same signing key does not bring back a token that was
// revoked; it logs every access token out, as it does every refresh token
// and session.
func NewIssuer(issuer, audience string, key any, families FamilyStore, versions VersionLookup, opts ...Option) (*Issuer, error) {
	cfg := issuerConfig{
		refreshAudience: issuer,
		accessTTL:       defaultAccessTokenTTL,
		refreshTTL:      defaultRefreshTokenTTL,
		familyTTL:       defaultRefreshFamilyLifetime,
		onReuse:         logReuse,
		retryWindow:     defaultRefreshRetryWindow,
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
	i.proofs = newProofVerifier(&cfg.common, cfg.now, defaultLeeway)
	if m, ok := families.(interface{ inMemory() bool }); ok && m.inMemory() {
		i.notBefore = cfg.now().Truncate(time.Second) // tokens count in whole seconds
	}
	return i, nil
}

// verifyKeys returns the signing key's verification half and the additional
// keys.
func (i *Issuer) verifyKeys() []*verifyKey {
	return append([]*verifyKey{i.signer.public}, i.cfg.extra...)
}

func logReuse(ctx context.Context, e ReuseEvent) {
	slog.WarnContext(ctx, "authkit: refresh token reused; family revoked",
		"user_id", e.UserID, "family_id", e.FamilyID, "token_issued_at", e.TokenIssuedAt) // never the jti: a refresh-token ID is not logged
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

// WithRefreshRetryWindow sets how long after a rotation the rotated token
// may still be presented as a retry: while its successor is unused and no
// longer ago than d, the refresh is answered again with the same successor
// (a new pair whose refresh token has the successor's jti) instead of being
// taken for reuse. This makes a refresh whose answer was lost (a client
// timeout, a dropped connection, a store or process restart after the
// commit) safe to retry, and concurrent refreshes with one token all get the
// one successor. A family never has two live successors: once the successor
// is used, the token before it is reuse again. 0 turns retries off: every
// rotated token presented again is reuse, concurrent refreshes revoke the
// family, and clients must serialize their refreshes. At most 10 minutes.
// Default: 1 minute.
func WithRefreshRetryWindow(d time.Duration) Option {
	return singleOption("WithRefreshRetryWindow", d, forIssuer, func(i *issuerConfig) error {
		if d < 0 || d > 10*time.Minute {
			return fmt.Errorf("WithRefreshRetryWindow(%v): must be 0 to 10 minutes", d)
		}
		i.retryWindow = d
		return nil
	})
}

// WithRefreshSessionUser tells [Issuer.RefreshHandler] who is signed in by
// session on the request: sessionUser returns the user ID of the request's
// live session, or "" when it carries none. A refresh token of another user
// than the session's is refused (400 invalid_grant; nothing is rotated and
// the family stays live): one client holding two users' credentials is
// confused or under attack (SECURITY.md R-5). An error from sessionUser
// fails the refresh (500 server_error through the error handler, nothing
// rotated). It is called once per refresh request, after the request's
// checks and before the token is verified, from the handler's goroutine;
// with the kit's [Session], wrap the handler in [Session.LoadAndSave] and
// call [Session.Authenticate]. Default: none; the session is not looked at.
func WithRefreshSessionUser(sessionUser func(r *http.Request) (userID string, err error)) Option {
	return singleOption("WithRefreshSessionUser", "func", forIssuer, func(i *issuerConfig) error {
		if sessionUser == nil {
			return errors.New("WithRefreshSessionUser(nil)")
		}
		i.sessionUser = sessionUser
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

// WithScopeLookup makes [Issuer.Issue] ask lookup for the scopes to grant
// userID and write them into the access token's "scope" claim (RFC 9068
// §2.2.3), and into the refresh token, so that a refresh grants the same
// ones. Each must be an RFC 6749 scope-token; an error from lookup, or an
// invalid scope, issues nothing. lookup must be safe for concurrent use.
// Default: tokens without scopes.
func WithScopeLookup(lookup func(ctx context.Context, userID string) ([]string, error)) Option {
	return singleOption("WithScopeLookup", "func", forIssuer, func(c *issuerConfig) error {
		if lookup == nil {
			return errors.New("WithScopeLookup(nil)")
		}
		c.scopes = lookup
		return nil
	})
}

// grantedScope asks the issuer's scope lookup, if any, for userID's scopes
// as a "scope" claim value.
func (i *Issuer) grantedScope(ctx context.Context, userID string) (string, error) {
	if i.cfg.scopes == nil {
		return "", nil
	}
	scopes, err := i.cfg.scopes(ctx, userID)
	if err != nil {
		return "", fmt.Errorf("authkit: scope lookup: %w", err)
	}
	for _, s := range scopes {
		if !validScope(s) {
			return "", fmt.Errorf("authkit: scope lookup: %q is not an RFC 6749 scope-token", s)
		}
	}
	return strings.Join(scopes, " "), nil
}

// Issue starts a refresh-token family for userID (1 to 1024 bytes of UTF-8
// without NUL) and returns its first pair; call it once the application has
// authenticated the user, and write the pair with [Issuer.WriteTokens]. An
// unknown user is an error wrapping [ErrUnknownUser]; a failing lookup or
// store is returned wrapped; either way nothing is issued.
func (i *Issuer) Issue(ctx context.Context, userID string) (*TokenPair, error) {
	return i.issue(ctx, userID, "")
}

// IssueForRequest is [Issuer.Issue] for the token request r (POST to a
// token endpoint, once the application has authenticated the user): when r
// carries a DPoP proof (RFC 9449 §5), for its method and URL (see
// [WithDPoPOrigin]), recent and never seen before, both tokens are bound to
// the proof's key (cnf.jkt, [TokenPair].DPoPThumbprint, token_type DPoP),
// and the refresh token refreshes only with a proof by that key. A refused
// proof is an error wrapping [ErrInvalidDPoPProof] (400 invalid_dpop_proof
// from [DefaultTokenErrorHandler]; use_dpop_nonce with a DPoP-Nonce header
// for a proof without the current nonce of [WithDPoPNonce]) and issues
// nothing; a failing [WithDPoPStore] is [ErrStoreUnavailable]. Without a
// proof it is Issue.
func (i *Issuer) IssueForRequest(r *http.Request, userID string) (*TokenPair, error) {
	if i == nil || i.signer == nil {
		return nil, errNotBuilt
	}
	jkt, nonce, err := i.proofs.tokenRequest(r)
	if err != nil {
		return nil, err
	}
	pair, err := i.issue(r.Context(), userID, jkt)
	if pair != nil {
		pair.dpopNonce = nonce
	}
	return pair, err
}

// issue is Issue, the tokens bound to the DPoP key jkt when not "".
func (i *Issuer) issue(ctx context.Context, userID, jkt string) (*TokenPair, error) {
	if i == nil || i.signer == nil {
		return nil, errNotBuilt
	}
	if !validClaimString(userID, maxClaimLen) {
		return nil, errors.New("authkit: Issue: the user ID must be 1 to 1024 bytes of UTF-8 without NUL")
	}
	ver, err := currentVersion(uncached(ctx), i.versions, userID)
	if err != nil {
		return nil, err
	}
	scope, err := i.grantedScope(ctx, userID)
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
	return i.mint(userID, scope, ver, f.ID, f.ExpiresAt, jti, jkt, now)
}

// mint signs an access token and the refresh token jti of family famID,
// whose expiry is capped by famExpires unless that is zero; both carry
// scope, when not empty, and are bound to the DPoP key jkt, when not empty.
func (i *Issuer) mint(userID, scope string, ver int64, famID string, famExpires time.Time, jti, jkt string, now time.Time) (*TokenPair, error) {
	now = now.Truncate(time.Second)
	refreshExp := now.Add(i.cfg.refreshTTL)
	if !famExpires.IsZero() && famExpires.Before(refreshExp) {
		refreshExp = famExpires.Truncate(time.Second)
	}
	buf := make([]byte, 0, 512)
	at := tokenClaims{issuer: i.issuer, subject: userID, audience: i.audience,
		issuedAt: now, expiresAt: now.Add(i.cfg.accessTTL), id: rand.Text(), version: ver, scope: scope, jkt: jkt}
	access, err := i.signer.sign(i.accessHeader, at.appendJSON(buf))
	if err != nil {
		return nil, err
	}
	rt := tokenClaims{issuer: i.issuer, subject: userID, audience: i.cfg.refreshAudience,
		issuedAt: now, expiresAt: refreshExp, id: jti, version: ver, family: famID, scope: scope, jkt: jkt}
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
		DPoPThumbprint:        jkt,
	}, nil
}

// The issuer's defaults.
const (
	defaultAccessTokenTTL        = 15 * time.Minute
	defaultRefreshTokenTTL       = 24 * time.Hour
	defaultRefreshFamilyLifetime = 7 * 24 * time.Hour
	defaultRefreshCookieName     = "__Secure-authkit-refresh"
	defaultRefreshCookiePath     = "/token"
	defaultRefreshRetryWindow    = time.Minute
)
