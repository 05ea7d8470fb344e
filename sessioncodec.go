package authkit

import (
	"bytes"
	"encoding/binary"
	"encoding/gob"
	"errors"
	"math"
	"time"

	"github.com/alexedwards/scs/v2"
)

// This file is the session codec that NewSessionManager installs in place of
// scs's GobCodec, which spent most of a session read (about 25 µs and 200
// allocations for the kit's five values) building gob's type machinery anew
// for every blob.
//
// The format: a magic byte that no gob stream starts with (gob's first byte is
// a message length, 0x01–0x7F, or a negated byte count, 0xF8–0xFF), a format
// version, the deadline in time's binary form (a length byte, then the bytes),
// the number of compact entries and the length of the gob part (uvarints), the
// entries, and the gob part: empty, or, if some value is of another type, one
// gob-encoded map[string]any holding those values. An entry is a key (one byte
// naming one of the kit's own keys, or 0 and the key's bytes) and a value: a
// tag and its payload (string, []byte, bool, int, int64, int32, float64,
// time.Time, nil). As from gob, an empty []byte comes back nil. Only those
// exact types go compact: a named type (type Role string) goes through gob, so
// a value always comes back with the type it was put with, as with GobCodec,
// and a type gob does not know still needs gob.Register.
//
// Decode reads both this format and GobCodec's (anything that does not start
// with the magic byte), so sessions an existing store holds keep working and
// are rewritten in this format at their next save. The reverse does not hold:
// GobCodec cannot read what this codec wrote, and scs answers such a cookie
// with its ErrorFunc until the session expires. A program going back to a
// plain scs manager keeps this codec in it, taking it from a kit manager
// (sm.Codec = authkit.NewSessionManager(store).Codec: it reads both formats
// and needs nothing else of the kit), or deletes the sessions (everyone logs
// in again).
//
// Decode is strict: a truncated or overlong blob (every proper prefix of a
// blob is refused), an unknown tag, key or version, a key given twice, or a
// value out of its type's range is an error (scs then answers with the
// manager's ErrorFunc: 500), never a panic or a partly read session.

// The session keys the kit owns. Only Login writes them (and the idle
// bookkeeping writes sessionSeenKey), so requests racing on one session
// cannot change who it belongs to.
const (
	sessionUserKey     = "authkit.user"     // string: the user ID
	sessionAuthKey     = "authkit.auth"     // int64: Unix nanoseconds of the login
	sessionSeenKey     = "authkit.seen"     // int64: Unix nanoseconds of the last recorded activity
	sessionVersionKey  = "authkit.version"  // int64: the user's token version at login
	sessionRememberKey = "authkit.remember" // bool: remembered at login (WithRememberMe's limits)
	scsRememberKey     = "__rememberMe"     // bool: scs's own key, set by the manager's RememberMe
)

// codecKeys are the keys written as one byte: entry i+1 is codecKeys[i].
// Append only: a stored session names its keys by position.
var codecKeys = [...]string{
	sessionUserKey, sessionAuthKey, sessionSeenKey, sessionVersionKey,
	sessionRememberKey, scsRememberKey, sessionDeviceKey,
}

const (
	codecMagic   = 0xA7 // never the first byte of a gob stream
	codecVersion = 1
)

// The value tags.
const (
	tagNil byte = iota
	tagString
	tagBytes
	tagFalse
	tagTrue
	tagInt
	tagInt64
	tagInt32
	tagFloat64
	tagTime
)

// sessionCodec is the kit's scs.Codec (see above). It has no state: safe
// for concurrent use.
type sessionCodec struct{}

var errSessionCodec = errors.New("authkit: session codec: corrupt session data")

// compact reports whether v is written as an entry rather than through gob.
func compact(v any) bool {
	switch v.(type) {
	case nil, string, []byte, bool, int, int64, int32, float64, time.Time:
		return true
	}
	return false
}

