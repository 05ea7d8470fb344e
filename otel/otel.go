// Package authkitotel turns authkit's events ([authkit.WithEvents]) into
// OpenTelemetry metrics. It is a module of its own, so that the core module
// does not depend on OpenTelemetry.
//
//	m, err := authkitotel.New(otel.GetMeterProvider())
//	jwt, err := authkit.NewJWT(toUser, ..., authkit.WithEvents(m.Hook))
//	mw := authkit.Require(jwt, authkit.WithEvents(m.Hook))
//
// The instruments (meter "github.com/authkit-go/authkit"):
//
//   - authkit.decisions (counter): every authenticated, refused and failed
//     request, by outcome (the event type), reason ([authkit.Event.ReasonName]),
//     method and issuer (set only for verified tokens, so an attacker cannot
//     add label values);
//   - authkit.decision.duration (histogram, seconds): how long each
//     decision of [authkit.Require] and [authkit.Optional] took (reading
//     the credentials, verification, the version check, the user), by
//     outcome and method;
//   - authkit.events (counter): every other event (sessions, refresh, version
//     bumps, keys, the token cache), by type, reason and issuer: the token
//     cache's hit ratio is cache.hit over cache.hit plus cache.miss.
package authkitotel

import (
	"context"
	"sync"

	"github.com/authkit-go/authkit"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// ScopeName is the instrumentation scope of the instruments.
const ScopeName = "github.com/authkit-go/authkit"

// Metrics records authkit events as OpenTelemetry measurements. Its Hook is
// safe for concurrent use.
type Metrics struct {
	decisions metric.Int64Counter
	duration  metric.Float64Histogram
	events    metric.Int64Counter

	mu   sync.RWMutex
	sets map[labels]options // the options of each label combination, made once
}

// options carry an attribute set, as slices made once: passing a slice
// made afresh for each measurement would cost an allocation.
type options struct {
	add    []metric.AddOption
	record []metric.RecordOption
}

// labels is what an event's attributes are made of. Every field has few
// values: the event types, the sentinels, the methods, the configured issuers.
type labels struct {
	typ    authkit.EventType
	reason string
	method authkit.Method
	issuer string
}

// maxLabelSets bounds the attribute sets kept; beyond it an event's set is
// built afresh each time (the label space is small: this never happens with
// the kit's own events).
const maxLabelSets = 4096

// New creates the instruments on mp's meter [ScopeName].
func New(mp metric.MeterProvider) (*Metrics, error) {
	m := mp.Meter(ScopeName)
	decisions, err := m.Int64Counter("authkit.decisions",
		metric.WithDescription("Requests authkit authenticated, refused or failed to decide."), metric.WithUnit("{request}"))
	if err != nil {
		return nil, err
	}
	duration, err := m.Float64Histogram("authkit.decision.duration",
		metric.WithDescription("Time authkit took to authenticate or refuse a request."), metric.WithUnit("s"),
		metric.WithExplicitBucketBoundaries(1e-6, 2.5e-6, 5e-6, 1e-5, 2.5e-5, 5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3, 5e-3, 0.01, 0.05, 0.1, 0.5, 1, 5))
	if err != nil {
		return nil, err
	}
	events, err := m.Int64Counter("authkit.events",
		metric.WithDescription("authkit events other than decisions: sessions, refresh tokens, versions, keys, the token cache."),
		metric.WithUnit("{event}"))
	if err != nil {
		return nil, err
	}
	return &Metrics{decisions: decisions, duration: duration, events: events, sets: make(map[labels]options)}, nil
}

// Hook is the [authkit.WithEvents] hook that records e.
func (m *Metrics) Hook(ctx context.Context, e authkit.Event) {
	switch e.Type {
	case authkit.EventAuthenticated, authkit.EventRefused, authkit.EventFailed:
		m.decisions.Add(ctx, 1, m.set(labels{e.Type, e.ReasonName(), e.Method, e.Issuer}).add...)
		if e.Duration > 0 { // measured by Require and Optional
			m.duration.Record(ctx, e.Duration.Seconds(), m.set(labels{typ: e.Type, method: e.Method}).record...)
		}
	default:
		m.events.Add(ctx, 1, m.set(labels{typ: e.Type, reason: e.ReasonName(), issuer: e.Issuer}).add...)
	}
}

// set returns the options of l, made once.
func (m *Metrics) set(l labels) options {
	m.mu.RLock()
	o, ok := m.sets[l]
	m.mu.RUnlock()
	if ok {
		return o
	}
	kv := make([]attribute.KeyValue, 0, 4)
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
	a := metric.WithAttributeSet(attribute.NewSet(kv...))
	o = options{add: []metric.AddOption{a}, record: []metric.RecordOption{a}}
	m.mu.Lock()
	if len(m.sets) < maxLabelSets {
		m.sets[l] = o
	}
	m.mu.Unlock()
	return o
}
