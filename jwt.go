package authkit

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strings"
	"time"
	"unsafe"
)

// Claims is the verified claims set of a token. Times are in UTC; a claim that
// was absent is the zero value.
type Claims struct {
	Issuer    string    // iss (required)
	Subject   string    // sub (required, non-empty): the user ID
	Audience  []string  // aud (required; a string is read as a one-element list)
	ExpiresAt time.Time // exp (required)
	IssuedAt  time.Time // iat (required)
	NotBefore time.Time // nbf (optional)
	ID        string    // jti (optional here; the kit's issuer always sets it)
	Version   int64     // ver: the user's token version at issuance (0 if absent)
	ClientID  string    // client_id (RFC 9068; optional)
	Scope     string    // scope (RFC 9068: space-separated; optional)

	// Extra holds every other claim as raw JSON, nil when there is none.
	// Read one with [Claims.DecodeExtra].
	Extra map[string]json.RawMessage
}

// DecodeExtra decodes the claim name from [Claims.Extra] into v with
// [encoding/json], and reports whether the claim was present. A claim of the
// wrong JSON type is an error, not a silent conversion.
func (c *Claims) DecodeExtra(name string, v any) (bool, error) {
	raw, ok := c.Extra[name]
	if !ok {
		return false, nil
	}
	// encoding/json lets the last of two members win, and matches struct
	// fields ignoring case: refuse both ambiguities, at every depth, rather
	// than decode {"Admin":false,"admin":true} as admin = true.
	if err := checkFoldedNames(raw); err != nil {
		return true, fmt.Errorf("authkit: claim %q: %w", name, err)
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return true, fmt.Errorf("authkit: claim %q: %w", name, err)
	}
	return true, nil
}

// Defaults of the verifier.
const (
	DefaultMaxTokenSize     = 8 << 10          // bytes of a compact token
	DefaultLeeway           = 30 * time.Second // clock skew allowed on exp, nbf and iat
	MaxLeeway               = time.Minute      // the largest leeway WithLeeway accepts
	DefaultMaxTokenLifetime = time.Hour        // exp - iat of an access token
	accessTokenType         = "at+jwt"
)

// maxNumericDate is 9999-12-31T23:59:59Z; larger dates are refused as junk.
const maxNumericDate = 253402300799

// verifier checks compact JWS tokens of one type against a set of keys. It
// is shared by the access-token authenticator and the refresh handler.
type verifier struct {
	keys        keySource
	typ         string // expected typ, compared case-insensitively, also with "application/"
	issuer      string
	audience    string
	leeway      time.Duration
	maxLifetime time.Duration
	maxSize     int
	now         func() time.Time
	cache       *tokenCache // nil: off
}

// keySource finds the key for a token's kid. The static set answers from
// memory; the JWKS source may refetch, rate-limited.
type keySource interface {
	key(ctx context.Context, kid string, hasKID bool) (*verifyKey, error)
}

func (s *keySet) key(_ context.Context, kid string, hasKID bool) (*verifyKey, error) {
	return s.lookup(kid, hasKID), nil
}

// b64url reports which bytes may appear in a segment of a compact JWS.
var b64url = func() (t [256]bool) {
	for c := 'A'; c <= 'Z'; c++ {
		t[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c] = true
	}
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	t['-'], t['_'] = true, true
	return t
}()

var strictB64 = base64.RawURLEncoding.Strict()

