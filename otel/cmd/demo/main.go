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

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/authkit-go/authkit/examples/demo/server"
)

// main runs the demo until SIGINT or SIGTERM, as the core module's command
// does: a second signal exits at once, with status 1.
func main() {
	ctx, cancel := context.WithCancel(context.Background())
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go func() {
		<-sigs
		cancel()
		<-sigs
		fmt.Fprintln(os.Stderr, "demo: second signal: exiting now")
		os.Exit(1)
	}()
	os.Exit(server.Run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr, metrics()))
}
