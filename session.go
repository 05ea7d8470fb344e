package authkit

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/alexedwards/scs/postgresstore"
	"github.com/alexedwards/scs/v2"
	"github.com/alexedwards/scs/v2/memstore"
)

// The session defaults (ASVS 4.0 §3.3.2, level 2).
const (
	defaultSessionIdleTimeout     = 30 * time.Minute
	defaultSessionAbsoluteTimeout = 12 * time.Hour
	defaultSessionCookieName      = "__Host-session"
)

// sessionConfig is what the options of NewSession set.
type sessionConfig struct {
	common
	idle, absolute, touch time.Duration
	remember              limits // WithRememberMe; zero: remembered sessions keep idle and absolute
	insecure, persistent  bool
	freshAtLogin          bool
	macKey                []byte // from WithSessionSecret; nil: the guarded store's key
}

// WithSessionIdleTimeout sets how long a session may go unused before the kit
// refuses and destroys it. Activity is recorded at most once per touch
// interval (see [WithSessionTouchInterval]), so a session ends after between
// d minus that interval and d of inactivity. d must be positive. Default:
// 30 minutes.
func WithSessionIdleTimeout(d time.Duration) Option {
	return singleOption("WithSessionIdleTimeout", d, forSession, func(c *sessionConfig) error {
		if d <= 0 {
			return fmt.Errorf("WithSessionIdleTimeout(%v): must be positive", d)
		}
		c.idle = d
		return nil
	})
}

// WithSessionAbsoluteTimeout sets how long a session lives after login,
// however busy it is; the kit measures it from the login time it stores in
// the session, because scs restarts its own lifetime whenever the token is
// renewed. Logging in again starts a new lifetime. d must be positive.
// Default: 12 hours.
func WithSessionAbsoluteTimeout(d time.Duration) Option {
	return singleOption("WithSessionAbsoluteTimeout", d, forSession, func(c *sessionConfig) error {
		if d <= 0 {
			return fmt.Errorf("WithSessionAbsoluteTimeout(%v): must be positive", d)
		}
		c.absolute = d
		return nil
	})
}

// limits are a session's idle and absolute timeouts.
type limits struct{ idle, absolute time.Duration }

// WithRememberMe gives a remembered session its own idle and absolute
// timeouts (e.g. 30 days each) in place of [WithSessionIdleTimeout] and
// [WithSessionAbsoluteTimeout]. A session is remembered when the program
// calls the manager's RememberMe(ctx, true) before [Session.Login] (on the
// login form's "Remember me" box, say): Login keeps the choice, fixes the
// limits for the session's life, and the cookie persists (Expires and
// Max-Age, up to the session's end) while the other sessions' cookies die
// with the browser. RememberMe after Login persists the cookie under the
// ordinary limits. Both must be positive and at least the touch interval
// allows. Default: no remembered limits (a persistent cookie keeps the
// ordinary ones, 30 minutes idle and 12 hours in all).
func WithRememberMe(idle, absolute time.Duration) Option {
	return singleOption("WithRememberMe", fmt.Sprintf("%v, %v", idle, absolute), forSession, func(c *sessionConfig) error {
		if idle <= 0 || absolute <= 0 {
			return fmt.Errorf("WithRememberMe(%v, %v): both must be positive", idle, absolute)
		}
		c.remember = limits{idle, absolute}
		return nil
	})
}

// limits returns the session's timeouts: remembered or ordinary.
func (s *Session[U]) limits(ctx context.Context) limits {
	if s.cfg.remember.idle > 0 && s.sm.GetBool(ctx, sessionRememberKey) {
		return s.cfg.remember
	}
	return limits{s.cfg.idle, s.cfg.absolute}
}

// WithSessionTouchInterval sets how often the idle bookkeeping writes a busy
// session back to the store. In between, an unmodified session costs one store
// read per request and no write. d must be positive and shorter than the idle
// timeout. Default: a tenth of the idle timeout, at most one minute.
func WithSessionTouchInterval(d time.Duration) Option {
	return singleOption("WithSessionTouchInterval", d, forSession, func(c *sessionConfig) error {
		if d <= 0 {
			return fmt.Errorf("WithSessionTouchInterval(%v): must be positive", d)
		}
		c.touch = d
		return nil
	})
}