// verify checks token and returns its claims. The order matters: format,
// header, key, signature, and only then the claims, so that a forged token is
// never reported as merely expired (CVE-2024-51744 class).
func (v *verifier) verify(ctx context.Context, token string) (*Claims, error) {
	if len(token) > v.maxSize {
		return nil, invalidToken("token larger than the size limit")
	}
	var sum [32]byte
	if v.cache != nil {
		sum = tokenHash(token)
		if e, ok := v.cache.get(sum); ok {
			if k, err := v.keys.key(ctx, e.kid, e.hasKID); err == nil && k == e.key {
				if v.now().Before(e.claims.ExpiresAt.Add(v.leeway)) {
					return e.claims, nil
				}
				v.cache.remove(sum)
				return nil, expiredToken("exp has passed")
			}
			// The key that verified it is gone: verify from scratch.
			v.cache.remove(sum)
		}
	}
	// Exactly three non-empty segments of the base64url alphabet
	// (RFC 7519 §7.2; RFC 7515 §2): no padding, whitespace, JSON
	// serialization or JWE.
	dot1, dot2 := -1, -1
	for i := 0; i < len(token); i++ {
		c := token[i]
		if b64url[c] {
			continue
		}
		if c != '.' {
			return nil, invalidToken("character outside the base64url alphabet")
		}
		switch {
		case dot1 < 0:
			dot1 = i
		case dot2 < 0:
			dot2 = i
		default:
			return nil, invalidToken("more than three segments")
		}
	}
	if dot2 < 0 || dot1 == 0 || dot2 == dot1+1 || dot2 == len(token)-1 {
		return nil, invalidToken("not a compact JWS of three non-empty segments")
	}
	h64, p64, s64 := token[:dot1], token[dot1+1:dot2], token[dot2+1:]

	// One buffer for the three decoded segments. Strict decoding refuses
	// non-zero trailing bits, so each token has exactly one encoding.
	hn, pn := strictB64.DecodedLen(len(h64)), strictB64.DecodedLen(len(p64))
	buf := make([]byte, hn+pn+strictB64.DecodedLen(len(s64)))
	hdr, err := decodeSegment(buf[:hn], h64)
	if err != nil {
		return nil, invalidTokenCause("header segment", err)
	}
	payload, err := decodeSegment(buf[hn:hn+pn], p64)
	if err != nil {
		return nil, invalidTokenCause("payload segment", err)
	}
	sig, err := decodeSegment(buf[hn+pn:], s64)
	if err != nil {
		return nil, invalidTokenCause("signature segment", err)
	}

	var alg, typ, kid string
	var hasAlg, hasTyp, hasKID bool
	err = parseObject(hdr, func(name string, value []byte) error {
		var err error
		switch name {
		case "alg":
			alg, err = jsonString(value)
			hasAlg = true
		case "typ":
			typ, err = jsonString(value)
			hasTyp = true
		case "kid":
			kid, err = jsonString(value)
			hasKID = true
		default:
			// crit, jku, jwk, x5u, x5c, x5t, cty, b64, zip, enc and anything
			// else: the kit understands none of them (RFC 7515 §4.1.11).
			return fmt.Errorf("header parameter %q is not accepted", name)
		}
		return err
	})
	switch {
	case err != nil:
		return nil, invalidTokenCause("header", err)
	case !hasAlg:
		return nil, invalidToken("header without alg")
	case !hasTyp || !v.typeOK(typ):
		return nil, invalidToken("wrong token type")
	case hasKID && (kid == "" || len(kid) > maxKIDLen):
		return nil, invalidToken("bad kid")
	}
	key, err := v.keys.key(ctx, kid, hasKID)
	if err != nil {
		return nil, err
	}
	if key == nil {
		return nil, invalidToken("no key for this kid")
	}
	if alg != key.alg {
		// Exact, case-sensitive: "none", "HS256" against an RSA key and every
		// other algorithm swap end here (RFC 8725 §3.1).
		return nil, invalidToken("alg does not match the key's algorithm")
	}
	signingInput := unsafe.Slice(unsafe.StringData(token), dot2)
	if err := key.verify(signingInput, sig); err != nil {
		return nil, invalidTokenCause("signature", err)
	}
	c, err := v.claims(payload)
	if err == nil && v.cache != nil {
		v.cache.put(sum, cachedToken{claims: c, key: key, kid: kid, hasKID: hasKID}, v.now(), v.leeway)
	}
	return c, err
}

func decodeSegment(dst []byte, seg string) ([]byte, error) {
	n, err := strictB64.Decode(dst, unsafe.Slice(unsafe.StringData(seg), len(seg)))
	return dst[:n], err
}

func (v *verifier) typeOK(typ string) bool {
	return strings.TrimPrefix(strings.ToLower(typ), "application/") == v.typ
}

