// Package authkit is net/http middleware that keeps users logged in with
// server-side sessions, with JWT access tokens, or with both, and gives every
// handler the authenticated user the same way, whichever way it came in.
//
// The pieces:
//
//   - [NewJWT] verifies access tokens (RFC 9068 "at+jwt") strictly: compact
//     serialization only, the algorithm pinned by the key, every claim typed.
//   - [NewSession] authenticates a user by a server-side session kept by
//     github.com/alexedwards/scs/v2.
//   - [Issuer] mints access and refresh tokens; the refresh tokens rotate,
//     detect reuse, and die when the user's token version is bumped (see
//     [VersionLookup]).
//   - [Require] and [Optional] turn any [Authenticator] into middleware of
//     the shape func(http.Handler) http.Handler, so it wraps a plain
//     [net/http.Handler] and plugs into chi, gin and echo; [Any] tries several
//     authenticators in order.
//   - [UserFrom] gives a handler the user; [ContextWithUser] puts one there
//     (for tests and adapters).
//
// Every value the package constructs is immutable after construction and safe
// for concurrent use. Constructors check their configuration and return an
// error; nothing the kit does at request time panics.
//
// # Responses
//
// Refusals follow RFC 6750 §3. A request without credentials gets 401 with
// WWW-Authenticate: Bearer realm="authkit"; a refused token 401 with
// error="invalid_token"; a malformed request 400 with
// error="invalid_request"; a failing store or callback 500. Bodies never say
// which check failed: the cause goes to the [ErrorHandler], where
// [errors.Is] classifies it against the package's sentinel errors.
package authkit

import (
	"context"
	"errors"
	"fmt"
	"net/http"
)

// An Authenticator decides who made a request. Authenticate is a pure check:
// it reads the request and writes nothing.
//
// It returns [ErrNoCredentials] (possibly wrapped) when the request carries
// none of the credentials it understands, an error wrapping
// [ErrInvalidRequest] or [ErrInvalidToken] when it refuses them, and any other
// error when it could not decide (a store or callback failed), which the
// middleware turns into a 500.
//
// Implementations must be safe for concurrent use.
type Authenticator[U any] interface {
	Authenticate(r *http.Request) (U, error)
}

// AuthenticatorFunc adapts a function to the [Authenticator] interface.
type AuthenticatorFunc[U any] func(r *http.Request) (U, error)

// Authenticate calls f(r).
func (f AuthenticatorFunc[U]) Authenticate(r *http.Request) (U, error) { return f(r) }

// Method says how a request was authenticated; see [MethodFrom].
type Method string

// The methods of the kit's own authenticators. A custom [Authenticator]
// reports [MethodCustom].
const (
	MethodBearer  Method = "bearer"  // a JWT access token, see [NewJWT]
	MethodSession Method = "session" // a server-side session, see [NewSession]
	MethodCustom  Method = "custom"  // any other Authenticator
)

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
//
// Any panics if auths is empty or holds a nil Authenticator, at construction,
// never at request time.
func Any[U any](auths ...Authenticator[U]) Authenticator[U] {
	if len(auths) == 0 {
		panic("authkit: Any needs at least one Authenticator")
	}
	for i, a := range auths {
		if a == nil {
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

func (as anyOf[U]) wrapHandler(next http.Handler) http.Handler {
	for i := len(as) - 1; i >= 0; i-- {
		if w, ok := as[i].(wrapper); ok {
			next = w.wrapHandler(next)
		}
	}
	return next
}

// Option configures [Require] and [Optional].
type Option func(*guardConfig)

type guardConfig struct {
	errorHandler ErrorHandler
	realm        string
}

// WithErrorHandler sets the handler that answers refused and failed requests.
// Default: [DefaultErrorHandler].
func WithErrorHandler(h ErrorHandler) Option {
	return func(c *guardConfig) { c.errorHandler = h }
}

// WithRealm sets the realm named in WWW-Authenticate challenges. It must be
// non-empty printable ASCII without '"' or '\'; Require and Optional panic
// at construction otherwise. Default: "authkit".
func WithRealm(realm string) Option {
	return func(c *guardConfig) { c.realm = realm }
}

func newGuardConfig(opts []Option) guardConfig {
	c := guardConfig{errorHandler: DefaultErrorHandler, realm: defaultRealm}
	for _, o := range opts {
		o(&c)
	}
	if c.errorHandler == nil {
		panic("authkit: WithErrorHandler(nil)")
	}
	if !validRealm(c.realm) {
		panic(fmt.Sprintf("authkit: WithRealm(%q): a realm must be printable ASCII without quotes or backslashes", c.realm))
	}
	return c
}

// Require returns middleware that lets a request through only when a
// authenticates it, with the user in the request context (see [UserFrom]).
// Otherwise the error handler answers (default [DefaultErrorHandler]: 401
// without or with a refused credential, 400 for a malformed request, 500 when
// a store or callback failed) and the wrapped handler is not called.
//
// Require panics at construction if a is nil or an option is invalid. The
// middleware is safe for concurrent use.
func Require[U any](a Authenticator[U], opts ...Option) func(http.Handler) http.Handler {
	return guard(a, false, opts)
}

// Optional returns middleware like [Require], except that a request that
// carries no credentials at all goes through anonymously ([UserFrom] reports
// false). A request that presents credentials which are refused is still
// refused: an invalid token never degrades into an anonymous request.
func Optional[U any](a Authenticator[U], opts ...Option) func(http.Handler) http.Handler {
	return guard(a, true, opts)
}

func guard[U any](a Authenticator[U], optional bool, opts []Option) func(http.Handler) http.Handler {
	if a == nil {
		panic("authkit: nil Authenticator")
	}
	cfg := newGuardConfig(opts)
	return func(next http.Handler) http.Handler {
		var h http.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			u, claims, method, err := identify(a, r)
			if err != nil {
				if optional && errors.Is(err, ErrNoCredentials) {
					next.ServeHTTP(w, r)
					return
				}
				if cfg.realm != defaultRealm {
					r = r.WithContext(context.WithValue(r.Context(), realmKey{}, cfg.realm))
				}
				cfg.errorHandler(w, r, err)
				return
			}
			next.ServeHTTP(w, r.WithContext(withIdentity(r.Context(), &identity{user: u, claims: claims, method: method})))
		})
		if wr, ok := a.(wrapper); ok {
			h = wr.wrapHandler(h)
		}
		return h
	}
}

type identityKey struct{}

type identity struct {
	user   any
	claims *Claims
	method Method
}

func withIdentity(ctx context.Context, id *identity) context.Context {
	return context.WithValue(ctx, identityKey{}, id)
}

func identityFrom(ctx context.Context) *identity {
	id, _ := ctx.Value(identityKey{}).(*identity)
	return id
}

// UserFrom returns the user that [Require] or [Optional] put in ctx, and
// whether there is one. U must be exactly the type the authenticator returns:
// a user stored as *User is not found by UserFrom[User].
//
// Sessions and bearer tokens store the user under the same key, so a handler
// does not need to know how the request was authenticated.
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
	return withIdentity(ctx, &identity{user: u, method: MethodCustom})
}

// ClaimsFrom returns the verified claims of the access token that
// authenticated the request, if a bearer token did. The claims are shared:
// treat them as read-only.
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
