package authkit

import (
	"context"
	"crypto"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/lestrrat-go/httprc/v3"
	"github.com/lestrrat-go/httprc/v3/errsink"
	"github.com/lestrrat-go/jwx/v3/jwk"
	"golang.org/x/sync/singleflight"
)

// This file is the JWKS URL key source. Fetching, caching and the background
// refresh are jwx's cache engine, httprc v3 (on which jwk.Cache is a thin
// shim); the source hands it its own transform, which parses the set with
// jwk.Parse and converts it to keys once per fetch, so that a request only
// loads an atomic pointer. What the cache lacks is added here: a fast failure
// at construction, unusable keys skipped rather than failing the set, a set
// without usable keys refused (the last good one stays), and a rate-limited
// refetch for unknown kids.

// Defaults of [WithJWKSURL].
const (
	DefaultJWKSRefreshInterval = 15 * time.Minute // see WithJWKSRefreshInterval
	DefaultJWKSMissInterval    = time.Minute      // see WithJWKSMissInterval
	DefaultJWKSTimeout         = 10 * time.Second // see WithJWKSHTTPClient

	minJWKSRefreshInterval = time.Minute
	minJWKSMissInterval    = time.Second
	maxJWKSBodySize        = 1 << 20
)

// WithJWKSURL verifies tokens with the keys published as a JWK Set (RFC 7517
// §5) at jwksURL, such as an identity provider's jwks_uri. Keys come from this
// configured URL only: a token's jku, x5u, jwk or x5c header is never
// followed, and such a token is refused. The URL must be https unless
// [WithJWKSInsecureHTTP] is given.
//
// The set is fetched once when [NewJWT] runs, which returns an error if the
// endpoint cannot be reached, answers with a status other than 200, or serves
// no usable key. It is then refetched in the background every refresh
// interval ([WithJWKSRefreshInterval]; Cache-Control and Expires are
// ignored). When a refetch fails, or brings a set without any usable key, the
// error is logged with [log/slog] and the last good keys stay in use.
//
// A token whose kid is not in the set triggers one immediate refetch, so a
// newly published key works for the first request that carries it; that
// request waits for the fetch (which the HTTP client's timeout bounds), or
// until its context ends, and concurrent requests share the fetch. After it, no refetch
// for an unknown kid happens within the miss interval
// ([WithJWKSMissInterval]): such tokens are refused (401) from memory, so
// random kids cannot turn into outbound traffic. A token with a known kid
// never waits for a fetch. A token without kid is accepted only while the set
// holds exactly one usable key, and never causes a refetch.
//
// Keys follow the rules of [WithJWKSet]: each verifies with exactly one
// algorithm, its "alg" or, when that is absent, the one its type implies
// (RS256 for RSA, ES256/ES384/ES512 by curve, EdDSA). Unlike WithJWKSet, a key
// that cannot be used (unknown type, "use" other than "sig", symmetric, RSA
// under 2048 bits, no kid in a set of several) is skipped and logged instead
// of failing the whole set, and a kid that appears more than once is dropped
// altogether.
//
// ctx bounds the background work: the few goroutines that refresh the set
// stop when ctx is cancelled, so cancel it when the program shuts down (with
// [context.Background] they live as long as the process). After that, the
// last fetched keys keep verifying tokens but nothing is fetched any more.
// Each [NewJWT] call has its own cache and goroutines; none are started if
// NewJWT fails. WithJWKSURL may be given once, and not together with static
// keys ([WithKey], [WithHMACSecret], [WithJWKSet]). The source is safe for
// concurrent use.
func WithJWKSURL(ctx context.Context, jwksURL string, opts ...JWKSOption) JWTOption {
	return func(c *jwtConfig) error {
		if c.source != nil {
			return errors.New("WithJWKSURL: given more than once")
		}
		s, err := newJWKSSource(ctx, jwksURL, opts)
		if err != nil {
			return fmt.Errorf("WithJWKSURL: %w", err)
		}
		c.source = s
		return nil
	}
}

