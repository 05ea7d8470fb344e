// Package authkitotel turns authkit's events ([authkit.WithEvents]) into
// OpenTelemetry metrics and spans. It is a module of its own, so that the
// core module does not depend on OpenTelemetry.
//
//	m, err := authkitotel.New(otel.GetMeterProvider(), authkitotel.WithTracerProvider(otel.GetTracerProvider()))
//	store, err := authkit.NewPostgresStore(db, authkit.WithEvents(m.Hook))
//	jwt, err := authkit.NewJWT(toUser, ..., authkit.WithEvents(m.Hook))
//	mw := authkit.Require(jwt, authkit.WithEvents(m.Hook))
//	m.ObserveJWT(jwt) // the cache gauges
//
// The instruments (meter [ScopeName]), every duration in seconds. The two
// counters are observable (cumulative, read at collection from an atomic
// count per label combination), so that a request costs an atomic add
// rather than a synchronous measurement; the histograms are the SDK's.
//
//   - authkit.decisions (counter): every authenticated, refused and failed
//     request, by outcome (the event type), reason ([authkit.Event.ReasonName]),
//     method and issuer (set only for verified tokens, so an attacker cannot
//     add label values);
//   - authkit.decision.duration (histogram): how long each decision of
//     [authkit.Require] and [authkit.Optional] took (reading the
//     credentials, verification, the version check, the user), by outcome
//     and method;
//   - authkit.verify.duration (histogram): each verification of a token the
//     token cache did not know (signature, claims, keys; refused or not), by
//     issuer (one the JWT is configured with). With the cache off
//     ([authkit.WithTokenCacheSize](0)) there is none: the decisions'
//     duration is then the verification's;
//   - authkit.store.duration (histogram): each call of the PostgreSQL
//     [authkit.Store] (the hook given to [authkit.NewPostgresStore]), by op
//     ([authkit.Event.Op]: "session.find", "version.lookup"…) and reason
//     (absent, "error", or "store_unavailable" past its timeout);
//   - authkit.version.notification.lag (histogram): for each bump made by any
//     process on the same database, the time from its statement (by the
//     database's clock) to its receipt by this process's listener;
//   - authkit.events (counter): every other event (sessions, refresh, version
//     bumps and notifications, keys, the token cache), by type, reason and
//     issuer;
//   - gauges of what the observed objects hold ([Metrics.ObserveJWT],
//     [Metrics.ObserveVersionCache], summed over them):
//     authkit.token_cache.entries, authkit.token_cache.size (bytes, as
//     counted against the cache's bound), authkit.dpop.replay_cache.entries,
//     authkit.version_cache.entries, and authkit.token_cache.hit_ratio (hits
//     over hits and misses since [New]; over a window, divide the rate of
//     authkit.events cache.hit by that of cache.hit and cache.miss).
//
// With [WithTracerProvider], each store call, token verification (on a
// cache miss) and key refetch (for an unknown kid) made for a request is a
// span, child of the span in the request's context: "authkit.store."+op
// (client), "authkit.verify" (internal), "authkit.keys.refetch" (client),
// with the call's own start and end. A call outside any span (the
// listener's, a background key fetch) makes none. A failed call's span has
// status Error, described by the reason's label, never the error's text.
package authkitotel

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/authkit-go/authkit"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"
)

// ScopeName is the instrumentation scope of the instruments and the tracer.
const ScopeName = "github.com/authkit-go/authkit"

// An Option configures [New].
type Option func(*config)

type config struct {
	tp trace.TracerProvider
}

// WithTracerProvider makes [Metrics.Hook] record spans of the store calls,
// token verifications and key refetches made for a request, through tp's
// tracer [ScopeName]. Default: no spans.
func WithTracerProvider(tp trace.TracerProvider) Option {
	return func(c *config) { c.tp = tp }
}

