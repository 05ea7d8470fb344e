package authkit

import (
	"errors"
	"strings"
)

// Sentinel errors. Every error the kit returns from an authenticator wraps one
// of these, and usually the underlying cause as well, so that
//
//	errors.Is(err, authkit.ErrInvalidToken)
//
// classifies a failure while logs keep the detail. The text of an error is not
// part of the API; compare with [errors.Is].
var (
	// ErrNoCredentials means the request carried no credentials that the
	// authenticator understands. [Require] answers 401 with a bare
	// WWW-Authenticate challenge; [Optional] lets the request through
	// anonymously.
	ErrNoCredentials = errors.New("authkit: no credentials")

	// ErrInvalidRequest means the request was malformed: two Authorization
	// headers, an Authorization header that is not valid RFC 6750 syntax, a
	// token sent in more than one place, or the session cookie sent twice.
	// The default answer is 400 with error="invalid_request".
	ErrInvalidRequest = errors.New("authkit: invalid request")

	// ErrInvalidToken means a presented token (or session) was refused: bad
	// format, bad signature, wrong type, audience or issuer, expired, revoked.
	// The default answer is 401 with error="invalid_token". [ErrTokenExpired]
	// and [ErrTokenRevoked] errors match ErrInvalidToken too.
	ErrInvalidToken = errors.New("authkit: invalid token")

	// ErrTokenExpired means a token whose signature verified has expired (or
	// is not yet valid). It is only reported after the signature checked out,
	// so a forged expired token is ErrInvalidToken, never ErrTokenExpired.
	ErrTokenExpired = errors.New("authkit: token expired")

	// ErrTokenRevoked means the credential carried a token version below the
	// user's current version (see [VersionLookup]), or its refresh-token
	// family was revoked.
	ErrTokenRevoked = errors.New("authkit: token revoked")

	// ErrUnknownUser is what a [VersionLookup] or user loader returns for a
	// user that does not exist or is disabled. The kit refuses the credential
	// (401), unlike other callback errors, which are treated as a failure of
	// the store (500).
	ErrUnknownUser = errors.New("authkit: unknown or disabled user")

	// ErrCrossOrigin means a state-changing request that relies on the
	// session cookie came from another origin, as
	// [net/http.CrossOriginProtection] judges it (CSRF). The default answer is
	// 403, without a WWW-Authenticate challenge.
	ErrCrossOrigin = errors.New("authkit: cross-origin request refused")

	// ErrNotReady means the keys of the token's issuer have not been fetched
	// yet ([WithTrustedIssuer] discovers them in the background): the token
	// could not be judged, so it is refused. The default answer is 503 with
	// Retry-After; [JWT.Ready] tells when it is over.
	ErrNotReady = errors.New("authkit: issuer keys not fetched yet")

	// ErrInsufficientScope means the token verified but lacks a scope the
	// route requires ([WithScopes]). The default answer is 403 with
	// error="insufficient_scope" and the required scopes (RFC 6750 §3.1).
	ErrInsufficientScope = errors.New("authkit: insufficient scope")
	// ErrStoreUnavailable means a store call did not answer within its bound
	// ([WithStoreTimeout], default 5 seconds), or, for the DPoP state of
	// [WithDPoPStore], failed: the request fails closed.
	// [DefaultErrorHandler] answers 503 with Retry-After, as does
	// [DefaultTokenErrorHandler] ({"error":"temporarily_unavailable"}).
	ErrStoreUnavailable = errors.New("authkit: store unavailable")

	// ErrInvalidDPoPProof means a request's DPoP proof (RFC 9449) was
	// refused: missing where the token is DPoP-bound, sent twice, malformed,
	// badly signed, stale, replayed, for another method, URL, token or key,
	// or without the server's current nonce ([WithDPoPNonce]). It matches
	// [ErrInvalidToken] too. [DefaultErrorHandler] answers 401 with a DPoP
	// challenge, error="invalid_dpop_proof" (error="use_dpop_nonce" and a
	// DPoP-Nonce header for a nonce); [DefaultTokenErrorHandler] 400
	// {"error":"invalid_dpop_proof"} (or "use_dpop_nonce" with DPoP-Nonce).
	// A custom error handler passes it to them to keep the nonce.
	ErrInvalidDPoPProof = errors.New("authkit: invalid DPoP proof")

	// ErrUnknownDevice is [Store.EndDevice]'s answer for an ID that is not
	// one of the user's live sessions or refresh families (a 404 for the
	// application).
	ErrUnknownDevice = errors.New("authkit: unknown device")

	// ErrFamilyNotFound is what a [FamilyStore] returns for an unknown
	// refresh-token family.
	ErrFamilyNotFound = errors.New("authkit: refresh family not found")

	// ErrFamilyNotRotated is what [FamilyStore.RotateFamily] returns, with
	// the family, when it did not rotate: the presented token is not the
	// current one (reuse), or the family is revoked or expired.
	ErrFamilyNotRotated = errors.New("authkit: refresh family not rotated")
)

// errUnsupportedGrantType marks a token request whose grant_type the
// endpoint does not serve: RFC 6749 §5.2 unsupported_grant_type.
var errUnsupportedGrantType = errors.New("authkit: unsupported grant_type")

// errMethodNotAllowed marks a request to a POST-only endpoint of the Issuer
// with another method (405).
var errMethodNotAllowed = errors.New("authkit: method not allowed")

// errSessionNotLoaded means a session was used where the kit did not load
// it: the handler is not wrapped by Session.LoadAndSave or by
// Require/Optional given the Session (scs's own LoadAndSave does not count).
// A programming error, answered 500 and logged, never a panic.
var errSessionNotLoaded = errors.New("authkit: session not loaded by authkit: wrap the handler with Session.LoadAndSave or Require")

// authError wraps a cause under a sentinel (and, optionally, a second
// sentinel) without formatting anything until Error is called, so that the
// refusal path of a hot verifier costs one small allocation.
type authError struct {
	kind   error // ErrInvalidToken, ErrInvalidRequest, ...
	detail error // optional: ErrTokenExpired, ErrTokenRevoked, ...
	msg    string
	cause  error
}

func (e *authError) Error() string {
	var b strings.Builder
	b.WriteString(e.kind.Error())
	if e.detail != nil {
		b.WriteString(": ")
		b.WriteString(strings.TrimPrefix(e.detail.Error(), "authkit: "))
	}
	if e.msg != "" {
		b.WriteString(": ")
		b.WriteString(e.msg)
	}
	if e.cause != nil {
		b.WriteString(": ")
		b.WriteString(e.cause.Error())
	}
	return b.String()
}

func (e *authError) Unwrap() []error {
	errs := make([]error, 0, 3)
	errs = append(errs, e.kind)
	if e.detail != nil {
		errs = append(errs, e.detail)
	}
	if e.cause != nil {
		errs = append(errs, e.cause)
	}
	return errs
}

func invalidToken(msg string) error { return &authError{kind: ErrInvalidToken, msg: msg} }

func invalidTokenCause(msg string, cause error) error {
	return &authError{kind: ErrInvalidToken, msg: msg, cause: cause}
}

func invalidProof(msg string) error {
	return &authError{kind: ErrInvalidToken, detail: ErrInvalidDPoPProof, msg: msg}
}

func invalidRequest(msg string) error { return &authError{kind: ErrInvalidRequest, msg: msg} }

func expiredToken(msg string) error {
	return &authError{kind: ErrInvalidToken, detail: ErrTokenExpired, msg: msg}
}

func revokedToken(msg string) error {
	return &authError{kind: ErrInvalidToken, detail: ErrTokenRevoked, msg: msg}
}
