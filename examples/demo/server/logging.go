package server

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/authkit-go/authkit"
)

// eventsOption is the demo's WithEvents: every decision of the kit logged
// (authkit.LogEvents: one line each at info, refusals rate-limited,
// failures at error; the lines carry no token, cookie or secret), and given
// to the extensions' hooks. Every constructor and guard of the demo takes
// it.
func eventsOption(hooks []func(context.Context, authkit.Event)) authkit.Option {
	log := authkit.LogEvents(nil, slog.LevelInfo)
	if len(hooks) == 0 {
		return authkit.WithEvents(log)
	}
	return authkit.WithEvents(func(ctx context.Context, e authkit.Event) {
		log(ctx, e)
		for _, h := range hooks {
			h(ctx, e)
		}
	})
}

// logRequests logs one line per request at info: method, path, status,
// duration. Never the query, headers or cookies: they may carry credentials.
func logRequests(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(sw, r)
		slog.InfoContext(r.Context(), "demo: request", "method", r.Method, "path", r.URL.Path,
			"status", sw.status, "duration", time.Since(start))
	})
}

// statusWriter remembers the status a handler wrote.
type statusWriter struct {
	http.ResponseWriter
	status      int
	wroteHeader bool
}

func (w *statusWriter) WriteHeader(code int) {
	if !w.wroteHeader {
		w.status, w.wroteHeader = code, true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	w.wroteHeader = true
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection (Flush, deadlines).
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
