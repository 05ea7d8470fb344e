package server

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/authkit-go/authkit"
)

// textMetrics is -metrics in the core module's build, which must not import
// OpenTelemetry: the kit's decisions and events counted from its event
// stream and served in the Prometheus text format (version 0.0.4), under
// the names the OpenTelemetry build (otel/cmd/demo, through the exporter)
// gives the same counters. That build adds histograms, gauges and spans.
func textMetrics() Extension {
	var addr string
	c := &eventCounts{n: map[string]uint64{}}
	return Extension{
		Flags: func(fs *flag.FlagSet) {
			fs.StringVar(&addr, "metrics", "", "serve Prometheus metrics on `ADDR` (a listener of its own), at /metrics: the kit's decision and event counters; the OpenTelemetry build (cd otel && go run ./cmd/demo) serves more")
		},
		Start: func(ctx context.Context, stdout io.Writer) (func(context.Context, authkit.Event), func(), error) {
			if addr == "" {
				return nil, nil, nil
			}
			ln, err := net.Listen("tcp", addr)
			if err != nil {
				return nil, nil, fmt.Errorf("-metrics: %w", err)
			}
			mux := http.NewServeMux()
			mux.Handle("GET /metrics", c)
			srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
			go srv.Serve(ln)
			fmt.Fprintf(stdout, "authkit demo metrics on http://%s/metrics\n", ln.Addr())
			return c.hook, func() { srv.Close() }, nil
		},
	}
}

// eventCounts counts events by their series. Safe for concurrent use.
type eventCounts struct {
	mu sync.Mutex
	n  map[string]uint64 // a series: its name and labels, as written
}

func (c *eventCounts) hook(_ context.Context, e authkit.Event) {
	var series string
	switch e.Type {
	case authkit.EventAuthenticated, authkit.EventRefused, authkit.EventFailed:
		series = "authkit_decisions_total" + promLabels("issuer", e.Issuer, "method", string(e.Method), "outcome", string(e.Type), "reason", e.ReasonName())
	case authkit.EventStoreCall:
		return // a latency, not a count: the OpenTelemetry build's histogram
	default:
		series = "authkit_events_total" + promLabels("issuer", e.Issuer, "reason", e.ReasonName(), "type", string(e.Type))
	}
	c.mu.Lock()
	c.n[series]++
	c.mu.Unlock()
}

func (c *eventCounts) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	c.mu.Lock()
	lines := make([]string, 0, len(c.n))
	for s, n := range c.n {
		lines = append(lines, fmt.Sprintf("%s %d\n", s, n))
	}
	c.mu.Unlock()
	slices.Sort(lines)
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	io.WriteString(w, "# HELP authkit_decisions_total The kit's decisions on requests.\n# TYPE authkit_decisions_total counter\n")
	for _, l := range lines {
		if strings.HasPrefix(l, "authkit_decisions_total") {
			io.WriteString(w, l)
		}
	}
	io.WriteString(w, "# HELP authkit_events_total The kit's other events.\n# TYPE authkit_events_total counter\n")
	for _, l := range lines {
		if strings.HasPrefix(l, "authkit_events_total") {
			io.WriteString(w, l)
		}
	}
}

// promLabels writes the non-empty labels among name, value pairs (sorted
// by name), prefixed "authkit_". Values are the kit's own label values
// (Event.ReasonName, methods, types) or a verified issuer: escaped anyway.
func promLabels(kv ...string) string {
	var b strings.Builder
	for i := 0; i < len(kv); i += 2 {
		if kv[i+1] == "" {
			continue
		}
		if b.Len() == 0 {
			b.WriteByte('{')
		} else {
			b.WriteByte(',')
		}
		b.WriteString("authkit_" + kv[i] + `="`)
		b.WriteString(strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`).Replace(kv[i+1]))
		b.WriteByte('"')
	}
	if b.Len() > 0 {
		b.WriteByte('}')
	}
	return b.String()
}
