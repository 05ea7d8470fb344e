package authkitotel_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"database/sql"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/authkit-go/authkit"
	authkitotel "github.com/authkit-go/authkit/otel"
	_ "github.com/jackc/pgx/v5/stdlib"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
)

// deployment is an issuer and an access-token guard on one HS256 secret,
// both reporting to hook.
type deployment struct {
	iss     *authkit.Issuer
	jwt     *authkit.JWT[string]
	require func(http.Handler) http.Handler
}

func newDeployment(t testing.TB, hook func(context.Context, authkit.Event), cache bool) *deployment {
	t.Helper()
	secret := make([]byte, 32)
	rand.Read(secret)
	store := authkit.NewMemoryStore("alice", "bob")
	var evOpts []authkit.Option
	if hook != nil {
		evOpts = append(evOpts, authkit.WithEvents(hook))
	}
	iss, err := authkit.NewIssuer("https://auth.test", "api", secret, store, store.Version,
		append(evOpts, authkit.WithRefreshRetryWindow(0), authkit.WithReuseHandler(func(context.Context, authkit.ReuseEvent) {}))...)
	if err != nil {
		t.Fatal(err)
	}
	jwtOpts := append([]authkit.Option{authkit.WithTokensFrom(iss)}, evOpts...)
	if !cache {
		jwtOpts = append(jwtOpts, authkit.WithTokenCacheSize(0))
	}
	jwt, err := authkit.NewJWT(func(_ context.Context, c *authkit.Claims) (string, error) { return c.Subject, nil }, jwtOpts...)
	if err != nil {
		t.Fatal(err)
	}
	return &deployment{iss: iss, jwt: jwt, require: authkit.Require[string](jwt, evOpts...)}
}

func (d *deployment) get(token string) int {
	req := httptest.NewRequest("GET", "/api", nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	rr := httptest.NewRecorder()
	d.require(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {})).ServeHTTP(rr, req)
	return rr.Code
}

func (d *deployment) refresh(rt string) int {
	req := httptest.NewRequest("POST", "/token", strings.NewReader(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	rr := httptest.NewRecorder()
	d.iss.RefreshHandler().ServeHTTP(rr, req)
	return rr.Code
}

// collected is what the SDK's manual reader collected, by instrument and
// attribute set ("authkit.decisions outcome=… reason=…"): the value of each
// sum and gauge, the count of each histogram.
type collected struct {
	values map[string]float64
}

func collect(t *testing.T, reader *sdkmetric.ManualReader) collected {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(t.Context(), &rm); err != nil {
		t.Fatal(err)
	}
	c := collected{values: map[string]float64{}}
	for _, sm := range rm.ScopeMetrics {
		if sm.Scope.Name != authkitotel.ScopeName {
			t.Errorf("scope %q", sm.Scope.Name)
		}
		for _, mt := range sm.Metrics {
			switch data := mt.Data.(type) {
			case metricdata.Sum[int64]:
				for _, p := range data.DataPoints {
					c.values[key(mt.Name, p.Attributes)] += float64(p.Value)
				}
			case metricdata.Gauge[int64]:
				for _, p := range data.DataPoints {
					c.values[key(mt.Name, p.Attributes)] = float64(p.Value)
				}
			case metricdata.Gauge[float64]:
				for _, p := range data.DataPoints {
					c.values[key(mt.Name, p.Attributes)] = p.Value
				}
			case metricdata.Histogram[float64]:
				for _, p := range data.DataPoints {
					c.values[key(mt.Name, p.Attributes)] += float64(p.Count)
					if p.Count > 0 && p.Sum <= 0 {
						t.Errorf("%s: %d durations summing to %v", key(mt.Name, p.Attributes), p.Count, p.Sum)
					}
				}
			default:
				t.Errorf("%s: unexpected data %T", mt.Name, mt.Data)
			}
		}
	}
	return c
}

func key(name string, s attribute.Set) string {
	if a := attrs(s); a != "" {
		return name + " " + a
	}
	return name
}

// exactly checks that the collected values are want, no more, no less.
func (c collected) exactly(t *testing.T, want map[string]float64) {
	t.Helper()
	for k, v := range want {
		if got, ok := c.values[k]; !ok || got != v {
			t.Errorf("%s: %v, want %v", k, got, v)
		}
	}
	for k, v := range c.values {
		if _, ok := want[k]; !ok {
			t.Errorf("unexpected %s: %v", k, v)
		}
	}
}

// TestScriptedCounts sends a scripted sequence of requests and checks the
// exact counts, histogram counts and gauges the SDK's in-memory reader
// collects.
func TestScriptedCounts(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	m, err := authkitotel.New(sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader)))
	if err != nil {
		t.Fatal(err)
	}
	d := newDeployment(t, m.Hook, true)
	m.ObserveJWT(d.jwt)
	pair, err := d.iss.Issue(t.Context(), "alice")
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		d.get(pair.AccessToken) // 1 miss, 2 hits, 3 authenticated
	}
	d.get("")                            // refused no_credentials
	d.get("")                            // refused no_credentials
	d.get(pair.AccessToken[:40] + "x.y") // refused invalid_token (a cache miss)
	if d.refresh(pair.RefreshToken) != 200 {
		t.Fatal("refresh failed")
	}
	d.refresh(pair.RefreshToken) // reuse: reused, family revoked, refused revoked

	in := strings.LastIndexByte(pair.AccessToken, '.')
	collect(t, reader).exactly(t, map[string]float64{
		"authkit.decisions outcome=authenticated method=bearer issuer=https://auth.test": 3,
		"authkit.decisions outcome=refused reason=no_credentials method=bearer":          2,
		"authkit.decisions outcome=refused reason=invalid_token method=bearer":           1,
		"authkit.decisions outcome=refused reason=revoked method=refresh":                1,
		"authkit.decision.duration outcome=authenticated method=bearer":                  3,
		"authkit.decision.duration outcome=refused method=bearer":                        3,
		"authkit.verify.duration outcome=cache.miss issuer=https://auth.test":            2,
		"authkit.events outcome=cache.miss issuer=https://auth.test":                     2,
		"authkit.events outcome=cache.hit issuer=https://auth.test":                      2,
		"authkit.events outcome=refresh.rotated issuer=https://auth.test":                1,
		"authkit.events outcome=refresh.reused reason=revoked issuer=https://auth.test":  1,
		"authkit.events outcome=refresh.family_revoked issuer=https://auth.test":         1,
		"authkit.token_cache.entries":                                                    1,
		"authkit.token_cache.size":                                                       float64(in + len(pair.AccessToken) + 512),
		"authkit.dpop.replay_cache.entries":                                              0,
		"authkit.token_cache.hit_ratio":                                                  0.5,
	})
}

