package authkit

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"testing"
)

// TestWriteTokensBrowserGetsCookieOnly: a browser's token request (it sends
// Fetch Metadata) gets the refresh token in the HttpOnly cookie only; other
// clients get it in the body too.
func TestWriteTokensBrowserGetsCookieOnly(t *testing.T) {
	iss := newOptionsIssuer(t)
	pair, err := iss.Issue(context.Background(), "alice")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, mode string
		inBody     bool
	}{{"browser", "cors", false}, {"other client", "", true}} {
		r := httptest.NewRequest("POST", "/token", nil)
		if tc.mode != "" {
			r.Header.Set("Sec-Fetch-Mode", tc.mode)
		}
		w := httptest.NewRecorder()
		iss.WriteTokens(w, r, pair)
		var body map[string]any
		if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
			t.Fatal(err)
		}
		_, has := body["refresh_token"]
		cookies := w.Result().Cookies()
		if has != tc.inBody || body["access_token"] != pair.AccessToken || len(cookies) != 1 || cookies[0].Value != pair.RefreshToken {
			t.Errorf("%s: refresh_token in body %v (want %v), body %v, cookies %v", tc.name, has, tc.inBody, body, cookies)
		}
	}
}
