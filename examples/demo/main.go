// Command demo is a small web server that shows authkit at work: a login
// form backed by server-side sessions, JWT access tokens with rotating
// refresh tokens, "log out everywhere", and one protected API route that
// accepts either way of logging in. The server itself is package
// [github.com/authkit-go/authkit/examples/demo/server].
//
// Run it with
//
//	go run ./examples/demo
//
// and open the URL it prints. Sign in as alice / alice-password or
// bob / bob-password.
//
// Every flag can also be set through the environment variable named in its
// help text; a flag given on the command line wins.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/authkit-go/authkit/examples/demo/server"
)

// main runs the demo until SIGINT or SIGTERM, which starts a graceful
// shutdown (in-flight requests finish within -shutdown-grace); a second
// signal exits at once, with status 1.
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
	os.Exit(server.Run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr))
}