// TestEveryReasonHasALabel: each sentinel a refusal can carry reaches the
// decisions counter with its own reason label (the core's TestEventReasons
// checks that every sentinel of errors.go is one of these or no refusal).
func TestEveryReasonHasALabel(t *testing.T) {
	reasons := map[error]string{
		authkit.ErrNoCredentials:     "no_credentials",
		authkit.ErrInvalidRequest:    "invalid_request",
		authkit.ErrInvalidToken:      "invalid_token",
		authkit.ErrTokenExpired:      "expired",
		authkit.ErrTokenRevoked:      "revoked",
		authkit.ErrUnknownUser:       "unknown_user",
		authkit.ErrCrossOrigin:       "cross_origin",
		authkit.ErrNotReady:          "not_ready",
		authkit.ErrInsufficientScope: "insufficient_scope",
		authkit.ErrStoreUnavailable:  "store_unavailable",
		authkit.ErrInvalidDPoPProof:  "invalid_dpop_proof",
	}
	reader := sdkmetric.NewManualReader()
	m, err := authkitotel.New(sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader)))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]float64{}
	for sentinel, label := range reasons {
		err := fmt.Errorf("a refusal: %w", sentinel)
		h := authkit.Require[string](authkit.AuthenticatorFunc[string](func(*http.Request) (string, error) { return "", err }), authkit.WithEvents(m.Hook))
		h(http.NotFoundHandler()).ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil))
		outcome := "refused"
		if sentinel == authkit.ErrStoreUnavailable {
			outcome = "failed"
		}
		want["authkit.decisions outcome="+outcome+" reason="+label+" method=custom"] = 1
		want["authkit.decision.duration outcome="+outcome+" method=custom"]++
	}
	collect(t, reader).exactly(t, want)
}

