package server

import (
	"crypto/sha256"
	"crypto/subtle"
)

// User is the demo's user type: what the handlers get from
// authkit.UserFrom[*User], whether a session or a token brought it in.
type User struct {
	ID   string // the "sub" of the user's tokens
	Name string // the login name
	// Issuer is the trusted issuer whose token brought the user in; "" for
	// the demo's own users.
	Issuer string
}

// account is a user with the SHA-256 of their password.
//
// A real program keeps a slow, salted password hash (bcrypt, scrypt or
// argon2 from golang.org/x/crypto) in its database; the demo keeps its two
// users in memory and a plain SHA-256 to need no dependency beyond the kit.
type account struct {
	user     *User
	password [sha256.Size]byte
}

// userStore is the demo's fixed, read-only set of users; safe for concurrent
// use because nothing writes to it after newUserStore.
type userStore struct {
	byName map[string]*account
	byID   map[string]*account
}

func newUserStore() *userStore {
	s := &userStore{byName: map[string]*account{}, byID: map[string]*account{}}
	for _, u := range []struct{ id, name, password string }{
		{"1", "alice", "alice-password"},
		{"2", "bob", "bob-password"},
	} {
		a := &account{user: &User{ID: u.id, Name: u.name}, password: sha256.Sum256([]byte(u.password))}
		s.byName[u.name] = a
		s.byID[u.id] = a
	}
	return s
}

// dummy is compared against when the user name is unknown, so that a wrong
// name takes as long as a wrong password.
var dummy = sha256.Sum256([]byte("no such user"))

// check returns the user whose name and password these are.
func (s *userStore) check(name, password string) (*User, bool) {
	a, known := s.byName[name]
	want := dummy
	if known {
		want = a.password
	}
	got := sha256.Sum256([]byte(password))
	if subtle.ConstantTimeCompare(got[:], want[:]) != 1 || !known {
		return nil, false
	}
	return a.user, true
}

// byUserID returns the user with the ID id.
func (s *userStore) byUserID(id string) (*User, bool) {
	a, ok := s.byID[id]
	if !ok {
		return nil, false
	}
	return a.user, true
}
