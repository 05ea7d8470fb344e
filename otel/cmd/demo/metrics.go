package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/authkit-go/authkit"
	"github.com/authkit-go/authkit/examples/demo/server"
	authkitotel "github.com/authkit-go/authkit/otel"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/otel/attribute"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"
)

// metrics is the demo's -metrics flag: the kit's events, through
// authkitotel and the OpenTelemetry Prometheus exporter, served at
// /metrics on the flag's address. Without the flag it does nothing.
func metrics() server.Extension {
	var addr string
	var m *authkitotel.Metrics
	return server.Extension{
		Flags: func(fs *flag.FlagSet) {
			fs.StringVar(&addr, "metrics", "", "serve Prometheus metrics at http://`ADDR`/metrics, on a listener of their own; empty: none")
		},
		Start: func(ctx context.Context, stdout io.Writer) (func(context.Context, authkit.Event), func(), error) {
			if addr == "" {
				return nil, nil, nil
			}
			reg := prometheus.NewRegistry()
			exporter, err := otelprom.New(otelprom.WithRegisterer(reg))
			if err != nil {
				return nil, nil, fmt.Errorf("metrics: %w", err)
			}
			res, err := resource.Merge(resource.Default(), resource.NewSchemaless(attribute.String("service.name", "authkit-demo")))
			if err != nil {
				return nil, nil, fmt.Errorf("metrics: %w", err)
			}
			mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(exporter), sdkmetric.WithResource(res))
			if m, err = authkitotel.New(mp); err != nil {
				return nil, nil, fmt.Errorf("metrics: %w", err)
			}
			ln, err := net.Listen("tcp", addr)
			if err != nil {
				return nil, nil, fmt.Errorf("metrics: %w", err)
			}
			mux := http.NewServeMux()
			mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
			srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
			go func() {
				if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
					fmt.Fprintf(stdout, "demo: metrics: %v\n", err)
				}
			}()
			fmt.Fprintf(stdout, "authkit demo metrics on http://%s/metrics\n", ln.Addr())
			return m.Hook, func() {
				srv.Close()
				mp.Shutdown(context.Background())
			}, nil
		},
		Observe: func(versions *authkit.VersionCache, jwts ...*authkit.JWT[*server.User]) {
			if m == nil {
				return
			}
			m.ObserveVersionCache(versions)
			for _, j := range jwts {
				m.ObserveJWT(j)
			}
		},
	}
}
