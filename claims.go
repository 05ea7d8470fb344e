package authkit

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"time"
	"unicode/utf8"
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

	// extra holds every other claim as raw JSON, nil when there is none. Its
	// values are sub-slices of a buffer private to the verification that
	// produced them; they are never handed out, so no request can change
	// them for another. Read one with [Claims.DecodeExtra].
	extra map[string][]byte

	// granted holds the scopes the profile's scope claims grant, for
	// WithScopes. It is never changed after verification, so copies share it.
	granted []string
	// roles holds the roles the profile's role claims grant, for WithRoles,
	// likewise never changed.
	roles []string

	// dpopNonce is the DPoP nonce (WithDPoPNonce) that the answer to this
	// request hands out in DPoP-Nonce, "" for none: set on the request's own
	// copy by the DPoP check, read by the middleware.
	dpopNonce string

	// room is the context allocated with these claims for the request they
	// were copied for (a *identityCtx, see requestClaims), else nil.
	room context.Context
}

// Scopes returns the scopes the token grants, as its profile reads them
// (the space-separated "scope" by default; see [Profile]) and as
// [WithScopes] checks them: a fresh slice, nil when there are none.
func (c *Claims) Scopes() []string { return slices.Clone(c.granted) }

// putExtra keeps the claim name as raw JSON, for DecodeExtra.
func (c *Claims) putExtra(name string, value []byte) {
	if c.extra == nil {
		c.extra = make(map[string][]byte, 4)
	}
	c.extra[name] = value[:len(value):len(value)]
}

// DecodeExtra decodes the claim name, one the fields above do not hold, into
// v with [encoding/json], and reports whether it was present. A claim of the
// wrong JSON type is an error, as is an object, at any depth, whose member
// names repeat or differ only in case.
func (c *Claims) DecodeExtra(name string, v any) (bool, error) {
	raw, ok := c.extra[name]
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

// Decode decodes the whole verified claims set into v, a pointer to the
// program's own struct (json tags name the claims), with [encoding/json]:
// the registered claims as the fields above hold them ("aud" always an
// array of strings; "exp", "iat" and "nbf" NumericDate numbers; "jti",
// "client_id", "scope" and the kit's "ver" only when set) and every other
// claim as it was signed. An object, at any depth, whose member names repeat
// or differ only in case is refused, as by [Claims.DecodeExtra], so that
// {"role":"user","Role":"admin"} never decodes last-wins. It keeps nothing:
// the set is rebuilt on each call (a few allocations), never on requests
// that do not call it. Safe for concurrent use on one request's Claims.
func (c *Claims) Decode(v any) error {
	m := make(map[string]any, len(c.extra)+10)
	for name, raw := range c.extra {
		m[name] = json.RawMessage(raw)
	}
	m["iss"], m["sub"], m["aud"] = c.Issuer, c.Subject, c.Audience
	if c.Audience == nil {
		m["aud"] = []string{}
	}
	m["exp"], m["iat"] = numericDateOf(c.ExpiresAt), numericDateOf(c.IssuedAt)
	if !c.NotBefore.IsZero() {
		m["nbf"] = numericDateOf(c.NotBefore)
	}
	for name, s := range map[string]string{"jti": c.ID, "client_id": c.ClientID, "scope": c.Scope} {
		if s != "" {
			m[name] = s
		}
	}
	if c.Version != 0 {
		m["ver"] = c.Version
	}
	b, err := json.Marshal(m)
	if err == nil {
		err = checkFoldedNames(b)
	}
	if err == nil {
		err = json.Unmarshal(b, v)
	}
	if err != nil {
		return fmt.Errorf("authkit: claims: %w", err)
	}
	return nil
}

// numericDateOf is t as a NumericDate: whole seconds as an integer.
func numericDateOf(t time.Time) json.Number {
	if t.Nanosecond() == 0 {
		return json.Number(strconv.FormatInt(t.Unix(), 10))
	}
	return json.Number(strconv.FormatFloat(float64(t.UnixNano())/1e9, 'f', -1, 64))
}

// maxNumericDate is 9999-12-31T23:59:59Z; larger dates are refused as junk.
const maxNumericDate = 253402300799

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

// validClaimString reports whether s can be written into a token and stored:
// non-empty, valid UTF-8, no NUL (PostgreSQL text cannot hold it), bounded.
func validClaimString(s string, max int) bool {
	if s == "" || len(s) > max || !utf8.ValidString(s) {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] == 0 {
			return false
		}
	}
	return true
}

// maxScopeLen bounds one scope-token, as maxClaimLen bounds a name.
const maxScopeLen = 1024

// validScope reports whether s is a scope-token: 1*( %x21 / %x23-5B /
// %x5D-7E ), which also makes it safe inside a quoted auth-param.
func validScope(s string) bool {
	if s == "" || len(s) > maxScopeLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x21 || c > 0x7e || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}
