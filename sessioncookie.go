package authkit

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"sync"
	"sync/atomic"
)

// This file signs the session cookie, so that a forged one costs no store
// query.
//
// The cookie's value is the scs token (43 characters) followed by "." and a
// MAC of it: the first 16 bytes of HMAC-SHA256 under the session key, in
// unpadded base64url (66 characters in all). The kit checks the MAC before
// it asks the store, in constant time; a random or altered cookie is then
// ignored like a missing one. The store still holds only the token's SHA-256
// (HashTokenInStore), never the token or the MAC.
//
// The MAC is a filter, not the session's secret: the session stays as safe
// as its 256-bit random token, which is what the store is asked about. So
// keeping the key in the same database as the sessions is sound.
//
// The session key comes, in order, from:
//
//   - WithSessionSecret (the application's secret, shared by its instances);
//   - the kit's PostgreSQL store: the first process to need it generates a
//     random secret and stores it (table authkit_keys, created by Migrate);
//     every process sharing the database reads the same one, once, and keeps
//     it;
//   - otherwise a random secret generated in the process (memstore, or any
//     other scs store): correct for one process; instances sharing another
//     kind of store must pass WithSessionSecret, or each refuses the others'
//     cookies.
//
// Sessions sharing a manager share its generated key; given
// WithSessionSecret they must be given the same secret.

// The shape of the session cookie.
const (
	sessionTokenLen  = 43 // an scs token: 32 random bytes, unpadded base64url
	sessionMACLen    = 16 // bytes of HMAC-SHA256 kept
	sessionCookieLen = sessionTokenLen + 1 + 22
	minSessionSecret = 32
	sessionKeyName   = "session-cookie-mac" // its row in authkit_keys
)

// isLowEntropy reports an obviously guessable secret: one repeated byte.
func isLowEntropy(b []byte) bool {
	for _, c := range b {
		if c != b[0] {
			return false
		}
	}
	return true
}

// deriveSessionKey turns a secret into the MAC key, separated from any other
// use of the secret.
func deriveSessionKey(secret []byte) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte("authkit session cookie MAC v1"))
	return m.Sum(nil)
}

// sessionCookieValue returns the cookie value for token under key.
func sessionCookieValue(key []byte, token string) string {
	b := make([]byte, 0, sessionCookieLen)
	b = append(b, token...)
	b = append(b, '.')
	return string(base64.RawURLEncoding.AppendEncode(b, sessionMAC(key, token)))
}

func sessionMAC(key []byte, token string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(token))
	return m.Sum(nil)[:sessionMACLen]
}

// sessionCookieToken returns the token in a cookie value whose MAC checks
// out under key, or "".
func sessionCookieToken(key []byte, v string) string {
	if len(v) != sessionCookieLen || v[sessionTokenLen] != '.' || !validSessionToken(v[:sessionTokenLen]) {
		return ""
	}
	var got [sessionMACLen + 2]byte
	n, err := base64.RawURLEncoding.Decode(got[:], []byte(v[sessionTokenLen+1:]))
	if err != nil || n != sessionMACLen {
		return ""
	}
	token := v[:sessionTokenLen]
	if !hmac.Equal(got[:n], sessionMAC(key, token)) {
		return ""
	}
	return token
}

// validSessionToken reports whether v can be an scs token: 32 random bytes in
// unpadded base64url.
func validSessionToken(v string) bool {
	if len(v) != sessionTokenLen {
		return false
	}
	for i := 0; i < len(v); i++ {
		if !b64url[v[i]] {
			return false
		}
	}
	return true
}

// keyStore is implemented by session stores that keep the session key for
// every process sharing them (postgresSessions).
type keyStore interface {
	sessionSecret(ctx context.Context) ([]byte, error)
}

// sessionKeys is the guarded store's generated or shared key, made once.
type sessionKeys struct {
	mu  sync.Mutex
	key atomic.Pointer[[]byte]
}

// get returns the key, asking inner (a keyStore) or generating it on first
// use. A failed fetch is not kept: the next request asks again.
func (k *sessionKeys) get(ctx context.Context, inner any) ([]byte, error) {
	if p := k.key.Load(); p != nil {
		return *p, nil
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if p := k.key.Load(); p != nil {
		return *p, nil
	}
	var secret []byte
	if ks, ok := inner.(keyStore); ok {
		s, err := ks.sessionSecret(ctx)
		if err != nil {
			return nil, fmt.Errorf("authkit: reading the session key: %w", err)
		}
		secret = s
	} else {
		secret = make([]byte, 32)
		rand.Read(secret) // never fails
	}
	key := deriveSessionKey(secret)
	k.key.Store(&key)
	return key, nil
}
