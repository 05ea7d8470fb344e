package authkit

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"
)

// An Authenticator decides who made a request. It does not write the
// response (the kit's session authenticator may update session state). It
// returns [ErrNoCredentials] (possibly wrapped) when the request carries none
// of its credentials, an error wrapping [ErrInvalidRequest] or
// [ErrInvalidToken] when it refuses them, and any other error when it could
// not decide (500). Implementations must be safe for concurrent use.
type Authenticator[U any] interface {
	Authenticate(r *http.Request) (U, error)
}

// AuthenticatorFunc adapts a function to the [Authenticator] interface.
type AuthenticatorFunc[U any] func(r *http.Request) (U, error)

// Authenticate calls f(r).
func (f AuthenticatorFunc[U]) Authenticate(r *http.Request) (U, error) { return f(r) }

// identifier is implemented by the kit's own authenticators, which know more
// than Authenticate returns: the verified claims and the method.
type identifier[U any] interface {
	identify(r *http.Request) (U, *Claims, Method, error)
}

// wrapper is implemented by authenticators that need a handler of their own
// around the protected handler (the session authenticator loads and saves the
// session there).
type wrapper interface {
	wrapHandler(next http.Handler) http.Handler
}

// identify asks a who made r, with the claims and method when a is one of the
// kit's own authenticators.
func identify[U any](a Authenticator[U], r *http.Request) (U, *Claims, Method, error) {
	if id, ok := a.(identifier[U]); ok {
		return id.identify(r)
	}
	u, err := a.Authenticate(r)
	return u, nil, MethodCustom, err
}

// Any returns an Authenticator that asks each of auths in turn and answers
// with the first one that finds its credentials in the request: the first
// result that is not [ErrNoCredentials], success or refusal. A presented but
// invalid bearer token is therefore refused even when a valid session cookie
// is also present; list the authenticators in order of preference, bearer
// token first. When none finds credentials, the result is ErrNoCredentials.
// Any panics if auths is empty or holds a nil Authenticator, at construction,
// never at request time.
func Any[U any](auths ...Authenticator[U]) Authenticator[U] {
	if len(auths) == 0 {
		panic("authkit: Any needs at least one Authenticator")
	}
	for i, a := range auths {
		if isNil(a) {
			panic(fmt.Sprintf("authkit: Any: Authenticator %d is nil", i))
		}
	}
	return anyOf[U](append([]Authenticator[U](nil), auths...))
}

type anyOf[U any] []Authenticator[U]

func (as anyOf[U]) Authenticate(r *http.Request) (U, error) {
	u, _, _, err := as.identify(r)
	return u, err
}

func (as anyOf[U]) identify(r *http.Request) (U, *Claims, Method, error) {
	for _, a := range as {
		u, c, m, err := identify(a, r)
		if err == nil || !errors.Is(err, ErrNoCredentials) {
			return u, c, m, err
		}
	}
	var zero U
	return zero, nil, "", ErrNoCredentials
}

// wrapHandler wraps next in the handlers of those of as that need one, the
// first authenticator outermost, so that the handlers run in the order of as.
func (as anyOf[U]) wrapHandler(next http.Handler) http.Handler {
	for i := len(as) - 1; i >= 0; i-- {
		if w, ok := as[i].(wrapper); ok {
			next = w.wrapHandler(next)
		}
	}
	return next
}

// resourcer is implemented by authenticators that protect a resource with
// metadata (a JWT with WithResource, an Any holding one).
type resourcer interface{ resourceMetadataURL() string }

func (as anyOf[U]) resourceMetadataURL() string {
	for _, a := range as {
		if r, ok := a.(resourcer); ok {
			if u := r.resourceMetadataURL(); u != "" {
				return u
			}
		}
	}
	return ""
}

type guardConfig struct {
	common
	realm  string
	scopes []string // WithScopes
	roles  []string // WithRoles
}

