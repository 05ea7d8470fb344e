// Package server is the authkit demo server: a login form backed by
// server-side sessions, JWT access tokens with rotating refresh tokens, "log
// out everywhere", and protected API routes that accept either way of
// logging in. The command is ../ (go run ./examples/demo); this package
// exists so that a build in another module (the OpenTelemetry one, which
// the core module must not import) can run the same server with more in it.
package server

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/authkit-go/authkit"
)

// Exit statuses of run.
const (
	exitOK    = 0
	exitError = 1 // the server could not start or failed
	exitUsage = 2 // bad flags or an unusable signing key
)

// config is the demo's configuration, read from flags and the environment.
type config struct {
	addr        string        // where to listen
	databaseURL string        // PostgreSQL for shared state; "" keeps everything in memory
	signingKey  string        // PEM PKCS#8 private key file; "" makes a fresh ES256 key
	issuer      string        // "iss" of the tokens; "" means http://<addr>
	audience    string        // "aud" of the access tokens
	accessTTL   time.Duration // lifetime of an access token
	refreshTTL  time.Duration // lifetime of a refresh token
	dbTimeout   time.Duration // bound of each start-up step on the database
	grace       time.Duration // how long shutdown waits for in-flight requests
	trust       *trustConfig  // -trust-*: external issuers; nil for none (trust.go)
	logLevel    slog.Level    // the least level logged: info logs every request and decision
}

// An Extension adds to the demo what the core module cannot carry: the
// OpenTelemetry build (otel/cmd/demo, a module of its own) serves -metrics
// through one, in place of the counters this build serves (textmetrics.go). Run takes any number; each field may be nil, and each
// function is called once, from Run's goroutine.
type Extension struct {
	// Flags adds the extension's flags to the demo's.
	Flags func(fs *flag.FlagSet)
	// Start runs once the flags are parsed, before the demo builds its
	// stores and authenticators. It returns a hook that receives every
	// event of the kit, beside the demo's log (nil: none), and a function
	// that Run calls at shutdown, after the server stopped (nil: none). An
	// error stops the demo with status 1.
	Start func(ctx context.Context, stdout io.Writer) (events func(context.Context, authkit.Event), stop func(), err error)
	// Observe is given, once the demo is built, its version cache and its
	// access-token authenticators, for gauges.
	Observe func(versions *authkit.VersionCache, jwts ...*authkit.JWT[*User])
}

// definesFlag reports whether one of exts adds the flag name.
func definesFlag(exts []Extension, name string) bool {
	fs := flag.NewFlagSet("", flag.ContinueOnError)
	for _, e := range exts {
		if e.Flags != nil {
			e.Flags(fs)
		}
	}
	return fs.Lookup(name) != nil
}

// flagSet returns the demo's flags, bound to c, with defaults taken from the
// environment through getenv where the flag has a variable, and the
// extensions' flags.
func flagSet(c *config, getenv func(string) string, exts []Extension) *flag.FlagSet {
	envOr := func(name, def string) string {
		if v := getenv(name); v != "" {
			return v
		}
		return def
	}
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.StringVar(&c.addr, "addr", envOr("AUTHKIT_ADDR", "127.0.0.1:8080"), "listen `address` (AUTHKIT_ADDR)")
	fs.StringVar(&c.databaseURL, "database-url", getenv("DATABASE_URL"), "PostgreSQL `URL` for sessions, versions and refresh families; empty: in memory (DATABASE_URL)")
	fs.StringVar(&c.signingKey, "signing-key", getenv("AUTHKIT_SIGNING_KEY"), "PEM PKCS#8 private key `file`: EC P-256 (ES256), Ed25519 (EdDSA) or RSA (RS256); empty: a fresh ES256 key (AUTHKIT_SIGNING_KEY)")
	fs.StringVar(&c.issuer, "issuer", "", "token issuer `URL` (default http://<addr>)")
	fs.StringVar(&c.audience, "audience", "authkit-demo", "audience of the access tokens")
	fs.DurationVar(&c.accessTTL, "access-ttl", 5*time.Minute, "access token lifetime")
	fs.DurationVar(&c.refreshTTL, "refresh-ttl", 24*time.Hour, "refresh token lifetime")
	fs.DurationVar(&c.dbTimeout, "db-timeout", 10*time.Second, "how long start-up waits for the database to connect, answer and migrate")
	fs.DurationVar(&c.grace, "shutdown-grace", 10*time.Second, "how long shutdown waits for in-flight requests; a second signal exits at once")
	fs.TextVar(&c.logLevel, "log-level", slog.LevelInfo, "the least `level` logged (debug, info, warn, error): info logs one line per request and per decision")
	c.trust = trustFlags(fs, getenv)
	for _, e := range exts {
		if e.Flags != nil {
			e.Flags(fs)
		}
	}
	return fs
}