// WithInsecureSessionCookie lets [NewSession] accept a session cookie without
// the Secure attribute, for development over plain HTTP only: the cookie then
// travels in the clear. Such a cookie cannot carry the __Host- prefix (browsers
// refuse it), so rename it too, e.g. sm.Cookie.Name = "session". Default: the
// Secure attribute and the __Host- prefix are required.
func WithInsecureSessionCookie() Option {
	return singleOption("WithInsecureSessionCookie", "", forSession, func(c *sessionConfig) error {
		c.insecure = true
		return nil
	})
}

// WithPersistentSessionCookie lets [NewSession] accept a manager whose
// Cookie.Persist is true, so that every session cookie carries Expires and
// Max-Age and survives a browser restart. Default: Persist must be false and
// the cookie dies with the browser session; to persist one session only
// ("remember me"), call the manager's RememberMe(ctx, true) before
// [Session.Login] (see [WithRememberMe] for its own limits).
func WithPersistentSessionCookie() Option {
	return singleOption("WithPersistentSessionCookie", "", forSession, func(c *sessionConfig) error {
		c.persistent = true
		return nil
	})
}

// WithFreshSessionAtLogin makes [Session.Login] drop every value the session
// held before, as well as renewing its token, so that nothing put into an
// anonymous session (a return_to URL planted by an attacker, say) outlives
// the login. Copy out what must survive (a cart) before calling Login, and
// put it back after. Default: Login keeps the values of an anonymous session
// or of the same user's, and drops them only when another user logs in.
func WithFreshSessionAtLogin() Option {
	return singleOption("WithFreshSessionAtLogin", "", forSession, func(c *sessionConfig) error {
		c.freshAtLogin = true
		return nil
	})
}

// WithSessionSecret sets the secret from which [NewSession] derives the key
// of the session cookie's MAC, which lets the kit refuse a forged cookie
// without a store query. Give every instance of the application the same
// secret, at least 32 random bytes; the kit derives its own key from it, so
// the secret may also serve other purposes. Changing it invalidates every
// session cookie. Default: with the kit's PostgreSQL store a random secret
// kept in the database (shared by every process on it), otherwise one
// generated in the process (correct for a single process only).
func WithSessionSecret(secret []byte) Option {
	return singleOption("WithSessionSecret", "secret", forSession, func(c *sessionConfig) error {
		if len(secret) < minSessionSecret {
			return fmt.Errorf("WithSessionSecret: %d bytes, want at least %d", len(secret), minSessionSecret)
		}
		if isLowEntropy(secret) {
			return errors.New("WithSessionSecret: the secret is one repeated byte: use random bytes")
		}
		c.macKey = deriveSessionKey(secret)
		return nil
	})
}

// NewSessionManager returns an scs session manager with the kit's secure
// defaults, ready for [NewSession]; store is where sessions live (nil: a
// memstore with its cleanup goroutine; for PostgreSQL, [Store.Sessions]). The
// program may change the defaults before calling NewSession, which checks
// them: Cookie "__Host-session", Secure, HttpOnly, SameSite=Lax, Path=/, no
// Domain, not persistent; HashTokenInStore true; IdleTimeout 0 (the kit keeps
// the idle timeout, writing at most once per touch interval); ErrorFunc
// [DefaultErrorHandler], which the kit does not call (its loader answers
// store failures through [NewSession]'s error handler, see
// [Session.LoadAndSave]); Lifetime 24 hours, which only bounds anonymous
// sessions; Codec the kit's own, which writes the kit's keys and values of
// the common types (string, []byte, bool, int, int64, int32, float64,
// time.Time) compactly and the rest through gob (a custom type still needs
// gob.Register), and reads the sessions scs's GobCodec wrote, so an existing
// store keeps working. GobCodec cannot read what it writes: a plain scs
// manager sharing the store, or a program going back to one, takes this
// manager's Codec. store is wrapped so that a commit never re-creates a
// session deleted meanwhile; do not replace sm.Store afterwards.
func NewSessionManager(store scs.Store) *scs.SessionManager {
	sm := scs.New()
	if store == nil {
		store = memstore.New()
	}
	sm.Store = newGuardedStore(store)
	sm.Cookie = scs.SessionCookie{
		Name:     defaultSessionCookieName,
		HttpOnly: true,
		Path:     "/",
		SameSite: http.SameSiteLaxMode,
		Secure:   true,
	}
	sm.HashTokenInStore = true
	sm.IdleTimeout = 0
	sm.ErrorFunc = DefaultErrorHandler
	sm.Codec = sessionCodec{}
	return sm
}

