package authkit

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"
	"strconv"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
)

// This file holds the strict JSON reader for JOSE headers and JWT claims sets.
// encoding/json cannot be used for them directly: it lets a duplicate member
// name win silently, turns invalid UTF-8 and lone surrogates into U+FFFD, and
// decodes into maps that cost an allocation per member. The reader below
// validates the whole object in one pass (UTF-8 inside strings, the only
// place JSON allows anything but ASCII), refuses duplicates (compared after
// unescaping), and hands out values as sub-slices of the input.

const maxJSONDepth = 32

var (
	errNotObject    = errors.New("not a JSON object")
	errBadJSON      = errors.New("malformed JSON")
	errDuplicate    = errors.New("duplicate member name")
	errTooDeep      = errors.New("JSON nested too deeply")
	errBadUTF8      = errors.New("invalid UTF-8")
	errBadSurrogate = errors.New("lone UTF-16 surrogate in string")
	errNotString    = errors.New("not a string")
	errNotNumber    = errors.New("not a number")
)

// parseObject validates that data is exactly one JSON object (surrounding
// whitespace allowed) with distinct member names, and calls fn for each
// member in order. Strings returned to fn may alias data: the caller must not
// modify data afterwards. Data that is not UTF-8 is refused with errBadUTF8,
// whatever else is wrong with it.
func parseObject(data []byte, fn func(name string, value []byte) error) error {
	var o objectReader
	o.open(data)
	var err error
	for err == nil && o.next() {
		var value []byte
		if value, err = o.raw(); err == nil {
			err = fn(o.name, value)
		}
	}
	return o.end(err)
}

// objectReader reads one JSON object member by member, for a reader that
// reads each value itself, in the one pass over data that checks it:
//
//	var o objectReader
//	o.open(data)
//	var err error
//	for err == nil && o.next() {
//		err = ... o.name, then exactly one of o.raw() and o.str() ...
//	}
//	err = o.end(err)
//
// end gives parseObject's answer: the first error (a reader's, returned as
// is), or one for what follows the object, and errBadUTF8 for any input
// that is not UTF-8. (A loop, not a callback: the reader stays on the
// caller's stack, and is never copied.)
type objectReader struct {
	data []byte
	i    int     // the next byte to read
	n    int     // members read
	name string  // the member next read
	err  error   // what open or next found wrong
	seen nameSet // the names so far, for duplicate detection
}

// open starts reading data, which must open a JSON object; o must be new.
func (o *objectReader) open(data []byte) {
	o.data = data
	i := skipSpace(data, 0)
	if i >= len(data) || data[i] != '{' {
		o.err = errNotObject
		return
	}
	o.i = skipSpace(data, i+1)
}

// next reads the separator before the next member, its name and its colon
// into o.name, and reports true; or it reads the closing brace, or finds an
// error, and reports false.
func (o *objectReader) next() bool {
	if o.err != nil {
		return false
	}
	data, i := o.data, o.i
	if o.n > 0 {
		i = skipSpace(data, i)
		switch {
		case i < len(data) && data[i] == ',':
			i = skipSpace(data, i+1)
		case i < len(data) && data[i] == '}':
			o.i = i + 1
			return false
		default:
			o.err = errBadJSON
			return false
		}
	} else if i < len(data) && data[i] == '}' {
		o.i = i + 1
		return false
	}
	if i >= len(data) || data[i] != '"' {
		o.err = errBadJSON
		return false
	}
	name, end, err := readName(data, i)
	switch {
	case err != nil:
		o.err = err
		return false
	case !o.seen.add(name):
		o.err = errDuplicate
		return false
	}
	i = skipSpace(data, end)
	if i >= len(data) || data[i] != ':' {
		o.err = errBadJSON
		return false
	}
	o.i, o.name = skipSpace(data, i+1), name
	o.n++
	return true
}

// end is the answer for the whole object, err being the reader's.
func (o *objectReader) end(err error) error {
	if err == nil {
		err = o.err
	}
	if err == nil && skipSpace(o.data, o.i) != len(o.data) {
		err = errBadJSON
	}
	if err != nil && err != errBadUTF8 && !utf8.Valid(o.data) {
		// What a check of the whole input up front would have said: the
		// strings were checked as they were read, and a byte outside ASCII
		// elsewhere is malformed JSON.
		return errBadUTF8
	}
	return err
}

// raw reads the member's value and returns it as it is written.
func (o *objectReader) raw() ([]byte, error) {
	end, err := skipValue(o.data, o.i, 1)
	if err != nil {
		return nil, err
	}
	v := o.data[o.i:end]
	o.i = end
	return v, nil
}

