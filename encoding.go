package authkit

import "encoding/base64"

// The base64url alphabet (RFC 4648 §5), in which tokens and session cookies
// are written.

// b64url reports which bytes may appear in a segment of a compact JWS.
var b64url = func() (t [256]bool) {
	for c := 'A'; c <= 'Z'; c++ {
		t[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c] = true
	}
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	t['-'], t['_'] = true, true
	return t
}()

// b64tokenChar reports which bytes may appear in an RFC 6750 b64token before
// its trailing "=": b64url and ".", "~", "+", "/".
var b64tokenChar = func() (t [256]bool) {
	t = b64url
	t['.'], t['~'], t['+'], t['/'] = true, true, true, true
	return t
}()

var strictB64 = base64.RawURLEncoding.Strict()
