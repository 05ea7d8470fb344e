package server

import (
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"github.com/authkit-go/authkit"
)

// rememberFor is how long a "Remember me" session lives, idle or not.
const rememberFor = 30 * 24 * time.Hour

// device is one entry of GET /api/sessions (DESIGN.md "Demo contract").
type device struct {
	ID       string    `json:"id"`
	Kind     string    `json:"kind"` // "session" or "refresh"
	Created  time.Time `json:"created"`
	LastUsed time.Time `json:"last_used"`
	Current  bool      `json:"current"`
}

// deviceRoutes adds GET /api/sessions and DELETE /api/sessions/{id}, for
// the demo's own users (by session or the demo's bearer token).
func (a *app) deviceRoutes(mux *http.ServeMux, either func(http.Handler) http.Handler) {
	mux.Handle("GET /api/sessions", either(http.HandlerFunc(a.listDevices)))
	mux.Handle("DELETE /api/sessions/{id}", either(http.HandlerFunc(a.endDevice)))
}

// listDevices answers the caller's sessions and refresh-token families,
// the session this request came with marked current.
func (a *app) listDevices(w http.ResponseWriter, r *http.Request) {
	if _, ok := authkit.UserFrom[*User](r.Context()); !ok {
		http.Error(w, http.StatusText(http.StatusUnauthorized), http.StatusUnauthorized)
		return
	}
	out, err := a.devices(r)
	if err != nil {
		authkit.DefaultErrorHandler(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(out)
}

// devices returns the signed-in user's devices, for the API and the page.
func (a *app) devices(r *http.Request) ([]device, error) {
	u, _ := authkit.UserFrom[*User](r.Context())
	ds, err := a.store.Devices(r.Context(), u.ID)
	if err != nil {
		return nil, err
	}
	out := make([]device, 0, len(ds))
	for _, d := range ds {
		out = append(out, device{ID: d.ID, Kind: d.Kind, Created: d.Created, LastUsed: d.LastUsed, Current: d.Current})
	}
	return out, nil
}

// endDevice ends one of the caller's devices at once: 204; an ID that is
// not the caller's (another user's among them) is 404.
func (a *app) endDevice(w http.ResponseWriter, r *http.Request) {
	u, ok := authkit.UserFrom[*User](r.Context())
	if !ok {
		http.Error(w, http.StatusText(http.StatusUnauthorized), http.StatusUnauthorized)
		return
	}
	switch err := a.store.EndDevice(r.Context(), u.ID, r.PathValue("id")); {
	case errors.Is(err, authkit.ErrUnknownDevice):
		http.NotFound(w, r)
	case err != nil:
		authkit.DefaultErrorHandler(w, r, err)
	default:
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(http.StatusNoContent)
	}
}
