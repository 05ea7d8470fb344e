package authkit

import (
	"bytes"
	"context"
	"crypto"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// providerFixture is one file of testdata/providers: an access token built
// to a provider's documented sample, and its ID-token twin (or the closest
// thing the provider has), with the settings a user would configure.
type providerFixture struct {
	Preset   string `json:"preset"`
	Source   string `json:"source"`
	Issuer   string `json:"issuer"`
	Audience string `json:"audience"`
	Key      string `json:"key"` // "rsa" (RS256) or "hmac" (HS256)
	Access   struct {
		Header, Claims json.RawMessage
	} `json:"access"`
	IDToken struct {
		Header, Claims json.RawMessage
	} `json:"id_token"`
}

func loadProviderFixtures(t *testing.T) map[string]providerFixture {
	t.Helper()
	files, err := filepath.Glob("testdata/providers/*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no provider fixtures: %v", err)
	}
	all := make(map[string]providerFixture)
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var p providerFixture
		d := json.NewDecoder(bytes.NewReader(b))
		d.DisallowUnknownFields()
		if err := d.Decode(&p); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		all[strings.TrimSuffix(filepath.Base(f), ".json")] = p
	}
	return all
}

// sign builds a token of the fixture's header and claims text, as given.
func (p providerFixture) sign(t *testing.T, header, claims json.RawMessage) string {
	t.Helper()
	var h, c bytes.Buffer
	if err := json.Compact(&h, header); err != nil {
		t.Fatal(err)
	}
	if err := json.Compact(&c, claims); err != nil {
		t.Fatal(err)
	}
	if p.Key == "hmac" {
		return buildToken(h.String(), c.String(), signHS256(testKeys().hmac))
	}
	return buildToken(h.String(), c.String(), signRS(testKeys().rsa, crypto.SHA256))
}

// clock returns a clock 10 seconds after the access token's iat.
func (p providerFixture) clock(t *testing.T) func() time.Time {
	t.Helper()
	var c struct{ Iat int64 }
	if err := json.Unmarshal(p.Access.Claims, &c); err != nil || c.Iat == 0 {
		t.Fatalf("fixture without iat: %v", err)
	}
	now := time.Unix(c.Iat+10, 0)
	return func() time.Time { return now }
}