// JWKSOption configures [WithJWKSURL].
type JWKSOption func(*jwksConfig) error

type jwksConfig struct {
	client       *http.Client
	refresh      time.Duration
	miss         time.Duration
	insecureHTTP bool
}

// WithJWKSHTTPClient sets the HTTP client that fetches the JWK Set, for a
// proxy, custom TLS roots or tests. It is copied: if its Timeout is zero, the
// copy gets [DefaultJWKSTimeout], and redirects are limited to 5 and may not
// go from https to http. Default: a client with [DefaultJWKSTimeout] (10s)
// and that redirect policy, never [net/http.DefaultClient].
func WithJWKSHTTPClient(client *http.Client) JWKSOption {
	return func(c *jwksConfig) error {
		if client == nil {
			return errors.New("WithJWKSHTTPClient(nil)")
		}
		c.client = client
		return nil
	}
}

// WithJWKSRefreshInterval sets how often the JWK Set is refetched in the
// background; it is at least one minute. This bounds how long a key that the
// provider removed keeps being accepted. Default:
// [DefaultJWKSRefreshInterval] (15 minutes).
func WithJWKSRefreshInterval(d time.Duration) JWKSOption {
	return func(c *jwksConfig) error {
		if d < minJWKSRefreshInterval {
			return fmt.Errorf("WithJWKSRefreshInterval(%v): must be at least %v", d, minJWKSRefreshInterval)
		}
		c.refresh = d
		return nil
	}
}

// WithJWKSMissInterval sets the shortest time between two refetches caused
// by tokens with an unknown kid; it is at least one second. Within it, an
// unknown kid is refused from memory. Default: [DefaultJWKSMissInterval] (one
// minute).
func WithJWKSMissInterval(d time.Duration) JWKSOption {
	return func(c *jwksConfig) error {
		if d < minJWKSMissInterval {
			return fmt.Errorf("WithJWKSMissInterval(%v): must be at least %v", d, minJWKSMissInterval)
		}
		c.miss = d
		return nil
	}
}

// WithJWKSInsecureHTTP allows a JWKS URL with the http scheme. Keys fetched
// in clear text can be replaced by anyone on the network path, who can then
// sign any token: use it only for a provider reached over a trusted network
// (a local development server, a sidecar). Default: https is required.
func WithJWKSInsecureHTTP() JWKSOption {
	return func(c *jwksConfig) error {
		c.insecureHTTP = true
		return nil
	}
}

// jwksSource is the keySource of WithJWKSURL.
type jwksSource struct {
	url    string // as configured: the only URL ever fetched
	logURL string // url with any password redacted
	cfg    jwksConfig
	parent context.Context

	// Set by start, before any request.
	now       func() time.Time
	ctx       context.Context // ends with parent, or by stop when start fails
	stop      context.CancelFunc
	failStart context.CancelCauseFunc
	started   atomic.Bool
	ctrl      httprc.Controller

	keys     atomic.Pointer[keySet] // from the last good fetch
	flight   singleflight.Group
	lastMiss atomic.Int64 // end of the last refetch for an unknown kid, Unix ns; 0: never
}

func newJWKSSource(ctx context.Context, raw string, opts []JWKSOption) (*jwksSource, error) {
	if ctx == nil {
		return nil, errors.New("nil context")
	}
	cfg := jwksConfig{refresh: DefaultJWKSRefreshInterval, miss: DefaultJWKSMissInterval}
	var errs []error
	for _, o := range opts {
		if o == nil {
			continue
		}
		if err := o(&cfg); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		return nil, err
	case u.Scheme != "https" && (u.Scheme != "http" || !cfg.insecureHTTP):
		return nil, fmt.Errorf("%q: the URL must be https (or http with WithJWKSInsecureHTTP)", u.Redacted())
	case u.Host == "":
		return nil, fmt.Errorf("%q: the URL has no host", u.Redacted())
	}
	client := cfg.client
	if client == nil {
		client = &http.Client{}
	}
	cfg.client = jwk.WrapHTTPClientDefaults(client) // a copy, with a redirect policy
	// That policy lets a redirect go to any host: keys served from another
	// origin than the configured one are not the provider's, so such a
	// redirect is refused at each hop (SECURITY.md T2).
	policy, want := cfg.client.CheckRedirect, urlOrigin(u)
	cfg.client.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if got := urlOrigin(req.URL); got != want {
			return fmt.Errorf("refusing a redirect from %s to another origin, %s", want, got)
		}
		return policy(req, via)
	}
	if client.Timeout == 0 {
		cfg.client.Timeout = DefaultJWKSTimeout
	}
	return &jwksSource{url: raw, logURL: u.Redacted(), cfg: cfg, parent: ctx}, nil
}

