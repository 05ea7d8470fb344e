// Command demo is the authkit demo server (go run ./examples/demo in the
// core module) with OpenTelemetry metrics: with -metrics ADDR it serves
// them to Prometheus at http://ADDR/metrics, on a listener of their own,
// through the OpenTelemetry Prometheus exporter. It lives in this module
// because the core module must not depend on OpenTelemetry.
//
//	cd otel && go run ./cmd/demo -metrics 127.0.0.1:9464
//
// Every other flag is the demo's (see -h).
package main

import "github.com/authkit-go/authkit/examples/demo/server"

// main runs the demo with the metrics extension until SIGINT or SIGTERM, as
// the core module's command does (see [server.Main]).
func main() { server.Main(metrics()) }