// Session authenticates requests by a server-side session kept by scs: the
// session cookie names a session in the manager's store, which holds the ID
// of the user who logged in. Build one with [NewSession]; use it with
// [Require], [Optional] and [Any]. The user goes under the same context key as
// a bearer token's; [MethodFrom] reports [MethodSession]. A Session is
// immutable and safe for concurrent use.
//
// The kit loads and saves the session itself: [Require] and [Optional] given
// a Session (alone or in [Any]) load it around the protected handler, and
// routes that call [Session.Login] or [Session.Logout] without them are
// wrapped with [Session.LoadAndSave] (nesting is harmless). Used where the kit
// did not load it, or under scs's own LoadAndSave, a request gets 500
// (logged), never scs's panic; so does one through a zero Session, not built
// by NewSession.
//
// A request without a genuine cookie costs no store access; with one, one read; the
// session is written back only when it changed or its recorded activity is
// older than the touch interval.
//
// Refusals: a session past its idle or absolute timeout, below the user's
// current token version, or whose user is [ErrUnknownUser] is destroyed and
// refused with an error matching [ErrInvalidToken] and [ErrNoCredentials]
// (Require: 401 and the cookie cleared; Optional: anonymous). The cookie sent
// twice is 400 ([ErrInvalidRequest]). The cookie carries a MAC of the scs
// token (see [WithSessionSecret]): a malformed, random or altered cookie is
// ignored without a store query, like a missing one. A state-changing request the session authenticates must pass
// the cross-origin check ([WithCrossOriginProtection]), else 403
// ([ErrCrossOrigin]). A logged-out session never comes back, not even from a
// request in flight, across processes sharing a PostgreSQL [Store]
// (sessionstore.go explains how).
type Session[U any] struct {
	sm       *scs.SessionManager
	g        *guardedStore
	loadUser func(context.Context, string) (U, error)
	cfg      sessionConfig
	key      func(context.Context) ([]byte, error) // macKey, bound once rather than per request
}

// NewSession returns a session authenticator over sm, which must come from
// [NewSessionManager]. loadUser turns the user ID stored at login into the
// program's user type, on every authenticated request; an error wrapping
// [ErrUnknownUser] refuses and destroys the session (401), any other is a
// failure (500). NewSession refuses, naming every problem, a manager whose
// cookie lacks Secure (unless [WithInsecureSessionCookie]), the __Host-
// prefix, HttpOnly or SameSite Lax/Strict, has another Path or a Domain, or
// persists (unless [WithPersistentSessionCookie]), with HashTokenInStore off,
// scs's IdleTimeout on, or a store it does not guard. It does not change sm;
// several Sessions may share one.
func NewSession[U any](sm *scs.SessionManager, loadUser func(ctx context.Context, userID string) (U, error), opts ...Option) (*Session[U], error) {
	if sm == nil {
		return nil, errors.New("authkit: NewSession: nil SessionManager")
	}
	if loadUser == nil {
		return nil, errors.New("authkit: NewSession: loadUser is nil")
	}
	cfg := sessionConfig{idle: defaultSessionIdleTimeout, absolute: defaultSessionAbsoluteTimeout}
	errs := []error{applyOptions(opts, forSession, &cfg)}
	if cfg.touch == 0 {
		cfg.touch = min(time.Minute, cfg.idle/10)
	}
	if cfg.touch >= cfg.idle {
		errs = append(errs, fmt.Errorf("touch interval %v must be shorter than the idle timeout %v", cfg.touch, cfg.idle))
	}
	if cfg.remember.idle > 0 && cfg.touch >= cfg.remember.idle {
		errs = append(errs, fmt.Errorf("touch interval %v must be shorter than the remembered idle timeout %v", cfg.touch, cfg.remember.idle))
	}
	if cfg.errorHandler == nil {
		cfg.errorHandler = DefaultErrorHandler
	}
	cfg.now = cfg.clock()
	errs = append(errs, checkManager(sm, &cfg)...)
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("authkit: NewSession: %w", err)
	}
	sess := &Session[U]{sm: sm, g: sm.Store.(*guardedStore), loadUser: loadUser, cfg: cfg}
	sess.key = sess.macKey
	return sess, nil
}

