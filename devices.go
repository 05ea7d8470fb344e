package authkit

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"time"
)

// This file is the per-user index of sessions that lets a Store list a
// user's devices and end one, and lets a bump delete the user's sessions in
// storage: scs keys sessions by (the hash of) their token and cannot
// enumerate them by user. Session.Login adds a row (the device ID, the user,
// the store key of the session); the store's own delete of a session (a
// logout, a renewal, a refusal) removes it in the same statement or under
// the same lock, and its update of a session refreshes the row's last use
// and expiry, so the index costs one write at login and nothing more per
// request. Expired rows go with expired families (the memory store's sweep,
// PostgreSQL's cleanup).

// sessionDeviceKey is the session key that holds the session's device ID
// (written by Login only).
const sessionDeviceKey = "authkit.device"

// sessionDevice is one row of the index.
type sessionDevice struct {
	id, userID, storeKey string
	created, expiry      time.Time
}

// deviceIndex is implemented by the Store's own session stores
// (memorySessions, postgresSessions): Session.Login records its session
// there, and LogoutEverywhere bumps through it.
type deviceIndex interface {
	indexSession(ctx context.Context, d sessionDevice) error
	bump(ctx context.Context, userID string) (int64, error)
}

// newDeviceID returns a random device ID (128 bits, base64url).
func newDeviceID() string {
	var b [16]byte
	rand.Read(b[:]) // never fails
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// currentDevice returns the device ID of the session the kit loaded into
// ctx, or "".
func currentDevice(ctx context.Context) string {
	if st, ok := ctx.Value(currentSessionKey{}).(*loadState); ok && st.loaded != nil {
		return st.sm.GetString(st.loaded, sessionDeviceKey)
	}
	return ""
}

// storeKeyOf is the key scs stores a session under when HashTokenInStore is
// on (NewSession requires it): the SHA-256 of the token, base64url.
func storeKeyOf(token string) string {
	h := sha256.Sum256([]byte(token))
	return base64.RawURLEncoding.EncodeToString(h[:])
}
