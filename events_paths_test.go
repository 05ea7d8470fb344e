package authkit

import (
	"context"
	"go/ast"
	"go/parser"
	"go/token"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/alexedwards/scs/v2/memstore"
)

// answers is an ErrorHandler that records each error it answers and
// answers 418, so that a test can tell its answer from any other.
type answers struct {
	mu   sync.Mutex
	errs []error
}

func (a *answers) handle(w http.ResponseWriter, _ *http.Request, err error) {
	a.mu.Lock()
	a.errs = append(a.errs, err)
	a.mu.Unlock()
	w.WriteHeader(http.StatusTeapot)
}

func (a *answers) take() []error {
	a.mu.Lock()
	defer a.mu.Unlock()
	errs := a.errs
	a.errs = nil
	return errs
}

// decisions returns the refused and failed events since the last take of
// rec, as "type reason method", dropping the other events.
func decisions(rec *eventRecorder) []string {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	var out []string
	for _, e := range rec.events {
		if e.Type == EventRefused || e.Type == EventFailed {
			out = append(out, string(e.Type)+" "+e.ReasonName()+" "+string(e.Method))
		}
	}
	rec.events = nil
	return out
}

// answered checks that the last request was answered by the error handler
// ans (status 418), once, and reported as exactly one decision event, want
// ("refused invalid_request session").
func answered(t *testing.T, step string, status int, ans *answers, rec *eventRecorder, want string) {
	t.Helper()
	errs := ans.take()
	if status != http.StatusTeapot || len(errs) != 1 {
		t.Errorf("%s: status %d, %d errors answered by the error handler; want 418 from it, once", step, status, len(errs))
	}
	if got := decisions(rec); !slices.Equal(got, []string{want}) {
		t.Errorf("%s: decision events %q, want [%q]", step, got, want)
	}
	if len(errs) == 1 && strings.HasPrefix(want, "refused ") {
		if reason := reasonOf(errs[0]); reason == nil || reasonLabel(reason) != strings.Fields(want)[1] {
			t.Errorf("%s: the error handler got %v, not a %s refusal", step, errs[0], strings.Fields(want)[1])
		}
	}
}

func reasonLabel(err error) string { return Event{Reason: err}.ReasonName() }

