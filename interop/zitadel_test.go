package interop

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/zitadel/oidc/v3/example/server/exampleop"
	"github.com/zitadel/oidc/v3/example/server/storage"
	"github.com/zitadel/oidc/v3/pkg/op"
)

// zitadel/oidc v3's example OpenID provider (example/server: exampleop and
// its in-memory storage), in this process. Its tokens' audience is the client
// ID, for access and ID tokens alike; its access tokens are made JWTs here
// (the example's clients issue opaque ones).
const (
	zitadelClient      = "authkit-web" // confidential: authorization_code (+ PKCE) and refresh_token
	zitadelOtherClient = "authkit-other"
	zitadelSecret      = "secret"
	zitadelRedirectURI = "http://127.0.0.1/callback"
	zitadelPassword    = "verysecure" // the example user store's password for its users
	zitadelSubject     = "id1"        // the example's user "test-user@<issuer host>"
	zitadelCCClient    = "sid1"       // the example storage's client_credentials service user
	zitadelCCSecret    = "verysecret"
)

type zitadelOP struct {
	Issuer    string
	Discovery discovery
}

// startZitadel serves the example OP on a free port of 127.0.0.1 until the
// test ends.
func startZitadel(t *testing.T) *zitadelOP {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	issuer := "http://" + l.Addr().String()
	clients := map[string]*storage.Client{
		zitadelClient:      storage.WebClient(zitadelClient, zitadelSecret, zitadelRedirectURI),
		zitadelOtherClient: storage.WebClient(zitadelOtherClient, zitadelSecret, zitadelRedirectURI),
	}
	st := storage.NewStorageWithClients(storage.NewUserStore(issuer), clients)
	// A nil logger: SetupServer would otherwise replace slog's default logger.
	srv := httptest.NewUnstartedServer(exampleop.SetupServer(issuer, jwtAccessTokens{st}, nil, false))
	srv.Listener.Close()
	srv.Listener = l
	srv.Start()
	t.Cleanup(srv.Close)
	return &zitadelOP{Issuer: issuer, Discovery: discover(t, issuer)}
}

// jwtAccessTokens is the example storage with every client switched to JWT
// access tokens (op.AccessTokenTypeJWT): the example's client type has no
// exported setter for it.
type jwtAccessTokens struct{ *storage.Storage }

func (s jwtAccessTokens) GetClientByClientID(ctx context.Context, clientID string) (op.Client, error) {
	c, err := s.Storage.GetClientByClientID(ctx, clientID)
	if err != nil {
		return nil, err
	}
	return jwtClient{c}, nil
}

func (s jwtAccessTokens) ClientCredentials(ctx context.Context, clientID, secret string) (op.Client, error) {
	c, err := s.Storage.ClientCredentials(ctx, clientID, secret)
	if err != nil {
		return nil, err
	}
	return jwtClient{c}, nil
}

type jwtClient struct{ op.Client }

func (jwtClient) AccessTokenType() op.AccessTokenType { return op.AccessTokenTypeJWT }

