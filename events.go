package authkit

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"sync"
	"time"
)

// This file is the kit's event stream: the Event every decision is reported
// as, the one hook option that receives them, the one unexported emitter, and
// the log/slog adapter.

// EventType names what an [Event] reports. The values are stable: match on
// them, use them as metric labels.
type EventType string

// The event types, with who emits them and the fields they set (besides Type).
const (
	// EventAuthenticated: [Require] or [Optional] let a request through with
	// a user. Method, Path, Duration (of the authentication), and for a
	// bearer token Issuer and UserID (its verified "sub").
	EventAuthenticated EventType = "authenticated"
	// EventRefused: a request was refused: by [Require] and [Optional], by
	// [Session.LoadAndSave], by the [Issuer]'s endpoints (Method
	// [MethodRefresh]). Reason, Method, Path, Duration.
	EventRefused EventType = "refused"
	// EventFailed: as EventRefused, but the kit could not decide: a store or
	// callback failed (500), or did not answer in time (Reason
	// [ErrStoreUnavailable], 503). Err is the failure.
	EventFailed EventType = "failed"

	EventSessionLogin   EventType = "session.login"   // [Session.Login]: UserID
	EventSessionLogout  EventType = "session.logout"  // [Session.Logout]: UserID
	EventSessionTimeout EventType = "session.timeout" // idle or absolute timeout; the session was destroyed: UserID, Reason [ErrTokenExpired]
	// EventSessionRevoked: a session below the user's version (Reason
	// [ErrTokenRevoked]) or of an unknown user ([ErrUnknownUser]) was
	// destroyed: UserID.
	EventSessionRevoked EventType = "session.revoked"

	EventRefreshRotated EventType = "refresh.rotated"        // a refresh (or its retry) issued a new pair: Issuer, UserID
	EventRefreshReused  EventType = "refresh.reused"         // a rotated refresh token came back (RFC 9700 §4.14.2): Issuer, UserID, Reason [ErrTokenRevoked]
	EventFamilyRevoked  EventType = "refresh.family_revoked" // a refresh family was revoked, after reuse or by [Issuer.Revoke]: Issuer, UserID (after reuse)
	EventVersionBumped  EventType = "version.bumped"         // [VersionCache.Bump] succeeded: UserID
	// EventVersionNotified: a bump or removal, made through any process's
	// PostgreSQL [Store] on the same table, reached this Store's listener,
	// which made the version caches forget the user: UserID, Duration (the
	// lag, from the bump's statement by the database's clock to the receipt
	// by this process's: skew between the two clocks adds to it; never
	// negative; 0 when the bump came from an older version of the kit).
	EventVersionNotified EventType = "version.notified"

	EventKeysFetched     EventType = "keys.fetched"      // a JWK Set was fetched and is in use: Issuer
	EventKeysFetchFailed EventType = "keys.fetch_failed" // a JWK Set or discovery fetch failed; the last good keys stay: Issuer, Err
	EventKeysRefetch     EventType = "keys.refetch"      // a token's unknown kid made the kit refetch the JWK Set: Issuer, Duration; on the context of the request that started it

	EventCacheHit EventType = "cache.hit" // the verified-token cache knew the token: Issuer
	// EventCacheMiss: the verified-token cache did not know the token, which
	// was then verified (signature, claims, keys): Issuer, Duration (of
	// that verification, refused or not). With the cache off
	// ([WithTokenCacheSize](0)) there is no cache event.
	EventCacheMiss EventType = "cache.miss"

	// EventStoreCall: the kit's PostgreSQL [Store] answered one call (a
	// statement, or two under one store timeout), emitted as it ends, on the
	// caller's context (a span of the caller's encloses it): Op, Duration,
	// Err when it failed (finding nothing is no failure).
	EventStoreCall EventType = "store.call"
)

// Method says how a request was authenticated; see [MethodFrom].
type Method string

// The methods of the kit's own authenticators. A custom [Authenticator]
// reports [MethodCustom].
const (
	MethodBearer  Method = "bearer"  // a JWT access token, see [NewJWT]
	MethodDPoP    Method = "dpop"    // a DPoP-bound JWT access token with its proof, see [WithDPoP]
	MethodSession Method = "session" // a server-side session, see [NewSession]
	MethodCustom  Method = "custom"  // any other Authenticator
	MethodRefresh Method = "refresh" // the Issuer's endpoints (events only: [Event.Method])
)

