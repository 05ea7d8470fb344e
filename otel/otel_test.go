package authkitotel_test

import (
	"context"
	"crypto/rand"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/authkit-go/authkit"
	authkitotel "github.com/authkit-go/authkit/otel"
	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
)

// deployment is an issuer and an access-token guard on one HS256 secret,
// both reporting to hook.
type deployment struct {
	iss     *authkit.Issuer
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
	return &deployment{iss: iss, require: authkit.Require[string](jwt, evOpts...)}
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

// TestScriptedCounts sends a scripted sequence of requests and checks the
// exact counts the SDK's in-memory reader collects.
func TestScriptedCounts(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	m, err := authkitotel.New(sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader)))
	if err != nil {
		t.Fatal(err)
	}
	d := newDeployment(t, m.Hook, true)
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

	var rm metricdata.ResourceMetrics
	if err := reader.Collect(t.Context(), &rm); err != nil {
		t.Fatal(err)
	}
	got := map[string]int64{}
	var durations uint64
	for _, sm := range rm.ScopeMetrics {
		if sm.Scope.Name != authkitotel.ScopeName {
			t.Errorf("scope %q", sm.Scope.Name)
		}
		for _, mt := range sm.Metrics {
			switch data := mt.Data.(type) {
			case metricdata.Sum[int64]:
				for _, p := range data.DataPoints {
					got[mt.Name+" "+attrs(p.Attributes)] += p.Value
				}
			case metricdata.Histogram[float64]:
				for _, p := range data.DataPoints {
					durations += p.Count
					if p.Sum <= 0 {
						t.Errorf("%s %s: sum %v", mt.Name, attrs(p.Attributes), p.Sum)
					}
				}
			}
		}
	}
	want := map[string]int64{
		"authkit.decisions outcome=authenticated method=bearer issuer=https://auth.test": 3,
		"authkit.decisions outcome=refused reason=no_credentials method=bearer":          2,
		"authkit.decisions outcome=refused reason=invalid_token method=bearer":           1,
		"authkit.decisions outcome=refused reason=revoked method=refresh":                1,
		"authkit.events outcome=cache.miss issuer=https://auth.test":                     2,
		"authkit.events outcome=cache.hit issuer=https://auth.test":                      2,
		"authkit.events outcome=refresh.rotated issuer=https://auth.test":                1,
		"authkit.events outcome=refresh.reused reason=revoked issuer=https://auth.test":  1,
		"authkit.events outcome=refresh.family_revoked issuer=https://auth.test":         1,
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: %d, want %d", k, got[k], v)
		}
	}
	for k, v := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("unexpected %s: %d", k, v)
		}
	}
	if durations != 6 {
		t.Errorf("%d durations recorded, want one per decision of Require: 6", durations)
	}
}

// attrs renders an attribute set as "outcome=… reason=… method=… issuer=…".
func attrs(s attribute.Set) string {
	var parts []string
	for _, k := range []string{"outcome", "reason", "method", "issuer"} {
		if v, ok := s.Value(attribute.Key("authkit." + k)); ok {
			parts = append(parts, k+"="+v.AsString())
		}
	}
	if len(parts) != s.Len() {
		parts = append(parts, "unexpected attributes: "+s.Encoded(attribute.DefaultEncoder()))
	}
	return strings.Join(parts, " ")
}

// BenchmarkRequireHS256 is the core's HS256 Require benchmark (no token
// cache) without a hook and with the OpenTelemetry hook, for the overhead.
func BenchmarkRequireHS256(b *testing.B) {
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
			d := newDeployment(b, c.hook, false)
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