// TestLabelOverflow: past the label combinations kept, events are still
// counted, in an overflow series.
func TestLabelOverflow(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	m, err := authkitotel.New(sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader)))
	if err != nil {
		t.Fatal(err)
	}
	const n = 5000
	for i := range n {
		m.Hook(t.Context(), authkit.Event{Type: authkit.EventKeysFetched, Issuer: fmt.Sprintf("https://issuer-%d.test", i)})
	}
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(t.Context(), &rm); err != nil {
		t.Fatal(err)
	}
	var points, total, overflow int64
	for _, sm := range rm.ScopeMetrics {
		for _, mt := range sm.Metrics {
			if mt.Name != "authkit.events" {
				continue
			}
			for _, p := range mt.Data.(metricdata.Sum[int64]).DataPoints {
				points++
				total += p.Value
				if v, ok := p.Attributes.Value("otel.metric.overflow"); ok && v.AsBool() {
					overflow = p.Value
				}
			}
		}
	}
	// The SDK's own cardinality limit (2000 per instrument by default)
	// overflows first; past the adapter's, counts go to its overflow series.
	// Either way no event is lost.
	if total != n || overflow == 0 || points > 4097 {
		t.Errorf("%d points counting %d events, %d in the overflow; want all %d counted", points, total, overflow, n)
	}
}

// tracing is a meter provider with a manual reader and a tracer provider
// with a span recorder, and the Metrics on both.
type tracing struct {
	m        *authkitotel.Metrics
	reader   *sdkmetric.ManualReader
	spans    *tracetest.SpanRecorder
	requests trace.Tracer // the application's tracer, for the requests' spans
}

func newTracing(t *testing.T) *tracing {
	tr := &tracing{reader: sdkmetric.NewManualReader(), spans: tracetest.NewSpanRecorder()}
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(tr.spans))
	var err error
	tr.m, err = authkitotel.New(sdkmetric.NewMeterProvider(sdkmetric.WithReader(tr.reader)), authkitotel.WithTracerProvider(tp))
	if err != nil {
		t.Fatal(err)
	}
	tr.requests = tp.Tracer("app")
	return tr
}

// serve serves req by h inside a request span, as an instrumented server
// would, and returns the status and the span.
func (tr *tracing) serve(h http.Handler, req *http.Request) (int, trace.SpanContext) {
	ctx, span := tr.requests.Start(req.Context(), "GET /app", trace.WithSpanKind(trace.SpanKindServer))
	rr := httptest.NewRecorder()
	h.ServeHTTP(rr, req.WithContext(ctx))
	span.End()
	return rr.Code, span.SpanContext()
}

// children returns the ended spans whose parent is parent, as "name
// [status]", and checks that each lies within the parent's time.
func (tr *tracing) children(t *testing.T, parent trace.SpanContext) []string {
	t.Helper()
	var p sdktrace.ReadOnlySpan
	for _, s := range tr.spans.Ended() {
		if s.SpanContext().SpanID() == parent.SpanID() {
			p = s
		}
	}
	if p == nil {
		t.Fatal("the request's span did not end")
	}
	var out []string
	for _, s := range tr.spans.Ended() {
		if s.Parent().SpanID() != parent.SpanID() || s.SpanContext().TraceID() != parent.TraceID() {
			continue
		}
		name := s.Name()
		if s.Status().Code == codes.Error {
			name += " [" + s.Status().Description + "]"
		}
		out = append(out, name)
		if s.StartTime().Before(p.StartTime()) || s.EndTime().After(p.EndTime()) || !s.StartTime().Before(s.EndTime()) {
			t.Errorf("%s: %v to %v, outside the request's %v to %v", name, s.StartTime(), s.EndTime(), p.StartTime(), p.EndTime())
		}
		if s.InstrumentationScope().Name != authkitotel.ScopeName {
			t.Errorf("%s: scope %q", name, s.InstrumentationScope().Name)
		}
	}
	slices.Sort(out)
	return out
}

