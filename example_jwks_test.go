package authkit_test

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/authkit-go/authkit"
)

func ExampleWithJWKSURL() {
	// The identity provider: its signing key, and the JWK Set it publishes.
	idpKey := ed25519.NewKeyFromSeed([]byte("authkit JWKS example key, 32 B!!"))
	enc := base64.RawURLEncoding
	jwks := fmt.Sprintf(`{"keys":[{"kty":"OKP","crv":"Ed25519","kid":"2026-03","alg":"EdDSA","x":%q}]}`,
		enc.EncodeToString(idpKey.Public().(ed25519.PublicKey)))
	idp := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, jwks)
	}))
	defer idp.Close()

	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	sign := func(kid, sub string) string {
		h := enc.EncodeToString(fmt.Appendf(nil, `{"alg":"EdDSA","typ":"at+jwt","kid":%q}`, kid))
		p := enc.EncodeToString(fmt.Appendf(nil, `{"iss":"https://id.example","sub":%q,"aud":"api","exp":%d,"iat":%d}`,
			sub, now.Add(5*time.Minute).Unix(), now.Unix()))
		return h + "." + p + "." + enc.EncodeToString(ed25519.Sign(idpKey, []byte(h+"."+p)))
	}

	// Cancelling ctx stops the background refresh of the key set.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	auth, err := authkit.NewJWT(
		func(_ context.Context, c *authkit.Claims) (string, error) { return c.Subject, nil },
		authkit.WithIssuer("https://id.example"),
		authkit.WithAudience("api"),
		authkit.WithJWKSURL(ctx, idp.URL+"/.well-known/jwks.json"),
		authkit.WithHTTPClient(idp.Client()), // trusts the test server's certificate
		authkit.WithClock(func() time.Time { return now }),
	)
	if err != nil {
		fmt.Println(err) // a bad option; NewJWT does not wait for the network
		return
	}
	// Until the key set is fetched, tokens get 503 and Ready reports why.
	// A service that must not start without keys waits, up to a deadline.
	for deadline := time.Now().Add(10 * time.Second); auth.Ready() != nil; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			fmt.Println(auth.Ready()) // the endpoint is down, or serves no usable key
			return
		}
	}
	api := authkit.Require(auth)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		user, _ := authkit.UserFrom[string](r.Context())
		fmt.Fprintf(w, "hello, %s", user)
	}))

	for _, token := range []string{
		sign("2026-03", "alice"),
		sign("2025-12", "alice"), // a kid the provider does not publish
	} {
		req := httptest.NewRequest("GET", "/api/me", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		rec := httptest.NewRecorder()
		api.ServeHTTP(rec, req)
		fmt.Println(rec.Code, rec.Body.String())
	}
	// Output:
	// 200 hello, alice
	// 401 Unauthorized
}
