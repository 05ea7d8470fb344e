package authkit

import (
	"errors"
	"io"
	"log/slog"
	"net/http"
)

// This file writes every refusal the kit answers itself: the RFC 6750
// challenge of the middleware, the RFC 6749 JSON error of the issuer's
// endpoints, and the cross-origin check both rely on.

// ErrorHandler writes the response for a request that the kit refused or
// could not decide. err wraps one of the package's sentinel errors or, for a
// failing store or callback, the cause itself. Install one with
// [WithErrorHandler]; a custom handler may delegate to [DefaultErrorHandler]
// or [DefaultTokenErrorHandler], passing err on unchanged.
type ErrorHandler func(w http.ResponseWriter, r *http.Request, err error)

// DefaultErrorHandler answers as RFC 6750 §3 prescribes, with the plain
// status text as body, Cache-Control: no-store, and the realm of the
// middleware that refused the request ([WithRealm], default "authkit"):
//
//   - [ErrInvalidRequest]: 400, WWW-Authenticate: Bearer realm="…", error="invalid_request"
//   - [ErrInvalidToken] (expired and revoked too): 401, the same with error="invalid_token"
//   - [ErrNoCredentials]: 401, WWW-Authenticate: Bearer realm="…"
//   - [ErrCrossOrigin]: 403
//   - [ErrInsufficientScope]: 403, WWW-Authenticate: Bearer realm="…", error="insufficient_scope", scope="…"
//
// A 401 challenge also names the scopes the middleware requires
// ([WithScopes]: scope="…", RFC 6750 §3) and the resource metadata URL of
// its [JWT] ([WithResource]: resource_metadata="…", RFC 9728 §5.1).
//   - [ErrNotReady]: 503, Retry-After: 5
//   - [ErrStoreUnavailable] (a store that did not answer in time): 503, Retry-After: 5
//   - anything else (a failing store or callback): 500
//
// Where the authenticator accepts DPoP ([WithDPoP]), a 400 or 401 also
// carries the DPoP challenge, WWW-Authenticate: DPoP realm="…", algs="…"
// (with error="invalid_dpop_proof" for [ErrInvalidDPoPProof], or
// error="use_dpop_nonce" and a DPoP-Nonce header for a proof without the
// current nonce of [WithDPoPNonce]), beside the Bearer one, or alone where
// every issuer requires DPoP (RFC 9449 §7.1, §9).
//
// The cause is logged with [log/slog], at debug level for refusals and error
// level for failures, never written to the body. It is safe for concurrent
// use.
func DefaultErrorHandler(w http.ResponseWriter, r *http.Request, err error) {
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	var status int
	switch {
	case errors.Is(err, ErrStoreUnavailable):
		status = http.StatusServiceUnavailable
		h.Set("Retry-After", retryAfter)
		slog.ErrorContext(r.Context(), "authkit: store unavailable", "method", r.Method, "path", r.URL.Path, "err", err)
	case errors.Is(err, ErrCrossOrigin):
		status = http.StatusForbidden
	case errors.Is(err, ErrInsufficientScope):
		status = http.StatusForbidden
		h.Set("WWW-Authenticate", bearerChallenge(err, "insufficient_scope"))
	case errors.Is(err, ErrNotReady):
		status = http.StatusServiceUnavailable
		h.Set("Retry-After", retryAfter)
	case errors.Is(err, ErrInvalidRequest):
		status = http.StatusBadRequest
		h.Set("WWW-Authenticate", bearerChallenge(err, "invalid_request"))
	case errors.Is(err, ErrInvalidToken):
		status = http.StatusUnauthorized
		h.Set("WWW-Authenticate", bearerChallenge(err, "invalid_token"))
	case errors.Is(err, ErrNoCredentials):
		status = http.StatusUnauthorized
		h.Set("WWW-Authenticate", bearerChallenge(err, ""))
	default:
		status = http.StatusInternalServerError
		slog.ErrorContext(r.Context(), "authkit: authentication failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	if status == http.StatusBadRequest || status == http.StatusUnauthorized {
		dpopChallenge(h, err)
	}
	if status < http.StatusInternalServerError {
		slog.DebugContext(r.Context(), "authkit: request refused", "status", status, "err", err)
	}
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(http.StatusText(status) + "\n"))
}