// urlOrigin returns the origin of u (RFC 6454): lower-case scheme and host,
// and the port, the scheme's default one when u has none.
func urlOrigin(u *url.URL) string {
	scheme, port := strings.ToLower(u.Scheme), u.Port()
	if port == "" {
		switch scheme {
		case "https":
			port = "443"
		case "http":
			port = "80"
		}
	}
	return scheme + "://" + net.JoinHostPort(strings.ToLower(u.Hostname()), port)
}

// start fetches the set for the first time and leaves the cache refreshing
// it. It is called by newJWTConfig once the whole configuration is valid.
func (s *jwksSource) start(now func() time.Time) error {
	s.now = now
	s.ctx, s.stop = context.WithCancel(s.parent)
	startCtx, failStart := context.WithCancelCause(s.ctx)
	defer failStart(nil)
	s.failStart = failStart
	// A failed first fetch ends the wait at once (fetchFailed); the timeout
	// is only a backstop.
	startCtx, cancel := context.WithTimeout(startCtx, s.cfg.client.Timeout+time.Second)
	defer cancel()
	if err := s.register(startCtx); err != nil {
		s.stop()
		return fmt.Errorf("JWKS %s: %w", s.logURL, err)
	}
	s.started.Store(true)
	return nil
}

func (s *jwksSource) register(startCtx context.Context) error {
	ctrl, err := httprc.NewClient(
		// One worker: fetches of the set never overlap, so the keys stored
		// last are always those fetched last.
		httprc.WithWorkers(1),
		httprc.WithErrorSink(errsink.NewFunc(s.fetchFailed)),
		httprc.WithWhitelist(httprc.NewMapWhitelist().Add(s.url)),
	).Start(s.ctx)
	if err != nil {
		return err
	}
	s.ctrl = ctrl
	res, err := httprc.NewResource(s.url, httprc.TransformFunc[*keySet](s.transform),
		httprc.WithHTTPClient(s.cfg.client),
		httprc.WithConstantInterval(s.cfg.refresh),
		httprc.WithMinInterval(s.cfg.refresh), // the retry delay after a transport error
	)
	if err != nil {
		return err
	}
	// Add waits for the first successful fetch. A failed one is reported to
	// fetchFailed, which cancels startCtx with the cause.
	if err := ctrl.Add(startCtx, res); err != nil {
		if cause := context.Cause(startCtx); cause != nil &&
			!errors.Is(cause, context.Canceled) && !errors.Is(cause, context.DeadlineExceeded) {
			return cause
		}
		return err
	}
	return nil
}

// fetchFailed receives the errors of the cache's background fetches.
func (s *jwksSource) fetchFailed(_ context.Context, err error) {
	if !s.started.Load() {
		s.failStart(err)
		return
	}
	slog.Warn("authkit: JWKS refresh failed; the last good keys stay in use", "url", s.logURL, "err", err)
}

