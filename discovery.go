package authkit

import (
	"context"
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
)

// This file is the trusted-issuer key source: OpenID Connect Discovery 1.0
// (RFC 8414 as the fallback) finds the issuer's jwks_uri, in the background,
// and a JWKS source (jwks.go) takes over from there. Until it has keys, a
// token of that issuer is refused with ErrNotReady (503), never accepted.
// WithJWKSURL's source is the same without the discovery step.

const (
	maxDiscoveryBody     = 1 << 20
	maxDiscoveryRetry    = time.Minute // the longest wait between two failed discoveries
	firstDiscoveryRetry  = time.Second
	wellKnownOpenID      = "/.well-known/openid-configuration"
	wellKnownOAuthServer = "/.well-known/oauth-authorization-server"
)

// issuerURL parses an issuer or jwks_uri: https, or (insecure) http on a
// loopback host; no query or fragment for an issuer.
func issuerURL(raw string, issuer bool) (*url.URL, error) {
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		return nil, err
	case u.Host == "" || u.User != nil:
		return nil, fmt.Errorf("%q: need an absolute URL with a host and no user info", raw)
	case issuer && (u.RawQuery != "" || u.Fragment != "" || u.ForceQuery):
		return nil, fmt.Errorf("%q: an issuer has no query or fragment (OpenID Connect Discovery §2)", raw)
	case u.Scheme != "https" && u.Scheme != "http":
		return nil, fmt.Errorf("%q: not https", u.Redacted())
	}
	return u, nil
}

// isLoopback reports whether host is localhost or a loopback address.
func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// checkScheme refuses http unless insecure and the host is loopback.
func checkScheme(u *url.URL, insecure bool) error {
	if u.Scheme == "https" {
		return nil
	}
	if !insecure {
		return fmt.Errorf("%s is not https (WithInsecureJWKSURL allows http on loopback)", u.Redacted())
	}
	if !isLoopback(u.Hostname()) {
		return fmt.Errorf("%s: http is allowed on loopback hosts only", u.Redacted())
	}
	return nil
}

// discoverySource is the keySource of a trusted issuer, and of WithJWKSURL
// (jwksURI set: nothing to discover, the same background first fetch).
type discoverySource struct {
	issuer  string
	jwksURI string // WithJWKSURL's; "" to discover it
	cfg     jwksConfig
	client  *http.Client // for the discovery document: same-origin redirects only
	ctx     context.Context
	now     func() time.Time
	kick    chan struct{}
	src     atomic.Pointer[jwksSource]
	lastErr atomic.Pointer[string]
}

// startDiscovery checks the issuer URL and starts discovery in the
// background; it does no I/O itself.
func startDiscovery(ctx context.Context, issuer string, cfg jwksConfig, now func() time.Time) (*discoverySource, error) {
	u, err := issuerURL(issuer, true)
	if err != nil {
		return nil, err
	}
	if err := checkScheme(u, cfg.insecureHTTP); err != nil {
		return nil, fmt.Errorf("WithTrustedIssuer: %w", err)
	}
	client := &http.Client{Timeout: defaultJWKSTimeout}
	if cfg.client != nil {
		cp := *cfg.client
		client = &cp
		if client.Timeout == 0 {
			client.Timeout = defaultJWKSTimeout
		}
	}
	client.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if len(via) >= 5 {
			return errors.New("stopped after 5 redirects")
		}
		if from, to := urlOrigin(via[0].URL), urlOrigin(req.URL); from != to {
			return fmt.Errorf("refusing a redirect from %s to another origin, %s", from, to)
		}
		return nil
	}
	cfg.issuer = issuer
	s := &discoverySource{issuer: issuer, cfg: cfg, client: client, ctx: ctx, now: now, kick: make(chan struct{}, 1)}
	msg := "discovery has not completed yet"
	s.lastErr.Store(&msg)
	go s.run()
	return s, nil
}

// notFetchedYet is why a WithJWKSURL source is not ready before its first
// fetch ended.
const notFetchedYet = "the JWK Set has not been fetched yet"

// startJWKSURL checks jwksURL and starts fetching it in the background, as
// for a trusted issuer: until the first good fetch, tokens of issuer get
// ErrNotReady.
func startJWKSURL(ctx context.Context, issuer, jwksURL string, cfg jwksConfig, now func() time.Time) (*discoverySource, error) {
	if _, err := checkJWKSURL(jwksURL, cfg); err != nil {
		return nil, err
	}
	s := &discoverySource{issuer: issuer, jwksURI: jwksURL, cfg: cfg, ctx: ctx, now: now, kick: make(chan struct{}, 1)}
	msg := notFetchedYet
	s.lastErr.Store(&msg)
	go s.run()
	return s, nil
}