// TestEveryAnswerHasAnEvent drives each path on which the kit answers a
// request it refused or could not serve, and checks that each went through
// the configured error handler, once, and emitted exactly one decision
// event: the middleware, the session loader's refusals and its store
// failures (load, save, the cookie key), the Issuer's endpoints.
func TestEveryAnswerHasAnEvent(t *testing.T) {
	t.Run("session", func(t *testing.T) {
		ans, rec := &answers{}, &eventRecorder{}
		fs := &failingStore{Store: memstore.NewWithCleanupInterval(0)}
		e := newSessionEnv(t, fs, WithErrorHandler(ans.handle), WithEvents(rec.hook))
		c := e.browser()
		tok := e.login(c, "1")
		rec.take()

		r := e.do(c, "POST", "/login", http.Header{"Sec-Fetch-Site": {"cross-site"}}, url.Values{"user": {"2"}})
		answered(t, "LoadAndSave, cross-origin", r.status, ans, rec, "refused cross_origin session")
		twice := http.Header{"Cookie": {defaultSessionCookieName + "=a; " + defaultSessionCookieName + "=b"}}
		r = e.do(e.bare(), "POST", "/login", twice, url.Values{"user": {"2"}})
		answered(t, "LoadAndSave, cookie twice", r.status, ans, rec, "refused invalid_request session")

		fs.fail.Store(true)
		r = e.do(c, "POST", "/login", nil, url.Values{"user": {"2"}})
		answered(t, "LoadAndSave, the store fails the load", r.status, ans, rec, "failed error session")
		r = e.do(c, "GET", "/me", nil, nil)
		answered(t, "Require, the store fails the load", r.status, ans, rec, "failed error session")
		r = e.do(e.browser(), "GET", "/visit", nil, nil) // a new session: no load, one save
		answered(t, "LoadAndSave, the store fails the save", r.status, ans, rec, "failed error session")
		fs.fail.Store(false)
		if r := e.do(c, "GET", "/me", nil, nil); r.status != 200 || !e.stored(tok) {
			t.Fatalf("after the failures: %d %q", r.status, r.body)
		}
	})

	t.Run("session cookie key", func(t *testing.T) {
		db := newPGDB(t)
		st := db.migrated()
		ans, rec := &answers{}, &eventRecorder{}
		s, err := NewSession(NewSessionManager(st.Sessions()), func(context.Context, string) (string, error) { return "", nil },
			WithErrorHandler(ans.handle), WithEvents(rec.hook))
		if err != nil {
			t.Fatal(err)
		}
		db.Close() // the key is read on the first genuine-looking cookie: now it cannot be
		req := httptest.NewRequest("GET", "/", nil)
		req.AddCookie(&http.Cookie{Name: defaultSessionCookieName, Value: randomCookie(true)})
		rr := httptest.NewRecorder()
		s.LoadAndSave(http.NotFoundHandler()).ServeHTTP(rr, req)
		answered(t, "LoadAndSave, the cookie key cannot be read", rr.Code, ans, rec, "failed error session")
	})

	t.Run("issuer", func(t *testing.T) {
		ans, rec := &answers{}, &eventRecorder{}
		s := NewMemoryStore("1")
		fs := &failingStore{FamilyStore: s}
		e := newEnv(t, envConfig{families: fs, versions: s, issuerOpts: []Option{WithErrorHandler(ans.handle), WithEvents(rec.hook)}})
		_, rt := e.mustTokenLogin("1")
		for _, path := range []string{"/token/refresh", "/token/logout"} {
			r := e.send(e.request("GET", path, "", ""))
			answered(t, "GET "+path, r.status, ans, rec, "refused invalid_request refresh")
		}
		r := e.refresh("not.a.token")
		answered(t, "refresh, a bad token", r.status, ans, rec, "refused invalid_token refresh")
		fs.fail.Store(true)
		answered(t, "refresh, the store fails", e.refresh(rt).status, ans, rec, "failed error refresh")
		r = e.send(e.request("POST", "/token/logout", "", "", &http.Cookie{Name: defaultRefreshCookieName, Value: rt}))
		answered(t, "logout, the store fails", r.status, ans, rec, "failed error refresh")
	})

	t.Run("access token", func(t *testing.T) {
		ans, rec := &answers{}, &eventRecorder{}
		k := clientKey(t)
		tok := boundToken(k.jkt)
		j, err := NewJWT(func(_ context.Context, c *Claims) (string, error) { return c.Subject, nil },
			WithIssuer(testIssuer), WithAudience(testAudience), WithKey("k1", testKeys().ec256), WithClock(fixedClock), WithDPoP(DPoPAllowed))
		if err != nil {
			t.Fatal(err)
		}
		for _, g := range []struct {
			name  string
			guard func(http.Handler) http.Handler
		}{
			{"Require", Require[string](j, WithErrorHandler(ans.handle), WithEvents(rec.hook))},
			{"Optional", Optional[string](j, WithErrorHandler(ans.handle), WithEvents(rec.hook))},
		} {
			h := g.guard(http.NotFoundHandler())
			p := k.proof(k.header(), newProofClaims("GET", dpopURL, tok, testNow))
			if w := call(h, "GET", dpopURL, "DPoP "+tok, p); w.Code != http.StatusNotFound {
				t.Fatalf("%s, first use of the proof: %d", g.name, w.Code)
			}
			rec.take()
			answered(t, g.name+", a replayed DPoP proof", call(h, "GET", dpopURL, "DPoP "+tok, p).Code, ans, rec, "refused invalid_dpop_proof dpop")
			answered(t, g.name+", a bad token", call(h, "GET", dpopURL, "Bearer x.y.z").Code, ans, rec, "refused invalid_token bearer")
			answered(t, g.name+", two schemes", call(h, "GET", dpopURL, "Bearer").Code, ans, rec, "refused invalid_request bearer")
		}
	})
}