// str reads the member's value, a string, unescaped (aliasing the input
// when it has no escape) in the same pass that checks it; ok is false when
// the value is another JSON value (read all the same).
func (o *objectReader) str() (s string, ok bool, err error) {
	if o.i >= len(o.data) || o.data[o.i] != '"' {
		_, err := o.raw()
		return "", false, err
	}
	s, end, err := readName(o.data, o.i)
	if err != nil {
		return "", false, err
	}
	o.i = end
	return s, true, nil
}

// readName reads the string (a member name, or a value) whose opening quote
// is at i, and returns it unescaped (aliasing data when it has no escape)
// and the index past it.
func readName(data []byte, i int) (string, int, error) {
	end, escaped, err := scanString(data, i)
	if err != nil {
		return "", 0, err
	}
	if !escaped {
		return stringOf(data[i+1 : end-1]), end, nil
	}
	name, err := unquote(data[i:end])
	return name, end, err
}

// nameSet holds the member names of one object, for duplicate detection:
// objects are small, so a linear scan over a fixed array, then a map for
// the rare large one (which would make the scan quadratic).
type nameSet struct {
	few [16]string
	n   int
	m   map[string]struct{}
}

// add adds name and reports whether it was new.
func (s *nameSet) add(name string) bool {
	if s.m != nil {
		if _, dup := s.m[name]; dup {
			return false
		}
		s.m[name] = struct{}{}
		return true
	}
	for _, seen := range s.few[:s.n] {
		// The first byte first: the usual names ("iss", "sub", "aud",
		// "exp") have the same length.
		if len(seen) == len(name) && (name == "" || seen[0] == name[0]) && seen == name {
			return false
		}
	}
	if s.n < len(s.few) {
		s.few[s.n] = name
		s.n++
		return true
	}
	s.m = make(map[string]struct{}, 2*len(s.few))
	for _, seen := range s.few {
		s.m[seen] = struct{}{}
	}
	s.m[name] = struct{}{}
	return true
}

// forEachElement calls fn for each element of the JSON array arr, which
// must be exactly one well-formed array.
func forEachElement(arr []byte, fn func(value []byte) error) error {
	i := skipSpace(arr, 0)
	if i >= len(arr) || arr[i] != '[' {
		return errBadJSON
	}
	end, err := skipValue(arr, i, 1)
	if err != nil {
		return err
	}
	if skipSpace(arr, end) != len(arr) {
		return errBadJSON
	}
	i = skipSpace(arr, i+1)
	for i < end-1 {
		vend, err := skipValue(arr, i, 1)
		if err != nil {
			return err
		}
		if err := fn(arr[i:vend]); err != nil {
			return err
		}
		i = skipSpace(arr, vend)
		if arr[i] == ',' {
			i = skipSpace(arr, i+1)
		}
	}
	return nil
}

// checkFoldedNames refuses the JSON value v if it is not well-formed or if
// any object in it, at any depth, has two member names that are equal
// under Unicode simple case folding (strings.EqualFold): encoding/json
// matches struct fields that way, so {"Admin":false,"admin":true} decodes
// into the same field twice and the last one wins.
func checkFoldedNames(v []byte) error {
	i := skipSpace(v, 0)
	if i >= len(v) {
		return errBadJSON
	}
	switch v[i] {
	case '{':
		seen := make(map[string]struct{})
		return parseObject(v, func(name string, value []byte) error {
			k := foldKey(name)
			if _, dup := seen[k]; dup {
				return fmt.Errorf("%w (ignoring case): %q", errDuplicate, name)
			}
			seen[k] = struct{}{}
			return checkFoldedNames(value)
		})
	case '[':
		return forEachElement(v, checkFoldedNames)
	}
	end, err := skipValue(v, i, 1)
	if err == nil && skipSpace(v, end) != len(v) {
		err = errBadJSON
	}
	return err
}

// foldKey maps s to a key that two strings share exactly when
// strings.EqualFold holds for them: each rune becomes the smallest rune of
// its simple case-folding orbit.
func foldKey(s string) string {
	b := make([]byte, 0, len(s))
	for _, r := range s {
		m := r
		for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
			m = min(m, f)
		}
		b = utf8.AppendRune(b, m)
	}
	return string(b)
}

