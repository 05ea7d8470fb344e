package authkit

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"reflect"
	"testing"
)

// TestResourceMetadataDPoP: the metadata names the DPoP proof algorithms
// wherever an issuer accepts DPoP (RFC 9728 §2), and requires DPoP-bound
// tokens only when every issuer does; without DPoP it says nothing of it.
func TestResourceMetadataDPoP(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	trusted := func(m DPoPMode) Option { // plain http: needs WithInsecureJWKSURL
		return WithTrustedIssuer(ctx, TrustedIssuer{Issuer: "http://127.0.0.1:1/t", DPoP: m})
	}
	algs := []any{"ES256", "ES384", "ES512", "EdDSA", "Ed25519", "PS256", "PS384", "PS512", "RS256", "RS384", "RS512"}
	for _, c := range []struct {
		name     string
		opts     []Option
		algs     any // nil: absent
		required any // nil: absent
	}{
		{"off", nil, nil, nil},
		{"allowed", []Option{WithDPoP(DPoPAllowed)}, algs, false},
		{"required", []Option{WithDPoP(DPoPRequired)}, algs, true},
		{"required, a trusted issuer off", []Option{WithDPoP(DPoPRequired), trusted(DPoPOff), WithInsecureJWKSURL()}, algs, false},
		{"off, a trusted issuer allowed", []Option{trusted(DPoPAllowed), WithInsecureJWKSURL()}, algs, false},
		{"both required", []Option{WithDPoP(DPoPRequired), trusted(DPoPRequired), WithInsecureJWKSURL()}, algs, true},
	} {
		opts := append([]Option{WithResource(Resource{URL: testResource})}, c.opts...)
		k := newResourceKit(t, opts...)
		_, h := k.j.ResourceMetadataHandler()
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, testResourceMD, nil))
		var doc map[string]any
		if err := json.Unmarshal(rec.Body.Bytes(), &doc); err != nil {
			t.Fatal(err)
		}
		if got := doc["dpop_signing_alg_values_supported"]; !reflect.DeepEqual(got, c.algs) {
			t.Errorf("%s: dpop_signing_alg_values_supported %v, want %v", c.name, got, c.algs)
		}
		if got := doc["dpop_bound_access_tokens_required"]; got != c.required {
			t.Errorf("%s: dpop_bound_access_tokens_required %v, want %v", c.name, got, c.required)
		}
		if doc["resource"] != testResource {
			t.Errorf("%s: %s", c.name, rec.Body)
		}
	}
}

// TestResourceChallengesDPoPRequired: where DPoP is required, the DPoP
// challenge is the only one, so it names the scopes and the metadata
// (RFC 9728 §5.1), as the Bearer challenge does where bearer tokens count.
func TestResourceChallengesDPoPRequired(t *testing.T) {
	k := newResourceKit(t, WithResource(Resource{URL: testResource}), WithDPoP(DPoPRequired))
	ok := http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})
	ch := `DPoP realm="authkit", algs="ES256 ES384 ES512 EdDSA Ed25519 PS256 PS384 PS512 RS256 RS384 RS512"`
	md := `, resource_metadata="` + testResourceMD + `"`
	for _, c := range []struct {
		name, auth, want string
	}{
		{"no token", "", ch + `, scope="tools:call"` + md},
		{"an unbound token as Bearer", "Bearer " + k.token(testResource, "tools:call"), ch + `, error="invalid_token", scope="tools:call"` + md},
		{"an unbound token as DPoP", "DPoP " + k.token(testResource, "tools:call"), ch + `, error="invalid_token", scope="tools:call"` + md},
	} {
		r := httptest.NewRequest(http.MethodGet, testResource, nil)
		if c.auth != "" {
			r.Header.Set("Authorization", c.auth)
		}
		rec := httptest.NewRecorder()
		Require(k.j, WithScopes("tools:call"))(ok).ServeHTTP(rec, r)
		if got := rec.Header().Values("WWW-Authenticate"); rec.Code != http.StatusUnauthorized || len(got) != 1 || got[0] != c.want {
			t.Errorf("%s: %d %q\nwant 401 %q", c.name, rec.Code, got, c.want)
		}
	}
}
