package authkit

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
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
)

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

func invalidRequest(msg string) error { return &authError{kind: ErrInvalidRequest, msg: msg} }

func expiredToken(msg string) error {
	return &authError{kind: ErrInvalidToken, detail: ErrTokenExpired, msg: msg}
}

func revokedToken(msg string) error {
	return &authError{kind: ErrInvalidToken, detail: ErrTokenRevoked, msg: msg}
}

// ErrorHandler writes the response for a request that an authenticator
// refused or could not decide. err wraps one of the package's sentinel errors
// or, for a failing store or callback, the cause itself. Install one with
// [WithErrorHandler]; a custom handler may delegate to [DefaultErrorHandler].
type ErrorHandler func(w http.ResponseWriter, r *http.Request, err error)

// DefaultErrorHandler answers as RFC 6750 §3 prescribes, with no detail of
// the failure in the body (the cause is logged at debug level for refusals and
// at error level for failures):
//
//   - [ErrInvalidRequest]: 400, WWW-Authenticate: Bearer realm="…", error="invalid_request"
//   - [ErrInvalidToken] (including expired and revoked): 401, WWW-Authenticate: Bearer realm="…", error="invalid_token"
//   - [ErrNoCredentials]: 401, WWW-Authenticate: Bearer realm="…" (no error attribute)
//   - [ErrCrossOrigin]: 403
//   - anything else (a store or callback failure): 500, logged with [log/slog]
//
// The realm is the one set with [WithRealm] on the middleware that called it
// ("authkit" by default). Bodies are the plain [net/http.StatusText] of the
// status. Every answer carries Cache-Control: no-store. It is safe for
// concurrent use.
func DefaultErrorHandler(w http.ResponseWriter, r *http.Request, err error) {
	realm := realmFrom(r.Context())
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	var status int
	switch {
	case errors.Is(err, ErrCrossOrigin):
		status = http.StatusForbidden
	case errors.Is(err, ErrInvalidRequest):
		status = http.StatusBadRequest
		h.Set("WWW-Authenticate", `Bearer realm="`+realm+`", error="invalid_request"`)
	case errors.Is(err, ErrInvalidToken):
		status = http.StatusUnauthorized
		h.Set("WWW-Authenticate", `Bearer realm="`+realm+`", error="invalid_token"`)
	case errors.Is(err, ErrNoCredentials):
		status = http.StatusUnauthorized
		h.Set("WWW-Authenticate", `Bearer realm="`+realm+`"`)
	default:
		status = http.StatusInternalServerError
		slog.ErrorContext(r.Context(), "authkit: authentication failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	if status != http.StatusInternalServerError {
		slog.DebugContext(r.Context(), "authkit: request refused", "status", status, "err", err)
	}
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(http.StatusText(status) + "\n"))
}

type realmKey struct{}

func realmFrom(ctx context.Context) string {
	if s, ok := ctx.Value(realmKey{}).(string); ok {
		return s
	}
	return defaultRealm
}

const defaultRealm = "authkit"

// validRealm reports whether s can stand inside a quoted auth-param without
// escaping (RFC 6750 §3: %x20-21 / %x23-5B / %x5D-7E).
func validRealm(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c > 0x7e || c == '"' || c == '\\' {
			return false
		}
	}
	return s != ""
}

// crossOrigin is the check applied to credentials that a browser attaches on
// its own (cookies) outside a Session: the access-token cookie and the
// refresh cookie. It is never configured after construction.
var crossOrigin = http.NewCrossOriginProtection()

// crossOriginCheck refuses a cross-origin state-changing browser request with
// an error wrapping [ErrCrossOrigin] (403).
func crossOriginCheck(r *http.Request) error {
	if err := crossOrigin.Check(r); err != nil {
		return &authError{kind: ErrCrossOrigin, cause: err}
	}
	return nil
}