func skipSpace(data []byte, i int) int {
	for i < len(data) {
		switch data[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

// skipValue returns the index just past the JSON value that starts at i.
func skipValue(data []byte, i, depth int) (int, error) {
	if i >= len(data) {
		return 0, errBadJSON
	}
	switch c := data[i]; {
	case c == '"':
		return skipString(data, i)
	case c == '{' || c == '[':
		if depth >= maxJSONDepth {
			return 0, errTooDeep
		}
		return skipComposite(data, i, depth+1)
	case c == '-' || (c >= '0' && c <= '9'):
		return skipNumber(data, i)
	case c == 't':
		return skipLiteral(data, i, "true")
	case c == 'f':
		return skipLiteral(data, i, "false")
	case c == 'n':
		return skipLiteral(data, i, "null")
	}
	return 0, errBadJSON
}

func skipLiteral(data []byte, i int, lit string) (int, error) {
	if len(data)-i >= len(lit) && string(data[i:i+len(lit)]) == lit {
		return i + len(lit), nil
	}
	return 0, errBadJSON
}

func skipComposite(data []byte, i, depth int) (int, error) {
	isObject := data[i] == '{'
	closer := byte(']')
	if isObject {
		closer = '}'
	}
	i = skipSpace(data, i+1)
	if i < len(data) && data[i] == closer {
		return i + 1, nil
	}
	// Duplicates are refused at every depth, not only in the top-level
	// object: encoding/json lets the last one win wherever it is, so
	// {"role":{"admin":false,"admin":true}} would read as admin = true.
	var seen nameSet
	for {
		if isObject {
			if i >= len(data) || data[i] != '"' {
				return 0, errBadJSON
			}
			name, end, err := readName(data, i)
			if err != nil {
				return 0, err
			}
			if !seen.add(name) {
				return 0, errDuplicate
			}
			i = skipSpace(data, end)
			if i >= len(data) || data[i] != ':' {
				return 0, errBadJSON
			}
			i = skipSpace(data, i+1)
		}
		end, err := skipValue(data, i, depth)
		if err != nil {
			return 0, err
		}
		i = skipSpace(data, end)
		if i >= len(data) {
			return 0, errBadJSON
		}
		if data[i] == closer {
			return i + 1, nil
		}
		if data[i] != ',' {
			return 0, errBadJSON
		}
		i = skipSpace(data, i+1)
	}
}

// skipString returns the index just past the string whose opening quote is at
// i. It checks escapes, control characters, surrogate pairing and UTF-8.
func skipString(data []byte, i int) (int, error) {
	end, _, err := scanString(data, i)
	return end, err
}

// scanString is skipString, and reports whether the string has an escape.
// It passes over eight plain bytes at a time; escapes and bytes outside
// ASCII are read out of line (scanSpecial), tokens having few.
func scanString(data []byte, i int) (end int, escaped bool, err error) {
	i++
	for {
		for i+8 <= len(data) {
			if m := special8(binary.LittleEndian.Uint64(data[i:])); m != 0 {
				i += bits.TrailingZeros64(m) >> 3 // the first special byte
				break
			}
			i += 8
		}
		for i < len(data) && stringPlain[data[i]] {
			i++
		}
		if i >= len(data) {
			return 0, false, errBadJSON
		}
		if data[i] == '"' {
			return i + 1, escaped, nil
		}
		escaped = escaped || data[i] == '\\'
		if i, err = scanSpecial(data, i); err != nil {
			return 0, false, err
		}
	}
}

// scanSpecial reads the escape, control character or UTF-8 sequence at i
// inside a string, and returns the index past it.
func scanSpecial(data []byte, i int) (int, error) {
	switch c := data[i]; {
	case c < 0x20:
		return 0, errBadJSON
	case c == '\\':
		if i+1 >= len(data) {
			return 0, errBadJSON
		}
		switch data[i+1] {
		case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			return i + 2, nil
		case 'u':
			r, ok := hex4(data, i+2)
			if !ok {
				return 0, errBadJSON
			}
			i += 6
			if utf16.IsSurrogate(r) {
				// A high surrogate must be followed by an escaped low one.
				if r >= 0xdc00 || i+1 >= len(data) || data[i] != '\\' || data[i+1] != 'u' {
					return 0, errBadSurrogate
				}
				r2, ok := hex4(data, i+2)
				if !ok || r2 < 0xdc00 || r2 > 0xdfff {
					return 0, errBadSurrogate
				}
				i += 6
			}
			return i, nil
		}
		return 0, errBadJSON
	}
	// c >= utf8.RuneSelf
	r, size := utf8.DecodeRune(data[i:])
	if r == utf8.RuneError && size == 1 {
		return 0, errBadUTF8
	}
	return i + size, nil
}

// stringPlain reports the bytes that stand for themselves in a JSON string:
// ASCII, not a control character, not '"' or '\\'.
var stringPlain = func() (t [256]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// special8 has the high bit set of each of the eight bytes of w (the first
// in memory lowest) that is not stringPlain, and maybe of some after the
// first such byte: a byte below 0x20, or equal to '"' or '\\' (zero once
// xored with it), sets its high bit when one is subtracted from every byte,
// and a borrow only reaches the bytes after one that is caught. So w is all
// plain exactly when special8(w) is zero, and the lowest bit set marks the
// first byte that is not.
func special8(w uint64) uint64 {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	q, b := w^(ones*'"'), w^(ones*'\\')
	return ((w - ones*0x20) | (q - ones) | (b - ones) | w) & highs
}

func hex4(data []byte, i int) (rune, bool) {
	if i+4 > len(data) {
		return 0, false
	}
	var r rune
	for _, c := range data[i : i+4] {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			c = c - 'A' + 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}

// skipNumber returns the index just past the number that starts at i,
// following the JSON grammar exactly (no leading zeros, no '+', no bare '.').
func skipNumber(data []byte, i int) (int, error) {
	if data[i] == '-' {
		i++
	}
	switch {
	case i < len(data) && data[i] == '0':
		i++
	case i < len(data) && data[i] >= '1' && data[i] <= '9':
		for i < len(data) && data[i] >= '0' && data[i] <= '9' {
			i++
		}
	default:
		return 0, errBadJSON
	}
	if i < len(data) && data[i] == '.' {
		i++
		start := i
		for i < len(data) && data[i] >= '0' && data[i] <= '9' {
			i++
		}
		if i == start {
			return 0, errBadJSON
		}
	}
	if i < len(data) && (data[i] == 'e' || data[i] == 'E') {
		i++
		if i < len(data) && (data[i] == '+' || data[i] == '-') {
			i++
		}
		start := i
		for i < len(data) && data[i] >= '0' && data[i] <= '9' {
			i++
		}
		if i == start {
			return 0, errBadJSON
		}
	}
	return i, nil
}

// unquote returns the contents of the already validated JSON string s
// (quotes included). Without escapes the result aliases s.
func unquote(s []byte) (string, error) {
	if len(s) < 2 || s[0] != '"' || s[len(s)-1] != '"' {
		return "", errNotString
	}
	s = s[1 : len(s)-1]
	if !hasBackslash(s) {
		return stringOf(s), nil
	}
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); {
		c := s[i]
		if c != '\\' {
			b = append(b, c)
			i++
			continue
		}
		switch s[i+1] {
		case 'b':
			b = append(b, '\b')
		case 'f':
			b = append(b, '\f')
		case 'n':
			b = append(b, '\n')
		case 'r':
			b = append(b, '\r')
		case 't':
			b = append(b, '\t')
		case 'u':
			r, _ := hex4(s, i+2)
			if utf16.IsSurrogate(r) {
				r2, _ := hex4(s, i+8)
				r = utf16.DecodeRune(r, r2)
				i += 6
			}
			b = utf8.AppendRune(b, r)
			i += 6
			continue
		default: // '"', '\\', '/'
			b = append(b, s[i+1])
		}
		i += 2
	}
	return string(b), nil
}

// hasBackslash reports whether s has a '\\': a loop for the short strings
// of tokens, below IndexByte's set-up cost.
func hasBackslash(s []byte) bool {
	if len(s) >= 32 {
		return bytes.IndexByte(s, '\\') >= 0
	}
	for _, c := range s {
		if c == '\\' {
			return true
		}
	}
	return false
}

// jsonString decodes a raw JSON value that must be a string.
func jsonString(v []byte) (string, error) {
	if len(v) == 0 || v[0] != '"' {
		return "", errNotString
	}
	return unquote(v)
}

// jsonInt64 decodes a raw JSON value that must be an integer number without
// fraction or exponent.
func jsonInt64(v []byte) (int64, error) {
	if len(v) == 0 || (v[0] != '-' && (v[0] < '0' || v[0] > '9')) {
		return 0, errNotNumber
	}
	return strconv.ParseInt(stringOf(v), 10, 64)
}

// jsonFloat decodes a raw JSON value that must be a number. A
// non-negative integer of up to 15 digits (every NumericDate until the year
// 33658) is exact as a float64 and is read without strconv.
func jsonFloat(v []byte) (float64, error) {
	if len(v) == 0 || (v[0] != '-' && (v[0] < '0' || v[0] > '9')) {
		return 0, errNotNumber
	}
	if len(v) <= 15 {
		var n uint64
		i := 0
		for ; i < len(v) && v[i] >= '0' && v[i] <= '9'; i++ {
			n = n*10 + uint64(v[i]-'0')
		}
		if i == len(v) {
			return float64(n), nil
		}
	}
	return strconv.ParseFloat(stringOf(v), 64)
}
