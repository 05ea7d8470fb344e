package server

// The per-device part of the demo contract (DESIGN.md "Demo contract"):
// GET /api/sessions and DELETE /api/sessions/{id}, and "Remember me" on the
// login form, over real HTTP with cookie jars.

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"
)

// sessionsOf returns GET /api/sessions for c (with header), checking that
// every entry has exactly the contract's members.
func sessionsOf(t *testing.T, c *client, header http.Header) []device {
	t.Helper()
	resp, body := c.do("GET", "/api/sessions", header, "")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /api/sessions: %d %q", resp.StatusCode, body)
	}
	var raw []map[string]any
	if err := json.Unmarshal([]byte(body), &raw); err != nil {
		t.Fatalf("GET /api/sessions: %q: %v", body, err)
	}
	for _, m := range raw {
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		if want := []string{"created", "current", "id", "kind", "last_used"}; !slices.Equal(keys, want) {
			t.Errorf("GET /api/sessions entry %v: members %v, want %v", m, keys, want)
		}
	}
	var ds []device
	if err := json.Unmarshal([]byte(body), &ds); err != nil {
		t.Fatal(err)
	}
	return ds
}

func testDevices(t *testing.T, base string) {
	a, b, bob, tok := newClient(t, base), newClient(t, base), newClient(t, base), newClient(t, base)
	a.login("alice")
	b.login("alice")
	bob.login("bob")
	pair := tok.getTokens("alice")

	ds := sessionsOf(t, a, nil)
	var current, other, family []string
	for _, d := range ds {
		switch {
		case d.Kind == "session" && d.Current:
			current = append(current, d.ID)
		case d.Kind == "session":
			other = append(other, d.ID)
		case d.Kind == "refresh" && !d.Current:
			family = append(family, d.ID)
		default:
			t.Errorf("unexpected entry %+v", d)
		}
		if d.Created.IsZero() || d.LastUsed.IsZero() || time.Since(d.Created) > time.Minute {
			t.Errorf("entry %+v: want recent created and last_used", d)
		}
	}
	if len(current) != 1 || len(other) != 1 || len(family) != 1 {
		t.Fatalf("alice's sessions %+v: want her session (current), her other one and a refresh family", ds)
	}
	// By bearer token: the same list, no session current.
	for _, d := range sessionsOf(t, tok, bearer(pair.AccessToken)) {
		if d.Current {
			t.Errorf("by bearer token: %+v is current", d)
		}
	}
	if bs := sessionsOf(t, bob, nil); len(bs) != 1 || !bs[0].Current {
		t.Errorf("bob's sessions: %+v", bs)
	}

	// Another user's IDs: 404, and nothing ends.
	for _, id := range []string{other[0], family[0], "nonexistent"} {
		if resp, body := bob.do("DELETE", "/api/sessions/"+id, nil, ""); resp.StatusCode != http.StatusNotFound {
			t.Errorf("bob: DELETE alice's %s: %d %q, want 404", id, resp.StatusCode, body)
		}
	}
	wantMe(t, b, nil, `{"id":"1","name":"alice","via":"session"}`)

	// Alice ends her other browser's session: it is logged out at once.
	if resp, body := a.do("DELETE", "/api/sessions/"+other[0], nil, ""); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("DELETE her other session: %d %q, want 204", resp.StatusCode, body)
	}
	wantMeRefused(t, b, nil, challenge)
	wantMe(t, a, nil, `{"id":"1","name":"alice","via":"session"}`)
	// And her refresh family: the refresh token is refused.
	if resp, body := a.do("DELETE", "/api/sessions/"+family[0], nil, ""); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("DELETE her refresh family: %d %q, want 204", resp.StatusCode, body)
	}
	resp, body := refreshWith(t, base, pair.RefreshToken)
	wantInvalidGrant(t, resp, body)
	if ds := sessionsOf(t, a, nil); len(ds) != 1 || ds[0].ID != current[0] {
		t.Errorf("alice's sessions after ending two: %+v", ds)
	}
}

func TestDevices(t *testing.T) {
	h, _ := newTestApp(t)
	srv := httptest.NewServer(h)
	defer srv.Close()
	testDevices(t, srv.URL)
}

func TestE2EDevicesPostgres(t *testing.T) {
	p := startDemo(t, nil, "-database-url", testDatabase(t))
	testDevices(t, p.URL)
}

// "Remember me" makes the session cookie persist for 30 days; without it the
// cookie dies with the browser.
func TestRememberMe(t *testing.T) {
	h, _ := newTestApp(t)
	srv := httptest.NewServer(h)
	defer srv.Close()
	for _, remember := range []bool{true, false} {
		c := newClient(t, srv.URL)
		form := url.Values{"username": {"alice"}, "password": {"alice-password"}}
		if remember {
			form.Set("remember", "1")
		}
		resp, body := c.postForm("/session/login", form)
		if resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("login: %d %q", resp.StatusCode, body)
		}
		ck := cookieNamed(resp, "__Host-session")
		if ck == nil {
			ck = cookieNamed(resp, "authkit-demo-session") // the plain-HTTP test issuer's name
		}
		switch {
		case ck == nil:
			t.Fatal("no session cookie")
		case remember && (ck.MaxAge < int((rememberFor-time.Minute)/time.Second) || ck.MaxAge > int((rememberFor+time.Minute)/time.Second)):
			t.Errorf("remembered: Max-Age %d, want about %v", ck.MaxAge, rememberFor)
		case !remember && (ck.MaxAge != 0 || !ck.Expires.IsZero()):
			t.Errorf("not remembered: a persistent cookie (Max-Age %d, Expires %v)", ck.MaxAge, ck.Expires)
		}
	}
	page := newClient(t, srv.URL)
	if _, body := page.do("GET", "/", nil, ""); !strings.Contains(body, `name="remember"`) {
		t.Error("the login form has no Remember me box")
	}
}

// The page lists where the user is signed in, this browser marked, with a
// button per device.
func TestPageDevices(t *testing.T) {
	h, _ := newTestApp(t)
	srv := httptest.NewServer(h)
	defer srv.Close()
	a, b := newClient(t, srv.URL), newClient(t, srv.URL)
	a.login("alice")
	b.login("alice")
	_, body := a.do("GET", "/", nil, "")
	if !strings.Contains(body, "Where you're signed in") || strings.Count(body, `class="end-device"`) != 2 ||
		strings.Count(body, "(this browser)") != 1 {
		t.Errorf("the page does not list alice's two sessions, this one marked:\n%s", body)
	}
}