// checkManager lists what makes sm unsafe for the kit.
func checkManager(sm *scs.SessionManager, cfg *sessionConfig) []error {
	var errs []error
	if sm.Store == nil || sm.Codec == nil || sm.ErrorFunc == nil {
		return append(errs, errors.New("the SessionManager is not initialised: build it with NewSessionManager"))
	}
	g, ok := sm.Store.(*guardedStore)
	if !ok {
		return append(errs, fmt.Errorf("the Store is a bare %T: build the manager with NewSessionManager(store), which guards it against re-creating logged-out sessions", sm.Store))
	}
	if _, ok := g.inner.(*postgresstore.PostgresStore); ok {
		errs = append(errs, errors.New("the Store is a bare postgresstore, whose upsert re-inserts logged-out sessions: use PostgresStore.Sessions"))
	}
	c := sm.Cookie
	switch {
	case c.Name == "":
		errs = append(errs, errors.New("Cookie.Name is empty"))
	case !c.Secure && !cfg.insecure:
		errs = append(errs, errors.New("Cookie.Secure is false (WithInsecureSessionCookie allows it for plain-HTTP development)"))
	case !c.Secure && strings.HasPrefix(c.Name, "__Host-"):
		errs = append(errs, fmt.Errorf("Cookie.Name %q: browsers refuse a __Host- cookie without Secure", c.Name))
	case c.Secure && !strings.HasPrefix(c.Name, "__Host-"):
		errs = append(errs, fmt.Errorf("Cookie.Name %q lacks the __Host- prefix (e.g. %q)", c.Name, defaultSessionCookieName))
	}
	if !c.HttpOnly {
		errs = append(errs, errors.New("Cookie.HttpOnly is false"))
	}
	if c.SameSite != http.SameSiteLaxMode && c.SameSite != http.SameSiteStrictMode {
		errs = append(errs, errors.New("Cookie.SameSite must be Lax or Strict"))
	}
	if c.Path != "/" {
		errs = append(errs, fmt.Errorf("Cookie.Path is %q, not \"/\"", c.Path))
	}
	if c.Domain != "" {
		errs = append(errs, fmt.Errorf("Cookie.Domain is %q: a session cookie must stay host-only", c.Domain))
	}
	if c.Persist && !cfg.persistent {
		errs = append(errs, errors.New("Cookie.Persist is true (scs's default): set it false, or pass WithPersistentSessionCookie"))
	}
	if !sm.HashTokenInStore {
		errs = append(errs, errors.New("HashTokenInStore is false: the store would hold usable tokens"))
	}
	if sm.IdleTimeout != 0 {
		errs = append(errs, errors.New("IdleTimeout is set, which writes the session on every request: use WithSessionIdleTimeout instead"))
	}
	return errs
}

// Authenticate returns the user of the request's session. See [Session] for
// what it refuses; it must run inside the kit's loading (see "Loading and
// ordering" on [Session]), which [Require] and [Optional] provide.
func (s *Session[U]) Authenticate(r *http.Request) (U, error) {
	u, _, _, err := s.identify(r)
	return u, err
}

