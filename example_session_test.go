package authkit_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"strings"

	"github.com/authkit-go/authkit"
)

type exampleUser struct{ ID, Name string }

// Example_session logs a user in with a server-side session, reaches a
// protected route with the session cookie, and logs out. For PostgreSQL,
// build store, _ := authkit.NewPostgresStore(db), call store.Migrate(ctx) at
// start-up, pass store.Sessions() to NewSessionManager, and store.Close() at
// shutdown.
func Example_session() {
	users := map[string]*exampleUser{"1": {"1", "alice"}}
	sm := authkit.NewSessionManager(nil) // memstore; __Host-session, Secure, HttpOnly, SameSite=Lax
	sessions, err := authkit.NewSession(sm, func(_ context.Context, id string) (*exampleUser, error) {
		if u, ok := users[id]; ok {
			return u, nil
		}
		return nil, authkit.ErrUnknownUser
	})
	if err != nil {
		panic(err)
	}

	mux := http.NewServeMux()
	// The login and logout forms: LoadAndSave loads the session and
	// refuses cross-origin POSTs (login CSRF).
	mux.Handle("POST /login", sessions.LoadAndSave(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// ... check r.FormValue("username") and r.FormValue("password") ...
		if err := sessions.Login(r.Context(), "1"); err != nil {
			authkit.DefaultErrorHandler(w, r, err)
			return
		}
		http.Redirect(w, r, "/me", http.StatusSeeOther)
	})))
	mux.Handle("POST /logout", sessions.LoadAndSave(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := sessions.Logout(r.Context()); err != nil {
			authkit.DefaultErrorHandler(w, r, err)
			return
		}
		http.Redirect(w, r, "/", http.StatusSeeOther)
	})))
	// A protected route: Require loads the session itself.
	mux.Handle("GET /me", authkit.Require(sessions)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, _ := authkit.UserFrom[*exampleUser](r.Context())
		fmt.Fprintf(w, "hello %s", u.Name)
	})))

	srv := httptest.NewTLSServer(mux) // Secure cookies need HTTPS
	defer srv.Close()
	jar, _ := cookiejar.New(nil)
	client := srv.Client()
	client.Jar = jar
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

	for _, step := range []struct{ method, path string }{
		{"GET", "/me"}, {"POST", "/login"}, {"GET", "/me"}, {"POST", "/logout"}, {"GET", "/me"},
	} {
		req, _ := http.NewRequest(step.method, srv.URL+step.path, nil)
		resp, err := client.Do(req)
		if err != nil {
			panic(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		line := fmt.Sprintf("%s %s: %d %s", step.method, step.path, resp.StatusCode, strings.TrimSpace(string(body)))
		for _, c := range resp.Cookies() {
			if c.Value == "" {
				line += "(clears the cookie " + c.Name + ")"
			} else {
				line += "(sets the cookie " + c.Name + ")"
			}
		}
		fmt.Println(line)
	}
	// Output:
	// GET /me: 401 Unauthorized
	// POST /login: 303 (sets the cookie __Host-session)
	// GET /me: 200 hello alice
	// POST /logout: 303 (clears the cookie __Host-session)
	// GET /me: 401 Unauthorized
}
