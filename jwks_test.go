package authkit

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// jwksServer is a JWKS endpoint that counts its requests and can be made to
// fail or to hold requests.
type jwksServer struct {
	*httptest.Server
	hits    atomic.Int64
	body    atomic.Pointer[[]byte]
	status  atomic.Int64                  // 0: 200 with body
	gate    atomic.Pointer[chan struct{}] // when set, requests wait until it is closed
	arrived chan struct{}                 // one value per request that found a gate
}

func newJWKSServer(t *testing.T, body []byte) *jwksServer {
	t.Helper()
	s := &jwksServer{arrived: make(chan struct{}, 100)}
	s.set(body)
	s.Server = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.hits.Add(1)
		if g := s.gate.Load(); g != nil {
			s.arrived <- struct{}{}
			<-*g
		}
		if st := s.status.Load(); st != 0 {
			http.Error(w, "unavailable", int(st))
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write(*s.body.Load())
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *jwksServer) set(body []byte) { s.body.Store(&body); s.status.Store(0) }
func (s *jwksServer) fail(status int) { s.status.Store(int64(status)) }

// hold makes requests wait until the returned function is called.
func (s *jwksServer) hold() (release func()) {
	g := make(chan struct{})
	s.gate.Store(&g)
	return func() { s.gate.Store(nil); close(g) }
}

// testSigner is an ES256 key of the identity provider.
type testSigner struct {
	kid string
	key *ecdsa.PrivateKey
}

func newTestSigner(t *testing.T, kid string) testSigner {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return testSigner{kid: kid, key: k}
}

// jwk returns the public JWK of s as JSON (without kid when s has none).
func (s testSigner) jwk(t testing.TB) string {
	t.Helper()
	return ecJWK(&s.key.PublicKey, s.kid)
}

// jwksOf returns a JWK Set of the given signers and raw JWK objects.
func jwksOf(t testing.TB, keys ...any) []byte {
	t.Helper()
	var parts []string
	for _, k := range keys {
		switch k := k.(type) {
		case testSigner:
			parts = append(parts, k.jwk(t))
		case string:
			parts = append(parts, k)
		}
	}
	return []byte(`{"keys":[` + strings.Join(parts, ",") + `]}`)
}

// token signs an access token issued at now, with the header
// {"alg":"ES256","typ":"at+jwt","kid":s.kid} plus the extra members given as
// JSON text (e.g. `,"jku":"https://x"`), or exactly header when it starts with "{".
func (s testSigner) token(t testing.TB, now time.Time, header string) string {
	t.Helper()
	if !strings.HasPrefix(header, "{") {
		header = fmt.Sprintf(`{"alg":"ES256","typ":"at+jwt","kid":%q%s}`, s.kid, header)
	}
	claims := fmt.Sprintf(`{"iss":"https://issuer.test","sub":"alice","aud":"api","exp":%d,"iat":%d}`,
		now.Add(5*time.Minute).Unix(), now.Unix())
	return buildToken(header, claims, signES(s.key))
}

func newJWKSAuth(t *testing.T, ctx context.Context, srv *jwksServer, clock *testClock, opts ...Option) (*JWT[string], error) {
	t.Helper()
	if !slices.ContainsFunc(opts, func(o Option) bool { return o.name == "WithHTTPClient" }) {
		opts = append(opts, WithHTTPClient(srv.Client()))
	}
	opts = append([]Option{WithIssuer("https://issuer.test"), WithAudience("api"),
		WithClock(clock.Now), WithJWKSURL(ctx, srv.URL+"/jwks.json")}, opts...)
	return fetchedJWT(func(_ context.Context, c *Claims) (string, error) { return c.Subject, nil }, opts...)
}

func mustJWKSAuth(t *testing.T, srv *jwksServer, clock *testClock, opts ...Option) *JWT[string] {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	j, err := newJWKSAuth(t, ctx, srv, clock, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return j
}

// authenticate sends token as a bearer token through j.
func authenticate(j *JWT[string], token string) (string, error) {
	r := httptest.NewRequest("GET", "/", nil)
	r.Header.Set("Authorization", "Bearer "+token)
	return j.Authenticate(r)
}

func wantAccepted(t *testing.T, j *JWT[string], token, what string) {
	t.Helper()
	if u, err := authenticate(j, token); err != nil || u != "alice" {
		t.Fatalf("%s: got (%q, %v), want alice", what, u, err)
	}
}

func wantRefused(t *testing.T, j *JWT[string], token, what string) {
	t.Helper()
	if _, err := authenticate(j, token); !errors.Is(err, ErrInvalidToken) {
		t.Fatalf("%s: got %v, want ErrInvalidToken", what, err)
	}
}

func wantHits(t *testing.T, srv *jwksServer, want int64, when string) {
	t.Helper()
	if got := srv.hits.Load(); got != want {
		t.Fatalf("%s: the JWKS endpoint got %d requests, want %d", when, got, want)
	}
}

func sourceOf(j *JWT[string]) *jwksSource { return j.v.keys.(*discoverySource).src.Load() }

func TestJWKSRotation(t *testing.T) {
	a, b := newTestSigner(t, "a"), newTestSigner(t, "b")
	srv := newJWKSServer(t, jwksOf(t, a))
	clock := newTestClock(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	j := mustJWKSAuth(t, srv, clock)
	wantHits(t, srv, 1, "after NewJWT")
	tokA := a.token(t, clock.Now(), "")
	wantAccepted(t, j, tokA, "key a") // now in the verified-token cache
	wantHits(t, srv, 1, "after a token with a known kid")

	srv.set(jwksOf(t, b)) // the provider rotates: b appears, a goes
	wantAccepted(t, j, b.token(t, clock.Now(), ""), "new key b, first request")
	wantHits(t, srv, 2, "after the first token with kid b")
	wantAccepted(t, j, b.token(t, clock.Now(), ""), "new key b, second request")
	wantRefused(t, j, a.token(t, clock.Now(), ""), "removed key a")
	// A token of key a verified before the rotation is in the cache: a hit
	// must still find its key configured, so the same bytes are refused now.
	wantRefused(t, j, tokA, "cached token of removed key a")
	wantHits(t, srv, 2, "after the refused kid a, within the miss interval")

	clock.Advance(defaultJWKSMissInterval)
	wantRefused(t, j, a.token(t, clock.Now(), ""), "removed key a, after the miss interval")
	wantHits(t, srv, 3, "after kid a, once the miss interval passed")
}

func TestJWKSUnknownKIDRateLimited(t *testing.T) {
	a := newTestSigner(t, "a")
	srv := newJWKSServer(t, jwksOf(t, a))
	clock := newTestClock(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	j := mustJWKSAuth(t, srv, clock, WithJWKSRefresh(15*time.Minute, 30*time.Second))

	wantRefused(t, j, newTestSigner(t, "x1").token(t, clock.Now(), ""), "unknown kid x1")
	wantHits(t, srv, 2, "after the first unknown kid")
	for i := range 50 {
		wantRefused(t, j, newTestSigner(t, fmt.Sprintf("rnd%d", i)).token(t, clock.Now(), ""), "random kid")
	}
	wantAccepted(t, j, a.token(t, clock.Now(), ""), "known kid a")
	wantHits(t, srv, 2, "after 50 random kids within the miss interval")

	clock.Advance(29 * time.Second)
	wantRefused(t, j, newTestSigner(t, "x2").token(t, clock.Now(), ""), "unknown kid x2")
	wantHits(t, srv, 2, "just before the miss interval ends")

	clock.Advance(time.Second)
	wantRefused(t, j, newTestSigner(t, "x3").token(t, clock.Now(), ""), "unknown kid x3")
	wantHits(t, srv, 3, "once the miss interval passed")
	wantRefused(t, j, newTestSigner(t, "x4").token(t, clock.Now(), ""), "unknown kid x4")
	wantHits(t, srv, 3, "right after that refetch")
}

func TestJWKSEndpointDownKeepsLastKeys(t *testing.T) {
	a, c := newTestSigner(t, "a"), newTestSigner(t, "c")
	for _, tc := range []struct {
		name   string
		break_ func(*jwksServer)
	}{
		{"500", func(s *jwksServer) { s.fail(http.StatusInternalServerError) }},
		{"404", func(s *jwksServer) { s.fail(http.StatusNotFound) }},
		{"not JSON", func(s *jwksServer) { s.set([]byte("<html>maintenance</html>")) }},
		{"no keys", func(s *jwksServer) { s.set([]byte(`{"keys":[]}`)) }},
		{"no usable key", func(s *jwksServer) {
			s.set(jwksOf(t, `{"kty":"oct","kid":"s","k":"c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0"}`))
		}},
		{"unreachable", func(s *jwksServer) { s.Close() }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := newJWKSServer(t, jwksOf(t, a))
			clock := newTestClock(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
			j := mustJWKSAuth(t, srv, clock)

			tc.break_(srv)
			// An unknown kid makes the source refetch, which fails.
			wantRefused(t, j, c.token(t, clock.Now(), ""), "unknown kid c")
			if tc.name != "unreachable" {
				wantHits(t, srv, 2, "after the unknown kid")
			}
			wantAccepted(t, j, a.token(t, clock.Now(), ""), "last good key a")
			if tc.name == "unreachable" {
				return
			}

			srv.set(jwksOf(t, a, c)) // the endpoint recovers
			clock.Advance(defaultJWKSMissInterval)
			wantAccepted(t, j, c.token(t, clock.Now(), ""), "key c after recovery")
			wantAccepted(t, j, a.token(t, clock.Now(), ""), "key a after recovery")
			wantHits(t, srv, 3, "after recovery")
		})
	}
}

func TestJWKSBackgroundRefresh(t *testing.T) {
	a, b := newTestSigner(t, "a"), newTestSigner(t, "b")
	srv := newJWKSServer(t, jwksOf(t, a))
	clock := newTestClock(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	// One second is below what WithJWKSRefreshInterval accepts; set it
	// directly so the test does not wait minutes.
	j := mustJWKSAuth(t, srv, clock, optionFor("test", forJWT, func(c *jwtConfig) error { c.jwks.refresh = time.Second; return nil }))
	src := sourceOf(j)

	srv.set(jwksOf(t, b))
	// Only the background refresh can bring b in: nothing here asks for a
	// refetch.
	waitFor(t, "the background refresh to replace key a by key b", func() bool {
		ks := src.keys.Load()
		return ks.lookup("b", true) != nil && ks.lookup("a", true) == nil
	})
	wantAccepted(t, j, b.token(t, clock.Now(), ""), "key b")

	srv.fail(http.StatusServiceUnavailable)
	h := srv.hits.Load()
	waitFor(t, "a failed background refresh", func() bool { return srv.hits.Load() > h })
	wantAccepted(t, j, b.token(t, clock.Now(), ""), "key b after a failed refresh")
}

// waitFor polls cond until it holds, for at most 20 seconds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestJWKSStartFailure(t *testing.T) {
	rsaSmall, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	rsa1024 := rsaJWK(&rsaSmall.PublicKey, "r", "")
	for _, tc := range []struct {
		name    string
		prepare func(*jwksServer)
		want    string
	}{
		{"500", func(s *jwksServer) { s.fail(500) }, "status code=500"},
		{"404", func(s *jwksServer) { s.fail(404) }, "status code=404"},
		{"not JSON", func(s *jwksServer) { s.set([]byte("<html></html>")) }, "failed to parse"},
		{"no keys", func(s *jwksServer) { s.set([]byte(`{"keys":[]}`)) }, "no usable key"},
		{"only unusable keys", func(s *jwksServer) {
			s.set(jwksOf(t, rsa1024, `{"kty":"oct","kid":"s","k":"c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0"}`))
		}, "no usable key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := newJWKSServer(t, nil)
			tc.prepare(srv)
			// With an hour-long client timeout, only the fast failure path
			// can end NewJWT: a regression hangs the test.
			client := *srv.Client()
			client.Timeout = time.Hour
			_, err := newJWKSAuth(t, t.Context(), srv, newTestClock(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)), WithHTTPClient(&client))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("NewJWT: got %v, want an error mentioning %q", err, tc.want)
			}
			wantHits(t, srv, 1, "after NewJWT")
		})
	}
	t.Run("unreachable", func(t *testing.T) {
		srv := newJWKSServer(t, nil)
		srv.Close()
		if _, err := newJWKSAuth(t, t.Context(), srv, newTestClock(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))); err == nil {
			t.Fatal("NewJWT succeeded with the endpoint down")
		}
	})
}