// Metrics records authkit events as OpenTelemetry measurements and spans.
// Its methods are safe for concurrent use.
type Metrics struct {
	decisions metric.Int64ObservableCounter
	duration  metric.Float64Histogram
	verify    metric.Float64Histogram
	store     metric.Float64Histogram
	lag       metric.Float64Histogram
	events    metric.Int64ObservableCounter
	tracer    trace.Tracer // nil: no spans

	hits, misses atomic.Int64 // of the token cache, for the hit ratio

	// series holds each label combination's series, made once: read
	// without a lock, replaced whole (under mu) when a combination is new.
	series   atomic.Pointer[map[labels]*series]
	mu       sync.Mutex
	overflow [2]*series // past maxLabelSets: the decisions' and the other events' counts
	// last holds the series each call site used last, checked before the
	// map: traffic repeats its label combinations (see recent).
	last [3]atomic.Pointer[series]

	observed sync.Mutex
	jwts     []cacheSizer
	versions []lener
}

type cacheSizer interface {
	CacheSize() (tokens, bytes, proofs int)
}

type lener interface{ Len() int }

// A series is one label combination: its count, for the two counters,
// which are observed from it at collection (a request costs an atomic add,
// not a synchronous measurement), and its attribute set as options made
// once (a slice made afresh for each measurement would cost an allocation).
type series struct {
	labels   labels
	count    atomic.Int64
	decision bool // counted by authkit.decisions, else by authkit.events
	observe  metric.ObserveOption
	record   []metric.RecordOption
	span     []trace.SpanStartOption // the span's attributes and kind
}

// labels is what an event's attributes are made of. Every field has few
// values: the event types, the sentinels, the methods, the configured
// issuers, the store's ops.
type labels struct {
	typ    authkit.EventType
	reason string
	method authkit.Method
	issuer string
	op     string
}

// maxLabelSets bounds the label combinations kept; beyond it an event is
// counted in an overflow series (attribute otel.metric.overflow=true, as
// the SDK's cardinality limit does; the SDK's own, 2000 per instrument by
// default, comes first) and its durations are recorded without attributes.
// The label space is small: this never happens with the kit's own events.
const maxLabelSets = 4096

// durationBuckets suit the kit's durations, from a cache hit (a
// microsecond) to a store at its timeout (5 s).
var durationBuckets = metric.WithExplicitBucketBoundaries(1e-6, 2.5e-6, 5e-6, 1e-5, 2.5e-5, 5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3, 5e-3, 0.01, 0.05, 0.1, 0.5, 1, 5)

