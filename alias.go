package authkit

import "unsafe"

// This file holds the package's only use of unsafe: read-only views that let
// the verifier hash, decode and parse a token without copying it.
//
// The invariant: the bytes viewed are never written while a view exists.
// bytesOf views a string, which is immutable, and its result is only read
// (hashed, base64-decoded from, verified). stringOf views a buffer private to
// one verification, filled by base64 decoding before any view is taken and
// never written afterwards nor handed out: the strings in Claims may alias
// it, the raw claim values in Claims are capped sub-slices of it that are
// never exposed.

// bytesOf returns the bytes of s without copying. The result must not be
// written.
func bytesOf(s string) []byte { return unsafe.Slice(unsafe.StringData(s), len(s)) }

// stringOf returns b as a string without copying. b must not be written
// afterwards.
func stringOf(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }
