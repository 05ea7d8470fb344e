package authkit

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"time"
)

// The verifier's limits and defaults.
const (
	defaultMaxTokenSize     = 8 << 10          // bytes of a compact token
	defaultLeeway           = 30 * time.Second // clock skew allowed on exp, nbf and iat
	maxLeeway               = time.Minute      // the largest leeway WithLeeway accepts
	defaultMaxTokenLifetime = time.Hour        // exp - iat of an access token (RFC 6750 §5.3)
)

// verifier checks compact JWS tokens of one type against a set of keys. It
// is shared by the access-token authenticator and the refresh handler. It
// remembers no verification: the verified-token cache wraps it (see
// tokenCache.verify); it only remembers how it read the last headers it
// accepted (headerMemo).
type verifier struct {
	keys        keySource
	typ         string // expected typ, compared case-insensitively, also with "application/"
	issuer      string
	audiences   []string
	leeway      time.Duration
	maxLifetime time.Duration
	maxSize     int
	now         func() time.Time
	rules       *profileRules // nil: the kit's own profile (RFC 9068, "ver" read)
	resource    string        // the canonical resource URL when it is the audience (WithResource)

	// headers remembers the header segments last accepted (nil: none).
	headers *headerMemo

	// byIssuer, when set, holds a verifier per trusted issuer: the token's
	// unverified iss picks the one whose keys, alone, may verify it
	// (RFC 8725 §3.8). The fields above are then unused but for maxSize.
	byIssuer map[string]*verifier
}

// jws is a compact JWS split into its parts. The decoded segments share one
// buffer that belongs to this verification alone.
type jws struct {
	signingInput string // header64.payload64, the bytes the signature covers
	header64     string
	header       []byte
	payload      []byte
	signature    []byte
}

// verified is a token that verified: its claims and the key that verified
// it, found by the header's kid (hasKID false: the token had none).
type verified struct {
	claims *Claims
	by     *verifier // the issuer's verifier, whose keys the cache consults
	key    *verifyKey
	kid    string
	hasKID bool
}

// headerMemo remembers the last two header segments a verifier accepted and
// what readHeader read from them, so that the header an issuer puts on every
// token (or the two of a key rotation) is not parsed again: readHeader is a
// function of the segment and of the verifier's configuration alone, and a
// segment, compared in full, is remembered only once a signature over it
// verified, so that forged tokens cannot churn it. It remembers no
// verification. Its strings alias the token they came from. Safe for
// concurrent use.
type headerMemo struct {
	slots [2]atomic.Pointer[memoHeader]
	next  atomic.Uint32
}

type memoHeader struct {
	seg string // the header segment, base64url
	h   header
}

func (m *headerMemo) get(seg string) (header, bool) {
	if m == nil {
		return header{}, false
	}
	for i := range m.slots {
		if e := m.slots[i].Load(); e != nil && e.seg == seg {
			return e.h, true
		}
	}
	return header{}, false
}

func (m *headerMemo) put(seg string, h header) {
	if m != nil {
		m.slots[m.next.Add(1)%2].Store(&memoHeader{seg: seg, h: h})
	}
}

// header is what the kit reads from a JWS header.
type header struct {
	alg, typ, kid          string
	hasAlg, hasTyp, hasKID bool
}

// verify checks token and returns its claims. The order matters: format,
// header, key, signature, and only then the claims, so that a forged token is
// never reported as merely expired (CVE-2024-51744 class).
func (v *verifier) verify(ctx context.Context, token string) (verified, error) {
	if len(token) > v.maxSize {
		return verified{}, invalidToken("token larger than the size limit")
	}
	t, err := splitJWS(token)
	if err != nil {
		return verified{}, err
	}
	if v.byIssuer != nil {
		iss, err := peekIssuer(t.payload)
		if err != nil {
			return verified{}, err
		}
		if v = v.byIssuer[iss]; v == nil {
			return verified{}, invalidToken("not a trusted issuer")
		}
	}
	h, known := v.headers.get(t.header64)
	if !known {
		if h, err = v.readHeader(t.header); err != nil {
			return verified{}, err
		}
	}
	key, err := v.keys.key(ctx, h.kid, h.hasKID)
	if err != nil {
		return verified{}, err
	}
	if key == nil {
		return verified{}, invalidToken("no key for this kid")
	}
	if h.alg != key.alg {
		// Exact, case-sensitive: "none", "HS256" against an RSA key and every
		// other algorithm swap end here (RFC 8725 §3.1).
		return verified{}, invalidToken("alg does not match the key's algorithm")
	}
	if err := key.verify(bytesOf(t.signingInput), t.signature); err != nil {
		return verified{}, invalidTokenCause("signature", err)
	}
	if !known {
		v.headers.put(t.header64, h) // only headers the issuer signed
	}
	c, err := v.claims(t.payload)
	if err != nil {
		return verified{}, err
	}
	return verified{claims: c, by: v, key: key, kid: h.kid, hasKID: h.hasKID}, nil
}