// Encode writes deadline and values in the kit's format.
func (sessionCodec) Encode(deadline time.Time, values map[string]any) ([]byte, error) {
	size, n := 24, 0
	var rest map[string]any
	for k, v := range values {
		if !compact(v) {
			if rest == nil {
				rest = make(map[string]any)
			}
			rest[k] = v
			continue
		}
		n++
		size += len(k) + 12
		switch v := v.(type) {
		case string:
			size += len(v)
		case []byte:
			size += len(v)
		case time.Time:
			size += 16
		}
	}
	var gobbed []byte
	if rest != nil {
		var buf bytes.Buffer
		if err := gob.NewEncoder(&buf).Encode(rest); err != nil {
			return nil, err
		}
		gobbed = buf.Bytes()
		size += len(gobbed)
	}
	b := make([]byte, 0, size)
	b = append(b, codecMagic, codecVersion, 0)
	b, err := deadline.AppendBinary(b)
	if err != nil {
		return nil, err
	}
	b[2] = byte(len(b) - 3)
	b = binary.AppendUvarint(b, uint64(n))
	b = binary.AppendUvarint(b, uint64(len(gobbed)))
	for k, v := range values {
		if !compact(v) {
			continue
		}
		b = appendCodecKey(b, k)
		if b, err = appendCodecValue(b, v); err != nil {
			return nil, err
		}
	}
	return append(b, gobbed...), nil
}

func appendCodecKey(b []byte, k string) []byte {
	for i, ck := range codecKeys {
		if k == ck {
			return append(b, byte(i+1))
		}
	}
	b = append(b, 0)
	b = binary.AppendUvarint(b, uint64(len(k)))
	return append(b, k...)
}

func appendCodecValue(b []byte, v any) ([]byte, error) {
	switch v := v.(type) {
	case nil:
		return append(b, tagNil), nil
	case string:
		b = append(b, tagString)
		b = binary.AppendUvarint(b, uint64(len(v)))
		return append(b, v...), nil
	case []byte:
		b = append(b, tagBytes)
		b = binary.AppendUvarint(b, uint64(len(v)))
		return append(b, v...), nil
	case bool:
		if v {
			return append(b, tagTrue), nil
		}
		return append(b, tagFalse), nil
	case int:
		return binary.AppendVarint(append(b, tagInt), int64(v)), nil
	case int64:
		return binary.AppendVarint(append(b, tagInt64), v), nil
	case int32:
		return binary.AppendVarint(append(b, tagInt32), int64(v)), nil
	case float64:
		return binary.LittleEndian.AppendUint64(append(b, tagFloat64), math.Float64bits(v)), nil
	case time.Time:
		b = append(b, tagTime, 0)
		at := len(b)
		b, err := v.AppendBinary(b)
		if err != nil {
			return nil, err
		}
		b[at-1] = byte(len(b) - at)
		return b, nil
	}
	panic("unreachable: appendCodecValue of a type compact refuses")
}