// authorizationCode runs the authorization-code flow with PKCE for clientID
// through the example's own login page (username and password form), asking
// for openid, email and offline_access.
func (p *zitadelOP) authorizationCode(t testing.TB, clientID string) tokenResponse {
	t.Helper()
	verifier, challenge := pkce()
	state := strings.ToLower(randomText())
	q := url.Values{
		"client_id":             {clientID},
		"response_type":         {"code"},
		"redirect_uri":          {zitadelRedirectURI},
		"scope":                 {"openid email offline_access"},
		"code_challenge":        {challenge},
		"code_challenge_method": {"S256"},
		"state":                 {state},
		"nonce":                 {randomText()},
	}
	c := authClient(t)
	login := redirect(t, c, mustRequest(t, http.MethodGet, p.Discovery.AuthorizationEndpoint+"?"+q.Encode(), nil))
	id := login.Query().Get("authRequestID")
	if id == "" {
		t.Fatalf("authorization: redirected to %s, want the login page with an authRequestID", login)
	}
	form := url.Values{
		"id":       {id},
		"username": {"test-user@127.0.0.1"}, // storage.NewUserStore names it after the issuer's host
		"password": {zitadelPassword},
	}
	req := mustRequest(t, http.MethodPost, login.String(), strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	callback := redirect(t, c, req)
	back := redirect(t, c, mustRequest(t, http.MethodGet, callback.String(), nil))
	if !strings.HasPrefix(back.String(), zitadelRedirectURI) {
		t.Fatalf("after login: redirected to %s, want %s", back, zitadelRedirectURI)
	}
	if e := back.Query().Get("error"); e != "" {
		t.Fatalf("authorization error %s: %s", e, back.Query().Get("error_description"))
	}
	if back.Query().Get("state") != state || back.Query().Get("code") == "" {
		t.Fatalf("authorization response %s: want state %s and a code", back, state)
	}
	tr := tokenRequest(t, p.Discovery.TokenEndpoint, clientID, zitadelSecret, url.Values{
		"grant_type":    {"authorization_code"},
		"code":          {back.Query().Get("code")},
		"redirect_uri":  {zitadelRedirectURI},
		"code_verifier": {verifier},
	})
	if tr.IDToken == "" || tr.RefreshToken == "" {
		t.Fatalf("code exchange: want an ID token and a refresh token, got %+v", tr)
	}
	return tr
}

// refresh uses refreshToken of client zitadelClient (rotated: it cannot be used again).
func (p *zitadelOP) refresh(t testing.TB, refreshToken string) tokenResponse {
	t.Helper()
	return tokenRequest(t, p.Discovery.TokenEndpoint, zitadelClient, zitadelSecret, url.Values{
		"grant_type":    {"refresh_token"},
		"refresh_token": {refreshToken},
	})
}

// clientCredentials gets an access token for the example's service user
// (its audience is its own client ID).
func (p *zitadelOP) clientCredentials(t testing.TB) tokenResponse {
	t.Helper()
	return tokenRequest(t, p.Discovery.TokenEndpoint, zitadelCCClient, zitadelCCSecret, url.Values{
		"grant_type": {"client_credentials"},
		"scope":      {"openid"},
	})
}

// tokens yields the provider's tokens for audience zitadelClient.
func (p *zitadelOP) tokens(t testing.TB) tokens {
	t.Helper()
	tr := p.authorizationCode(t, zitadelClient)
	return tokens{
		Access:   tr.AccessToken,
		Subject:  zitadelSubject,
		ID:       tr.IDToken,
		Refresh:  tr.RefreshToken,
		Lifetime: lifetime(t, tr.AccessToken),
	}
}

// otherAudience yields an access token of the same user for another client.
func (p *zitadelOP) otherAudience(t testing.TB) string {
	t.Helper()
	return p.authorizationCode(t, zitadelOtherClient).AccessToken
}

func TestZitadelOIDC(t *testing.T) {
	p := startZitadel(t)
	t.Logf("zitadel/oidc example OP at %s, jwks_uri %s", p.Issuer, p.Discovery.JWKSURI)
	// Configured by the issuer URL alone, on the zitadel preset (typ JWT; its
	// ID tokens, which carry the same aud, are told apart by at_hash, nonce
	// and c_hash and the jti they lack).
	h := newTrustedVerifier(t, p.Issuer, zitadelClient, "zitadel", nil)

	code := p.tokens(t)
	refreshed := p.refresh(t, code.Refresh)
	cc := p.clientCredentials(t)
	describe(t, "authorization_code access token", code.Access)
	describe(t, "ID token", code.ID)
	describe(t, "refresh token", code.Refresh)
	describe(t, "refreshed access token", refreshed.AccessToken)
	describe(t, "client_credentials access token", cc.AccessToken)

	// Why it needs the preset: the default RFC 9068 profile refuses typ JWT.
	t.Run("access tokens have typ JWT", func(t *testing.T) {
		for _, tok := range []string{code.Access, refreshed.AccessToken, cc.AccessToken} {
			if h, _ := jwtParts(t, tok); h["typ"] != "JWT" {
				t.Errorf("header %v, want typ JWT", h)
			}
		}
	})

	t.Run("accepted", func(t *testing.T) {
		t.Run("authorization_code PKCE", func(t *testing.T) { accepted(t, h, code.Access, code.Subject) })
		t.Run("refreshed", func(t *testing.T) { accepted(t, h, refreshed.AccessToken, code.Subject) })
		t.Run("client_credentials", func(t *testing.T) {
			accepted(t, newTrustedVerifier(t, p.Issuer, zitadelCCClient, "zitadel", nil), cc.AccessToken, zitadelCCClient)
		})
	})

	// Refused on the zitadel preset, each for its own reason now that typ JWT
	// passes; and the access token on the default profile.
	t.Run("refused", func(t *testing.T) {
		t.Run("access token on the default profile", func(t *testing.T) {
			refused(t, newVerifier(t, p.Issuer, zitadelClient, p.Discovery.JWKSURI, nil), code.Access)
		})
		// Its aud is the client ID, like the access token's.
		t.Run("ID token", func(t *testing.T) { refused(t, h, code.ID) })
		t.Run("refreshed ID token", func(t *testing.T) { refused(t, h, refreshed.IDToken) })
		t.Run("refresh token", func(t *testing.T) { refused(t, h, code.Refresh) })
		t.Run("refresh token after rotation", func(t *testing.T) { refused(t, h, refreshed.RefreshToken) })
		t.Run("another audience", func(t *testing.T) { refused(t, h, p.otherAudience(t)) })
		t.Run("client_credentials, another audience", func(t *testing.T) { refused(t, h, cc.AccessToken) })
		t.Run("expired", func(t *testing.T) {
			refused(t, newTrustedVerifier(t, p.Issuer, zitadelClient, "zitadel", expiredClock(code.Lifetime)), code.Access)
		})
		t.Run("flipped signature", func(t *testing.T) { refused(t, h, flipSignature(t, code.Access)) })
	})
}