// peekIssuer reads the unverified iss of a payload, only to pick the
// issuer whose keys may verify it; the claims are checked again, in full,
// once the signature verified.
func peekIssuer(payload []byte) (string, error) {
	var iss string
	has := false
	err := parseObject(payload, func(name string, value []byte) error {
		if name != "iss" {
			return nil
		}
		has = true
		var err error
		iss, err = jsonString(value)
		return err
	})
	switch {
	case err != nil:
		return "", invalidTokenCause("claims", err)
	case !has:
		return "", invalidToken("a required claim (exp, iat, iss, aud, sub) is missing")
	}
	return iss, nil
}

// splitJWS checks that token is exactly three non-empty segments of the
// base64url alphabet (RFC 7519 §7.2; RFC 7515 §2): no padding, whitespace,
// JSON serialization or JWE, and decodes them strictly, refusing non-zero
// trailing bits, so that each token has exactly one encoding. It finds the
// dots, then decodeB64 checks the alphabet as it decodes; a token refused
// is read again by splitRefusal, for the reason.
func splitJWS(token string) (jws, error) {
	dot1 := strings.IndexByte(token, '.')
	dot2 := -1
	if dot1 >= 0 {
		if dot2 = strings.IndexByte(token[dot1+1:], '.'); dot2 >= 0 {
			dot2 += dot1 + 1
			if strings.IndexByte(token[dot2+1:], '.') >= 0 {
				return jws{}, splitRefusal(token, invalidToken("more than three segments"))
			}
		}
	}
	if dot2 < 0 || dot1 == 0 || dot2 == dot1+1 || dot2 == len(token)-1 {
		return jws{}, splitRefusal(token, invalidToken("not a compact JWS of three non-empty segments"))
	}
	h64, p64, s64 := token[:dot1], token[dot1+1:dot2], token[dot2+1:]
	hn, pn := strictB64.DecodedLen(len(h64)), strictB64.DecodedLen(len(p64))
	buf := make([]byte, hn+pn+strictB64.DecodedLen(len(s64)))
	t := jws{signingInput: token[:dot2], header64: h64}
	var err error
	if t.header, err = decodeB64(buf[:hn:hn], h64); err != nil {
		return jws{}, splitRefusal(token, invalidTokenCause("header segment", err))
	}
	if t.payload, err = decodeB64(buf[hn:hn+pn:hn+pn], p64); err != nil {
		return jws{}, splitRefusal(token, invalidTokenCause("payload segment", err))
	}
	if t.signature, err = decodeB64(buf[hn+pn:], s64); err != nil {
		return jws{}, splitRefusal(token, invalidTokenCause("signature segment", err))
	}
	return t, nil
}

// splitRefusal is the reason splitJWS refuses token, as a reading from the
// left gives it: a character outside the alphabet or a fourth segment,
// whichever comes first, else what splitJWS found (a missing or empty
// segment, or the first segment that is not canonical base64url).
func splitRefusal(token string, found error) error {
	dots := 0
	for i := 0; i < len(token); i++ {
		c := token[i]
		if b64url[c] {
			continue
		}
		if c != '.' {
			return invalidToken("character outside the base64url alphabet")
		}
		if dots++; dots == 3 {
			return invalidToken("more than three segments")
		}
	}
	return found
}

// readHeader reads a JWS header: alg, typ and kid, and nothing else. The typ
// must be the verifier's.
func (v *verifier) readHeader(b []byte) (header, error) {
	var h header
	var o objectReader
	o.open(b)
	var err error
	for err == nil && o.next() {
		err = v.headerMember(&h, o.name, &o)
	}
	err = o.end(err)
	switch {
	case err != nil:
		return h, invalidTokenCause("header", err)
	case !h.hasAlg:
		return h, invalidToken("header without alg")
	case !v.typeOK(h.typ, h.hasTyp):
		return h, invalidToken("wrong token type")
	case h.hasKID && (h.kid == "" || len(h.kid) > maxKIDLen):
		return h, invalidToken("bad kid")
	}
	return h, nil
}

