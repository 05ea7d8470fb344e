package authkit_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/authkit-go/authkit"
	"github.com/authkit-go/authkit/authkittest"
)

// decodeClaims verifies tok from p and decodes its claims into v; it
// reports a refused token as errRefused.
func decodeClaims(t *testing.T, p *authkittest.Provider, tok string, v any) error {
	t.Helper()
	j, err := authkit.NewJWT(func(_ context.Context, c *authkit.Claims) (*authkit.Claims, error) { return c, nil }, p.Options(t.Context())...)
	if err != nil {
		t.Fatal(err)
	}
	if err := authkittest.WaitReady(j); err != nil {
		t.Fatal(err)
	}
	r := httptest.NewRequest("GET", "/", nil)
	r.Header.Set("Authorization", "Bearer "+tok)
	c, err := j.Authenticate(r)
	if err != nil {
		return fmt.Errorf("%w: %v", errRefused, err)
	}
	return c.Decode(v)
}

var errRefused = errors.New("token refused")

type orgClaims struct {
	Subject  string   `json:"sub"`
	Audience []string `json:"aud"`
	Expires  int64    `json:"exp"`
	Scope    string   `json:"scope"`
	Tenant   string   `json:"tenant"`
	Org      struct {
		ID    string   `json:"id"`
		Roles []string `json:"roles"`
	} `json:"org"`
}

func TestClaimsDecode(t *testing.T) {
	p := authkittest.NewProvider("rfc9068", "api")
	defer p.Close()
	var got orgClaims
	tok := p.AccessToken("alice", authkittest.Scopes("a", "b"), authkittest.Claim("tenant", "t1"),
		authkittest.Claim("org", map[string]any{"id": "o1", "roles": []string{"admin"}}))
	if err := decodeClaims(t, p, tok, &got); err != nil {
		t.Fatal(err)
	}
	if got.Subject != "alice" || len(got.Audience) != 1 || got.Audience[0] != "api" || got.Expires == 0 ||
		got.Scope != "a b" || got.Tenant != "t1" || got.Org.ID != "o1" || len(got.Org.Roles) != 1 {
		t.Errorf("decoded %+v", got)
	}
}

// TestClaimsDecodeStrict: what encoding/json would decode last-wins or
// case-insensitively is refused, at every depth and against the registered
// claims too (exact duplicates already at verification); a claim of the
// wrong type is an error.
func TestClaimsDecodeStrict(t *testing.T) {
	p := authkittest.NewProvider("rfc9068", "api")
	defer p.Close()
	for _, tc := range []struct {
		name    string
		opts    []authkittest.Option
		refused bool // by the verifier already
	}{
		{"nested duplicate", []authkittest.Option{authkittest.Claim("org", json.RawMessage(`{"id":"o1","id":"o2"}`))}, true},
		{"deep duplicate", []authkittest.Option{authkittest.Claim("org", json.RawMessage(`{"x":[{"a":1,"a":2}]}`))}, true},
		{"nested case variant", []authkittest.Option{authkittest.Claim("org", json.RawMessage(`{"roles":["user"],"Roles":["admin"]}`))}, false},
		{"deep case variant", []authkittest.Option{authkittest.Claim("org", json.RawMessage(`{"x":[{"id":1,"ID":2}]}`))}, false},
		{"top-level case variant", []authkittest.Option{authkittest.Claim("tenant", "t1"), authkittest.Claim("Tenant", "t2")}, false},
		{"registered claim case variant", []authkittest.Option{authkittest.Claim("SUB", "mallory")}, false},
		{"wrong type", []authkittest.Option{authkittest.Claim("tenant", 42)}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got orgClaims
			err := decodeClaims(t, p, p.AccessToken("alice", tc.opts...), &got)
			switch {
			case tc.refused && !errors.Is(err, errRefused):
				t.Errorf("%v, want the token refused", err)
			case !tc.refused && (err == nil || !strings.HasPrefix(err.Error(), "authkit: claims: ")):
				t.Errorf("Decode: %v, want an error; decoded %+v", err, got)
			}
		})
	}
}

// A handler reads the verified claims into its own type.
func ExampleClaims_Decode() {
	p := authkittest.NewProvider("keycloak", "orders-api")
	defer p.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	auth, err := authkit.NewJWT(func(_ context.Context, c *authkit.Claims) (*authkit.Claims, error) { return c, nil }, p.Options(ctx)...)
	if err != nil {
		panic(err)
	}
	if err := authkittest.WaitReady(auth); err != nil {
		panic(err)
	}
	r := httptest.NewRequest("GET", "/orders", nil)
	r.Header.Set("Authorization", "Bearer "+p.AccessToken("alice"))
	c, err := auth.Authenticate(r)
	if err != nil {
		panic(err)
	}

	var kc struct {
		Username    string `json:"preferred_username"`
		RealmAccess struct {
			Roles []string `json:"roles"`
		} `json:"realm_access"`
	}
	if err := c.Decode(&kc); err != nil {
		panic(err)
	}
	fmt.Println(kc.Username, kc.RealmAccess.Roles)
	// Output: alice [default-roles-authkittest]
}