// New creates the instruments on mp's meter [ScopeName].
func New(mp metric.MeterProvider, opts ...Option) (*Metrics, error) {
	var cfg config
	for _, o := range opts {
		o(&cfg)
	}
	meter := mp.Meter(ScopeName)
	m := &Metrics{}
	m.series.Store(&map[labels]*series{})
	if cfg.tp != nil {
		m.tracer = cfg.tp.Tracer(ScopeName)
	}
	var errs []error
	counter := func(name, desc, unit string) metric.Int64ObservableCounter {
		c, err := meter.Int64ObservableCounter(name, metric.WithDescription(desc), metric.WithUnit(unit))
		errs = append(errs, err)
		return c
	}
	histogram := func(name, desc string) metric.Float64Histogram {
		h, err := meter.Float64Histogram(name, metric.WithDescription(desc), metric.WithUnit("s"), durationBuckets)
		errs = append(errs, err)
		return h
	}
	m.decisions = counter("authkit.decisions", "Requests authkit authenticated, refused or failed to decide.", "{request}")
	m.duration = histogram("authkit.decision.duration", "Time authkit took to authenticate or refuse a request.")
	m.verify = histogram("authkit.verify.duration", "Time authkit took to verify a token its cache did not know.")
	m.store = histogram("authkit.store.duration", "Time a call of authkit's PostgreSQL store took.")
	m.lag = histogram("authkit.version.notification.lag", "Time from a version bump's statement to its notification's receipt here.")
	m.events = counter("authkit.events",
		"authkit events other than decisions: sessions, refresh tokens, versions, keys, the token cache.", "{event}")
	gauge := func(name, desc, unit string) metric.Int64ObservableGauge {
		g, err := meter.Int64ObservableGauge(name, metric.WithDescription(desc), metric.WithUnit(unit))
		errs = append(errs, err)
		return g
	}
	tokens := gauge("authkit.token_cache.entries", "Tokens in authkit's verified-token caches.", "{token}")
	bytes := gauge("authkit.token_cache.size", "Bytes authkit's verified-token caches count against their bound.", "By")
	proofs := gauge("authkit.dpop.replay_cache.entries", "DPoP proofs authkit remembers against replay.", "{proof}")
	users := gauge("authkit.version_cache.entries", "Users whose token version authkit's version caches hold.", "{user}")
	ratio, err := meter.Float64ObservableGauge("authkit.token_cache.hit_ratio",
		metric.WithDescription("Token cache hits over hits and misses since the start."), metric.WithUnit("1"))
	errs = append(errs, err)
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	overflow := metric.WithAttributeSet(attribute.NewSet(attribute.Bool("otel.metric.overflow", true)))
	m.overflow = [2]*series{{decision: true, observe: overflow}, {observe: overflow}}
	if _, err := meter.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		for _, s := range *m.series.Load() {
			s.observeCount(o, m)
		}
		for _, s := range m.overflow {
			s.observeCount(o, m)
		}
		m.observed.Lock()
		defer m.observed.Unlock()
		if len(m.jwts) > 0 {
			var t, b, p int
			for _, j := range m.jwts {
				jt, jb, jp := j.CacheSize()
				t, b, p = t+jt, b+jb, p+jp
			}
			o.ObserveInt64(tokens, int64(t))
			o.ObserveInt64(bytes, int64(b))
			o.ObserveInt64(proofs, int64(p))
		}
		if len(m.versions) > 0 {
			n := 0
			for _, c := range m.versions {
				n += c.Len()
			}
			o.ObserveInt64(users, int64(n))
		}
		if h, ms := m.hits.Load(), m.misses.Load(); h+ms > 0 {
			o.ObserveFloat64(ratio, float64(h)/float64(h+ms))
		}
		return nil
	}, m.decisions, m.events, tokens, bytes, proofs, users, ratio); err != nil {
		return nil, err
	}
	return m, nil
}

// observeCount reports s's count, if any, to its counter.
func (s *series) observeCount(o metric.Observer, m *Metrics) {
	n := s.count.Load()
	switch {
	case n == 0: // a series only recorded (a duration) or not yet counted
	case s.decision:
		o.ObserveInt64(m.decisions, n, s.observe)
	default:
		o.ObserveInt64(m.events, n, s.observe)
	}
}

// ObserveJWT adds j's caches (see [authkit.JWT.CacheSize]) to the gauges.
func (m *Metrics) ObserveJWT(j interface {
	CacheSize() (tokens, bytes, proofs int)
}) {
	m.observed.Lock()
	m.jwts = append(m.jwts, j)
	m.observed.Unlock()
}

// ObserveVersionCache adds c (see [authkit.VersionCache.Len]) to the gauge
// authkit.version_cache.entries.
func (m *Metrics) ObserveVersionCache(c *authkit.VersionCache) {
	m.observed.Lock()
	m.versions = append(m.versions, c)
	m.observed.Unlock()
}