// auth configures the fixture's issuer by hand (WithIssuer and its key, as
// for a JWKS URL) with profile, or with the kit's own profile when profile
// is nil, for audience aud.
func (p providerFixture) auth(t *testing.T, profile *Profile, aud string) *JWT[*Claims] {
	t.Helper()
	var kid string
	var h struct {
		Kid *string `json:"kid"`
	}
	if err := json.Unmarshal(p.Access.Header, &h); err != nil {
		t.Fatal(err)
	}
	if h.Kid != nil {
		kid = *h.Kid
	}
	opts := []Option{WithIssuer(p.Issuer), WithAudience(aud), WithClock(p.clock(t))}
	if p.Key == "hmac" {
		opts = append(opts, WithKey(kid, testKeys().hmac))
	} else {
		opts = append(opts, WithKeyAlgorithm(kid, "RS256", &testKeys().rsa.PublicKey))
	}
	if profile != nil {
		opts = append(opts, WithProfile(*profile))
	}
	j, err := NewJWT(func(_ context.Context, c *Claims) (*Claims, error) { return c, nil }, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return j
}

func verdict(j *JWT[*Claims], token string) (*Claims, error) {
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.Header.Set("Authorization", "Bearer "+token)
	return j.Authenticate(r)
}

// TestProviderFixtures: every preset's fixture is accepted on its preset and
// refused on the default profile; its ID-token twin, and the access token
// for another audience, are refused on the preset.
func TestProviderFixtures(t *testing.T) {
	fixtures := loadProviderFixtures(t)
	for _, name := range []string{"auth0", "auth0-rfc9068", "keycloak", "entra", "entra-v1", "cognito", "okta", "firebase", "supabase", "clerk", "zitadel"} {
		p, ok := fixtures[name]
		if !ok {
			t.Errorf("no fixture %s", name)
			continue
		}
		t.Run(name, func(t *testing.T) {
			if p.Source == "" {
				t.Error("fixture without its source URL")
			}
			preset := Preset(p.Preset)
			access := p.sign(t, p.Access.Header, p.Access.Claims)
			twin := p.sign(t, p.IDToken.Header, p.IDToken.Claims)

			c, err := verdict(p.auth(t, &preset, p.Audience), access)
			if err != nil {
				t.Fatalf("access token on preset %s: %v", p.Preset, err)
			}
			if c.Issuer != p.Issuer || c.Subject == "" || c.Version != 0 {
				t.Errorf("claims %+v: want iss %s, a subject, and no kit version", c, p.Issuer)
			}
			t.Logf("| %s | access token on its preset | accepted (sub %s) |", name, c.Subject)

			_, err = verdict(p.auth(t, &preset, p.Audience), twin)
			if !errors.Is(err, ErrInvalidToken) {
				t.Fatalf("ID-token twin on preset %s: %v, want refused", p.Preset, err)
			}
			t.Logf("| %s | ID-token twin on its preset | refused: %v |", name, err)

			_, err = verdict(p.auth(t, &preset, "https://another.example/api"), access)
			if !errors.Is(err, ErrInvalidToken) {
				t.Fatalf("access token for another audience: %v, want refused", err)
			}
			t.Logf("| %s | another audience on its preset | refused: %v |", name, err)

			_, err = verdict(p.auth(t, nil, p.Audience), access)
			if !errors.Is(err, ErrInvalidToken) {
				t.Fatalf("access token on the default profile: %v, want refused", err)
			}
			t.Logf("| %s | access token on the default (RFC 9068, kit's own) | refused: %v |", name, err)
			rfc := Profile{}
			if name != "auth0-rfc9068" {
				if _, err = verdict(p.auth(t, &rfc, p.Audience), access); !errors.Is(err, ErrInvalidToken) {
					t.Fatalf("access token on Preset(rfc9068): %v, want refused", err)
				}
			}

			// A flipped signature bit is refused on the preset.
			b := []byte(access)
			i := strings.LastIndexByte(access, '.') + 5
			b[i] = map[bool]byte{true: 'B', false: 'A'}[b[i] == 'A']
			if _, err = verdict(p.auth(t, &preset, p.Audience), string(b)); !errors.Is(err, ErrInvalidToken) {
				t.Fatalf("flipped signature: %v, want refused", err)
			}
		})
	}
}

// TestProviderVersionClaims: Entra's "ver":"2.0" is no error and Okta's
// "ver":1 is not the kit's token version; both stay readable.
func TestProviderVersionClaims(t *testing.T) {
	fixtures := loadProviderFixtures(t)
	for name, want := range map[string]string{"entra": `"2.0"`, "okta": `1`} {
		p := fixtures[name]
		preset := Preset(p.Preset)
		c, err := verdict(p.auth(t, &preset, p.Audience), p.sign(t, p.Access.Header, p.Access.Claims))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		var ver json.RawMessage
		if ok, err := c.DecodeExtra("ver", &ver); !ok || err != nil || string(ver) != want || c.Version != 0 {
			t.Errorf("%s: ver %s (%v, %v), Version %d; want %s in Extra and Version 0", name, ver, ok, err, c.Version, want)
		}
	}
}

// TestProviderScopes: each preset's scope claims are what WithScopes sees.
func TestProviderScopes(t *testing.T) {
	fixtures := loadProviderFixtures(t)
	for name, want := range map[string][]string{
		"auth0":    {"read:admin", "read:patients"},
		"entra":    {"access_as_user"},
		"okta":     {"flights", "email"},
		"keycloak": {"email"},
		"cognito":  {"aws.cognito.signin.user.admin"},
	} {
		p := fixtures[name]
		preset := Preset(p.Preset)
		c, err := verdict(p.auth(t, &preset, p.Audience), p.sign(t, p.Access.Header, p.Access.Claims))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if err := checkScopes(c, want); err != nil {
			t.Errorf("%s: granted %q, want %q: %v", name, c.granted, want, err)
		}
		if err := checkScopes(c, []string{"admin:everything"}); !errors.Is(err, ErrInsufficientScope) {
			t.Errorf("%s: a scope it does not grant: %v", name, err)
		}
	}
}

func TestProfileErrors(t *testing.T) {
	for name, p := range map[string]Profile{
		"unknown preset":         Preset("nope"),
		"typ JWT without a rule": {Types: []string{"JWT"}},
		"no typ without a rule":  {Types: []string{""}},
		"ignoring jku":           {IgnoredHeaders: []string{"jku"}},
		"ignoring crit":          {IgnoredHeaders: []string{"crit"}},
		"audience in sub":        {AudienceClaim: "sub"},
		"required and refused":   {Types: []string{"JWT"}, Require: []string{"nonce"}, Refuse: []string{"nonce"}},
		"negative lifetime":      {MaxLifetime: -time.Second},
	} {
		_, err := NewJWT(func(_ context.Context, c *Claims) (string, error) { return c.Subject, nil },
			WithIssuer(testIssuer), WithAudience(testAudience), WithKey("k1", &testKeys().ec256.PublicKey), WithProfile(p))
		if err == nil {
			t.Errorf("%s: NewJWT accepted the profile", name)
		}
	}
	// The kit's own version check needs the kit's own profile.
	_, err := NewJWT(func(_ context.Context, c *Claims) (string, error) { return c.Subject, nil },
		WithIssuer(testIssuer), WithAudience(testAudience), WithKey("k1", &testKeys().ec256.PublicKey),
		WithProfile(Preset("okta")), WithVersionCheck(func(context.Context, string) (int64, error) { return 0, nil }))
	if err == nil || !strings.Contains(err.Error(), "WithVersionCheck") {
		t.Errorf("WithProfile with WithVersionCheck: %v", err)
	}
}

// TestProfileCachedOnce: a token judged by a profile is cached like any
// other; a hit answers the same.
func TestProfileCachedOnce(t *testing.T) {
	p := loadProviderFixtures(t)["cognito"]
	preset := Preset(p.Preset)
	j := p.auth(t, &preset, p.Audience)
	tok := p.sign(t, p.Access.Header, p.Access.Claims)
	for range 3 {
		if _, err := verdict(j, tok); err != nil {
			t.Fatal(err)
		}
	}
	if j.cache.len() != 1 {
		t.Fatalf("cache holds %d tokens, want 1", j.cache.len())
	}
}