// WithRealm sets the realm named in WWW-Authenticate challenges. It must be
// non-empty printable ASCII without '"' or '\'. Default: "authkit".
func WithRealm(realm string) Option {
	return singleOption("WithRealm", fmt.Sprintf("%q", realm), forGuard, func(c *guardConfig) error {
		if !validRealm(realm) {
			return fmt.Errorf("WithRealm(%q): a realm must be printable ASCII without quotes or backslashes", realm)
		}
		c.realm = realm
		return nil
	})
}

// WithScopes makes [Require] and [Optional] let a request through only when
// its access token grants every one of scopes (as its profile reads them:
// "scope" by default, see [Profile]). A token that lacks one is refused with
// [ErrInsufficientScope] (403, never 401). A request authenticated otherwise
// (a session, a custom [Authenticator]) has no scopes and is refused the
// same way; an anonymous request through Optional goes through. Each scope
// is a scope-token of RFC 6749 §3.3. Default: no scope required.
func WithScopes(scopes ...string) Option {
	return singleOption("WithScopes", strings.Join(scopes, " "), forGuard, func(c *guardConfig) error {
		if len(scopes) == 0 {
			return errors.New("WithScopes: no scope")
		}
		for _, s := range scopes {
			if !validScope(s) {
				return fmt.Errorf("WithScopes(%q): not an RFC 6749 scope-token", s)
			}
		}
		c.scopes = slices.Clone(scopes)
		return nil
	})
}

// WithRoles makes [Require] and [Optional] let a request through only when
// its access token grants every one of roles, read from the claims its
// profile names ([Profile].RoleClaims: Keycloak's "realm_access"."roles",
// Entra's "roles", Cognito's "cognito:groups"); the kit's own tokens and the
// RFC 9068 profile carry none. A token that lacks one is refused with
// [ErrInsufficientScope] (403, never 401; the challenge names no scope, a
// role being nothing the client can ask for). Sessions and custom
// authenticators have no roles, as for [WithScopes], which it may be combined
// with. Default: no role required.
func WithRoles(roles ...string) Option {
	return singleOption("WithRoles", strings.Join(roles, " "), forGuard, func(c *guardConfig) error {
		if len(roles) == 0 || slices.Contains(roles, "") {
			return errors.New("WithRoles: no role, or an empty one")
		}
		c.roles = slices.Clone(roles)
		return nil
	})
}

// roleError is ErrInsufficientScope for a missing role.
type roleError struct{ roles []string }

func (e *roleError) Error() string {
	return fmt.Sprintf("authkit: insufficient scope: the route requires the roles %q", e.roles)
}
func (e *roleError) Unwrap() error { return ErrInsufficientScope }

// checkRoles refuses claims (nil: not a token) that lack one of required.
func checkRoles(c *Claims, required []string) error {
	for _, s := range required {
		if c == nil || !slices.Contains(c.roles, s) {
			return &roleError{roles: required}
		}
	}
	return nil
}

// checkScopes refuses claims (nil: not a token) that lack one of required.
func checkScopes(c *Claims, required []string) error {
	for _, s := range required {
		if c == nil || !slices.Contains(c.granted, s) {
			return &scopeError{scope: strings.Join(required, " ")}
		}
	}
	return nil
}

func newGuardConfig(opts []Option) (guardConfig, error) {
	c := guardConfig{realm: defaultRealm}
	err := applyOptions(opts, forGuard, &c)
	if c.errorHandler == nil {
		c.errorHandler = DefaultErrorHandler
	}
	return c, err
}

// Require returns middleware that lets a request through only when a
// authenticates it, with the user in the context ([UserFrom]). Otherwise the
// error handler answers (default [DefaultErrorHandler]: 401, 400 for a
// malformed request, 403 cross-origin, 500 for a failing store or callback)
// and the wrapped handler is not called. Require panics at construction,
// never at request time, if a is nil or an option is invalid. The middleware
// is safe for concurrent use.
func Require[U any](a Authenticator[U], opts ...Option) func(http.Handler) http.Handler {
	return guard(a, false, opts)
}

