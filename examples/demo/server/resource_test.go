package server

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
)

// withMetadata is challenge, a 401's WWW-Authenticate, with the
// resource_metadata of the demo at base (RFC 9728 §5.1).
func withMetadata(base, challenge string) string {
	return challenge + `, resource_metadata="` + base + `/.well-known/oauth-protected-resource"`
}

// TestResourceMetadata: GET /.well-known/oauth-protected-resource is the
// demo's RFC 9728 metadata (DESIGN.md): its base URL, its issuer, demo:read,
// the header.
func TestResourceMetadata(t *testing.T) {
	h, _ := newTestApp(t)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/.well-known/oauth-protected-resource", nil))
	if rec.Code != 200 || rec.Header().Get("Content-Type") != "application/json" {
		t.Fatalf("%d %q", rec.Code, rec.Header().Get("Content-Type"))
	}
	var doc struct {
		Resource             string   `json:"resource"`
		AuthorizationServers []string `json:"authorization_servers"`
		ScopesSupported      []string `json:"scopes_supported"`
		BearerMethods        []string `json:"bearer_methods_supported"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Resource != testIssuer || len(doc.AuthorizationServers) != 1 || doc.AuthorizationServers[0] != testIssuer ||
		len(doc.ScopesSupported) != 1 || doc.ScopesSupported[0] != "demo:read" || len(doc.BearerMethods) != 1 || doc.BearerMethods[0] != "header" {
		t.Fatalf("metadata %s", rec.Body)
	}
}

// isChallenge reports whether got is the 401 challenge want with the
// resource_metadata of the demo at base, whose issuer (its URL) is base
// itself or testIssuer.
func isChallenge(got, base, want string) bool {
	return got == withMetadata(base, want) || got == withMetadata(testIssuer, want)
}
