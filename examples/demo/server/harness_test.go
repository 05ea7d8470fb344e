package server

// The harness of the demo's process-level tests: it builds the demo binary
// once, starts it as a real process on a free loopback port, and signs
// access tokens as the demo's issuer would. Tests of later features (sessions
// across processes, refresh tokens in PostgreSQL) start several processes
// that share a database and a signing key with startDemos and sharedArgs.

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Time limits of the harness; generous, because the race detector and a
// busy CI machine slow everything down.
const (
	startTimeout = 60 * time.Second // from exec to a healthy /healthz
	stopTimeout  = 20 * time.Second // from SIGINT to exit
)

// testIssuer is the issuer that processes sharing state are started with:
// tokens must name one issuer that every process accepts, and the default
// (http://<addr>) differs per process.
const testIssuer = "http://authkit-demo.test"

var (
	buildOnce sync.Once
	buildDir  string // removed by TestMain
	demoBin   string
	buildErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

// buildDemo builds the demo binary once per test run, with the race detector
// when the tests have it, and returns its path.
func buildDemo(t testing.TB) string {
	t.Helper()
	if testing.Short() {
		t.Skip("-short: skipping the tests that build and start the demo binary")
	}
	buildOnce.Do(func() {
		if buildDir, buildErr = os.MkdirTemp("", "authkit-demo-"); buildErr != nil {
			return
		}
		demoBin = filepath.Join(buildDir, "demo")
		args := []string{"build", "-o", demoBin}
		if raceEnabled {
			args = append(args, "-race")
		}
		cmd := exec.Command("go", append(args, "..")...) // the command, examples/demo
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return demoBin
}

// demoProc is a running demo process.
type demoProc struct {
	URL string // e.g. http://127.0.0.1:41234, from the line the demo prints

	t      testing.TB
	cmd    *exec.Cmd
	stdout *lockedBuffer
	stderr *lockedBuffer
	exited chan struct{} // closed when the process has exited
	code   int           // the exit status, once exited is closed
}

// startDemo starts the demo with args (and -addr 127.0.0.1:0 unless args or
// env set the address), waits until /healthz answers, and stops it with SIGINT at the
// end of the test. env, in "KEY=value" form, is added to the test's own
// environment; pass nil for none.
func startDemo(t testing.TB, env []string, args ...string) *demoProc {
	t.Helper()
	bin := buildDemo(t)
	if !hasFlag(args, "addr") && !slices.ContainsFunc(env, func(kv string) bool { return strings.HasPrefix(kv, "AUTHKIT_ADDR=") }) {
		args = append([]string{"-addr", "127.0.0.1:0"}, args...)
	}
	urls := make(chan string, 1)
	p := &demoProc{
		t:      t,
		cmd:    exec.Command(bin, args...),
		stdout: &lockedBuffer{onLine: urlWatcher(urls)},
		stderr: &lockedBuffer{},
		exited: make(chan struct{}),
	}
	p.cmd.Env = demoEnv(env)
	p.cmd.Stdout, p.cmd.Stderr = p.stdout, p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("starting the demo: %v", err)
	}
	go func() {
		err := p.cmd.Wait()
		p.code = exitCode(err)
		close(p.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-p.exited:
		default:
			p.cmd.Process.Signal(syscall.SIGINT)
			select {
			case <-p.exited:
			case <-time.After(stopTimeout):
				p.cmd.Process.Kill()
				<-p.exited
				t.Errorf("demo %s did not stop within %v of SIGINT; killed", p.URL, stopTimeout)
			}
		}
		if t.Failed() {
			t.Logf("demo %s stdout:\n%s\nstderr:\n%s", p.URL, p.stdout, p.stderr)
		}
	})

	deadline := time.After(startTimeout)
	select {
	case p.URL = <-urls:
	case <-p.exited:
		t.Fatalf("the demo exited with status %d before listening; stderr:\n%s", p.code, p.stderr)
	case <-deadline:
		t.Fatalf("the demo printed no URL within %v; stdout:\n%s\nstderr:\n%s", startTimeout, p.stdout, p.stderr)
	}
	for {
		resp, err := http.Get(p.URL + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return p
			}
		}
		select {
		case <-deadline:
			t.Fatalf("%s/healthz not healthy within %v: %v", p.URL, startTimeout, err)
		case <-p.exited:
			t.Fatalf("the demo exited with status %d; stderr:\n%s", p.code, p.stderr)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// startDemos starts n demo processes with the same args, e.g. sharedArgs,
// each on its own port.
func startDemos(t testing.TB, n int, env []string, args ...string) []*demoProc {
	t.Helper()
	ps := make([]*demoProc, n)
	for i := range ps {
		ps[i] = startDemo(t, env, args...)
	}
	return ps
}

// sharedArgs returns the flags that make demo processes share their state:
// one signing key (written to a file, returned too so that the test can sign
// tokens), the issuer testIssuer, and databaseURL when it is not empty.
func sharedArgs(t testing.TB, databaseURL string) ([]string, *signingKey) {
	t.Helper()
	path, key := writeKeyFile(t, "ec")
	args := []string{"-signing-key", path, "-issuer", testIssuer}
	if databaseURL != "" {
		args = append(args, "-database-url", databaseURL)
	}
	return args, key
}

// stop sends sig to the process and returns its exit status.
func (p *demoProc) stop(sig os.Signal) int {
	p.t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		p.t.Fatalf("signal %v: %v", sig, err)
	}
	select {
	case <-p.exited:
		return p.code
	case <-time.After(stopTimeout):
		p.t.Fatalf("demo %s did not exit within %v of %v", p.URL, stopTimeout, sig)
		return -1
	}
}

// do sends a request to the process and returns the answer with its body
// read. header may be nil.
func (p *demoProc) do(method, path string, header http.Header, body io.Reader) (*http.Response, string) {
	p.t.Helper()
	req, err := http.NewRequest(method, p.URL+path, body)
	if err != nil {
		p.t.Fatal(err)
	}
	for k, vs := range header {
		req.Header[k] = vs
	}
	return doRequest(p.t, http.DefaultClient, req)
}

// doRequest sends req with c and reads the whole body.
func doRequest(t testing.TB, c *http.Client, req *http.Request) (*http.Response, string) {
	t.Helper()
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading the body: %v", req.Method, req.URL, err)
	}
	return resp, string(b)
}

// runDemo runs the demo to completion (for flags that make it exit at once)
// and returns its exit status, stdout and stderr.
func runDemo(t testing.TB, env []string, args ...string) (int, string, string) {
	t.Helper()
	cmd := exec.Command(buildDemo(t), args...)
	cmd.Env = demoEnv(env)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		return exitCode(err), stdout.String(), stderr.String()
	case <-time.After(startTimeout):
		cmd.Process.Kill()
		<-done
		t.Fatalf("demo %q still running after %v", args, startTimeout)
		return -1, "", ""
	}
}

