package authkit

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// entraTenants is a local Entra ID: a discovery document and a key set per
// tenant, at /{tenant}/v2.0/.well-known/openid-configuration, each tenant
// signing with its own key (as tenants with their own signing keys do).
type entraTenants struct {
	*httptest.Server
	signers map[string]testSigner
	docHits map[string]*atomic.Int64
}

func newEntraTenants(t *testing.T, tenants ...string) *entraTenants {
	t.Helper()
	e := &entraTenants{signers: map[string]testSigner{}, docHits: map[string]*atomic.Int64{}}
	mux := http.NewServeMux()
	for _, tid := range tenants {
		s := newTestSigner(t, "k-"+tid[:4]) // distinct kids, as Entra's per-tenant keys
		e.signers[tid] = s
		e.docHits[tid] = new(atomic.Int64)
		mux.HandleFunc("GET /"+tid+"/v2.0"+wellKnownOpenID, func(w http.ResponseWriter, _ *http.Request) {
			e.docHits[tid].Add(1)
			fmt.Fprintf(w, `{"issuer":%q,"jwks_uri":%q}`, e.issuer(tid), e.URL+"/"+tid+"/discovery/v2.0/keys")
		})
		mux.HandleFunc("GET /"+tid+"/discovery/v2.0/keys", func(w http.ResponseWriter, _ *http.Request) {
			w.Write(jwksOf(t, s))
		})
	}
	e.Server = httptest.NewTLSServer(mux)
	t.Cleanup(e.Close)
	return e
}

func (e *entraTenants) issuer(tid string) string { return e.URL + "/" + tid + "/v2.0" }

// token signs an Entra v2.0 access token of tenant tid (its iss), claiming
// the tenant claimTID, with the key of tenant signer.
func (e *entraTenants) token(tid, claimTID, signer string) string {
	s := e.signers[signer]
	h := fmt.Sprintf(`{"alg":"ES256","typ":"JWT","kid":%q}`, s.kid)
	c := fmt.Sprintf(`{"iss":%q,"sub":"alice","aud":"api://orders","exp":%d,"iat":%d,"ver":"2.0","tid":%q,"scp":"Orders.Read"}`,
		e.issuer(tid), testNow.Add(5*time.Minute).Unix(), testNow.Unix(), claimTID)
	return buildToken(h, c, signES(s.key))
}

const (
	tenantA = "8eaef023-2b34-4da1-9baa-8bc8c9d6a490"
	tenantB = "9188040d-6c67-4c5b-b112-36a304b66dad"
	tenantC = "72f988bf-86f1-41af-91ab-2d7cd011db47" // not allowed
)

// TestEntraTenants: a multi-tenant issuer accepts the tokens of the allowed
// tenants only: each tenant is discovered on its own, its iss must be its
// own URL, its tid its own ID, and only its keys verify it.
func TestEntraTenants(t *testing.T) {
	e := newEntraTenants(t, tenantA, tenantB, tenantC)
	j := trustedJWT(t, WithHTTPClient(e.Client()), WithTrustedIssuer(t.Context(), TrustedIssuer{
		Issuer:    e.URL + "/{tenant}/v2.0",
		Tenants:   []string{tenantA, tenantB},
		Audiences: []string{"api://orders"},
		Profile:   Preset("entra"),
	}))
	waitReady(t, j)
	for _, tid := range []string{tenantA, tenantB} {
		if _, err := authenticate(j, e.token(tid, tid, tid)); err != nil {
			t.Errorf("tenant %s: %v", tid, err)
		}
	}
	for name, tok := range map[string]string{
		"a tenant not allowed":                e.token(tenantC, tenantC, tenantC),
		"A's iss claiming tenant B's tid":     e.token(tenantA, tenantB, tenantA),
		"A's iss signed with B's key":         e.token(tenantA, tenantA, tenantB),
		"B's iss and tid signed with A's key": e.token(tenantB, tenantB, tenantA),
		"A's iss claiming tenant C's tid":     e.token(tenantA, tenantC, tenantA),
	} {
		if _, err := authenticate(j, tok); !errors.Is(err, ErrInvalidToken) {
			t.Errorf("%s: %v, want refused", name, err)
		}
	}
	if n := e.docHits[tenantC].Load(); n != 0 {
		t.Errorf("tenant C's document fetched %d times: only allowed tenants are discovered", n)
	}
}

// TestEntraTenantsNotReady: each allowed tenant must be discovered before
// its tokens verify; Ready names the tenant that is not.
func TestEntraTenantsNotReady(t *testing.T) {
	e := newEntraTenants(t, tenantA)
	j := trustedJWT(t, WithHTTPClient(e.Client()), WithTrustedIssuer(t.Context(), TrustedIssuer{
		Issuer: e.URL + "/{tenant}/v2.0", Tenants: []string{tenantA, tenantB},
		Audiences: []string{"api://orders"}, Profile: Preset("entra"),
	}))
	deadline := time.Now().Add(5 * time.Second)
	for msg := fmt.Sprint(j.Ready()); strings.Contains(msg, tenantA) || !strings.Contains(msg, "status 404"); msg = fmt.Sprint(j.Ready()) {
		if time.Now().After(deadline) {
			t.Fatalf("Ready() = %v", j.Ready())
		}
		time.Sleep(5 * time.Millisecond)
	}
	err := j.Ready()
	if !errors.Is(err, ErrNotReady) || !strings.Contains(err.Error(), tenantB) || strings.Contains(err.Error(), tenantA) {
		t.Fatalf("Ready() = %v, want tenant B (only) not ready", err)
	}
	if _, err := authenticate(j, e.token(tenantA, tenantA, tenantA)); err != nil {
		t.Fatalf("tenant A, ready: %v", err)
	}
}

func TestTenantConfiguration(t *testing.T) {
	for name, ti := range map[string]TrustedIssuer{
		"tenants without placeholder": {Issuer: "https://login.microsoftonline.com/x/v2.0", Tenants: []string{tenantA}},
		"placeholder without tenants": {Issuer: "https://login.microsoftonline.com/{tenant}/v2.0"},
		"placeholder twice":           {Issuer: "https://{tenant}.example/{tenant}", Tenants: []string{tenantA}},
		"common":                      {Issuer: "https://login.microsoftonline.com/{tenant}/v2.0", Tenants: []string{"common"}},
		"organizations":               {Issuer: "https://login.microsoftonline.com/{tenant}/v2.0", Tenants: []string{"Organizations"}},
		"a path in a tenant":          {Issuer: "https://login.microsoftonline.com/{tenant}/v2.0", Tenants: []string{"a/b"}},
		"empty tenant":                {Issuer: "https://login.microsoftonline.com/{tenant}/v2.0", Tenants: []string{""}},
		"tenant twice":                {Issuer: "https://login.microsoftonline.com/{tenant}/v2.0", Tenants: []string{tenantA, strings.ToUpper(tenantA)}},
	} {
		ti.Audiences, ti.Profile = []string{"api"}, Preset("entra")
		if _, err := NewJWT(func(_ context.Context, c *Claims) (string, error) { return "", nil },
			WithTrustedIssuer(t.Context(), ti)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
