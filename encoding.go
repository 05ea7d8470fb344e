package authkit

import (
	"encoding/base64"
	"encoding/binary"
	"errors"
)

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

// b64tokenChar is 1 for the bytes that may appear in an RFC 6750 b64token
// before its trailing "=": b64url and ".", "~", "+", "/"; 0 for the others.
var b64tokenChar = func() (t [256]byte) {
	for c, ok := range b64url {
		if ok {
			t[c] = 1
		}
	}
	t['.'], t['~'], t['+'], t['/'] = 1, 1, 1, 1
	return t
}()

// b64tokenPrefix returns the length of the longest prefix of s made of
// b64tokenChar bytes. It tests eight bytes at a time: an Authorization
// header is read on every request, cache hits included.
func b64tokenPrefix(s string) int {
	rest := s
	for len(rest) >= 8 {
		w := rest[:8]
		if b64tokenChar[w[0]]&b64tokenChar[w[1]]&b64tokenChar[w[2]]&b64tokenChar[w[3]]&
			b64tokenChar[w[4]]&b64tokenChar[w[5]]&b64tokenChar[w[6]]&b64tokenChar[w[7]] == 0 {
			break
		}
		rest = rest[8:]
	}
	i := len(s) - len(rest)
	for i < len(s) && b64tokenChar[s[i]] == 1 {
		i++
	}
	return i
}

var strictB64 = base64.RawURLEncoding.Strict()

// b64dec maps each base64url character to its 6-bit value and every other
// byte to 0xff.
var b64dec = func() (t [256]byte) {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	for i := range t {
		t[i] = 0xff
	}
	for i := 0; i < len(alphabet); i++ {
		t[alphabet[i]] = byte(i)
	}
	return t
}()

var errBase64 = errors.New("not canonical unpadded base64url")

// decodeB64 decodes src into dst, which must have room for
// strictB64.DecodedLen(len(src)) bytes, and returns the bytes written. It
// accepts exactly what strictB64 accepts, minus the line breaks that
// encoding/base64 skips: the alphabet only (no padding, whitespace or "+/"),
// no length that leaves a lone character, and zero bits below the last byte,
// so that bytes have one encoding. It checks and decodes in one pass
// (strictB64 after a check of the alphabet reads every character twice).
func decodeB64(dst []byte, src string) ([]byte, error) {
	n := 0
	var bad byte
	for len(src) >= 8 && len(dst)-n >= 8 {
		s := src[:8]
		a, b, c, d := b64dec[s[0]], b64dec[s[1]], b64dec[s[2]], b64dec[s[3]]
		e, f, g, h := b64dec[s[4]], b64dec[s[5]], b64dec[s[6]], b64dec[s[7]]
		bad |= a | b | c | d | e | f | g | h
		v := uint64(a)<<58 | uint64(b)<<52 | uint64(c)<<46 | uint64(d)<<40 |
			uint64(e)<<34 | uint64(f)<<28 | uint64(g)<<22 | uint64(h)<<16
		binary.BigEndian.PutUint64(dst[n:n+8], v) // 6 bytes, and 2 overwritten next
		n += 6
		src = src[8:]
	}
	for len(src) >= 4 {
		s := src[:4]
		a, b, c, d := b64dec[s[0]], b64dec[s[1]], b64dec[s[2]], b64dec[s[3]]
		bad |= a | b | c | d
		v := uint32(a)<<18 | uint32(b)<<12 | uint32(c)<<6 | uint32(d)
		_ = dst[n+2]
		dst[n], dst[n+1], dst[n+2] = byte(v>>16), byte(v>>8), byte(v)
		n += 3
		src = src[4:]
	}
	switch len(src) {
	case 1:
		return nil, errBase64
	case 2:
		a, b := b64dec[src[0]], b64dec[src[1]]
		if b&0x0f != 0 {
			return nil, errBase64 // the 4 bits below the byte must be zero
		}
		bad |= a | b
		dst[n] = a<<2 | b>>4
		n++
	case 3:
		a, b, c := b64dec[src[0]], b64dec[src[1]], b64dec[src[2]]
		if c&0x03 != 0 {
			return nil, errBase64 // the 2 bits below the bytes must be zero
		}
		bad |= a | b | c
		v := uint32(a)<<10 | uint32(b)<<4 | uint32(c)>>2
		_ = dst[n+1]
		dst[n], dst[n+1] = byte(v>>8), byte(v)
		n += 2
	}
	if bad&0xc0 != 0 {
		return nil, errBase64
	}
	return dst[:n:n], nil
}