// Decode reads the kit's format, or GobCodec's.
func (sessionCodec) Decode(b []byte) (time.Time, map[string]any, error) {
	if len(b) == 0 || b[0] != codecMagic {
		deadline, values, err := scs.GobCodec{}.Decode(b)
		if err == nil && values == nil { // a gob blob without its map: scs's Put would panic
			values = map[string]any{}
		}
		return deadline, values, err
	}
	d := codecReader{b: b, i: 1}
	if d.byte() != codecVersion {
		return time.Time{}, nil, errSessionCodec
	}
	var deadline time.Time
	if err := deadline.UnmarshalBinary(d.next(int(d.byte()))); err != nil || d.bad {
		return time.Time{}, nil, errSessionCodec
	}
	n, g := d.uvarint(), d.uvarint()
	if d.bad || g > uint64(len(b)-d.i) || n > uint64(len(b)-d.i-int(g))/2 { // an entry takes two bytes at least
		return time.Time{}, nil, errSessionCodec
	}
	end := len(b) - int(g) // where the entries end and gob's part starts
	// Keys and strings are views of one copy of the entries: one allocation.
	d.b = b[:end]
	d.s = string(b[d.i:end])
	d.base = d.i
	values := make(map[string]any, n)
	for ; n > 0; n-- {
		k := d.key()
		v := d.value()
		if d.bad {
			return time.Time{}, nil, errSessionCodec
		}
		if _, dup := values[k]; dup {
			return time.Time{}, nil, errSessionCodec
		}
		values[k] = v
	}
	if d.i != end {
		return time.Time{}, nil, errSessionCodec
	}
	if g > 0 {
		var rest map[string]any
		r := bytes.NewReader(b[end:])
		if err := gob.NewDecoder(r).Decode(&rest); err != nil || r.Len() != 0 || len(rest) == 0 {
			return time.Time{}, nil, errSessionCodec
		}
		for k, v := range rest {
			if _, dup := values[k]; dup {
				return time.Time{}, nil, errSessionCodec
			}
			values[k] = v
		}
	}
	return deadline, values, nil
}

// codecReader reads one blob; a read past its end, or a malformed number,
// sets bad and returns zero values from then on.
type codecReader struct {
	b    []byte
	i    int
	s    string // b[base:] as a string, once the entries start
	base int
	bad  bool
}

func (d *codecReader) byte() byte {
	if d.bad || d.i >= len(d.b) {
		d.bad = true
		return 0
	}
	d.i++
	return d.b[d.i-1]
}

// next returns the next n bytes.
func (d *codecReader) next(n int) []byte {
	if d.bad || n < 0 || n > len(d.b)-d.i {
		d.bad = true
		return nil
	}
	d.i += n
	return d.b[d.i-n : d.i]
}

// str returns the next n bytes as a string, a view of d.s.
func (d *codecReader) str(n uint64) string {
	if d.bad || n > uint64(len(d.b)-d.i) {
		d.bad = true
		return ""
	}
	at := d.i - d.base
	d.i += int(n)
	return d.s[at : at+int(n)]
}

func (d *codecReader) uvarint() uint64 {
	if d.bad {
		return 0
	}
	v, n := binary.Uvarint(d.b[d.i:])
	if n <= 0 {
		d.bad = true
		return 0
	}
	d.i += n
	return v
}

func (d *codecReader) varint() int64 {
	if d.bad {
		return 0
	}
	v, n := binary.Varint(d.b[d.i:])
	if n <= 0 {
		d.bad = true
		return 0
	}
	d.i += n
	return v
}

func (d *codecReader) key() string {
	k := d.byte()
	switch {
	case k == 0:
		return d.str(d.uvarint())
	case int(k) <= len(codecKeys):
		return codecKeys[k-1]
	}
	d.bad = true
	return ""
}

func (d *codecReader) value() any {
	switch d.byte() {
	case tagNil:
		return nil
	case tagString:
		return d.str(d.uvarint())
	case tagBytes: // empty: nil, as from gob
		if s := d.str(d.uvarint()); s != "" {
			return []byte(s)
		}
		return []byte(nil)
	case tagFalse:
		return false
	case tagTrue:
		return true
	case tagInt:
		v := d.varint()
		if int64(int(v)) != v {
			d.bad = true
		}
		return int(v)
	case tagInt64:
		return d.varint()
	case tagInt32:
		v := d.varint()
		if int64(int32(v)) != v {
			d.bad = true
		}
		return int32(v)
	case tagFloat64:
		if b := d.next(8); b != nil {
			return math.Float64frombits(binary.LittleEndian.Uint64(b))
		}
		return nil
	case tagTime:
		var t time.Time
		if err := t.UnmarshalBinary(d.next(int(d.byte()))); err != nil {
			d.bad = true
		}
		return t
	}
	d.bad = true
	return nil
}