// DefaultTokenErrorHandler answers a refused or failed request to an
// [Issuer]'s endpoints as RFC 6749 §5.2 prescribes, JSON {"error":"…"} with
// Cache-Control: no-store: [ErrInvalidRequest] 400 invalid_request,
// [ErrInvalidToken] 400 invalid_grant, [ErrInvalidDPoPProof] 400
// invalid_dpop_proof (RFC 9449 §5), or use_dpop_nonce with a DPoP-Nonce
// header for a proof without the current nonce of [WithDPoPNonce] (§8),
// [ErrCrossOrigin] 403 invalid_request, a grant_type the endpoint does not
// serve 400 unsupported_grant_type, a method other than POST 405
// invalid_request with Allow: POST,
// [ErrStoreUnavailable] 503 temporarily_unavailable with Retry-After: 5,
// anything else 500 server_error (logged with [log/slog]). It is safe for
// concurrent use.
func DefaultTokenErrorHandler(w http.ResponseWriter, r *http.Request, err error) {
	switch {
	case errors.Is(err, ErrStoreUnavailable):
		slog.ErrorContext(r.Context(), "authkit: store unavailable", "method", r.Method, "path", r.URL.Path, "err", err)
		w.Header().Set("Retry-After", retryAfter)
		writeOAuthError(w, http.StatusServiceUnavailable, "temporarily_unavailable")
	case errors.Is(err, ErrCrossOrigin):
		slog.DebugContext(r.Context(), "authkit: token request refused", "err", err)
		writeOAuthError(w, http.StatusForbidden, "invalid_request")
	case errors.Is(err, errMethodNotAllowed):
		slog.DebugContext(r.Context(), "authkit: token request refused", "err", err)
		w.Header().Set("Allow", http.MethodPost)
		writeOAuthError(w, http.StatusMethodNotAllowed, "invalid_request")
	case errors.Is(err, errUnsupportedGrantType):
		slog.DebugContext(r.Context(), "authkit: token request refused", "err", err)
		writeOAuthError(w, http.StatusBadRequest, "unsupported_grant_type")
	case errors.Is(err, ErrInvalidRequest):
		slog.DebugContext(r.Context(), "authkit: token request refused", "err", err)
		writeOAuthError(w, http.StatusBadRequest, "invalid_request")
	case errors.Is(err, ErrInvalidDPoPProof):
		slog.DebugContext(r.Context(), "authkit: DPoP proof refused", "err", err)
		if nonce := nonceOf(err); nonce != "" {
			w.Header().Set("DPoP-Nonce", nonce)
			writeOAuthError(w, http.StatusBadRequest, "use_dpop_nonce")
			return
		}
		writeOAuthError(w, http.StatusBadRequest, "invalid_dpop_proof")
	case errors.Is(err, ErrInvalidToken):
		slog.DebugContext(r.Context(), "authkit: refresh token refused", "err", err)
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

func noStore(h http.Header) {
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
}

// realmError carries what the middleware that refused a request puts in
// its challenges to the error handler, with the refusal itself: its realm,
// the resource metadata URL of its authenticator (RFC 9728 §5.1) and the
// scopes it requires (RFC 6750 §3).
type realmError struct {
	realm, metadata, scope string
	err                    error
}

func (e *realmError) Error() string { return e.err.Error() }
func (e *realmError) Unwrap() error { return e.err }

func withChallenge(err error, realm, metadata, scope string) error {
	if realm == defaultRealm && metadata == "" && scope == "" {
		return err
	}
	return &realmError{realm: realm, metadata: metadata, scope: scope, err: err}
}

// bearerChallenge is the WWW-Authenticate value for err: the realm, then
// code (error="…") if any, the scope (the missing scopes of an
// insufficient_scope refusal, else those the route requires) and, in a 401
// (no code or invalid_token), the resource metadata URL when the middleware
// has one: the client then has to (re)authorize, and discovery starts there
// (RFC 9728 §5.1).
func bearerChallenge(err error, code string) string {
	re := &realmError{realm: defaultRealm}
	errors.As(err, &re)
	s := `Bearer realm="` + re.realm + `"`
	if code != "" {
		s += `, error="` + code + `"`
	}
	return s + challengeParams(re, err, code)
}

// challengeParams are the scope (RFC 6750 §3) and resource_metadata
// (RFC 9728 §5.1) parameters of a challenge with error code.
func challengeParams(re *realmError, err error, code string) string {
	s := ""
	scope := re.scope
	if code == "insufficient_scope" {
		scope = scopeOf(err)
	}
	if scope != "" && code != "invalid_request" {
		s += `, scope="` + scope + `"`
	}
	if re.metadata != "" && (code == "" || code == "invalid_token") {
		s += `, resource_metadata="` + re.metadata + `"`
	}
	return s
}

const defaultRealm = "authkit"

// scopeError is ErrInsufficientScope with the scopes the route requires.
type scopeError struct{ scope string }

func (e *scopeError) Error() string {
	return "authkit: insufficient scope: the route requires " + e.scope
}
func (e *scopeError) Unwrap() error { return ErrInsufficientScope }

func scopeOf(err error) string {
	var se *scopeError
	if errors.As(err, &se) {
		return se.scope
	}
	return ""
}

// retryAfter is the Retry-After, in seconds, of a 503 (keys not fetched yet,
// a store that did not answer): about one store timeout.
const retryAfter = "5"

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

// defaultCrossOrigin is the check used where [WithCrossOriginProtection] was
// not given. It is never configured.
var defaultCrossOrigin = http.NewCrossOriginProtection()

// checkCrossOrigin refuses a cross-origin state-changing browser request with
// an error wrapping [ErrCrossOrigin] (403); c nil means the default check.
func checkCrossOrigin(c *http.CrossOriginProtection, r *http.Request) error {
	if c == nil {
		c = defaultCrossOrigin
	}
	if err := c.Check(r); err != nil {
		return &authError{kind: ErrCrossOrigin, cause: err}
	}
	return nil
}

// WithErrorHandler sets the handler that answers refused and failed requests.
// It applies to [Require] and [Optional], to [Session.LoadAndSave] (through
// [NewSession]) and to the endpoints of an [Issuer] (through [NewIssuer]).
// Default: [DefaultErrorHandler] for the middleware, [DefaultTokenErrorHandler]
// for the issuer's endpoints.
func WithErrorHandler(h ErrorHandler) Option {
	return singleOption[common]("WithErrorHandler", "func", forGuard|forSession|forIssuer,
		func(c *common) error {
			if h == nil {
				return errors.New("WithErrorHandler(nil)")
			}
			c.errorHandler = h
			return nil
		})
}

// WithCrossOriginProtection sets the CSRF check applied to state-changing
// requests that rely on a cookie the browser attaches by itself: the session
// cookie ([NewSession]), the access-token cookie ([NewJWT] with
// [WithTokenCookie]) and the refresh cookie ([NewIssuer]). A refused request
// gets [ErrCrossOrigin] (403). Configure c (trusted origins, bypass patterns)
// before passing it. Default: [net/http.NewCrossOriginProtection] with no
// exceptions.
func WithCrossOriginProtection(c *http.CrossOriginProtection) Option {
	return singleOption[common]("WithCrossOriginProtection", "protection", forJWT|forSession|forIssuer,
		func(cfg *common) error {
			if c == nil {
				return errors.New("WithCrossOriginProtection(nil)")
			}
			cfg.crossOrigin = c
			return nil
		})
}

// dpopChallenge adds to h, which holds the Bearer challenge of a 400 or
// 401, the DPoP challenge of RFC 9449 §7.1 when err comes from an
// authenticator that accepts DPoP: beside the Bearer one, which loses its
// error where the request used DPoP, or in its place where only DPoP is
// accepted.
func dpopChallenge(h http.Header, err error) {
	var de *dpopError
	if !errors.As(err, &de) {
		return
	}
	re := &realmError{realm: defaultRealm}
	errors.As(err, &re)
	realm := re.realm
	code := ""
	switch {
	case nonceOf(err) != "":
		code = "use_dpop_nonce"
		h.Set("DPoP-Nonce", nonceOf(err))
	case errors.Is(err, ErrInvalidDPoPProof):
		code = "invalid_dpop_proof"
	case !de.usedDPoP && de.bearer:
	case errors.Is(err, ErrInvalidRequest):
		code = "invalid_request"
	case errors.Is(err, ErrInvalidToken):
		code = "invalid_token"
	}
	ch := `DPoP realm="` + realm + `", algs="` + de.algs + `"`
	if code != "" {
		ch += `, error="` + code + `"`
	}
	switch {
	case !de.bearer: // the only challenge: it names the scopes and the metadata
		h.Set("WWW-Authenticate", ch+challengeParams(re, err, code))
	case code != "":
		h.Set("WWW-Authenticate", bearerChallenge(err, "")) // the error is the DPoP one's
		h.Add("WWW-Authenticate", ch)
	default:
		h.Add("WWW-Authenticate", ch)
	}
}
