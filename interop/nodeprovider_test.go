package interop

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// node-oidc-provider (npm oidc-provider 9), run by oidc-provider/server.mjs;
// the clients, resources and keys are described at the top of that file.
const (
	nodeAppClient   = "app" // public, authorization_code + PKCE + refresh_token
	nodeRedirectURI = "http://127.0.0.1/callback"
	nodeCCSecret    = "secret"
	nodeStartLimit  = 30 * time.Second
)

// nodeCCClients are server.mjs's client-credentials clients and the algorithm
// each one's access tokens are signed with.
var nodeCCClients = []struct{ id, alg string }{
	{"cc-es256", "ES256"},
	{"cc-ps256", "PS256"},
	{"cc-eddsa", "EdDSA"},
}

type nodeProvider struct {
	Issuer    string
	Discovery discovery
}

// startNodeProvider runs server.mjs on a free port of 127.0.0.1 until the
// test ends. It skips the test (fails it with AUTHKIT_INTEROP_REQUIRED=1)
// when node or the npm packages are missing.
func startNodeProvider(t *testing.T) *nodeProvider {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		skipOrFail(t, "node-oidc-provider: node is not installed (Node 20 or newer)")
	}
	dir, err := filepath.Abs("oidc-provider")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "oidc-provider", "package.json")); err != nil {
		skipOrFail(t, "node-oidc-provider: interop/oidc-provider/node_modules is missing; run npm ci --prefix interop/oidc-provider")
	}

	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, node, "server.mjs", "0")
	cmd.Dir = dir
	cmd.WaitDelay = 5 * time.Second
	var stderr lockedBuffer
	cmd.Stderr = &stderr
	stdin, err := cmd.StdinPipe() // server.mjs exits when it closes, even if this process is killed
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatalf("start %s server.mjs: %v", node, err)
	}
	t.Cleanup(func() {
		stdin.Close()
		cancel()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("node-oidc-provider stderr:\n%s", stderr.String())
		}
	})

	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if u, ok := strings.CutPrefix(sc.Text(), "listening "); ok {
				ready <- u
				break
			}
		}
		close(ready)
		_, _ = io.Copy(io.Discard, stdout)
	}()
	var issuer string
	select {
	case u, ok := <-ready:
		if !ok {
			t.Fatalf("node-oidc-provider %v; stderr:\n%s", errNoReadyLine, stderr.String())
		}
		issuer = u
	case <-time.After(nodeStartLimit):
		t.Fatalf("node-oidc-provider: no ready line within %v; stderr:\n%s", nodeStartLimit, stderr.String())
	}
	return &nodeProvider{Issuer: issuer, Discovery: discover(t, issuer)}
}

// clientCredentials gets an access token for resource with client_credentials.
func (p *nodeProvider) clientCredentials(t testing.TB, clientID, resource, scope string) tokenResponse {
	t.Helper()
	return tokenRequest(t, p.Discovery.TokenEndpoint, clientID, nodeCCSecret, url.Values{
		"grant_type": {"client_credentials"},
		"resource":   {resource},
		"scope":      {scope},
	})
}