// run discovers the issuer's keys until it succeeds or ctx ends.
func (s *discoverySource) run() {
	delay := firstDiscoveryRetry
	for {
		err := s.once()
		if err == nil {
			return
		}
		msg := err.Error()
		s.lastErr.Store(&msg)
		s.cfg.events.emit(s.ctx, Event{Type: EventKeysFetchFailed, Issuer: s.issuer, Err: err})
		slog.Warn("authkit: issuer not ready; its tokens are refused (503) until its keys are fetched",
			"issuer", s.issuer, "retry", delay, "err", err)
		t := time.NewTimer(delay)
		select {
		case <-s.ctx.Done():
			t.Stop()
			return
		case <-t.C:
		case <-s.kick: // a token of this issuer arrived: try again early
			t.Stop()
			time.Sleep(firstDiscoveryRetry)
		}
		delay = min(2*delay, maxDiscoveryRetry)
	}
}

// once fetches the discovery document and the key set it names.
func (s *discoverySource) once() error {
	jwksURI := s.jwksURI
	if jwksURI == "" {
		var err error
		if jwksURI, err = s.discover(); err != nil {
			return err
		}
	}
	src, err := startJWKSSource(s.ctx, jwksURI, s.cfg, s.now)
	if err != nil {
		return err
	}
	s.src.Store(src)
	slog.Info("authkit: trusted issuer ready", "issuer", s.issuer, "jwks_uri", src.logURL)
	return nil
}

// discover returns the issuer's jwks_uri: from OpenID Connect Discovery, or,
// where that document is not found, from RFC 8414 metadata (whose well-known
// path goes between host and path, §3.1).
func (s *discoverySource) discover() (string, error) {
	u, _ := issuerURL(s.issuer, true)
	openid := strings.TrimSuffix(s.issuer, "/") + wellKnownOpenID
	jwksURI, status, err := s.metadata(openid)
	if status == http.StatusNotFound || status == http.StatusGone {
		rfc := *u
		rfc.Path = wellKnownOAuthServer + strings.TrimSuffix(u.Path, "/")
		rfc.RawPath = ""
		var err2 error
		jwksURI, _, err2 = s.metadata(rfc.String())
		if err2 != nil {
			return "", fmt.Errorf("%w; %w", err, err2)
		}
		return jwksURI, nil
	}
	return jwksURI, err
}

// metadata fetches one metadata document and checks it.
func (s *discoverySource) metadata(docURL string) (jwksURI string, status int, err error) {
	req, err := http.NewRequestWithContext(s.ctx, http.MethodGet, docURL, nil)
	if err != nil {
		return "", 0, err
	}
	req.Header.Set("Accept", "application/json")
	res, err := s.client.Do(req)
	if err != nil {
		return "", 0, err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return "", res.StatusCode, fmt.Errorf("%s: status %d", docURL, res.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(res.Body, maxDiscoveryBody+1))
	if err != nil {
		return "", res.StatusCode, err
	}
	if len(body) > maxDiscoveryBody {
		return "", res.StatusCode, fmt.Errorf("%s: larger than %d bytes", docURL, maxDiscoveryBody)
	}
	var iss string
	var hasIss bool
	err = parseObject(body, func(name string, value []byte) error {
		var err error
		switch name {
		case "issuer":
			iss, err = jsonString(value)
			hasIss = true
		case "jwks_uri":
			jwksURI, err = jsonString(value)
		}
		if err != nil {
			return fmt.Errorf("%q: %w", name, err)
		}
		return nil
	})
	switch {
	case err != nil:
		return "", res.StatusCode, fmt.Errorf("%s: %w", docURL, err)
	case !hasIss || iss != s.issuer:
		// OpenID Connect Discovery §4.3, RFC 8414 §3.3: exactly equal.
		return "", res.StatusCode, fmt.Errorf("%s: issuer %q is not the configured %q", docURL, iss, s.issuer)
	case jwksURI == "":
		return "", res.StatusCode, fmt.Errorf("%s: no jwks_uri", docURL)
	}
	ju, err := issuerURL(jwksURI, false)
	if err == nil {
		err = checkScheme(ju, s.cfg.insecureHTTP)
	}
	if err != nil {
		return "", res.StatusCode, fmt.Errorf("%s: jwks_uri: %w", docURL, err)
	}
	return jwksURI, res.StatusCode, nil
}

func (s *discoverySource) key(ctx context.Context, kid string, hasKID bool) (*verifyKey, error) {
	if src := s.src.Load(); src != nil {
		return src.key(ctx, kid, hasKID)
	}
	select {
	case s.kick <- struct{}{}:
	default:
	}
	return nil, &authError{kind: ErrNotReady, msg: "issuer " + s.issuer + ": " + *s.lastErr.Load()}
}

// ready reports why the source has no keys yet, or nil.
func (s *discoverySource) ready() error {
	if s.src.Load() != nil {
		return nil
	}
	return &authError{kind: ErrNotReady, msg: "issuer " + s.issuer + ": " + *s.lastErr.Load()}
}