func (s *Session[U]) identify(r *http.Request) (U, *Claims, Method, error) {
	var zero U
	if !s.built() {
		return zero, nil, MethodSession, errSessionNotBuilt
	}
	ctx := r.Context()
	st := s.g.state(ctx)
	if st == nil {
		return zero, nil, MethodSession, errSessionNotLoaded
	}
	if st.err != nil {
		return zero, nil, MethodSession, st.err
	}
	sm := s.sm
	userID := sm.GetString(ctx, sessionUserKey)
	if userID == "" {
		return zero, nil, MethodSession, ErrNoCredentials
	}
	if st.crossOrigin != nil {
		return zero, nil, MethodSession, st.crossOrigin
	}
	now := s.cfg.now()
	auth := time.Unix(0, sm.GetInt64(ctx, sessionAuthKey))
	seen := time.Unix(0, sm.GetInt64(ctx, sessionSeenKey))
	lim := s.limits(ctx)
	switch {
	case !now.Before(auth.Add(lim.absolute)):
		return zero, nil, MethodSession, s.end(ctx, expiredToken("session absolute timeout"))
	case !now.Before(seen.Add(lim.idle)):
		return zero, nil, MethodSession, s.end(ctx, expiredToken("session idle timeout"))
	}
	if s.cfg.versions != nil {
		if _, err := checkVersion(ctx, s.cfg.versions, userID, sm.GetInt64(ctx, sessionVersionKey)); err != nil {
			if errors.Is(err, ErrInvalidToken) {
				err = s.end(ctx, err)
			}
			return zero, nil, MethodSession, err
		}
	}
	u, err := s.loadUser(ctx, userID)
	if err != nil {
		if errors.Is(err, ErrUnknownUser) {
			err = s.end(ctx, invalidTokenCause("user", err))
		}
		return zero, nil, MethodSession, err
	}
	if now.Sub(seen) >= s.cfg.touch {
		sm.Put(ctx, sessionSeenKey, now.UnixNano())
		sm.SetDeadline(ctx, storeDeadline(now, auth, lim))
	}
	return u, nil, MethodSession, nil
}

// storeDeadline is the expiry scs gives the store row: the session's
// remaining life (until the idle or the absolute timeout, whichever comes
// first), counted from real time so that an injected clock cannot make the
// row vanish early.
func storeDeadline(now, auth time.Time, lim limits) time.Time {
	return time.Now().Add(min(auth.Add(lim.absolute).Sub(now), lim.idle))
}

// end destroys a refused session; the response clears the cookie.
func (s *Session[U]) end(ctx context.Context, reason error) error {
	s.cfg.events.emit(ctx, sessionEnd(reason, s.sm.GetString(ctx, sessionUserKey)))
	if err := s.sm.Destroy(ctx); err != nil {
		return fmt.Errorf("authkit: destroying a refused session: %w", err)
	}
	return &sessionEnded{reason}
}

// sessionEnded is a refusal after which the session no longer exists: it
// matches ErrNoCredentials as well as the reason, so Optional serves the
// request anonymously.
type sessionEnded struct{ reason error }

func (e *sessionEnded) Error() string   { return e.reason.Error() + " (session destroyed)" }
func (e *sessionEnded) Unwrap() []error { return []error{e.reason, ErrNoCredentials} }

