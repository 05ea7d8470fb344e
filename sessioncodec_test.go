package authkit

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/gob"
	"fmt"
	"math"
	"net/http"
	"reflect"
	"testing"
	"time"

	"github.com/alexedwards/scs/v2"
	"github.com/alexedwards/scs/v2/memstore"
)

// codecRole is an application's named type: it must come back as itself,
// through gob, not as the string it is made of.
type codecRole string

func init() {
	gob.Register(codecRole(""))
	gob.Register(time.Time{}) // for GobCodec, as an application storing times registers it
}

// codecSample is a session holding every compact type, a nil, a named type
// (through gob) and the kit's own keys. An empty []byte is nil, as gob
// decodes it.
func codecSample() map[string]any {
	return map[string]any{
		sessionUserKey:     "1",
		sessionAuthKey:     int64(1_800_000_000_123_456_789),
		sessionSeenKey:     int64(-5),
		sessionVersionKey:  int64(0),
		sessionRememberKey: true,
		scsRememberKey:     false,
		sessionDeviceKey:   "dev",
		"cart":             "apples",
		"":                 "empty key",
		"blob":             []byte{0, 1, 0xff},
		"none":             []byte(nil),
		"n":                42,
		"min":              math.MinInt64,
		"i32":              int32(math.MinInt32),
		"f":                -0.5,
		"at":               time.Date(2030, 1, 2, 3, 4, 5, 6, time.FixedZone("", 3600)),
		"utc":              time.Date(2030, 1, 2, 3, 4, 5, 6, time.UTC),
		"nil":              nil,
		"role":             codecRole("admin"),
		"roles":            []string{"a", "b"},
	}
}

func TestSessionCodecRoundTrip(t *testing.T) {
	deadline := time.Date(2031, 5, 6, 7, 8, 9, 10, time.UTC)
	for name, values := range map[string]map[string]any{
		"every type": codecSample(),
		"empty":      {},
		"kit only":   {sessionUserKey: "1", sessionAuthKey: int64(1), sessionSeenKey: int64(2), sessionVersionKey: int64(3)},
		"gob only":   {"role": codecRole("x")},
	} {
		t.Run(name, func(t *testing.T) {
			b, err := sessionCodec{}.Encode(deadline, values)
			if err != nil {
				t.Fatal(err)
			}
			if b[0] != codecMagic {
				t.Fatalf("first byte %#x, want the magic %#x", b[0], codecMagic)
			}
			d, got, err := sessionCodec{}.Decode(b)
			if err != nil {
				t.Fatal(err)
			}
			if !d.Equal(deadline) {
				t.Errorf("deadline %v, want %v", d, deadline)
			}
			if !reflect.DeepEqual(got, values) {
				t.Errorf("decoded %#v\nwant    %#v", got, values)
			}
			for k, v := range values { // the exact types (int stays int, codecRole stays codecRole)
				if reflect.TypeOf(got[k]) != reflect.TypeOf(v) {
					t.Errorf("%q: %T, want %T", k, got[k], v)
				}
			}
			// Every proper prefix is refused: nothing is read from a
			// truncated blob.
			for i := range len(b) {
				if _, v, err := (sessionCodec{}).Decode(b[:i]); err == nil {
					t.Fatalf("the %d-byte prefix of %d decoded: %v", i, len(b), v)
				}
			}
		})
	}
}

// TestSessionCodecSize: the kit's session is a small fraction of gob's.
func TestSessionCodecSize(t *testing.T) {
	values := map[string]any{sessionUserKey: "1", sessionAuthKey: time.Now().UnixNano(),
		sessionSeenKey: time.Now().UnixNano(), sessionVersionKey: int64(3), sessionDeviceKey: newDeviceID()}
	deadline := time.Now()
	kit, err := sessionCodec{}.Encode(deadline, values)
	if err != nil {
		t.Fatal(err)
	}
	g, err := scs.GobCodec{}.Encode(deadline, values)
	if err != nil {
		t.Fatal(err)
	}
	if len(kit) > 80 || 2*len(kit) > len(g) {
		t.Errorf("kit codec %d bytes, gob %d", len(kit), len(g))
	}
}