// authorizationCode runs the authorization-code flow with PKCE for the public
// client "app", logged in as subject, asking for openid, offline_access and
// api:read for the API. server.mjs completes the interactions by itself.
func (p *nodeProvider) authorizationCode(t testing.TB, subject string) tokenResponse {
	t.Helper()
	verifier, challenge := pkce()
	state := strings.ToLower(randomText())
	q := url.Values{
		"client_id":             {nodeAppClient},
		"response_type":         {"code"},
		"redirect_uri":          {nodeRedirectURI},
		"scope":                 {"openid offline_access api:read"},
		"resource":              {apiAudience},
		"code_challenge":        {challenge},
		"code_challenge_method": {"S256"},
		"state":                 {state},
		"nonce":                 {randomText()},
		"prompt":                {"consent"}, // OIDC Core §11: offline_access needs it
		"login_hint":            {subject},
	}
	next, err := url.Parse(p.Discovery.AuthorizationEndpoint + "?" + q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	c := authClient(t)
	var code string
	for step := 0; code == ""; step++ {
		if step == 10 {
			t.Fatalf("authorization: no code after %d redirects (last %s)", step, next)
		}
		next = redirect(t, c, mustRequest(t, http.MethodGet, next.String(), nil))
		if strings.HasPrefix(next.String(), nodeRedirectURI) {
			got := next.Query()
			if e := got.Get("error"); e != "" {
				t.Fatalf("authorization error %s: %s", e, got.Get("error_description"))
			}
			if got.Get("state") != state || got.Get("iss") != p.Issuer {
				t.Fatalf("authorization response %s: want state %s and iss %s", next, state, p.Issuer)
			}
			code = got.Get("code")
			if code == "" {
				t.Fatalf("authorization response without code: %s", next)
			}
		}
	}
	tr := tokenRequest(t, p.Discovery.TokenEndpoint, nodeAppClient, "", url.Values{
		"grant_type":    {"authorization_code"},
		"code":          {code},
		"redirect_uri":  {nodeRedirectURI},
		"code_verifier": {verifier},
		"resource":      {apiAudience},
	})
	if tr.IDToken == "" || tr.RefreshToken == "" {
		t.Fatalf("code exchange: want an ID token and a refresh token, got %+v", tr)
	}
	return tr
}

// refresh uses refreshToken (rotated: it cannot be used again).
func (p *nodeProvider) refresh(t testing.TB, refreshToken string) tokenResponse {
	t.Helper()
	return tokenRequest(t, p.Discovery.TokenEndpoint, nodeAppClient, "", url.Values{
		"grant_type":    {"refresh_token"},
		"refresh_token": {refreshToken},
	})
}

// tokens yields the provider's tokens for the API audience: those of an
// authorization-code flow for subject.
func (p *nodeProvider) tokens(t testing.TB, subject string) tokens {
	t.Helper()
	tr := p.authorizationCode(t, subject)
	return tokens{
		Access:   tr.AccessToken,
		Subject:  subject,
		ID:       tr.IDToken,
		Refresh:  tr.RefreshToken,
		Lifetime: lifetime(t, tr.AccessToken),
	}
}

// otherAudience yields an access token for another resource than the API.
func (p *nodeProvider) otherAudience(t testing.TB) string {
	t.Helper()
	return p.clientCredentials(t, "cc-es256", otherAudience, "other:read").AccessToken
}

func TestNodeOIDCProvider(t *testing.T) {
	p := startNodeProvider(t)
	t.Logf("node-oidc-provider at %s, jwks_uri %s", p.Issuer, p.Discovery.JWKSURI)
	h := newVerifier(t, p.Issuer, apiAudience, p.Discovery.JWKSURI, nil)

	code := p.tokens(t, "alice")
	refreshed := p.refresh(t, code.Refresh)
	describe(t, "authorization_code access token", code.Access)
	describe(t, "ID token", code.ID)
	describe(t, "refresh token", code.Refresh)
	describe(t, "refreshed access token", refreshed.AccessToken)

	t.Run("accepted", func(t *testing.T) {
		for _, c := range nodeCCClients {
			t.Run("client_credentials "+c.alg, func(t *testing.T) {
				tok := p.clientCredentials(t, c.id, apiAudience, "api:read").AccessToken
				if h, _ := jwtParts(t, tok); h["alg"] != c.alg || h["typ"] != "at+jwt" {
					t.Fatalf("header %v, want alg %s and typ at+jwt", h, c.alg)
				}
				accepted(t, h, tok, c.id) // RFC 9068 §2.2: sub is the client for client_credentials
			})
		}
		t.Run("authorization_code PKCE", func(t *testing.T) { accepted(t, h, code.Access, code.Subject) })
		t.Run("refreshed", func(t *testing.T) { accepted(t, h, refreshed.AccessToken, code.Subject) })
		t.Run("another subject", func(t *testing.T) {
			accepted(t, h, p.authorizationCode(t, "bob").AccessToken, "bob")
		})
	})

	t.Run("refused", func(t *testing.T) {
		t.Run("ID token", func(t *testing.T) { refused(t, h, code.ID) })
		t.Run("ID token, verifier for its audience", func(t *testing.T) {
			// Its aud is the client ID; only typ tells it from an access token.
			refused(t, newVerifier(t, p.Issuer, nodeAppClient, p.Discovery.JWKSURI, nil), code.ID)
		})
		t.Run("refreshed ID token", func(t *testing.T) { refused(t, h, refreshed.IDToken) })
		t.Run("refresh token", func(t *testing.T) { refused(t, h, code.Refresh) })
		t.Run("refresh token after rotation", func(t *testing.T) { refused(t, h, refreshed.RefreshToken) })
		t.Run("another audience", func(t *testing.T) { refused(t, h, p.otherAudience(t)) })
		t.Run("expired", func(t *testing.T) {
			late := newVerifier(t, p.Issuer, apiAudience, p.Discovery.JWKSURI, expiredClock(code.Lifetime))
			refused(t, late, code.Access)
		})
		t.Run("another issuer", func(t *testing.T) {
			wrong := newVerifier(t, strings.Replace(p.Issuer, "127.0.0.1", "localhost", 1), apiAudience, p.Discovery.JWKSURI, nil)
			refused(t, wrong, code.Access)
		})
		t.Run("flipped signature", func(t *testing.T) {
			refused(t, h, flipSignature(t, code.Access))
			for _, c := range nodeCCClients {
				t.Run(c.alg, func(t *testing.T) {
					tok := p.clientCredentials(t, c.id, apiAudience, "api:read").AccessToken
					refused(t, h, flipSignature(t, tok))
				})
			}
		})
	})
}

// lockedBuffer is a bytes.Buffer safe for one writer and concurrent readers.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.buf.Len() > 1<<20 {
		return len(p), nil // keep the first MiB
	}
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