// claims parses and checks the claims set of a token whose signature
// verified.
func (v *verifier) claims(payload []byte) (*Claims, error) {
	c := new(Claims)
	var exp, iat, nbf float64
	var hasExp, hasIat, hasNbf, hasIss, hasAud bool
	audOK := false
	err := parseObject(payload, func(name string, value []byte) error {
		var err error
		switch name {
		case "iss":
			c.Issuer, err = jsonString(value)
			hasIss = true
		case "sub":
			c.Subject, err = jsonString(value)
		case "aud":
			hasAud = true
			audOK, err = v.parseAudience(c, value)
		case "exp":
			exp, err = numericDate(value)
			hasExp = true
		case "iat":
			iat, err = numericDate(value)
			hasIat = true
		case "nbf":
			nbf, err = numericDate(value)
			hasNbf = true
		case "jti":
			c.ID, err = jsonString(value)
		case "ver":
			c.Version, err = jsonInt64(value)
			if err == nil && c.Version < 0 {
				err = errors.New("negative")
			}
		case "client_id":
			c.ClientID, err = jsonString(value)
		case "scope":
			c.Scope, err = jsonString(value)
		default:
			if c.Extra == nil {
				c.Extra = make(map[string]json.RawMessage, 4)
			}
			c.Extra[name] = value
			return nil
		}
		if err != nil {
			return fmt.Errorf("claim %q: %w", name, err)
		}
		return nil
	})
	switch {
	case err != nil:
		return nil, invalidTokenCause("claims", err)
	case !hasExp || !hasIat || !hasIss || !hasAud || c.Subject == "":
		return nil, invalidToken("a required claim (exp, iat, iss, aud, sub) is missing")
	case c.Issuer != v.issuer:
		return nil, invalidToken("wrong issuer")
	case !audOK:
		return nil, invalidToken("wrong audience")
	}
	now := v.now()
	nowS := float64(now.Unix()) + float64(now.Nanosecond())/1e9
	leeway := v.leeway.Seconds()
	switch {
	case iat > nowS+leeway:
		return nil, invalidToken("issued in the future")
	case exp-iat > v.maxLifetime.Seconds():
		return nil, invalidToken("lifetime longer than allowed")
	case exp < iat:
		return nil, invalidToken("expires before it was issued")
	case nowS >= exp+leeway:
		return nil, expiredToken("exp has passed")
	case hasNbf && nowS < nbf-leeway:
		return nil, expiredToken("nbf is in the future")
	}
	c.ExpiresAt, c.IssuedAt = unixTime(exp), unixTime(iat)
	if hasNbf {
		c.NotBefore = unixTime(nbf)
	}
	return c, nil
}

// parseAudience reads aud (a string or an array of strings, RFC 7519 §4.1.3)
// into c and reports whether it contains the configured audience.
func (v *verifier) parseAudience(c *Claims, value []byte) (bool, error) {
	if len(value) > 0 && value[0] == '"' {
		s, err := jsonString(value)
		if err != nil {
			return false, err
		}
		c.Audience = []string{s}
		return s == v.audience, nil
	}
	if len(value) == 0 || value[0] != '[' {
		return false, errors.New("neither a string nor an array")
	}
	var auds []string
	found := false
	i := skipSpace(value, 1)
	for i < len(value) && value[i] != ']' {
		end, err := skipValue(value, i, 1)
		if err != nil {
			return false, err
		}
		s, err := jsonString(value[i:end])
		if err != nil {
			return false, errors.New("array member is not a string")
		}
		auds = append(auds, s)
		found = found || s == v.audience
		i = skipSpace(value, end)
		if i < len(value) && value[i] == ',' {
			i = skipSpace(value, i+1)
		}
	}
	c.Audience = auds
	return found, nil
}

// numericDate reads a NumericDate: a JSON number (never a string) of seconds
// since the epoch, finite, not negative, not beyond the year 9999.
func numericDate(value []byte) (float64, error) {
	f, err := jsonFloat(value)
	if err != nil {
		return 0, err
	}
	if math.IsNaN(f) || f < 0 || f > maxNumericDate {
		return 0, errors.New("out of range")
	}
	return f, nil
}

func unixTime(f float64) time.Time {
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(frac*1e9)).UTC()
}

// JWT authenticates requests by a JWT access token (RFC 9068), sent as
// Authorization: Bearer <token> (RFC 6750 §2.1) or, when configured with
// [WithTokenCookie], in a cookie. Build one with [NewJWT]; use it with
// [Require], [Optional] and [Any]. A JWT is immutable and safe for concurrent
// use.
type JWT[U any] struct {
	v          verifier
	toUser     func(context.Context, *Claims) (U, error)
	cookieName string
	versions   VersionLookup
}

// NewJWT returns an authenticator of access tokens. toUser turns verified
// claims into the program's user type; it is called on every authenticated
// request and should not query a database (that is what the token spares).
// An error from toUser that wraps [ErrUnknownUser] or [ErrInvalidToken]
// refuses the token (401); any other error is a failure (500).
//
// [WithIssuer], [WithAudience] and at least one key ([WithKey],
// [WithHMACSecret], [WithJWKSet] or [WithJWKSURL]) are required. The
// verification policy is fixed and strict; see the package documentation and
// README for every check.
func NewJWT[U any](toUser func(context.Context, *Claims) (U, error), opts ...JWTOption) (*JWT[U], error) {
	if toUser == nil {
		return nil, errors.New("authkit: NewJWT: toUser is nil")
	}
	cfg, err := newJWTConfig(opts)
	if err != nil {
		return nil, err
	}
	v, err := cfg.verifier(accessTokenType, cfg.maxLifetime)
	if err != nil {
		return nil, err
	}
	if cfg.cacheSize > 0 {
		v.cache = newTokenCache(cfg.cacheSize)
	}
	return &JWT[U]{v: v, toUser: toUser, cookieName: cfg.cookieName, versions: cfg.versions}, nil
}