// TestSessionCodecRefuses: what a store holds but the codec did not write
// is an error, never a panic or a partial session.
func TestSessionCodecRefuses(t *testing.T) {
	deadline := time.Date(2031, 1, 1, 0, 0, 0, 0, time.UTC)
	good, err := sessionCodec{}.Encode(deadline, map[string]any{sessionUserKey: "1"})
	if err != nil {
		t.Fatal(err)
	}
	head := good[:len(good)-4] // magic, version, deadline, counts
	if !bytes.Equal(good[len(good)-4:], []byte{1, tagString, 1, '1'}) || head[len(head)-2] != 1 || head[len(head)-1] != 0 {
		t.Fatalf("unexpected layout % x", good)
	}
	counts := len(head) - 2
	blob := func(n, g byte, rest ...byte) []byte {
		return append(append(bytes.Clone(head[:counts]), n, g), rest...)
	}
	cases := map[string][]byte{
		"empty":           {},
		"magic only":      {codecMagic},
		"version 2":       append([]byte{codecMagic, 2}, good[2:]...),
		"long deadline":   append([]byte{codecMagic, codecVersion, 200}, good[3:]...),
		"trailing byte":   append(bytes.Clone(good), 0),
		"unknown tag":     blob(1, 0, 1, 99),
		"unknown key":     blob(1, 0, byte(len(codecKeys)+1), tagNil),
		"duplicate key":   blob(2, 0, 1, tagNil, 1, tagTrue),
		"duplicate named": blob(2, 0, 1, tagNil, 0, 12, 'a', 'u', 't', 'h', 'k', 'i', 't', '.', 'u', 's', 'e', 'r', tagNil),
		"string too long": blob(1, 0, 1, tagString, 5, 'a'),
		"count too large": blob(100, 0, 1, tagNil),
		"gob too long":    blob(1, 100, 1, tagNil),
		"gob garbage":     blob(1, 3, 1, tagNil, 1, 2, 3),
		"int32 overflow":  append(blob(1, 0, 1, tagInt32), binaryVarint(math.MaxInt32+1)...),
		"float truncated": blob(1, 0, 1, tagFloat64, 1, 2),
		"bad varint":      blob(1, 0, 1, tagInt64, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff),
		"bad time":        blob(1, 0, 1, tagTime, 3, 9, 9, 9),
		"gob":             {0x03, 0xff, 0xff, 0xff}, // not the magic: GobCodec's error
	}
	for name, b := range cases {
		t.Run(name, func(t *testing.T) {
			d, v, err := sessionCodec{}.Decode(b)
			if err == nil || v != nil || !d.IsZero() {
				t.Fatalf("% x: %v, %v, %v; want an error and nothing else", b, d, v, err)
			}
		})
	}
	// A gob part that repeats a compact key.
	var g bytes.Buffer
	if err := gob.NewEncoder(&g).Encode(map[string]any{sessionUserKey: codecRole("x")}); err != nil {
		t.Fatal(err)
	}
	b := blob(1, byte(g.Len()), append([]byte{1, tagNil}, g.Bytes()...)...)
	if _, v, err := (sessionCodec{}).Decode(b); err == nil {
		t.Fatalf("a key in both parts decoded: %v", v)
	}
	// ... and the same blob without the repetition decodes, so the case
	// above fails for the repetition only.
	b[counts+2] = 2 // the key authkit.auth
	if _, v, err := (sessionCodec{}).Decode(b); err != nil || v[sessionUserKey] != codecRole("x") || len(v) != 2 {
		t.Fatalf("% x: %v, %v", b, v, err)
	}
}

func binaryVarint(v int64) []byte {
	var b [10]byte
	n := binary.PutVarint(b[:], v)
	return b[:n]
}

// TestSessionCodecEncodeErrors: a value gob cannot encode fails Encode, as
// it fails GobCodec's.
func TestSessionCodecEncodeErrors(t *testing.T) {
	type unregistered struct{ A int }
	for _, v := range []any{unregistered{1}, make(chan int)} {
		if b, err := (sessionCodec{}).Encode(time.Now(), map[string]any{sessionUserKey: "1", "x": v}); err == nil {
			t.Errorf("%T encoded: % x", v, b)
		}
		if _, err := (scs.GobCodec{}).Encode(time.Now(), map[string]any{"x": v}); err == nil {
			t.Errorf("GobCodec encoded %T: the case shows nothing", v)
		}
	}
}

// TestSessionCodecUpgrade: a session that a plain scs manager wrote with
// GobCodec (as the kit did before its own codec) is read by the kit, values
// and all; its next save rewrites it in the kit's format, which GobCodec
// cannot read and a plain manager with the kit's Codec can (the way back
// documented on NewSessionManager).
func TestSessionCodecUpgrade(t *testing.T) {
	for name, open := range map[string]func(t *testing.T) scs.Store{
		"memstore": func(*testing.T) scs.Store { return memstore.NewWithCleanupInterval(0) },
		"postgres": func(t *testing.T) scs.Store { return pgBackend.open(t).Sessions() }, // Commit: postgresstore's upsert
	} {
		t.Run(name, func(t *testing.T) { testSessionCodecUpgrade(t, open(t)) })
	}
}