// demoEnv returns the environment of a demo process: the test's own plus
// env. A race-enabled binary sleeps a second at exit unless told otherwise.
func demoEnv(env []string) []string {
	base := os.Environ()
	if os.Getenv("GORACE") == "" {
		base = append(base, "GORACE=atexit_sleep_ms=0")
	}
	return append(base, env...)
}

func exitCode(err error) int {
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ee):
		return ee.ExitCode() // -1 when a signal killed it
	}
	return -1
}

func hasFlag(args []string, name string) bool {
	for _, a := range args {
		a = strings.TrimLeft(a, "-")
		if a == name || strings.HasPrefix(a, name+"=") {
			return true
		}
	}
	return false
}

// lockedBuffer collects a process's output; onLine, if set, sees each
// complete line.
type lockedBuffer struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	partial []byte
	onLine  func(string)
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf.Write(p)
	if b.onLine != nil {
		b.partial = append(b.partial, p...)
		for {
			i := bytes.IndexByte(b.partial, '\n')
			if i < 0 {
				break
			}
			b.onLine(string(b.partial[:i]))
			b.partial = b.partial[i+1:]
		}
	}
	return len(p), nil
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// urlWatcher returns a line callback that sends the URL of the demo's
// "listening on" line to urls, once.
func urlWatcher(urls chan<- string) func(string) {
	const prefix = "authkit demo listening on "
	sent := false
	return func(line string) {
		if u, ok := strings.CutPrefix(line, prefix); ok && !sent {
			sent = true
			urls <- u
		}
	}
}

// writeKeyFile writes a fresh PEM PKCS#8 private key of kind "ec" (P-256),
// "ed25519" or "rsa" (2048 bits) into a temporary file and returns the path
// and the key as the demo loads it.
func writeKeyFile(t testing.TB, kind string) (string, *signingKey) {
	t.Helper()
	var priv crypto.Signer
	var err error
	switch kind {
	case "ec":
		priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case "ed25519":
		_, priv, err = ed25519.GenerateKey(rand.Reader)
	case "rsa":
		priv, err = rsa.GenerateKey(rand.Reader, 2048)
	default:
		t.Fatalf("writeKeyFile: unknown kind %q", kind)
	}
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), kind+".pem")
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	key, err := loadSigningKey(path)
	if err != nil {
		t.Fatal(err)
	}
	return path, key
}

// signAccessToken signs an RFC 9068 access token for the user sub with key,
// valid from now for ttl (negative: already expired), as the demo's issuer
// does: iat is the current second, never earlier, since the demo's
// in-memory store refuses tokens issued before the process started.
func signAccessToken(t testing.TB, key *signingKey, iss, aud, sub string, ttl time.Duration) string {
	t.Helper()
	now := time.Now()
	header, _ := json.Marshal(map[string]string{"alg": key.alg, "typ": "at+jwt", "kid": key.kid})
	claims, _ := json.Marshal(map[string]any{
		"iss": iss, "sub": sub, "aud": aud,
		"iat": now.Add(min(ttl, 0)).Unix(), "exp": now.Add(ttl).Unix(),
		"jti": rand.Text(),
	})
	enc := base64.RawURLEncoding
	input := enc.EncodeToString(header) + "." + enc.EncodeToString(claims)
	digest := sha256.Sum256([]byte(input))
	var sig []byte
	var err error
	switch k := key.signer.(type) {
	case *ecdsa.PrivateKey: // JWS wants r||s, not ASN.1 (RFC 7518 §3.4)
		var r, s *big.Int
		if r, s, err = ecdsa.Sign(rand.Reader, k, digest[:]); err == nil {
			sig = make([]byte, 64)
			r.FillBytes(sig[:32])
			s.FillBytes(sig[32:])
		}
	case ed25519.PrivateKey:
		sig = ed25519.Sign(k, []byte(input))
	case *rsa.PrivateKey:
		sig, err = rsa.SignPKCS1v15(nil, k, crypto.SHA256, digest[:])
	default:
		t.Fatalf("signAccessToken: key of type %T", key.signer)
	}
	if err != nil {
		t.Fatal(err)
	}
	return input + "." + enc.EncodeToString(sig)
}

// bearer returns a header carrying token as a bearer token.
func bearer(token string) http.Header {
	return http.Header{"Authorization": {"Bearer " + token}}
}