// Login makes the session of the request in ctx belong to userID. It renews
// the session token first (session fixation: the old token is deleted and
// cannot come back), then stores the user ID, the login time and, with
// [WithVersionCheck], the user's current version; a session of another user
// loses its other values, and with [WithFreshSessionAtLogin] every session
// does (by default an anonymous session's values, e.g. a cart, survive). Call it again after a privilege change. The new
// cookie goes out, with Cache-Control: no-store, when the handler first
// writes. With a manager over [Store.Sessions], Login also records the
// session in the store's per-user index (one write), for [Store.Devices],
// [Store.EndDevice] and a bump's deletion of the user's sessions. A session
// the program asked the manager to remember (RememberMe(ctx, true) before
// Login) keeps [WithRememberMe]'s limits.
//
// ctx must come from a request the kit loaded (see [Session]). Login returns
// an error wrapping [ErrCrossOrigin] for a cross-origin request,
// [ErrInvalidRequest] for the cookie sent twice, [ErrInvalidToken] and
// [ErrUnknownUser] for an unknown user, or the lookup's or store's error; in
// every case the session is unchanged, but for a failed index write (after
// the token's renewal: the request ends anonymous).
func (s *Session[U]) Login(ctx context.Context, userID string) error {
	if userID == "" {
		return errors.New("authkit: Login: empty user ID")
	}
	if err := s.usable(ctx); err != nil {
		return err
	}
	var version int64
	if s.cfg.versions != nil {
		v, err := currentVersion(uncached(ctx), s.cfg.versions, userID)
		if err != nil {
			return fmt.Errorf("authkit: Login: %w", err)
		}
		version = v
	}
	sm := s.sm
	if err := sm.RenewToken(ctx); err != nil {
		return fmt.Errorf("authkit: Login: renewing the session token: %w", err)
	}
	remember := sm.GetBool(ctx, scsRememberKey)
	if prev := sm.GetString(ctx, sessionUserKey); s.cfg.freshAtLogin || prev != "" && prev != userID {
		_ = sm.Clear(ctx) // never fails
	}
	now := s.cfg.now()
	if remember { // the cookie persists, under WithRememberMe's limits
		sm.Put(ctx, scsRememberKey, true)
		sm.Put(ctx, sessionRememberKey, true)
	} else {
		sm.Remove(ctx, sessionRememberKey) // absent, not false: one value less to decode per request
	}
	sm.Put(ctx, sessionUserKey, userID)
	sm.Put(ctx, sessionAuthKey, now.UnixNano())
	sm.Put(ctx, sessionSeenKey, now.UnixNano())
	sm.Put(ctx, sessionVersionKey, version)
	deadline := storeDeadline(now, now, s.limits(ctx))
	sm.SetDeadline(ctx, deadline)
	if err := s.index(ctx, userID, now, deadline); err != nil {
		return fmt.Errorf("authkit: Login: %w", err)
	}
	s.cfg.events.emit(ctx, Event{Type: EventSessionLogin, Method: MethodSession, UserID: userID})
	return nil
}

// Logout ends the session of the request in ctx: it deletes it from the
// store, so that no request in flight brings it back, and the response
// expires the cookie. To end every session of a user, bump the version (see
// [WithVersionCheck], [Session.LogoutEverywhere]). Its errors are [Session.Login]'s, bar the lookup's.
func (s *Session[U]) Logout(ctx context.Context) error {
	if err := s.usable(ctx); err != nil {
		return err
	}
	s.cfg.events.emit(ctx, Event{Type: EventSessionLogout, Method: MethodSession, UserID: s.sm.GetString(ctx, sessionUserKey)})
	if err := s.sm.Destroy(ctx); err != nil {
		return fmt.Errorf("authkit: Logout: %w", err)
	}
	return nil
}

// index records the session just logged in in its Store's device index
// (devices.go), where the manager's store is a Store's.
func (s *Session[U]) index(ctx context.Context, userID string, now, deadline time.Time) error {
	idx, ok := s.g.inner.(deviceIndex)
	if !ok {
		return nil
	}
	id := newDeviceID()
	d := sessionDevice{id: id, userID: userID, storeKey: storeKeyOf(s.sm.Token(ctx)), created: now, expiry: deadline}
	if err := boundedErr(s.g, ctx, func(ctx context.Context) error { return idx.indexSession(ctx, d) }); err != nil {
		return fmt.Errorf("recording the session's device: %w", err)
	}
	s.sm.Put(ctx, sessionDeviceKey, id)
	return nil
}

// LogoutEverywhere ends every session and refresh-token family of the
// request's user, on every device, and this session: it bumps the user's
// version through the session's [Store] (see [Store.Bump]: the other
// sessions are deleted in storage, and every version cache over the store
// forgets the old version), then logs this session out ([Session.Logout]).
// It needs a manager over [Store.Sessions]; otherwise, and for an
// anonymous session, it returns an error and changes nothing. Its other
// errors are [Session.Logout]'s and the bump's.
func (s *Session[U]) LogoutEverywhere(ctx context.Context) error {
	if err := s.usable(ctx); err != nil {
		return err
	}
	idx, ok := s.g.inner.(deviceIndex)
	if !ok {
		return errors.New("authkit: LogoutEverywhere: the session manager's store is not a Store's: bump the version instead")
	}
	userID := s.sm.GetString(ctx, sessionUserKey)
	if userID == "" {
		return fmt.Errorf("authkit: LogoutEverywhere: %w", ErrNoCredentials)
	}
	if _, err := bounded(s.g, ctx, func(ctx context.Context) (int64, error) { return idx.bump(ctx, userID) }); err != nil {
		return fmt.Errorf("authkit: LogoutEverywhere: %w", err)
	}
	return s.Logout(ctx)
}