func TestJWKSHeaderKeysNeverFollowed(t *testing.T) {
	a := newTestSigner(t, "a")
	srv := newJWKSServer(t, jwksOf(t, a))
	attacker := newTestSigner(t, "a") // same kid as the real key
	evil := newJWKSServer(t, jwksOf(t, attacker))
	clock := newTestClock(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	j := mustJWKSAuth(t, srv, clock)

	cert := base64.StdEncoding.EncodeToString([]byte("not really a certificate"))
	for _, tc := range []struct{ name, header string }{
		{"jku", fmt.Sprintf(`,"jku":%q`, evil.URL+"/jwks.json")},
		{"x5u", fmt.Sprintf(`,"x5u":%q`, evil.URL+"/cert.pem")},
		{"jwk", `,"jwk":` + attacker.jwk(t)},
		{"x5c", fmt.Sprintf(`,"x5c":[%q]`, cert)},
		{"jku, unknown kid", fmt.Sprintf(`{"alg":"ES256","typ":"at+jwt","kid":"zz","jku":%q}`, evil.URL+"/jwks.json")},
		{"jku, no kid", fmt.Sprintf(`{"alg":"ES256","typ":"at+jwt","jku":%q}`, evil.URL+"/jwks.json")},
	} {
		wantRefused(t, j, attacker.token(t, clock.Now(), tc.header), tc.name)
	}
	wantHits(t, evil, 0, "the attacker's server")
	wantHits(t, srv, 1, "the JWKS endpoint (no refetch for refused headers)")
}

func TestJWKSTokenWithoutKID(t *testing.T) {
	a, b := newTestSigner(t, "a"), newTestSigner(t, "b")
	noKID := `{"alg":"ES256","typ":"at+jwt"}`
	srv := newJWKSServer(t, jwksOf(t, a))
	clock := newTestClock(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	j := mustJWKSAuth(t, srv, clock)
	wantAccepted(t, j, a.token(t, clock.Now(), noKID), "no kid, single-key set")

	srv2 := newJWKSServer(t, jwksOf(t, a, b))
	j2 := mustJWKSAuth(t, srv2, clock)
	wantRefused(t, j2, a.token(t, clock.Now(), noKID), "no kid, two-key set")
	wantHits(t, srv2, 1, "after a token without kid")
}

func TestJWKSSkipsUnusableKeys(t *testing.T) {
	var logs bytes.Buffer
	old := slog.Default()
	slog.SetDefault(slog.New(slog.NewTextHandler(&logs, nil)))
	t.Cleanup(func() { slog.SetDefault(old) })

	rsaSmall, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	a, d1, d2, e := newTestSigner(t, "a"), newTestSigner(t, "d"), newTestSigner(t, "d"), newTestSigner(t, "e")
	encKey := strings.Replace(e.jwk(t), `"kty"`, `"use":"enc","kty"`, 1)
	noKID := newTestSigner(t, "").jwk(t)
	srv := newJWKSServer(t, jwksOf(t,
		a,
		`{"kty":"PQ","kid":"pq","x":"AAAA"}`,
		rsaJWK(&rsaSmall.PublicKey, "r", ""),
		`{"kty":"oct","kid":"s","k":"c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0"}`,
		encKey,
		d1, d2,
		noKID,
	))
	clock := newTestClock(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	j := mustJWKSAuth(t, srv, clock)

	wantAccepted(t, j, a.token(t, clock.Now(), ""), "the usable key a")
	wantRefused(t, j, d1.token(t, clock.Now(), ""), "duplicated kid d (first key)")
	wantRefused(t, j, d2.token(t, clock.Now(), ""), "duplicated kid d (second key)")
	wantRefused(t, j, e.token(t, clock.Now(), ""), "kid e with use enc")
	if got := len(sourceOf(j).keys.Load().byID); got != 1 {
		t.Errorf("the source holds %d keys, want 1", got)
	}
	out := logs.String()
	for _, want := range []string{`JWK \"pq\"`, `JWK \"r\"`, `JWK \"s\"`, `JWK \"e\"`, "kid=d", "JWK 7 has no kid"} {
		if !strings.Contains(out, want) {
			t.Errorf("log does not mention %s:\n%s", want, out)
		}
	}
}

func TestJWKSKeysReusedAcrossFetches(t *testing.T) {
	a := newTestSigner(t, "a")
	srv := newJWKSServer(t, jwksOf(t, a))
	clock := newTestClock(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	j := mustJWKSAuth(t, srv, clock)
	src := sourceOf(j)
	set := src.keys.Load()
	before := set.lookup("a", true)

	wantRefused(t, j, newTestSigner(t, "x").token(t, clock.Now(), ""), "unknown kid") // refetches the same set
	wantHits(t, srv, 2, "after the unknown kid")
	if src.keys.Load() == set {
		t.Fatal("the refetched set was not taken up")
	}
	if after := src.keys.Load().lookup("a", true); after != before {
		t.Error("an unchanged key was converted again; it should be reused")
	}
}

func TestJWKSKnownKIDNeverWaitsForAFetch(t *testing.T) {
	a, b := newTestSigner(t, "a"), newTestSigner(t, "b")
	srv := newJWKSServer(t, jwksOf(t, a))
	clock := newTestClock(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	j := mustJWKSAuth(t, srv, clock)

	srv.set(jwksOf(t, a, b))
	release := srv.hold()
	done := make(chan error, 1)
	go func() { _, err := authenticate(j, b.token(t, clock.Now(), "")); done <- err }()
	<-srv.arrived // the refetch for kid b is now in flight, held by the server

	ok := make(chan error, 1)
	go func() { _, err := authenticate(j, a.token(t, clock.Now(), "")); ok <- err }()
	select {
	case err := <-ok:
		if err != nil {
			t.Fatalf("key a during a refetch: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a token with a known kid waited for the refetch")
	}
	release()
	if err := <-done; err != nil {
		t.Fatalf("key b after the refetch: %v", err)
	}
	wantHits(t, srv, 2, "at the end")
}

func TestJWKSWaitEndsWithRequestContext(t *testing.T) {
	a, b := newTestSigner(t, "a"), newTestSigner(t, "b")
	srv := newJWKSServer(t, jwksOf(t, a))
	clock := newTestClock(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	j := mustJWKSAuth(t, srv, clock)

	srv.set(jwksOf(t, a, b))
	release := srv.hold()
	defer release()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		r := httptest.NewRequestWithContext(ctx, "GET", "/", nil)
		r.Header.Set("Authorization", "Bearer "+b.token(t, clock.Now(), ""))
		_, err := j.Authenticate(r)
		done <- err
	}()
	<-srv.arrived // the refetch is in flight
	cancel()
	if err := <-done; !errors.Is(err, ErrInvalidToken) {
		t.Fatalf("a request whose context ended while waiting: got %v, want ErrInvalidToken", err)
	}
}

func TestJWKSConcurrent(t *testing.T) {
	a, b := newTestSigner(t, "a"), newTestSigner(t, "b")
	srv := newJWKSServer(t, jwksOf(t, a))
	clock := newTestClock(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	j := mustJWKSAuth(t, srv, clock)
	now := clock.Now()
	ta, tb := a.token(t, now, ""), b.token(t, now, "")
	random := make([]string, 20)
	for i := range random {
		random[i] = newTestSigner(t, fmt.Sprintf("r%d", i)).token(t, now, "")
	}

	srv.set(jwksOf(t, a, b))
	release := srv.hold()
	var wg sync.WaitGroup
	errs := make(chan error, 1000)
	for g := range 16 {
		wg.Go(func() {
			for i := range 20 {
				if _, err := authenticate(j, ta); err != nil {
					errs <- fmt.Errorf("key a: %w", err)
				}
				if _, err := authenticate(j, random[(g+i)%len(random)]); !errors.Is(err, ErrInvalidToken) {
					errs <- fmt.Errorf("random kid: got %v", err)
				}
			}
			if _, err := authenticate(j, tb); err != nil {
				errs <- fmt.Errorf("key b: %w", err)
			}
		})
	}
	<-srv.arrived
	release()
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	wantHits(t, srv, 2, "after 16 goroutines with known, new and random kids")
}

func TestJWKSStopsWhenContextEnds(t *testing.T) {
	a := newTestSigner(t, "a")
	srv := newJWKSServer(t, jwksOf(t, a))
	clock := newTestClock(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	srv.Client().CloseIdleConnections()
	before := runtime.NumGoroutine()

	ctx, cancel := context.WithCancel(context.Background())
	j, err := newJWKSAuth(t, ctx, srv, clock)
	if err != nil {
		t.Fatal(err)
	}
	if n := runtime.NumGoroutine(); n <= before {
		t.Fatalf("no goroutine started (%d before, %d after)", before, n)
	}
	cancel()
	// Shutdown returns once every goroutine of the cache has ended.
	sctx, scancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer scancel()
	if err := sourceOf(j).ctrl.ShutdownContext(sctx); err != nil {
		t.Fatalf("the cache did not stop: %v", err)
	}
	srv.Client().CloseIdleConnections()
	waitFor(t, "the goroutine count to return to its level before NewJWT", func() bool {
		return runtime.NumGoroutine() <= before
	})

	wantAccepted(t, j, a.token(t, clock.Now(), ""), "key a after cancellation")
	wantRefused(t, j, newTestSigner(t, "x").token(t, clock.Now(), ""), "unknown kid after cancellation")
	wantHits(t, srv, 1, "after cancellation")
}

func TestJWKSFailedNewJWTStartsNothing(t *testing.T) {
	a := newTestSigner(t, "a")
	srv := newJWKSServer(t, jwksOf(t, a))
	ctx := t.Context()
	jwks := WithJWKSURL(ctx, srv.URL)
	client := WithHTTPClient(srv.Client())
	toUser := func(_ context.Context, c *Claims) (string, error) { return c.Subject, nil }
	for name, opts := range map[string][]Option{
		"no issuer":      {WithAudience("api"), jwks, client},
		"static key":     {WithIssuer("i"), WithAudience("api"), WithKey("k", a.key), jwks, client},
		"URL twice":      {WithIssuer("i"), WithAudience("api"), jwks, jwks, client},
		"bad leeway":     {WithIssuer("i"), WithAudience("api"), WithLeeway(time.Hour), jwks, client},
		"client, no URL": {WithIssuer("i"), WithAudience("api"), WithKey("k", a.key), client},
	} {
		if _, err := NewJWT(toUser, opts...); err == nil {
			t.Errorf("%s: NewJWT succeeded", name)
		}
	}
	wantHits(t, srv, 0, "after refused configurations")
}

func TestWithJWKSURLValidation(t *testing.T) {
	srv := newJWKSServer(t, jwksOf(t, newTestSigner(t, "a")))
	var nilCtx context.Context
	for _, tc := range []struct {
		name string
		opts []Option
		want string
	}{
		{"http", []Option{WithJWKSURL(t.Context(), "http://idp.test/jwks")}, "must be https"},
		{"no scheme", []Option{WithJWKSURL(t.Context(), "idp.test/jwks")}, "must be https"},
		{"no host", []Option{WithJWKSURL(t.Context(), "https:///jwks")}, "no host"},
		{"bad URL", []Option{WithJWKSURL(t.Context(), "https://idp.test/%zz")}, "invalid URL escape"},
		{"nil ctx", []Option{WithJWKSURL(nilCtx, srv.URL)}, "nil context"},
		{"nil client", []Option{WithJWKSURL(t.Context(), srv.URL), WithHTTPClient(nil)}, "WithHTTPClient(nil)"},
		{"short refresh", []Option{WithJWKSURL(t.Context(), srv.URL), WithJWKSRefresh(30*time.Second, time.Minute)}, "at least 1m0s"},
		{"short miss", []Option{WithJWKSURL(t.Context(), srv.URL), WithJWKSRefresh(time.Hour, 0)}, "at least 1s"},
	} {
		_, err := NewJWT(func(context.Context, *Claims) (string, error) { return "", nil },
			append([]Option{WithIssuer("i"), WithAudience("a")}, tc.opts...)...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want an error mentioning %q", tc.name, err, tc.want)
		}
	}
	wantHits(t, srv, 0, "after refused options")
}

func TestJWKSHTTPClient(t *testing.T) {
	a := newTestSigner(t, "a")
	clock := newTestClock(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))

	srv := newJWKSServer(t, jwksOf(t, a))
	j := mustJWKSAuth(t, srv, clock) // srv.Client() has no timeout
	if got := sourceOf(j).cfg.client.Timeout; got != defaultJWKSTimeout {
		t.Errorf("timeout of a client without one: %v, want %v", got, defaultJWKSTimeout)
	}
	if srv.Client().Timeout != 0 {
		t.Error("the caller's client was modified")
	}
	c := *srv.Client()
	c.Timeout = 3 * time.Second
	j = mustJWKSAuth(t, srv, clock, WithHTTPClient(&c))
	if got := sourceOf(j).cfg.client.Timeout; got != 3*time.Second {
		t.Errorf("timeout of a client with one: %v, want 3s", got)
	}

	// http only with the insecure opt-out.
	plain := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write(jwksOf(t, a)) }))
	defer plain.Close()
	j, err := fetchedJWT(func(_ context.Context, c *Claims) (string, error) { return c.Subject, nil },
		WithIssuer("https://issuer.test"), WithAudience("api"), WithClock(clock.Now),
		WithJWKSURL(t.Context(), plain.URL), WithInsecureJWKSURL())
	if err != nil {
		t.Fatalf("http with WithJWKSInsecureHTTP: %v", err)
	}
	wantAccepted(t, j, a.token(t, clock.Now(), ""), "key a over http")

	// No redirect from https to http.
	var plainHits atomic.Int64
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		plainHits.Add(1)
		w.Write(jwksOf(t, a))
	}))
	defer target.Close()
	redir := httptest.NewTLSServer(http.RedirectHandler(target.URL, http.StatusFound))
	defer redir.Close()
	_, err = fetchedJWT(func(_ context.Context, c *Claims) (string, error) { return c.Subject, nil },
		WithIssuer("https://issuer.test"), WithAudience("api"),
		WithJWKSURL(t.Context(), redir.URL), WithHTTPClient(redir.Client()))
	if err == nil || !strings.Contains(err.Error(), "redirect") {
		t.Errorf("redirect to http: got %v, want a redirect error", err)
	}
	if plainHits.Load() != 0 {
		t.Error("the redirect to http was followed")
	}
}

// BenchmarkJWKSLookup compares the key lookup of a JWKS source with the
// static key set's.
func BenchmarkJWKSLookup(b *testing.B) {
	signers := make([]any, 4)
	for i := range signers {
		k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		signers[i] = testSigner{kid: fmt.Sprintf("kid-%d", i), key: k}
	}
	body := jwksOf(b, signers...)
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write(body) }))
	defer srv.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cfg, err := newJWTConfig([]Option{WithIssuer("i"), WithAudience("a"),
		WithJWKSURL(ctx, srv.URL), WithHTTPClient(srv.Client())})
	if err != nil {
		b.Fatal(err)
	}
	v, err := cfg.verifier()
	if err != nil {
		b.Fatal(err)
	}
	// The set is fetched in the background: wait for the first fetch.
	for deadline := time.Now().Add(10 * time.Second); v.keys.(*discoverySource).ready() != nil; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			b.Fatalf("JWK Set not fetched: %v", v.keys.(*discoverySource).ready())
		}
	}
	var static []*verifyKey
	for _, s := range signers {
		k, _ := newVerifyKey(s.(testSigner).kid, "", &s.(testSigner).key.PublicKey)
		static = append(static, k)
	}
	set, _ := newKeySet(static)
	for _, src := range []struct {
		name string
		ks   keySource
	}{{"static", set}, {"jwks", v.keys}} {
		b.Run(src.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if k, _ := src.ks.key(ctx, "kid-2", true); k == nil {
					b.Fatal("no key")
				}
			}
		})
		b.Run(src.name+"/unknown-kid", func(b *testing.B) {
			// Within the miss interval: refused from memory.
			src.ks.key(ctx, "nope", true)
			b.ReportAllocs()
			for b.Loop() {
				if k, _ := src.ks.key(ctx, "nope", true); k != nil {
					b.Fatal("a key for an unknown kid")
				}
			}
		})
		b.Run(src.name+"/parallel", func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if k, _ := src.ks.key(ctx, "kid-2", true); k == nil {
						panic("no key")
					}
				}
			})
		})
	}
}