// headerMember reads one header parameter into h.
func (v *verifier) headerMember(h *header, name string, o *objectReader) error {
	var s string
	var ok bool
	var err error
	switch name {
	case "alg":
		s, ok, err = o.str()
		h.alg, h.hasAlg = s, true
	case "typ":
		s, ok, err = o.str()
		h.typ, h.hasTyp = s, true
	case "kid":
		s, ok, err = o.str()
		h.kid, h.hasKID = s, true
	default:
		// crit, jku, jwk, x5u, x5c, x5t, cty, b64, zip, enc and anything
		// else: the kit understands none of them (RFC 7515 §4.1.11). A
		// profile may name members to accept and ignore.
		if _, err := o.raw(); err != nil {
			return err // malformed JSON first, whatever the name
		}
		if v.rules != nil && slices.Contains(v.rules.headers, name) {
			return nil
		}
		return fmt.Errorf("header parameter %q is not accepted", name)
	}
	if err == nil && !ok {
		err = errNotString
	}
	return err
}

func (v *verifier) typeOK(typ string, has bool) bool {
	if v.rules != nil {
		return v.rules.typeOK(typ, has)
	}
	return has && (typ == v.typ || strings.TrimPrefix(strings.ToLower(typ), "application/") == v.typ)
}

// claims parses and checks the claims set of a token whose signature
// verified.
func (v *verifier) claims(payload []byte) (*Claims, error) {
	// The usual one or two audiences, and the request's context, share the
	// claims' allocation.
	c, audBuf := newRequestClaims()
	cr := claimReader{v: v, c: c, audBuf: audBuf}
	var o objectReader
	o.open(payload)
	var err error
	for err == nil && o.next() {
		err = cr.member(o.name, &o)
	}
	err = o.end(err)
	r := v.rules
	maxLifetime := v.maxLifetime
	if r != nil {
		if err == nil {
			err = r.finish(&cr.st)
		}
		if r.audClaim != "" { // another claim holds the audience: aud is optional
			cr.hasAud, cr.audOK = true, cr.st.audOK
		}
		if r.maxLifetime > 0 {
			maxLifetime = r.maxLifetime
		}
	}
	switch {
	case err != nil:
		return nil, invalidTokenCause("claims", err)
	case !cr.hasExp || !cr.hasIat || !cr.hasIss || !cr.hasAud || c.Subject == "":
		return nil, invalidToken("a required claim (exp, iat, iss, aud, sub) is missing")
	case c.Issuer != v.issuer:
		return nil, invalidToken("wrong issuer")
	case !cr.audOK:
		return nil, invalidToken("wrong audience")
	}
	if err := v.checkNumericDates(cr.exp, cr.iat, cr.nbf, cr.hasNbf, maxLifetime); err != nil {
		return nil, err
	}
	c.ExpiresAt, c.IssuedAt = unixTime(cr.exp), unixTime(cr.iat)
	if cr.hasNbf {
		c.NotBefore = unixTime(cr.nbf)
	}
	return c, nil
}

// claimReader collects a claims set member by member.
type claimReader struct {
	v                                      *verifier
	c                                      *Claims
	exp, iat, nbf                          float64
	hasExp, hasIat, hasNbf, hasIss, hasAud bool
	audOK                                  bool
	audBuf                                 []string // room for aud
	st                                     profileState
}