// built reports whether s came from NewSession: a zero Session (or a nil
// one) fails closed with errSessionNotBuilt, never a panic.
func (s *Session[U]) built() bool { return s != nil && s.sm != nil && s.g != nil && s.loadUser != nil }

// errSessionNotBuilt is the failure of a Session not made by NewSession (500).
var errSessionNotBuilt = errors.New("authkit: Session not built by NewSession")

// usable reports why Login or Logout may not change the request's session.
func (s *Session[U]) usable(ctx context.Context) error {
	if !s.built() {
		return errSessionNotBuilt
	}
	st := s.g.state(ctx)
	switch {
	case st == nil:
		return errSessionNotLoaded
	case st.err != nil:
		return st.err
	case st.crossOrigin != nil:
		return st.crossOrigin
	}
	return nil
}

// LoadAndSave is middleware that loads the session around next and saves it
// after, in place of scs's LoadAndSave (which must not be used with the kit).
// Wrap with it the routes that call [Session.Login] or [Session.Logout]
// without [Require] or [Optional], e.g. the login form's POST. It does not
// authenticate: next runs for anonymous requests too. A state-changing
// cross-origin request (403, login CSRF), the cookie sent twice (400) and a
// store failure (500, or 503 for [ErrStoreUnavailable]) are answered by the
// error handler ([WithErrorHandler], default [DefaultErrorHandler]), each
// after its event ([WithEvents]: EventRefused or EventFailed); so are the
// same failures of [Require] and [Optional] given the Session, which load
// it the same way. The manager's ErrorFunc is not used.
//
// Responses get Vary: Cookie, and Cache-Control: no-store when they set or
// clear the cookie. The session is saved when the handler first writes, or
// returns; if saving fails, the error handler answers and the handler's later
// writes are dropped. Nested in another loader of the same manager it only
// refuses.
func (s *Session[U]) LoadAndSave(next http.Handler) http.Handler {
	return s.load(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		st := s.g.state(r.Context())
		err := st.err
		if err == nil {
			err = st.crossOrigin
		}
		if err != nil {
			s.cfg.fail(w, r, err)
			return
		}
		next.ServeHTTP(w, r)
	}))
}

func (s *Session[U]) wrapHandler(next http.Handler) http.Handler { return s.load(next) }

// errForeignLoad is the state of a request whose session was loaded by
// scs's LoadAndSave: its commits bypass the kit, so nothing is trusted.
var errForeignLoad = fmt.Errorf("%w (found a session loaded by scs's LoadAndSave)", errSessionNotLoaded)

// load loads the session for next and saves it after, unless the kit
// already did for this request.
func (s *Session[U]) load(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !s.built() {
			DefaultErrorHandler(w, r, errSessionNotBuilt) // 500, logged
			return
		}
		ctx := r.Context()
		if s.g.state(ctx) != nil {
			next.ServeHTTP(w, r)
			return
		}
		w.Header().Add("Vary", "Cookie")
		l := new(sessionLoad)
		st := &l.st
		*st = loadState{crossOrigin: checkCrossOrigin(s.cfg.crossOrigin, r), timeout: s.cfg.timeout()}
		token := ""
		switch cs := r.CookiesNamed(s.sm.Cookie.Name); {
		case len(cs) > 1:
			st.err = invalidRequest("session cookie sent more than once")
		case len(cs) == 1 && len(cs[0].Value) == sessionCookieLen:
			key, err := s.macKey(ctx)
			if err != nil {
				s.cfg.fail(w, r, err)
				return
			}
			token = sessionCookieToken(key, cs[0].Value) // "" unless the MAC checks out
		}
		l.ctx = sessionCtx{Context: ctx, g: s.g, st: st}
		ctx = &l.ctx
		loaded, err := s.sm.Load(ctx, token)
		if err != nil {
			s.cfg.fail(w, r, err)
			return
		}
		st.sm, st.loaded = s.sm, loaded // for Store.Devices's Current (devices.go)
		if loaded == ctx {              // scs found its data already in ctx: someone else loaded it
			st.err = errForeignLoad
			next.ServeHTTP(w, r.WithContext(ctx))
			return
		}
		r = r.WithContext(loaded)
		l.sw = sessionWriter{ResponseWriter: w, r: r, sm: s.sm, st: st, key: s.key, cfg: &s.cfg}
		next.ServeHTTP(&l.sw, r)
		l.sw.save()
	})
}

