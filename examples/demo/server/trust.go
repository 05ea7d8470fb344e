package server

// Trusted issuers and scopes: the demo accepts, at GET /api/me and
// GET /api/scoped, the access tokens of external OpenID providers given with
// -trust-issuer, and GET /api/scoped requires the scope demo:read, which the
// demo's own tokens carry for alice.

import (
	"context"
	"crypto/ed25519"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/authkit-go/authkit"
)

// demoScope is the scope GET /api/scoped requires.
const demoScope = "demo:read"

// trustConfig is the -trust-* configuration: every issuer shares the
// audience, profile and the http opt-out.
type trustConfig struct {
	issuers      issuerList // -trust-issuer, or AUTHKIT_TRUST_ISSUERS
	audience     string     // -trust-audience: required with an issuer
	profile      string     // -trust-profile: an authkit.Preset name
	insecureHTTP bool       // -trust-insecure-http: http issuers on loopback
}

// issuerList is the repeatable -trust-issuer. Its default comes from the
// environment; the first flag replaces it, so that a flag wins.
type issuerList struct {
	urls    []string
	fromEnv bool
}

func (l *issuerList) String() string { return strings.Join(l.urls, ",") }

func (l *issuerList) Set(v string) error {
	if l.fromEnv {
		l.urls, l.fromEnv = nil, false
	}
	l.urls = append(l.urls, v)
	return nil
}

// trustFlags binds the -trust-* flags to a new trustConfig, with the
// issuers' default from AUTHKIT_TRUST_ISSUERS (comma-separated).
func trustFlags(fs *flag.FlagSet, getenv func(string) string) *trustConfig {
	t := &trustConfig{}
	for _, u := range strings.Split(getenv("AUTHKIT_TRUST_ISSUERS"), ",") {
		if u = strings.TrimSpace(u); u != "" {
			t.issuers.urls, t.issuers.fromEnv = append(t.issuers.urls, u), true
		}
	}
	fs.Var(&t.issuers, "trust-issuer", "accept the access tokens of the OpenID provider at issuer `URL` (found by discovery); repeatable (AUTHKIT_TRUST_ISSUERS, comma-separated)")
	fs.StringVar(&t.audience, "trust-audience", "", "the `audience` trusted issuers' tokens must name; required with -trust-issuer")
	fs.StringVar(&t.profile, "trust-profile", "rfc9068", "what trusted issuers' tokens look like: an authkit preset `name` (rfc9068, auth0, keycloak, entra, cognito, okta, firebase, supabase, clerk, zitadel)")
	fs.BoolVar(&t.insecureHTTP, "trust-insecure-http", false, "allow http:// trusted issuers on loopback hosts (local providers only)")
	return t
}

// check refuses a bad -trust-* combination in one message; fs tells which
// flags were given. It returns nil for t when no issuer is configured.
func (t *trustConfig) check(fs *flag.FlagSet) (*trustConfig, error) {
	if len(t.issuers.urls) == 0 {
		var given []string
		fs.Visit(func(f *flag.Flag) {
			if strings.HasPrefix(f.Name, "trust-") {
				given = append(given, "-"+f.Name)
			}
		})
		if len(given) > 0 {
			return nil, fmt.Errorf("%s needs -trust-issuer", given[0])
		}
		return nil, nil
	}
	if t.audience == "" {
		return nil, errors.New("-trust-issuer needs -trust-audience")
	}
	if err := checkPreset(t.profile); err != nil {
		return nil, fmt.Errorf("-trust-profile %q: %v", t.profile, err)
	}
	for i, raw := range t.issuers.urls {
		if slices.Index(t.issuers.urls, raw) != i {
			return nil, fmt.Errorf("-trust-issuer %q given twice", raw)
		}
		u, err := url.Parse(raw)
		switch {
		case err != nil || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "":
			return nil, fmt.Errorf("-trust-issuer %q: need an absolute URL without user info, query or fragment", raw)
		case u.Scheme == "https":
		case u.Scheme != "http":
			return nil, fmt.Errorf("-trust-issuer %q: not https", raw)
		case !t.insecureHTTP:
			return nil, fmt.Errorf("-trust-issuer %q: http needs -trust-insecure-http (loopback only)", raw)
		case !isLoopbackHost(u.Hostname()):
			return nil, fmt.Errorf("-trust-issuer %q: http is allowed on loopback hosts only", raw)
		}
	}
	return t, nil
}