// member reads one claim: the registered ones into their fields, the others
// into the raw extra claims; the issuer's profile sees every one first. The
// kit's own profile reads its string claims in the pass that checks them.
func (cr *claimReader) member(name string, o *objectReader) error {
	c, r := cr.c, cr.v.rules
	if r == nil {
		var field *string
		switch name {
		case "iss":
			field, cr.hasIss = &c.Issuer, true
		case "sub":
			field = &c.Subject
		case "jti":
			field = &c.ID
		case "client_id":
			field = &c.ClientID
		}
		if field != nil {
			s, ok, err := o.str()
			switch {
			case err != nil:
				return err
			case !ok:
				return fmt.Errorf("claim %q: %w", name, errNotString)
			}
			*field = s
			return nil
		}
	}
	value, err := o.raw()
	if err != nil {
		return err
	}
	if r != nil {
		if err := r.claim(&cr.st, c, cr.v.audiences, name, value); err != nil {
			return err
		}
	}
	switch name {
	case "iss":
		c.Issuer, err = jsonString(value)
		cr.hasIss = true
	case "sub":
		c.Subject, err = jsonString(value)
	case "aud":
		cr.hasAud = true
		cr.audOK, err = cr.v.parseAudience(c, cr.audBuf, value)
	case "exp":
		cr.exp, err = numericDate(value)
		cr.hasExp = true
	case "iat":
		cr.iat, err = numericDate(value)
		cr.hasIat = true
	case "nbf":
		cr.nbf, err = numericDate(value)
		cr.hasNbf = true
	case "jti":
		c.ID, err = jsonString(value)
	case "ver":
		if r != nil { // a provider's own "ver" ("2.0", 1): not the kit's
			c.putExtra(name, value)
			return nil
		}
		c.Version, err = jsonInt64(value)
		if err == nil && c.Version < 0 {
			err = errors.New("negative")
		}
	case "client_id":
		c.ClientID, err = jsonString(value)
	case "scope":
		c.Scope, err = jsonString(value)
		if err == nil && r == nil && c.Scope != "" {
			c.granted = strings.Fields(c.Scope)
		}
	default:
		c.putExtra(name, value)
		return nil
	}
	if err != nil {
		return fmt.Errorf("claim %q: %w", name, err)
	}
	return nil
}

// checkNumericDates checks exp, iat and nbf (seconds since the epoch)
// against the clock, the leeway and the longest lifetime.
func (v *verifier) checkNumericDates(exp, iat, nbf float64, hasNbf bool, maxLifetime time.Duration) error {
	now := v.now()
	nowS := float64(now.Unix()) + float64(now.Nanosecond())/1e9
	leeway := v.leeway.Seconds()
	switch {
	case iat > nowS+leeway:
		return invalidToken("issued in the future")
	case exp-iat > maxLifetime.Seconds():
		return invalidToken("lifetime longer than allowed")
	case exp < iat:
		return invalidToken("expires before it was issued")
	case nowS >= exp+leeway:
		return expiredToken("exp has passed")
	case hasNbf && nowS < nbf-leeway:
		return expiredToken("nbf is in the future")
	}
	return nil
}

// parseAudience reads aud (a string or an array of strings, RFC 7519 §4.1.3)
// into c, appending to buf, and reports whether it contains one of the
// configured audiences.
func (v *verifier) parseAudience(c *Claims, buf []string, value []byte) (bool, error) {
	if len(value) > 0 && value[0] == '"' {
		s, err := jsonString(value)
		if err != nil {
			return false, err
		}
		c.Audience = slices.Clip(append(buf[:0], s))
		return v.acceptsAudience(s), nil
	}
	if len(value) == 0 || value[0] != '[' {
		return false, errors.New("neither a string nor an array")
	}
	auds := buf[:0]
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
		found = found || v.acceptsAudience(s)
		i = skipSpace(value, end)
		if i < len(value) && value[i] == ',' {
			i = skipSpace(value, i+1)
		}
	}
	if len(auds) == 0 {
		auds = nil // as for "aud": []
	}
	c.Audience = slices.Clip(auds)
	return found, nil
}

// checkTimes checks the time claims of verified claims against the clock
// again, for a token answered from the cache.
func (v *verifier) checkTimes(c *Claims) error {
	now := v.now()
	switch {
	case c.IssuedAt.After(now.Add(v.leeway)):
		return invalidToken("issued in the future")
	case !now.Before(c.ExpiresAt.Add(v.leeway)):
		return expiredToken("exp has passed")
	case !c.NotBefore.IsZero() && now.Before(c.NotBefore.Add(-v.leeway)):
		return expiredToken("nbf is in the future")
	}
	return nil
}

// acceptsAudience reports whether aud is one of v's audiences: exactly, or,
// for the audience of WithResource, in canonical form.
func (v *verifier) acceptsAudience(aud string) bool {
	if slices.Contains(v.audiences, aud) {
		return true
	}
	if v.resource == "" {
		return false
	}
	c, ok := canonicalResource(aud)
	return ok && c == v.resource
}