// sessionLoad is what load keeps for one request, in one allocation: the
// request's state, the context carrying it, and the writer that saves it.
type sessionLoad struct {
	st  loadState
	ctx sessionCtx
	sw  sessionWriter
}

// fail answers a request the Session refused, or whose session it could not
// load or save: its event, then the error handler.
func (c *sessionConfig) fail(w http.ResponseWriter, r *http.Request, err error) {
	c.events.refused(r, MethodSession, err, time.Time{})
	c.errorHandler(w, r, err)
}

// macKey returns the key of the session cookie's MAC (sessioncookie.go).
func (s *Session[U]) macKey(ctx context.Context) ([]byte, error) {
	if s.cfg.macKey != nil {
		return s.cfg.macKey, nil
	}
	if k := s.g.keys.key.Load(); k != nil {
		return *k, nil
	}
	return bounded(s.g, ctx, func(ctx context.Context) ([]byte, error) { return s.g.keys.get(ctx, s.g.inner) })
}

// sessionWriter saves the session before the response header goes out, as
// scs's does, and adds Cache-Control: no-store when it sets the cookie. After
// a failed save (answered by the session's error handler) it drops what the
// handler writes, so that nothing contradicts the error.
type sessionWriter struct {
	http.ResponseWriter
	r      *http.Request
	sm     *scs.SessionManager
	st     *loadState
	key    func(context.Context) ([]byte, error) // the MAC key of the cookie
	cfg    *sessionConfig                        // the Session's: its error handler and events
	saved  bool
	failed bool
}

var errSessionSave = errors.New("authkit: the session could not be saved; response discarded")

// save commits the session once; it reports whether the response may go on.
func (w *sessionWriter) save() bool {
	if w.saved {
		return !w.failed
	}
	w.saved = true
	ctx := w.r.Context()
	switch w.sm.Status(ctx) {
	case scs.Modified:
		key, err := w.key(ctx)
		if err != nil {
			w.failed = true
			w.cfg.fail(w.ResponseWriter, w.r, err)
			return false
		}
		token, expiry, err := w.sm.Commit(ctx)
		if err != nil {
			w.failed = true
			w.cfg.fail(w.ResponseWriter, w.r, err)
			return false
		}
		if w.st.gone {
			// The session was deleted while this request ran (a logout, or
			// a login renewing the token in another request): the update
			// matched nothing, and the old cookie must not come back over
			// the one that request set.
			return true
		}
		w.sm.WriteSessionCookie(ctx, w.ResponseWriter, sessionCookieValue(key, token), expiry)
	case scs.Destroyed:
		w.sm.WriteSessionCookie(ctx, w.ResponseWriter, "", time.Time{})
	default:
		return true
	}
	w.Header().Set("Cache-Control", "no-store") // replaces scs's no-cache="Set-Cookie"
	return true
}

func (w *sessionWriter) WriteHeader(code int) {
	ok := !w.failed
	if code >= 200 { // an informational (1xx) header is sent before the session is final
		ok = w.save()
	}
	if ok {
		w.ResponseWriter.WriteHeader(code)
	}
}

func (w *sessionWriter) Write(b []byte) (int, error) {
	if !w.save() {
		return 0, errSessionSave
	}
	return w.ResponseWriter.Write(b)
}

// Flush saves the session first, so that a streamed response still carries
// its cookie.
func (w *sessionWriter) Flush() {
	if w.save() {
		_ = http.NewResponseController(w.ResponseWriter).Flush()
	}
}

// Hijack hands over the connection (for WebSockets); the session is still
// saved when the handler returns, but no cookie can be sent any more.
func (w *sessionWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	return http.NewResponseController(w.ResponseWriter).Hijack()
}

func (w *sessionWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
