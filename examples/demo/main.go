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

import "github.com/authkit-go/authkit/examples/demo/server"

// main runs the demo until SIGINT or SIGTERM (see [server.Main]).
func main() { server.Main() }