// An Event is one decision of the kit; see [WithEvents]. It carries no
// credential: no token, cookie, secret, signature or refresh-token ID, and no
// claim of a token that did not verify. Fields an event type does not set are
// zero.
type Event struct {
	Type EventType
	// Reason is the package's sentinel error that classifies a refusal
	// (compare with ==: [ErrTokenExpired], [ErrInvalidToken],
	// [ErrCrossOrigin]…), the most specific one that applies; nil otherwise.
	// [Event.ReasonName] is its stable label.
	Reason error
	Method Method
	Issuer string // the verified issuer (never the unverified "iss" of a refused token)
	UserID string // only from a verified token, the session or the store
	Path   string // the request's URL path, for events of a request
	// Duration is how long the decision took: authentication (from reading
	// the credentials to the user), a key refetch, a token's verification
	// (EventCacheMiss), a store call, a notification's lag.
	Duration time.Duration
	// Op names the store call of an EventStoreCall, as "what.verb":
	// "version.lookup", "version.bump", "user.add", "user.remove",
	// "family.create", "family.rotate", "family.revoke", "family.reuse",
	// "session.find", "session.insert", "session.update",
	// "session.commit", "session.delete", "key.read" (the session cookie's
	// and the DPoP nonces' secrets), "device.insert", "device.list",
	// "device.end", "dpop.record", "cleanup.delete". Stable: use them as
	// labels.
	Op string
	// Err is the failure of an EventFailed or EventKeysFetchFailed: a
	// store's, a callback's or the network's error, as the default error
	// handler logs it.
	Err error
}

// eventHook is the hook of WithEvents; nil: none. Every event goes through
// its emit, so that without a hook an event costs a nil check.
type eventHook func(context.Context, Event)

func (h eventHook) emit(ctx context.Context, e Event) {
	if h != nil {
		h(ctx, e)
	}
}

// refused emits the refusal (or failure) err of r by method m, which took
// since start (zero: not measured).
func (h eventHook) refused(r *http.Request, m Method, err error, start time.Time) {
	if h == nil {
		return
	}
	e := Event{Type: EventRefused, Reason: reasonOf(err), Method: m, Path: r.URL.Path}
	if e.Reason == nil || e.Reason == ErrStoreUnavailable {
		e.Type, e.Err = EventFailed, err
	}
	if !start.IsZero() {
		e.Duration = time.Since(start)
	}
	h(r.Context(), e)
}

// authenticated emits the success of r by method m; claims are the verified
// token's (nil for another method).
func (h eventHook) authenticated(r *http.Request, m Method, claims *Claims, start time.Time) {
	e := Event{Type: EventAuthenticated, Method: m, Path: r.URL.Path, Duration: time.Since(start)}
	if claims != nil {
		e.Issuer, e.UserID = claims.Issuer, claims.Subject
	}
	h(r.Context(), e)
}

// sessionEnd is the event of a session that end destroyed for reason.
func sessionEnd(reason error, userID string) Event {
	e := Event{Type: EventSessionRevoked, Reason: reasonOf(reason), Method: MethodSession, UserID: userID}
	if e.Reason == ErrTokenExpired {
		e.Type = EventSessionTimeout
	}
	return e
}

// reasons are the sentinels an Event's Reason may be, most specific first,
// with their labels.
var reasons = [...]struct {
	err   error
	label string
}{
	{ErrStoreUnavailable, "store_unavailable"},
	{ErrTokenExpired, "expired"},
	{ErrTokenRevoked, "revoked"},
	{ErrUnknownUser, "unknown_user"},
	{ErrNotReady, "not_ready"},
	{ErrCrossOrigin, "cross_origin"},
	{ErrInsufficientScope, "insufficient_scope"},
	{ErrInvalidDPoPProof, "invalid_dpop_proof"},
	{ErrInvalidRequest, "invalid_request"},
	{ErrInvalidToken, "invalid_token"},
	{ErrNoCredentials, "no_credentials"},
}

// reasonOf returns the most specific sentinel err matches, or nil.
func reasonOf(err error) error {
	if err == nil {
		return nil
	}
	for _, r := range reasons {
		if errors.Is(err, r.err) {
			return r.err
		}
	}
	return nil
}

