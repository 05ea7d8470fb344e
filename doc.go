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
//   - [Store] keeps sessions, refresh-token families and token versions, in
//     memory ([NewMemoryStore]) or PostgreSQL ([NewPostgresStore]);
//     [VersionCache] fronts its versions.
//
// Every constructor takes options of one type, [Option]; each option's doc
// names the constructors it applies to and its default.
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
