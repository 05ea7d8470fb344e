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
// without usable keys refused (the last good one stays, less any key the
// refused set publishes with its private part), and a rate-limited refetch
// for unknown kids.

// The JWKS source's limits and defaults; see the JWKS options in jwt.go.
const (
	defaultJWKSRefreshInterval = 15 * time.Minute
	defaultJWKSMissInterval    = time.Minute
	defaultJWKSTimeout         = 10 * time.Second

	minJWKSRefreshInterval = time.Minute
	minJWKSMissInterval    = time.Second
	maxJWKSBodySize        = 1 << 20
)

// jwksConfig is what the JWKS options of NewJWT set.
type jwksConfig struct {
	client       *http.Client
	refresh      time.Duration
	miss         time.Duration
	insecureHTTP bool
	events       eventHook
	issuer       string // whose keys, for the events
}

func defaultJWKSConfig() jwksConfig {
	return jwksConfig{refresh: defaultJWKSRefreshInterval, miss: defaultJWKSMissInterval}
}

// jwksSource is a keySource over a JWK Set URL. Its keys are replaced as a
// whole, through an atomic pointer, by every good fetch.
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

// startJWKSSource checks the URL, builds the source and fetches the set
// once: it returns an error when that fetch fails.
func startJWKSSource(ctx context.Context, raw string, cfg jwksConfig, now func() time.Time) (*jwksSource, error) {
	u, err := checkJWKSURL(raw, cfg)
	if err != nil {
		return nil, err
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
		cfg.client.Timeout = defaultJWKSTimeout
	}
	s := &jwksSource{url: raw, logURL: u.Redacted(), cfg: cfg, parent: ctx}
	if err := s.start(now); err != nil {
		return nil, err
	}
	return s, nil
}

// checkJWKSURL parses a JWK Set URL: https, or http with
// WithInsecureJWKSURL, with a host.
func checkJWKSURL(raw string, cfg jwksConfig) (*url.URL, error) {
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		return nil, fmt.Errorf("WithJWKSURL: %w", err)
	case u.Scheme != "https" && (u.Scheme != "http" || !cfg.insecureHTTP):
		return nil, fmt.Errorf("WithJWKSURL(%q): the URL must be https (or http with WithInsecureJWKSURL)", u.Redacted())
	case u.Host == "":
		return nil, fmt.Errorf("WithJWKSURL(%q): the URL has no host", u.Redacted())
	}
	return u, nil
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

// start registers the set with httprc and waits for its first fetch.
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
	s.cfg.events.emit(s.parent, Event{Type: EventKeysFetchFailed, Issuer: s.cfg.issuer, Err: err})
	if !s.started.Load() {
		s.failStart(err)
		return
	}
	slog.Warn("authkit: JWKS refresh failed; the last good keys stay in use", "url", s.logURL, "err", err)
}

// transform turns a fetched JWK Set (the cache has checked the status: 200)
// into keys and makes them current. It runs in the cache's worker, once per
// fetch. A set without any usable key is an error, which leaves the last
// good keys in place, less those the set publishes as private (keysOf).
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
	if keys != nil {
		s.keys.Store(keys)
	}
	if err != nil {
		return nil, err
	}
	s.cfg.events.emit(s.parent, Event{Type: EventKeysFetched, Issuer: s.cfg.issuer})
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
		// The events go out on the context of the request that started the
		// fetch (its values only: a span of that request encloses the fetch).
		start := time.Now()
		defer func() {
			s.cfg.events.emit(ctx, Event{Type: EventKeysRefetch, Issuer: s.cfg.issuer, Duration: time.Since(start)})
		}()
		if err := s.ctrl.Refresh(s.ctx, s.url); err != nil {
			s.cfg.events.emit(ctx, Event{Type: EventKeysFetchFailed, Issuer: s.cfg.issuer, Err: err})
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
//
// A key published with private members is compromised: it is logged as a
// security incident, and no key with its kid or its public key verifies from
// then on, in this set or in prev. A set without any usable key is an error
// that leaves prev in use, except for the compromised keys: keysOf then
// returns prev without them (possibly empty) along with the error.
func (s *jwksSource) keysOf(set jwk.Set, prev *keySet) (*keySet, error) {
	n := set.Len()
	keys := make([]*verifyKey, 0, n)
	count := make(map[string]int, n)
	var leaked []leakedKey
	for i := range n {
		k, _ := set.Key(i)
		if l, ok := leakedKeyOf(k); ok {
			slog.Error("authkit: JWKS security incident: a private key was published in the JWK Set; "+
				"the key is refused and tokens signed with it no longer verify (treat it as compromised and replace it)",
				"url", s.logURL, "kid", l.kid, "member", l.member)
			leaked = append(leaked, l)
			continue
		}
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
		case isLeaked(k, leaked):
			slog.Error("authkit: JWKS key refused: its private part is published in the same set", "url", s.logURL, "kid", k.id)
		case c == 1:
			usable = append(usable, k)
		case c > 1:
			slog.Warn("authkit: JWKS keys skipped: kid used more than once", "url", s.logURL, "kid", k.id)
			count[k.id] = 0 // log once
		}
	}
	if len(usable) > 0 {
		return newKeySet(usable)
	}
	err := errors.New("the JWK Set holds no usable key")
	if len(leaked) == 0 || prev == nil {
		return nil, err
	}
	var kept []*verifyKey
	for _, k := range prev.byID {
		if !isLeaked(k, leaked) {
			kept = append(kept, k)
		}
	}
	if len(kept) == len(prev.byID) {
		return nil, err
	}
	rest, kerr := newKeySet(kept) // a subset of a valid set: no duplicate kid
	if kerr != nil {
		return nil, errors.Join(err, kerr)
	}
	if prev.only == nil {
		rest.only = nil // a token without kid had no key; it gets none now
	}
	return rest, fmt.Errorf("%w; the keys whose private part it publishes were dropped from the last good keys, %d remain", err, len(kept))
}

// leakedKey is a key that a JWK Set published with private members.
type leakedKey struct {
	kid, member string
	public      crypto.PublicKey // nil when it cannot be derived
}

// leakedKeyOf reports whether k carries a private member, and which.
func leakedKeyOf(k jwk.Key) (leakedKey, bool) {
	for _, m := range jwkPrivateMembers {
		if k.Has(m) {
			l := leakedKey{member: m}
			l.kid, _ = k.KeyID()
			if pk, err := k.PublicKey(); err == nil {
				var raw any
				if jwk.Export(pk, &raw) == nil {
					l.public = raw
				}
			}
			return l, true
		}
	}
	return leakedKey{}, false
}

// isLeaked reports whether k has the kid or the public key of a leaked key.
func isLeaked(k *verifyKey, leaked []leakedKey) bool {
	pub, _ := k.public.(interface{ Equal(crypto.PublicKey) bool })
	for _, l := range leaked {
		if l.kid != "" && l.kid == k.id || pub != nil && l.public != nil && pub.Equal(l.public) {
			return true
		}
	}
	return false
}

func sameKey(a, b *verifyKey) bool {
	pub, ok := a.public.(interface{ Equal(crypto.PublicKey) bool })
	return ok && a.id == b.id && a.alg == b.alg && pub.Equal(b.public)
}