func testSessionCodecUpgrade(t *testing.T, store scs.Store) {
	e := newSessionEnv(t, store)
	mux := http.NewServeMux()
	e.sessionRoutes(mux)
	mux.Handle("GET /values", Require[*testUser](e.s)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		fmt.Fprintf(w, "%v %v %v", e.sm.GetString(ctx, "cart"), e.sm.Get(ctx, "role"), e.sm.GetTime(ctx, "at").Unix())
	})))
	e.serve(mux)

	plain := scs.New()
	plain.Store = e.inner
	plain.HashTokenInStore = true
	if _, ok := plain.Codec.(scs.GobCodec); !ok {
		t.Fatalf("scs's default codec is %T", plain.Codec)
	}
	ctx, err := plain.Load(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	now := e.clock.Now().UnixNano()
	plain.Put(ctx, sessionUserKey, "1")
	plain.Put(ctx, sessionAuthKey, now)
	plain.Put(ctx, sessionSeenKey, now)
	plain.Put(ctx, sessionVersionKey, int64(3))
	plain.Put(ctx, "cart", "apples")
	plain.Put(ctx, "role", codecRole("admin"))
	plain.Put(ctx, "at", time.Unix(1_900_000_000, 0))
	token, _, err := plain.Commit(ctx)
	if err != nil {
		t.Fatal(err)
	}
	stored := func() []byte {
		t.Helper()
		b, found, err := e.inner.Find(storeKeyOf(token))
		if err != nil || !found {
			t.Fatalf("the session is not stored: %v", err)
		}
		return b
	}
	if b := stored(); b[0] == codecMagic {
		t.Fatal("GobCodec wrote the kit's format: the test shows nothing")
	}
	key, err := e.s.macKey(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	cookie := withCookie(sessionCookieValue(key, token))
	wantStatus(t, e.do(e.client, "GET", "/me", cookie, nil), 200, "alice via session")
	wantStatus(t, e.do(e.client, "GET", "/values", cookie, nil), 200, "apples admin 1900000000")
	if b := stored(); b[0] == codecMagic {
		t.Fatal("an unmodified read rewrote the session")
	}

	e.clock.Advance(time.Minute) // the touch interval: the kit saves the session
	wantStatus(t, e.do(e.client, "GET", "/values", cookie, nil), 200, "apples admin 1900000000")
	b := stored()
	if b[0] != codecMagic {
		t.Fatalf("the save kept gob: % x", b[:8])
	}
	if _, _, err := (scs.GobCodec{}).Decode(b); err == nil {
		t.Fatal("GobCodec read the kit's format")
	}
	wantStatus(t, e.do(e.client, "GET", "/values", cookie, nil), 200, "apples admin 1900000000")

	back := scs.New()
	back.Store = e.inner
	back.HashTokenInStore = true
	back.Codec = NewSessionManager(e.inner).Codec
	ctx, err = back.Load(context.Background(), token)
	if err != nil {
		t.Fatal(err)
	}
	if u, r := back.GetString(ctx, sessionUserKey), back.Get(ctx, "role"); u != "1" || r != codecRole("admin") {
		t.Fatalf("a plain manager with the kit's codec read user %q, role %v", u, r)
	}
}

// TestSessionCodecDecodeAllocations: decoding the kit's own session (what
// every session request does) costs seven allocations: one copy of the
// entries, the map (two), a box for each of the two strings and two of the
// three int64s (a small one needs none); gob's took about 200.
func TestSessionCodecDecodeAllocations(t *testing.T) {
	now := time.Now().UnixNano()
	b, err := sessionCodec{}.Encode(time.Now(), map[string]any{sessionUserKey: "1", sessionAuthKey: now,
		sessionSeenKey: now, sessionVersionKey: int64(3), sessionDeviceKey: newDeviceID()})
	if err != nil {
		t.Fatal(err)
	}
	n := testing.AllocsPerRun(100, func() {
		if _, v, err := (sessionCodec{}).Decode(b); err != nil || len(v) != 5 {
			t.Fatal(v, err)
		}
	})
	if n > 7 {
		t.Errorf("decoding the kit's session: %v allocations, want at most 7", n)
	}
}