func isLoopbackHost(h string) bool {
	ip := net.ParseIP(h)
	return strings.EqualFold(h, "localhost") || ip != nil && ip.IsLoopback()
}

// checkPreset asks the kit whether name is one of its presets, through a
// verifier with a static key: no network, nothing left running.
func checkPreset(name string) error {
	_, err := authkit.NewJWT(func(context.Context, *authkit.Claims) (*User, error) { return nil, nil },
		authkit.WithIssuer("https://preset-check.invalid"), authkit.WithAudience("x"),
		authkit.WithKey("k", ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize)).Public()),
		authkit.WithProfile(authkit.Preset(name)))
	if err != nil {
		return errors.New("not a known preset")
	}
	return nil
}

// options returns the NewJWT options that trust t's issuers.
func (t *trustConfig) options(ctx context.Context) []authkit.Option {
	var opts []authkit.Option
	for _, iss := range t.issuers.urls {
		opts = append(opts, authkit.WithTrustedIssuer(ctx, authkit.TrustedIssuer{
			Issuer: iss, Audiences: []string{t.audience}, Profile: authkit.Preset(t.profile),
		}))
	}
	if t.insecureHTTP {
		opts = append(opts, authkit.WithInsecureJWKSURL())
	}
	return opts
}

// demoScopes is the Issuer's WithScopeLookup: alice (ID 1) is granted
// demo:read, bob nothing.
func demoScopes(_ context.Context, userID string) ([]string, error) {
	if userID == "1" {
		return []string{demoScope}, nil
	}
	return nil, nil
}

// newAPIBearer returns the authenticator of /api/me and /api/scoped: the
// demo's own tokens, as a.bearer accepts them, and, with -trust-issuer,
// those of the trusted issuers, in one JWT so that each token's iss picks
// its issuer's keys. Without trusted issuers it is a.bearer. ctx stops the
// trusted issuers' background discovery and key refresh.
func (a *app) newAPIBearer(ctx context.Context) (*authkit.JWT[*User], error) {
	if a.cfg.trust == nil {
		return a.bearer, nil
	}
	return authkit.NewJWT(a.apiUser, append([]authkit.Option{
		authkit.WithTokensFrom(a.issuer),
		authkit.WithVersionCheck(a.versions.Lookup),
		a.resourceOption(),
		a.events,
	}, a.cfg.trust.options(ctx)...)...)
}

// apiUser turns a verified token into its user: one of the demo's own for
// its own tokens, else the trusted issuer's subject, named by the token's
// "name" or "preferred_username" where it has one.
func (a *app) apiUser(ctx context.Context, c *authkit.Claims) (*User, error) {
	if c.Issuer == a.cfg.issuer {
		return a.userFromClaims(ctx, c)
	}
	u := &User{ID: c.Subject, Name: c.Subject, Issuer: c.Issuer}
	for _, claim := range []string{"name", "preferred_username"} {
		var name string
		if ok, err := c.DecodeExtra(claim, &name); ok && err == nil && name != "" {
			u.Name = name
			break
		}
	}
	return u, nil
}

// apiRoutes adds GET /api/me and GET /api/scoped to mux: bearer first (the
// demo's own or a trusted issuer's token), then the session. A session has
// no scopes, so /api/scoped refuses it with 403 like a token without
// demo:read.
func (a *app) apiRoutes(mux *http.ServeMux) {
	either := authkit.Any(a.apiBearer, a.sessions)
	mux.Handle("GET /api/me", authkit.Require(either, a.events)(http.HandlerFunc(a.me)))
	mux.Handle("GET /api/scoped", authkit.Require(either, authkit.WithScopes(demoScope), a.events)(http.HandlerFunc(a.me)))
}