// newPGDB opens a fresh schema of TEST_DATABASE_URL (dropped at the end),
// or skips the test. The core's fixture of the same name is not reachable
// from this module.
func newPGDB(t *testing.T) *sql.DB {
	t.Helper()
	base := os.Getenv("TEST_DATABASE_URL")
	if base == "" {
		t.Skip("TEST_DATABASE_URL is not set: skipping the PostgreSQL tests")
	}
	admin, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatal(err)
	}
	schema := "authkitotel_test_" + strings.ToLower(rand.Text())
	if _, err := admin.Exec("CREATE SCHEMA " + schema); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		admin.Exec("DROP SCHEMA " + schema + " CASCADE")
		admin.Close()
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	db, err := sql.Open("pgx", u.String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// TestScriptedSpans serves requests inside a request span and checks the
// spans authkitotel records under it, and the store and lag histograms:
// a session-authenticated request on the PostgreSQL store (its statements),
// a refresh, a bump noticed by the listener, and a token whose unknown kid
// makes the JWT refetch its keys.
func TestScriptedSpans(t *testing.T) {
	db := newPGDB(t)
	tr := newTracing(t)
	ctx := t.Context()
	ev := authkit.WithEvents(tr.m.Hook)
	store, err := authkit.NewPostgresStore(db, ev)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(store.Close)
	if err := store.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	if err := store.Add(ctx, "alice"); err != nil { // outside a span: no span
		t.Fatal(err)
	}
	versions, err := authkit.NewVersionCache(store, ev)
	if err != nil {
		t.Fatal(err)
	}
	tr.m.ObserveVersionCache(versions)
	// Bumps until the listener hears one (the lag): it is then up, and has
	// flushed the caches as it does on connecting, before anything is cached.
	for deadline := time.Now().Add(5 * time.Second); collect(t, tr.reader).values["authkit.version.notification.lag"] == 0; {
		if time.Now().After(deadline) {
			t.Fatal("the listener heard no bump")
		}
		if _, err := versions.Bump(ctx, "alice"); err != nil {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond)
	}

	// A session: log in (no span), then a request in a span.
	sm := authkit.NewSessionManager(store.Sessions())
	sessions, err := authkit.NewSession(sm, func(_ context.Context, id string) (string, error) { return id, nil },
		authkit.WithVersionCheck(versions.Lookup), authkit.WithSessionSecret([]byte("an application secret of 32 bytes or more!")), ev)
	if err != nil {
		t.Fatal(err)
	}
	login := httptest.NewRecorder()
	sessions.LoadAndSave(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := sessions.Login(r.Context(), "alice"); err != nil {
			t.Error(err)
		}
	})).ServeHTTP(login, httptest.NewRequest("POST", "/login", nil))
	cookie := login.Result().Cookies()[0]
	req := httptest.NewRequest("GET", "/me", nil)
	req.AddCookie(cookie)
	status, span := tr.serve(authkit.Require[string](sessions, ev)(http.NotFoundHandler()), req)
	if status != http.StatusNotFound {
		t.Fatalf("session request: %d", status)
	}
	// The version was read at login (uncached): the request finds it cached.
	if got, want := tr.children(t, span), []string{"authkit.store.session.find"}; !slices.Equal(got, want) {
		t.Errorf("session request: spans %q, want %q", got, want)
	}
	if n := collect(t, tr.reader).values["authkit.version_cache.entries"]; n != 1 {
		t.Errorf("authkit.version_cache.entries %v, want 1 (alice)", n)
	}

	// A refresh on the store: its rotation is a span of the request.
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	iss, err := authkit.NewIssuer("https://auth.test", "api", key, store, versions.Lookup, authkit.WithSigningKeyID("k1"), ev)
	if err != nil {
		t.Fatal(err)
	}
	pair, err := iss.Issue(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	req = httptest.NewRequest("POST", "/token", strings.NewReader(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {pair.RefreshToken}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if status, span = tr.serve(iss.RefreshHandler(), req); status != http.StatusOK {
		t.Fatalf("refresh: %d", status)
	}
	if got, want := tr.children(t, span), []string{"authkit.store.family.rotate"}; !slices.Equal(got, want) {
		t.Errorf("refresh: spans %q, want %q", got, want)
	}

	// A bump: the session is gone.
	if _, err := versions.Bump(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	req = httptest.NewRequest("GET", "/me", nil)
	req.AddCookie(cookie)
	status, span = tr.serve(authkit.Require[string](sessions, ev)(http.NotFoundHandler()), req)
	if status != http.StatusUnauthorized {
		t.Fatalf("request after the bump: %d", status)
	}
	// The bump deleted the session's row: the find finds nothing, which is
	// no failure.
	if got, want := tr.children(t, span), []string{"authkit.store.session.find"}; !slices.Equal(got, want) {
		t.Errorf("request after the bump: spans %q, want %q", got, want)
	}

	// A JWT on the issuer's JWK Set URL, given a token with an unknown kid:
	// the verification and the refetch are spans of the request.
	jwks := httptest.NewTLSServer(iss.JWKSHandler())
	defer jwks.Close()
	jwt, err := authkit.NewJWT(func(_ context.Context, c *authkit.Claims) (string, error) { return c.Subject, nil },
		authkit.WithIssuer("https://auth.test"), authkit.WithAudience("api"), authkit.WithJWKSURL(ctx, jwks.URL),
		authkit.WithHTTPClient(jwks.Client()), ev)
	if err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(5 * time.Second); jwt.Ready() != nil; {
		if time.Now().After(deadline) {
			t.Fatalf("the JWK Set was not fetched: %v", jwt.Ready())
		}
		time.Sleep(5 * time.Millisecond)
	}
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	stranger, err := authkit.NewIssuer("https://auth.test", "api", other, authkit.NewMemoryStore("alice"), func(context.Context, string) (int64, error) { return 0, nil },
		authkit.WithSigningKeyID("k2"))
	if err != nil {
		t.Fatal(err)
	}
	foreign, err := stranger.Issue(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	req = httptest.NewRequest("GET", "/api", nil)
	req.Header.Set("Authorization", "Bearer "+foreign.AccessToken)
	if status, span = tr.serve(authkit.Require[string](jwt, ev)(http.NotFoundHandler()), req); status != http.StatusUnauthorized {
		t.Fatalf("unknown kid: %d", status)
	}
	if got, want := tr.children(t, span), []string{"authkit.keys.refetch", "authkit.verify"}; !slices.Equal(got, want) {
		t.Errorf("unknown kid: spans %q, want %q", got, want)
	}

	// A store call that fails: a span with status Error, its reason only.
	failing := httptest.NewRequest("GET", "/me", nil)
	failing.AddCookie(cookie)
	db.Close()
	status, span = tr.serve(authkit.Require[string](sessions, ev)(http.NotFoundHandler()), failing)
	if status != http.StatusInternalServerError {
		t.Fatalf("the store down: %d", status)
	}
	if got, want := tr.children(t, span), []string{"authkit.store.session.find [error]"}; !slices.Equal(got, want) {
		t.Errorf("the store down: spans %q, want %q", got, want)
	}

	c := collect(t, tr.reader)
	for _, k := range []string{
		"authkit.store.duration outcome=store.call op=session.find",
		"authkit.store.duration outcome=store.call reason=error op=session.find",
		"authkit.store.duration outcome=store.call op=family.rotate",
		"authkit.store.duration outcome=store.call op=version.bump",
		"authkit.store.duration outcome=store.call op=user.add",
		"authkit.version.notification.lag",
		"authkit.events outcome=version.notified",
		"authkit.events outcome=version.bumped",
	} {
		if c.values[k] == 0 {
			t.Errorf("%s: nothing recorded", k)
		}
	}
	if n := c.values["authkit.store.duration outcome=store.call reason=error op=session.find"]; n != 1 {
		t.Errorf("%v failed session finds, want 1", n)
	}
}

// attrs renders an attribute set as "outcome=… reason=… method=… issuer=… op=…".
func attrs(s attribute.Set) string {
	var parts []string
	for _, k := range []string{"outcome", "reason", "method", "issuer", "store.op"} {
		if v, ok := s.Value(attribute.Key("authkit." + k)); ok {
			parts = append(parts, strings.TrimPrefix(k, "store.")+"="+v.AsString())
		}
	}
	if len(parts) != s.Len() {
		parts = append(parts, "unexpected attributes: "+s.Encoded(attribute.DefaultEncoder()))
	}
	return strings.Join(parts, " ")
}

// BenchmarkRequireHS256 is the core's HS256 Require benchmark (no token
// cache) without a hook and with the OpenTelemetry hook, for the overhead.
func BenchmarkRequireHS256(b *testing.B) { benchRequire(b, false) }

// BenchmarkRequireCached is BenchmarkRequireHS256 with the token cache on
// (the default): the same token again.
func BenchmarkRequireCached(b *testing.B) { benchRequire(b, true) }

func benchRequire(b *testing.B, cache bool) {
	reader := sdkmetric.NewManualReader()
	m, err := authkitotel.New(sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader)))
	if err != nil {
		b.Fatal(err)
	}
	for _, c := range []struct {
		name string
		hook func(context.Context, authkit.Event)
	}{{"nohook", nil}, {"otel", m.Hook}} {
		b.Run(c.name, func(b *testing.B) {
			d := newDeployment(b, c.hook, cache)
			pair, err := d.iss.Issue(context.Background(), "alice")
			if err != nil {
				b.Fatal(err)
			}
			h := d.require(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
			req := httptest.NewRequest("GET", "/api", nil)
			req.Header.Set("Authorization", "Bearer "+pair.AccessToken)
			b.ReportAllocs()
			for b.Loop() {
				rr := httptest.NewRecorder()
				h.ServeHTTP(rr, req)
			}
		})
	}
}