// parseConfig reads the configuration from args (without the program name)
// and from the environment through getenv. It returns [flag.ErrHelp] for -h.
func parseConfig(args []string, getenv func(string) string, exts ...Extension) (config, error) {
	var c config
	fs := flagSet(&c, getenv, exts)
	fs.SetOutput(io.Discard) // run prints one line per error, not the whole usage
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	switch {
	case fs.NArg() > 0:
		return c, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	case c.addr == "":
		return c, errors.New("-addr is empty")
	case c.audience == "":
		return c, errors.New("-audience is empty")
	case c.accessTTL <= 0:
		return c, fmt.Errorf("-access-ttl %v: must be positive", c.accessTTL)
	case c.accessTTL > time.Hour || c.accessTTL%time.Second != 0:
		// The issuer's limits (RFC 6750 §5.3 advises short-lived tokens).
		return c, fmt.Errorf("-access-ttl %v: must be a whole number of seconds, at most 1h", c.accessTTL)
	case c.refreshTTL <= 0:
		return c, fmt.Errorf("-refresh-ttl %v: must be positive", c.refreshTTL)
	case c.refreshTTL%time.Second != 0:
		return c, fmt.Errorf("-refresh-ttl %v: must be a whole number of seconds", c.refreshTTL)
	case c.dbTimeout <= 0:
		return c, fmt.Errorf("-db-timeout %v: must be positive", c.dbTimeout)
	case c.grace <= 0:
		return c, fmt.Errorf("-shutdown-grace %v: must be positive", c.grace)
	}
	var err error
	c.trust, err = c.trust.check(fs)
	return c, err
}

// Main is the command: it runs [Run] with the process's arguments,
// environment and standard streams, and exits with its status. SIGINT or
// SIGTERM starts a graceful shutdown (in-flight requests finish within
// -shutdown-grace); a second signal exits at once, with status 1.
func Main(exts ...Extension) {
	ctx, cancel := context.WithCancel(context.Background())
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go func() {
		<-sigs
		cancel()
		<-sigs
		fmt.Fprintln(os.Stderr, "demo: second signal: exiting now")
		os.Exit(exitError)
	}()
	os.Exit(Run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr, exts...))
}

// Run is the whole program, apart from signal handling: it reads the flags
// in args (without the program name) and the environment through getenv,
// serves until ctx is done and returns the exit status (0 done, 1 failed, 2
// bad flags). The command and the tests call it; exts add to it (see
// [Extension]).
func Run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer, exts ...Extension) int {
	if !definesFlag(exts, "metrics") {
		exts = append(exts, textMetrics())
	}
	cfg, err := parseConfig(args, getenv, exts...)
	if errors.Is(err, flag.ErrHelp) {
		fs := flagSet(new(config), getenv, exts) // rebinds the extensions' flags: Run ends here
		fs.SetOutput(stdout)
		fmt.Fprintln(stdout, "Usage: demo [flags]\n\nThe authkit demo server. Flags:")
		fs.PrintDefaults()
		return exitOK
	}
	if err != nil {
		fmt.Fprintf(stderr, "demo: %v (see -h)\n", err)
		return exitUsage
	}
	if cfg.logLevel != slog.LevelInfo { // the default logger's level, for the process
		slog.SetLogLoggerLevel(cfg.logLevel)
	}
	key, err := loadSigningKey(cfg.signingKey)
	if err != nil {
		fmt.Fprintf(stderr, "demo: %v\n", err)
		return exitUsage
	}
	var hooks []func(context.Context, authkit.Event) // the extensions', beside the log
	for _, e := range exts {
		if e.Start == nil {
			continue
		}
		hook, stop, err := e.Start(ctx, stdout)
		if err != nil {
			fmt.Fprintf(stderr, "demo: %v\n", err)
			return exitError
		}
		if stop != nil {
			defer stop() // after the server's shutdown
		}
		if hook != nil {
			hooks = append(hooks, hook)
		}
	}

	// Listen before anything else: with -addr 127.0.0.1:0 the port is known
	// only now, and the default issuer names it.
	ln, err := net.Listen("tcp", cfg.addr)
	if err != nil {
		fmt.Fprintf(stderr, "demo: %v\n", err)
		return exitError
	}
	url := "http://" + ln.Addr().String()
	if cfg.issuer == "" {
		cfg.issuer = url
	}

	a, err := newApp(ctx, cfg, key, hooks...)
	if err != nil {
		ln.Close()
		fmt.Fprintf(stderr, "demo: %v\n", err)
		return exitError
	}
	defer a.Close()
	for _, e := range exts {
		if e.Observe != nil {
			e.Observe(a.versions, a.jwts()...)
		}
	}

	srv := &http.Server{
		Handler:           a.routes(),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	fmt.Fprintf(stdout, "authkit demo listening on %s\n", url)

	select {
	case err := <-served:
		fmt.Fprintf(stderr, "demo: %v\n", err)
		return exitError
	case <-ctx.Done():
	}
	fmt.Fprintln(stdout, "authkit demo shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), cfg.grace)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		srv.Close() // what did not finish within the grace is cut off
		fmt.Fprintf(stderr, "demo: shutdown: requests still running after %v: %v\n", cfg.grace, err)
		return exitError
	}
	return exitOK
}
