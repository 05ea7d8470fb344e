// Package adapters plugs authkit's middleware into web frameworks whose
// middleware is not func(http.Handler) http.Handler.
//
// Most routers need no adapter at all:
//
//   - net/http and chi: mux.Handle(pattern, authkit.Require(auth)(h)) and
//     r.Use(authkit.Require(auth));
//   - echo (v4): e.Use(echo.WrapMiddleware(authkit.Require(auth))).
//
// Gin has nothing of the kind, so this package provides [Gin].
//
// This is a module of its own, so that the core module never requires a
// framework.
package adapters

import (
	"io"
	"net/http"

	"github.com/gin-gonic/gin"
)

// Gin turns middleware of the shape func(http.Handler) http.Handler (such as
// authkit.Require, authkit.Optional, or a session authenticator's) into a
// gin.HandlerFunc:
//
//	r.Use(adapters.Gin(authkit.Require(auth)))
//	r.GET("/me", func(c *gin.Context) {
//		u, _ := authkit.UserFrom[*User](c.Request.Context())
//		…
//	})
//
// When mw lets the request through, the rest of gin's chain runs with the
// request mw handed on (so authkit.UserFrom finds the user in
// c.Request.Context()) and writes through the response writer mw handed on
// (so a session middleware sees the response before it is sent and can set
// its cookie). When mw answers the request itself (a 401, say), the chain is
// aborted: no later handler runs, and c.IsAborted reports true.
//
// Gin panics if mw is nil, at construction. The handler is safe for
// concurrent use if mw is.
func Gin(mw func(http.Handler) http.Handler) gin.HandlerFunc {
	if mw == nil {
		panic("adapters: Gin(nil)")
	}
	return func(c *gin.Context) {
		orig := c.Writer
		called := false
		mw(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			called = true
			c.Request = r
			if w != http.ResponseWriter(orig) {
				c.Writer = &ginWriter{ResponseWriter: orig, kit: w}
			}
			c.Next()
		})).ServeHTTP(orig, c.Request)
		// mw has finished (a session middleware has saved the session):
		// whatever an earlier gin handler writes after c.Next returns goes
		// straight to gin's writer again.
		c.Writer = orig
		if !called {
			c.Abort()
		}
	}
}

// ginWriter is gin's response writer with the headers and the body routed
// through the writer that the kit's middleware handed on, which ends in
// gin's writer. Status, Size, Written, Hijack, CloseNotify and Pusher stay
// gin's own.
type ginWriter struct {
	gin.ResponseWriter
	kit http.ResponseWriter
}

func (w *ginWriter) Header() http.Header         { return w.kit.Header() }
func (w *ginWriter) WriteHeader(code int)        { w.kit.WriteHeader(code) }
func (w *ginWriter) Write(b []byte) (int, error) { return w.kit.Write(b) }
func (w *ginWriter) Unwrap() http.ResponseWriter { return w.kit }
func (w *ginWriter) WriteString(s string) (int, error) {
	return io.WriteString(w.kit, s)
}

// WriteHeaderNow sends the status gin holds through the kit's writer first,
// so that it sees the response start (gin's own WriteHeader only records the
// status).
func (w *ginWriter) WriteHeaderNow() {
	if !w.ResponseWriter.Written() {
		w.kit.WriteHeader(w.ResponseWriter.Status())
		w.ResponseWriter.WriteHeaderNow()
	}
}

func (w *ginWriter) Flush() {
	w.WriteHeaderNow()
	w.ResponseWriter.Flush()
}