// ReasonName returns the stable label of e's Reason: "expired", "revoked",
// "invalid_token", "invalid_dpop_proof", "invalid_request", "no_credentials",
// "unknown_user", "cross_origin", "not_ready", "insufficient_scope",
// "store_unavailable";
// "error" for an EventFailed without one; "" when e has no reason.
func (e Event) ReasonName() string {
	for _, r := range reasons {
		if r.err == e.Reason {
			return r.label
		}
	}
	if e.Type == EventFailed {
		return "error"
	}
	return ""
}

// The log/slog adapter's rate limit: refusals are logged at most
// logRefusalsPerSecond a second on average, in bursts of logRefusalBurst.
const (
	logRefusalsPerSecond = 10
	logRefusalBurst      = 20
)

// LogEvents returns a [WithEvents] hook that logs each event as one line to
// l (nil: [slog.Default]), with its fields as attributes ("event", "reason",
// "method", "issuer", "user", "path", "op", "duration", "err"):
//
//   - EventFailed and EventKeysFetchFailed at error; EventRefreshReused at warn;
//   - EventRefused at info, at most 10 lines a second (bursts of 20): the
//     line after a pause says how many were dropped ("suppressed"), so that
//     a flood of bad tokens cannot flood the log;
//   - EventAuthenticated at the level authenticated (e.g. [slog.LevelDebug]
//     for a service, [slog.LevelInfo] for a demo); cache hits and misses and
//     store calls at debug; the rest at info.
//
// Events carry no credential, so neither does the log. Safe for concurrent use.
func LogEvents(l *slog.Logger, authenticated slog.Level) func(context.Context, Event) {
	return newEventLog(l, authenticated, time.Now).log
}

type eventLog struct {
	l             *slog.Logger
	authenticated slog.Level
	now           func() time.Time

	mu         sync.Mutex
	tokens     float64 // of the refusal bucket
	last       time.Time
	suppressed int
}

func newEventLog(l *slog.Logger, authenticated slog.Level, now func() time.Time) *eventLog {
	return &eventLog{l: l, authenticated: authenticated, now: now, tokens: logRefusalBurst}
}

func (el *eventLog) log(ctx context.Context, e Event) {
	level := slog.LevelInfo
	switch e.Type {
	case EventFailed, EventKeysFetchFailed:
		level = slog.LevelError
	case EventRefreshReused:
		level = slog.LevelWarn
	case EventAuthenticated:
		level = el.authenticated
	case EventCacheHit, EventCacheMiss, EventStoreCall:
		level = slog.LevelDebug
	}
	l := el.l
	if l == nil {
		l = slog.Default() // as it is now, not when LogEvents ran
	}
	if !l.Enabled(ctx, level) {
		return
	}
	attrs := make([]slog.Attr, 0, 10)
	attrs = append(attrs, slog.String("event", string(e.Type)))
	if e.Type == EventRefused {
		n, ok := el.allow()
		if !ok {
			return
		}
		if n > 0 {
			attrs = append(attrs, slog.Int("suppressed", n))
		}
	}
	for _, a := range [...]struct{ k, v string }{
		{"reason", e.ReasonName()}, {"method", string(e.Method)}, {"issuer", e.Issuer}, {"user", e.UserID}, {"path", e.Path}, {"op", e.Op},
	} {
		if a.v != "" {
			attrs = append(attrs, slog.String(a.k, a.v))
		}
	}
	if e.Duration != 0 {
		attrs = append(attrs, slog.Duration("duration", e.Duration))
	}
	if e.Err != nil {
		attrs = append(attrs, slog.String("err", e.Err.Error()))
	}
	l.LogAttrs(ctx, level, "authkit: "+string(e.Type), attrs...)
}

// allow takes a token from the refusal bucket; it returns how many refusals
// were dropped since the last one logged.
func (el *eventLog) allow() (suppressed int, ok bool) {
	el.mu.Lock()
	defer el.mu.Unlock()
	now := el.now()
	if !el.last.IsZero() {
		el.tokens = min(logRefusalBurst, el.tokens+now.Sub(el.last).Seconds()*logRefusalsPerSecond)
	}
	el.last = now
	if el.tokens < 1 {
		el.suppressed++
		return 0, false
	}
	el.tokens--
	n := el.suppressed
	el.suppressed = 0
	return n, true
}