// TestAnswersGoThroughTheErrorHandler reads the package's source and lists
// every function that writes a response or calls an error handler. A
// function that answers an error must emit its event in the same function
// (eventHook.refused); the others write what is not a decision: the error
// handlers themselves, successful answers, public documents. A new writer
// fails this test until it is routed through the error handler and the
// events, or added here with the reason it needs neither.
func TestAnswersGoThroughTheErrorHandler(t *testing.T) {
	// Functions that call an error handler, and emit the event beside it.
	answering := map[string]bool{
		"guard":              true, // Require and Optional
		"sessionConfig.fail": true, // Session.LoadAndSave, the session loader and writer
		"Issuer.writeError":  true, // the Issuer's endpoints
	}
	// Functions that write a response and are not answering a decision.
	writers := map[string]string{
		"DefaultErrorHandler":         "the default error handler",
		"DefaultTokenErrorHandler":    "the default error handler of the Issuer's endpoints",
		"writeOAuthError":             "DefaultTokenErrorHandler's writer",
		"Issuer.writeTokens":          "a successful token response (refresh.rotated)",
		"Issuer.LogoutHandler":        "204 after a logout (refresh.family_revoked when it revoked one)",
		"Issuer.JWKSHandler":          "a public document, and its 405",
		"JWT.ResourceMetadataHandler": "a public document",
		"sessionWriter.WriteHeader":   "the session writer passing on the handler's status",
		"sessionWriter.Write":         "the session writer passing on the handler's body",
		"Session.load":                "a zero Session (not built: no hook to report to) gets DefaultErrorHandler's 500",
	}
	fset := token.NewFileSet()
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	found := map[string]bool{}
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		src, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		f, err := parser.ParseFile(fset, name, src, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range f.Decls {
			fd, ok := d.(*ast.FuncDecl)
			if !ok || fd.Body == nil {
				continue
			}
			fn := funcName(fd)
			answers, writes, emits := false, false, false
			ast.Inspect(fd.Body, func(n ast.Node) bool {
				c, ok := n.(*ast.CallExpr)
				if !ok {
					return true
				}
				switch callee := calleeName(c); callee {
				case "errorHandler", "ErrorFunc", "DefaultErrorHandler", "DefaultTokenErrorHandler":
					answers = true
				case "refused":
					emits = true
				case "WriteHeader", "writeOAuthError":
					writes = true
				case "Error", "Redirect", "ServeContent", "ServeFile":
					writes = writes || isPkg(c, "http")
				case "Write", "WriteString", "Fprint", "Fprintf", "Fprintln":
					writes = writes || writesToResponse(c)
				}
				return true
			})
			if !answers && !writes {
				continue
			}
			found[fn] = true
			_, isWriter := writers[fn]
			switch {
			case answering[fn] && !emits:
				t.Errorf("%s (%s) answers an error without emitting its event", fn, name)
			case answers && !answering[fn] && !isWriter:
				t.Errorf("%s (%s) calls an error handler: emit the event beside it (eventHook.refused) and list it in answering", fn, name)
			case writes && !answering[fn] && !isWriter:
				t.Errorf("%s (%s) writes a response itself: answer through the error handler and the events, or list it in writers with why not", fn, name)
			}
		}
	}
	var missing []string
	for fn, ok := range answering {
		if ok && !found[fn] {
			missing = append(missing, fn)
		}
	}
	for fn := range writers {
		if !found[fn] {
			missing = append(missing, fn)
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("listed but not found (renamed? update the lists): %v", missing)
	}
}

// funcName is "Recv.Name" for a method, "Name" for a function.
func funcName(fd *ast.FuncDecl) string {
	if fd.Recv == nil || len(fd.Recv.List) == 0 {
		return fd.Name.Name
	}
	t := fd.Recv.List[0].Type
	if s, ok := t.(*ast.StarExpr); ok {
		t = s.X
	}
	if ix, ok := t.(*ast.IndexExpr); ok { // a generic receiver, Session[U]
		t = ix.X
	}
	if ix, ok := t.(*ast.IndexListExpr); ok {
		t = ix.X
	}
	if id, ok := t.(*ast.Ident); ok {
		return id.Name + "." + fd.Name.Name
	}
	return fd.Name.Name
}

// calleeName is the name a call calls: f for f(…), x.f(…) and x.y.f(…).
func calleeName(c *ast.CallExpr) string {
	switch f := c.Fun.(type) {
	case *ast.Ident:
		return f.Name
	case *ast.SelectorExpr:
		return f.Sel.Name
	case *ast.IndexExpr: // a generic call
		if id, ok := f.X.(*ast.Ident); ok {
			return id.Name
		}
	}
	return ""
}

// isPkg reports whether c calls a function of the package imported as pkg.
func isPkg(c *ast.CallExpr, pkg string) bool {
	s, ok := c.Fun.(*ast.SelectorExpr)
	if !ok {
		return false
	}
	id, ok := s.X.(*ast.Ident)
	return ok && id.Name == pkg
}

// writesToResponse reports whether a Write-like call goes to a
// ResponseWriter: the kit's response writers are named w (or are a
// wrapper's w.ResponseWriter); hashes and buffers have other names.
func writesToResponse(c *ast.CallExpr) bool {
	target := ast.Expr(nil)
	switch calleeName(c) {
	case "Write":
		if s, ok := c.Fun.(*ast.SelectorExpr); ok {
			target = s.X
		}
	default: // io.WriteString(w, …), fmt.Fprint(w, …)
		if len(c.Args) > 0 {
			target = c.Args[0]
		}
	}
	switch x := target.(type) {
	case *ast.Ident:
		return x.Name == "w"
	case *ast.SelectorExpr:
		return x.Sel.Name == "ResponseWriter"
	}
	return false
}