// Optional returns middleware like [Require], except that a request without
// credentials goes through anonymously ([UserFrom] reports false). A refused
// token is still refused; a session the kit refuses and destroys counts as no
// credentials once it is gone (the response clears the cookie).
func Optional[U any](a Authenticator[U], opts ...Option) func(http.Handler) http.Handler {
	return guard(a, true, opts)
}

// guard builds Require (optional false) and Optional. It identifies the
// request with a; on success the next handler runs with the identity in the
// context; on failure the error handler answers, with the realm, the
// resource metadata URL and the required scopes attached to the error (see
// realmError) so that DefaultErrorHandler can name them. An
// authenticator that needs a handler of its own around next (a Session loads
// and saves there) is given it.
func guard[U any](a Authenticator[U], optional bool, opts []Option) func(http.Handler) http.Handler {
	if isNil(a) {
		panic("authkit: nil Authenticator")
	}
	cfg, err := newGuardConfig(opts)
	if err != nil {
		panic("authkit: " + err.Error())
	}
	metadata := ""
	if rs, ok := a.(resourcer); ok {
		metadata = rs.resourceMetadataURL()
	}
	refuse := func(w http.ResponseWriter, r *http.Request, err error) {
		cfg.errorHandler(w, r, withChallenge(err, cfg.realm, metadata, strings.Join(cfg.scopes, " ")))
	}
	return func(next http.Handler) http.Handler {
		var h http.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			var start time.Time // read only for the events: without a hook, no clock
			if cfg.events != nil {
				start = time.Now()
			}
			u, claims, method, err := identify(a, r)
			if err != nil {
				if optional && errors.Is(err, ErrNoCredentials) {
					next.ServeHTTP(w, r)
					return
				}
				cfg.events.refused(r, method, err, start)
				refuse(w, r, err)
				return
			}
			if cfg.scopes != nil || cfg.roles != nil {
				err := checkScopes(claims, cfg.scopes)
				if err == nil {
					err = checkRoles(claims, cfg.roles)
				}
				if err != nil {
					cfg.events.refused(r, method, err, start)
					refuse(w, r, err)
					return
				}
			}
			if cfg.events != nil {
				cfg.events.authenticated(r, method, claims, start)
			}
			if claims != nil && claims.dpopNonce != "" {
				w.Header().Set("DPoP-Nonce", claims.dpopNonce) // RFC 9449 §8.2
			}
			next.ServeHTTP(w, r.WithContext(withIdentity(r.Context(), identity{user: u, claims: claims, method: method})))
		})
		if wr, ok := a.(wrapper); ok {
			h = wr.wrapHandler(h)
		}
		return h
	}
}

// UserFrom returns the user that [Require] or [Optional] put in ctx, and
// whether there is one, however the request was authenticated. U must be
// exactly the authenticator's type: a *User is not found by UserFrom[User].
func UserFrom[U any](ctx context.Context) (U, bool) {
	if id := identityFrom(ctx); id != nil {
		u, ok := id.user.(U)
		return u, ok
	}
	var zero U
	return zero, false
}

// ContextWithUser returns a copy of ctx that carries u as the authenticated
// user (with [MethodCustom] and no claims), as [Require] would. It is meant for
// handler tests and framework adapters.
func ContextWithUser[U any](ctx context.Context, u U) context.Context {
	return withIdentity(ctx, identity{user: u, method: MethodCustom})
}

// ClaimsFrom returns the verified claims of the access token that
// authenticated the request, if a bearer token did. Each request has its own
// copy: changing it affects no other request. The copy is allocated with the
// request's context value, so keeping the Claims past the request keeps that
// value (the user, the parent context) too.
func ClaimsFrom(ctx context.Context) (*Claims, bool) {
	if id := identityFrom(ctx); id != nil && id.claims != nil {
		return id.claims, true
	}
	return nil, false
}

// MethodFrom reports how the request in ctx was authenticated, and whether it
// was.
func MethodFrom(ctx context.Context) (Method, bool) {
	if id := identityFrom(ctx); id != nil {
		return id.method, true
	}
	return "", false
}
