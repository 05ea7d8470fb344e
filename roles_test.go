package authkit

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestProviderRoles: WithRoles judges the roles each preset maps (Keycloak's
// nested realm_access.roles, Cognito's groups, Entra's roles): a granted one
// passes, a missing one is 403 insufficient_scope naming no scope, and a
// scope of the same name is no role.
func TestProviderRoles(t *testing.T) {
	fixtures := loadProviderFixtures(t)
	for name, role := range map[string]string{
		"keycloak": "uma_authorization",
		"cognito":  "admin",
		"entra-v1": "Orders.Admin",
	} {
		t.Run(name, func(t *testing.T) {
			p := fixtures[name]
			preset := Preset(p.Preset)
			j := p.auth(t, &preset, p.Audience)
			token := p.sign(t, p.Access.Header, p.Access.Claims)
			if rec := guarded(j, token, WithRoles(role)); rec.Code != http.StatusOK {
				t.Fatalf("role %q: %d", role, rec.Code)
			}
			rec := guarded(j, token, WithRoles(role, "superuser"))
			want := `Bearer realm="authkit", error="insufficient_scope"`
			if rec.Code != http.StatusForbidden || rec.Header().Get("WWW-Authenticate") != want {
				t.Fatalf("a missing role: %d %q, want 403 %q", rec.Code, rec.Header().Get("WWW-Authenticate"), want)
			}
			// Both checks apply, and a role is not a scope, but for Entra's
			// roles, which are also application permissions (ScopeClaims).
			if name == "entra-v1" {
				if rec := guarded(j, token, WithRoles(role), WithScopes(role, "user_impersonation")); rec.Code != http.StatusOK {
					t.Fatalf("Entra's role %q as a scope: %d", role, rec.Code)
				}
			} else if rec := guarded(j, token, WithRoles(role), WithScopes(role)); rec.Code != http.StatusForbidden ||
				!strings.Contains(rec.Header().Get("WWW-Authenticate"), `scope="`+role+`"`) {
				t.Fatalf("role %q required as a scope: %d %q", role, rec.Code, rec.Header().Get("WWW-Authenticate"))
			}
			// The same token under the preset without its role claims has no role.
			bare := preset
			bare.RoleClaims = nil
			if rec := guarded(p.auth(t, &bare, p.Audience), token, WithRoles(role)); rec.Code != http.StatusForbidden {
				t.Fatalf("without RoleClaims: %d, want 403", rec.Code)
			}
		})
	}
}

// TestRoleClaimShapes: a role claim of the wrong shape refuses the token; a
// missing one grants nothing; a string is one role, never split.
func TestRoleClaimShapes(t *testing.T) {
	p := loadProviderFixtures(t)["keycloak"]
	preset := Preset("keycloak")
	j := p.auth(t, &preset, p.Audience)
	with := func(realmAccess any) string {
		var c map[string]any
		if err := json.Unmarshal(p.Access.Claims, &c); err != nil {
			t.Fatal(err)
		}
		if realmAccess == nil {
			delete(c, "realm_access")
		} else {
			c["realm_access"] = realmAccess
		}
		b, _ := json.Marshal(c)
		return p.sign(t, p.Access.Header, b)
	}
	for name, tc := range map[string]struct {
		realmAccess any
		status      int
	}{
		"a string role":         {map[string]any{"roles": "admin"}, 200},
		"not split on spaces":   {map[string]any{"roles": "x admin"}, 403},
		"no roles member":       {map[string]any{}, 403},
		"no realm_access":       {nil, 403},
		"roles not strings":     {map[string]any{"roles": []any{1}}, 401},
		"realm_access an array": {[]string{"admin"}, 401},
		"roles an object":       {map[string]any{"roles": map[string]any{"admin": true}}, 401},
	} {
		if rec := guarded(j, with(tc.realmAccess), WithRoles("admin")); rec.Code != tc.status {
			t.Errorf("%s: %d, want %d", name, rec.Code, tc.status)
		}
	}
	// Nested duplicates are refused as anywhere else.
	dup := strings.Replace(string(p.Access.Claims), `"realm_access":{"roles":`, `"realm_access":{"roles":["admin"],"roles":`, 1)
	if rec := guarded(j, p.sign(t, p.Access.Header, json.RawMessage(dup)), WithRoles("admin")); rec.Code != 401 {
		t.Errorf("duplicate roles member: %d, want 401", rec.Code)
	}
}

func TestRoleOptionErrors(t *testing.T) {
	for _, roles := range [][]string{nil, {""}, {"a", ""}} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("WithRoles(%q) accepted", roles)
				}
			}()
			Require[string](AuthenticatorFunc[string](func(*http.Request) (string, error) { return "", nil }), WithRoles(roles...))
		}()
	}
	for _, path := range [][]string{{}, {"realm_access", ""}} {
		if _, err := (Profile{RoleClaims: [][]string{path}}).rules(); err == nil {
			t.Errorf("RoleClaims %q accepted", path)
		}
	}
}

// guarded serves token through Require(j, opts...).
func guarded(j *JWT[*Claims], token string, opts ...Option) *httptest.ResponseRecorder {
	h := Require(j, opts...)(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	return serveBearer(h, token)
}