// Hook is the [authkit.WithEvents] hook that records e.
func (m *Metrics) Hook(ctx context.Context, e authkit.Event) {
	switch e.Type {
	case authkit.EventAuthenticated, authkit.EventRefused, authkit.EventFailed:
		m.recent(0, labels{typ: e.Type, reason: e.ReasonName(), method: e.Method, issuer: e.Issuer}).count.Add(1)
		if e.Duration > 0 { // measured by Require and Optional
			m.duration.Record(ctx, e.Duration.Seconds(), m.recent(1, labels{typ: e.Type, method: e.Method}).record...)
		}
		return
	case authkit.EventStoreCall:
		l := labels{typ: e.Type, reason: failure(e.Err), op: e.Op}
		m.store.Record(ctx, e.Duration.Seconds(), m.set(l).record...)
		m.span(ctx, "authkit.store."+e.Op, e, l)
		return // counted by the histogram
	case authkit.EventCacheHit:
		m.hits.Add(1)
	case authkit.EventCacheMiss:
		m.misses.Add(1)
		if e.Duration > 0 {
			l := labels{typ: e.Type, issuer: e.Issuer}
			m.verify.Record(ctx, e.Duration.Seconds(), m.set(l).record...)
			m.span(ctx, "authkit.verify", e, l)
		}
	case authkit.EventKeysRefetch:
		m.span(ctx, "authkit.keys.refetch", e, labels{typ: e.Type, issuer: e.Issuer})
	case authkit.EventVersionNotified:
		m.lag.Record(ctx, e.Duration.Seconds())
	}
	m.recent(2, labels{typ: e.Type, reason: e.ReasonName(), issuer: e.Issuer}).count.Add(1)
}

// failure is the reason label of a store call's error: "" for none.
func failure(err error) string {
	switch {
	case err == nil:
		return ""
	case errors.Is(err, authkit.ErrStoreUnavailable):
		return "store_unavailable"
	}
	return "error"
}

// span records the call e reports, which has just ended, as a span named
// name, child of the span in ctx; none without a tracer or such a span.
func (m *Metrics) span(ctx context.Context, name string, e authkit.Event, l labels) {
	if m.tracer == nil || !trace.SpanContextFromContext(ctx).IsValid() {
		return
	}
	end := time.Now() // the event is emitted as the call ends
	s := m.set(l)
	_, span := m.tracer.Start(ctx, name, append(s.span[:len(s.span):len(s.span)], trace.WithTimestamp(end.Add(-e.Duration)))...)
	if l.reason != "" {
		span.SetStatus(codes.Error, l.reason)
	}
	span.End(trace.WithTimestamp(end))
}

// recent is set for the call site i of Hook: when l is the combination
// the site used last, it costs a comparison, not a map lookup.
func (m *Metrics) recent(i int, l labels) *series {
	if s := m.last[i].Load(); s != nil && s.labels == l {
		return s
	}
	s := m.set(l)
	if s.labels == l { // not an overflow series
		m.last[i].Store(s)
	}
	return s
}

// set returns the series of l, made once.
func (m *Metrics) set(l labels) *series {
	if s, ok := (*m.series.Load())[l]; ok {
		return s
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	old := *m.series.Load()
	if s, ok := old[l]; ok {
		return s
	}
	decision := l.typ == authkit.EventAuthenticated || l.typ == authkit.EventRefused || l.typ == authkit.EventFailed
	if len(old) >= maxLabelSets {
		if decision {
			return m.overflow[0]
		}
		return m.overflow[1]
	}
	kv := make([]attribute.KeyValue, 0, 5)
	kv = append(kv, attribute.String("authkit.outcome", string(l.typ)))
	if l.reason != "" {
		kv = append(kv, attribute.String("authkit.reason", l.reason))
	}
	if l.method != "" {
		kv = append(kv, attribute.String("authkit.method", string(l.method)))
	}
	if l.issuer != "" {
		kv = append(kv, attribute.String("authkit.issuer", l.issuer))
	}
	if l.op != "" {
		kv = append(kv, attribute.String("authkit.store.op", l.op))
	}
	set := attribute.NewSet(kv...)
	kind := trace.SpanKindClient // a store call, a key fetch
	if l.typ == authkit.EventCacheMiss {
		kind = trace.SpanKindInternal // the verification
	}
	s := &series{labels: l, decision: decision, observe: metric.WithAttributeSet(set),
		record: []metric.RecordOption{metric.WithAttributeSet(set)},
		span:   []trace.SpanStartOption{trace.WithAttributes(set.ToSlice()...), trace.WithSpanKind(kind)}}
	next := make(map[labels]*series, len(old)+1)
	for k, v := range old {
		next[k] = v
	}
	next[l] = s
	m.series.Store(&next)
	return s
}