// Authenticate verifies the request's access token and returns its user.
func (j *JWT[U]) Authenticate(r *http.Request) (U, error) {
	u, _, _, err := j.identify(r)
	return u, err
}

func (j *JWT[U]) identify(r *http.Request) (U, *Claims, Method, error) {
	var zero U
	token, err := j.token(r)
	if err != nil {
		return zero, nil, MethodBearer, err
	}
	ctx := r.Context()
	c, err := j.v.verify(ctx, token)
	if err != nil {
		return zero, nil, MethodBearer, err
	}
	if j.versions != nil {
		if err := checkVersion(ctx, j.versions, c.Subject, c.Version); err != nil {
			return zero, nil, MethodBearer, err
		}
	}
	u, err := j.toUser(ctx, c)
	if err != nil {
		if errors.Is(err, ErrUnknownUser) && !errors.Is(err, ErrInvalidToken) {
			err = invalidTokenCause("user", err)
		}
		return zero, nil, MethodBearer, err
	}
	return u, c, MethodBearer, nil
}

// checkVersion refuses a credential issued under a version below the user's
// current one. A lookup failure fails closed: the error is returned as is
// (500), except ErrUnknownUser, which refuses the credential (401).
func checkVersion(ctx context.Context, lookup VersionLookup, userID string, version int64) error {
	current, err := lookup(ctx, userID)
	if err != nil {
		if errors.Is(err, ErrUnknownUser) {
			return invalidTokenCause("user", err)
		}
		return fmt.Errorf("authkit: version lookup: %w", err)
	}
	if version < current {
		return revokedToken("token version below the user's current version")
	}
	return nil
}

// token extracts the access token from the request (RFC 6750 §2): the
// Authorization header, or the configured cookie; never the query string. A
// token offered in more than one way is a malformed request.
func (j *JWT[U]) token(r *http.Request) (string, error) {
	var token string
	found := false
	switch hs := r.Header["Authorization"]; len(hs) {
	case 0:
	case 1:
		t, ok, err := bearerToken(hs[0])
		if err != nil {
			return "", err
		}
		token, found = t, ok
	default:
		return "", invalidRequest("more than one Authorization header")
	}
	if j.cookieName != "" {
		cs := r.CookiesNamed(j.cookieName)
		switch {
		case len(cs) > 1:
			return "", invalidRequest("token cookie sent more than once")
		case len(cs) == 1 && found:
			return "", invalidRequest("token sent in both the Authorization header and a cookie")
		case len(cs) == 1:
			// The browser attaches the cookie by itself: refuse cross-origin
			// state-changing requests, as for sessions (RFC 6750 §5.3).
			if err := crossOriginCheck(r); err != nil {
				return "", err
			}
			token, found = cs[0].Value, true
		}
	}
	// Parse the query rather than search its raw text: "access%5Ftoken" is
	// the same parameter.
	if found && r.URL.RawQuery != "" && r.URL.Query().Has("access_token") {
		return "", invalidRequest("token sent in the query string as well")
	}
	if !found {
		return "", ErrNoCredentials
	}
	return token, nil
}

// bearerToken parses an Authorization header value. It reports ok=false for
// another scheme, and an invalid-request error for a Bearer credential that
// does not follow RFC 6750 §2.1:
//
//	credentials = "Bearer" 1*SP b64token
//	b64token    = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
func bearerToken(h string) (token string, ok bool, err error) {
	const scheme = "bearer"
	if len(h) < len(scheme) || !strings.EqualFold(h[:len(scheme)], scheme) {
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
	i := 0
	for i < len(rest) && (b64url[rest[i]] || rest[i] == '.' || rest[i] == '~' || rest[i] == '+' || rest[i] == '/') {
		i++
	}
	if i == 0 {
		return "", false, invalidRequest("Bearer token is not a b64token")
	}
	for i < len(rest) && rest[i] == '=' {
		i++
	}
	if i != len(rest) {
		return "", false, invalidRequest("Bearer token is not a b64token")
	}
	return rest, true, nil
}