// transform turns a fetched JWK Set (the cache has checked the status: 200)
// into keys and makes them current. It runs in the cache's worker, once per
// fetch. A set without any usable key is an error, which leaves the last
// good keys in place.
func (s *jwksSource) transform(_ context.Context, res *http.Response) (*keySet, error) {
	body, err := io.ReadAll(io.LimitReader(res.Body, maxJWKSBodySize+1))
	if err != nil {
		return nil, err
	}
	if len(body) > maxJWKSBodySize {
		return nil, fmt.Errorf("JWK Set larger than %d bytes", maxJWKSBodySize)
	}
	if err := checkJWKSetJSON(body); err != nil {
		return nil, err
	}
	// Not strict: a key that does not parse (an unknown kty, an RSA key
	// under 2048 bits) stays in the set as a placeholder, which keysOf skips.
	set, err := jwk.Parse(body, jwk.WithStrictKeySetParsing(false))
	if err != nil {
		return nil, err
	}
	keys, err := s.keysOf(set, s.keys.Load())
	if err != nil {
		return nil, err
	}
	s.keys.Store(keys)
	return keys, nil
}

func (s *jwksSource) key(ctx context.Context, kid string, hasKID bool) (*verifyKey, error) {
	if k := s.keys.Load().lookup(kid, hasKID); k != nil || !hasKID {
		return k, nil
	}
	return s.refetch(ctx, kid), nil
}

// refetch fetches the set again for a kid it does not hold, unless that was
// done less than a miss interval ago, and returns the kid's key if the set
// now has it. Concurrent callers share one fetch; a caller stops waiting
// when its ctx ends.
func (s *jwksSource) refetch(ctx context.Context, kid string) *verifyKey {
	if !s.refetchDue() {
		return nil
	}
	ch := s.flight.DoChan("", func() (any, error) {
		if !s.refetchDue() { // a flight that just ended did it
			return nil, nil
		}
		// No timeout of its own: the client's bounds the fetch, and no
		// other refetch may be queued while this one is.
		if err := s.ctrl.Refresh(s.ctx, s.url); err != nil {
			slog.Warn("authkit: JWKS refetch for an unknown kid failed; the last good keys stay in use", "url", s.logURL, "err", err)
		}
		s.lastMiss.Store(s.now().UnixNano())
		return nil, nil
	})
	select {
	case <-ch:
	case <-ctx.Done():
		return nil
	}
	return s.keys.Load().lookup(kid, true)
}

func (s *jwksSource) refetchDue() bool {
	last := s.lastMiss.Load()
	return (last == 0 || s.now().UnixNano()-last >= int64(s.cfg.miss)) && s.ctx.Err() == nil
}

// keysOf converts a fetched set. A key that cannot be used is skipped and
// logged, and so are all keys of a kid that appears more than once. A key
// equal to one in prev (same kid, algorithm and public key) is reused, so
// that refetching an unchanged set yields the same keys.
func (s *jwksSource) keysOf(set jwk.Set, prev *keySet) (*keySet, error) {
	n := set.Len()
	keys := make([]*verifyKey, 0, n)
	count := make(map[string]int, n)
	for i := range n {
		k, _ := set.Key(i)
		vk, err := verifyKeyFromJWK(k, i, n > 1)
		if err != nil {
			slog.Warn("authkit: JWKS key skipped", "url", s.logURL, "err", err)
			continue
		}
		if prev != nil {
			if old := prev.byID[vk.id]; old != nil && sameKey(old, vk) {
				vk = old
			}
		}
		count[vk.id]++
		keys = append(keys, vk)
	}
	usable := make([]*verifyKey, 0, len(keys))
	for _, k := range keys {
		switch c := count[k.id]; {
		case c == 1:
			usable = append(usable, k)
		case c > 1:
			slog.Warn("authkit: JWKS keys skipped: kid used more than once", "url", s.logURL, "kid", k.id)
			count[k.id] = 0 // log once
		}
	}
	if len(usable) == 0 {
		return nil, errors.New("the JWK Set holds no usable key")
	}
	return newKeySet(usable)
}

func sameKey(a, b *verifyKey) bool {
	pub, ok := a.public.(interface{ Equal(crypto.PublicKey) bool })
	return ok && a.id == b.id && a.alg == b.alg && pub.Equal(b.public)
}
