package authkit

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"
)

// members collects what parseObject reports.
func members(data []byte) ([]member, error) {
	var ms []member
	err := parseObject(data, func(name string, value []byte) error {
		ms = append(ms, member{name, value})
		return nil
	})
	return ms, err
}

func TestParseObject(t *testing.T) {
	deep := func(n int) string { return `{"a":` + strings.Repeat("[", n-1) + strings.Repeat("]", n-1) + `}` }
	cases := []struct {
		in   string
		want error  // nil: accepted
		ms   string // accepted: name=value pairs joined by ';'
	}{
		{`{}`, nil, ``},
		{" \t\r\n{ } \n", nil, ``},
		{`{"a":1}`, nil, `a=1`},
		{`{"a" : "x" , "b":[1,{"c":null}], "d":true,"e":false,"f":-0.5e+3}`, nil, `a="x";b=[1,{"c":null}];d=true;e=false;f=-0.5e+3`},
		{`{"\u0073ub":"x","s\/b":1}`, nil, `sub="x";s/b=1`},
		{`{"😀\ud83d\ude00":1}`, nil, "😀😀=1"},
		{`{"a":{"a":1,"a":2}}`, errDuplicate, ``}, // refused at every depth (issue 10, item 8)
		{deep(maxJSONDepth), nil, "a=" + strings.Repeat("[", maxJSONDepth-1) + strings.Repeat("]", maxJSONDepth-1)},
		{deep(maxJSONDepth + 1), errTooDeep, ``},
		{`{"a":1,"a":1}`, errDuplicate, ``},
		{`{"sub":1,"s\u0075b":2}`, errDuplicate, ``},
		{`{"\u00e9":1,"é":2}`, errDuplicate, ``},
		{`{"a":1,"b":2,"c":3,"d":4,"e":5,"f":6,"g":7,"h":8,"i":9,"j":10,"k":11,"l":12,"m":13,"n":14,"o":15,"p":16,"q":17,"a":18}`, errDuplicate, ``},
		{``, errNotObject, ``},
		{`[]`, errNotObject, ``},
		{`"x"`, errNotObject, ``},
		{`null`, errNotObject, ``},
		{"\ufeff{}", errNotObject, ``},
		{`{}{}`, errBadJSON, ``},
		{`{} x`, errBadJSON, ``},
		{`{`, errBadJSON, ``},
		{`{"a"}`, errBadJSON, ``},
		{`{"a":}`, errBadJSON, ``},
		{`{"a":1,}`, errBadJSON, ``},
		{`{,}`, errBadJSON, ``},
		{`{a:1}`, errBadJSON, ``},
		{`{'a':1}`, errBadJSON, ``},
		{`{"a":01}`, errBadJSON, ``},
		{`{"a":+1}`, errBadJSON, ``},
		{`{"a":.5}`, errBadJSON, ``},
		{`{"a":1.}`, errBadJSON, ``},
		{`{"a":1e}`, errBadJSON, ``},
		{`{"a":-}`, errBadJSON, ``},
		{`{"a":NaN}`, errBadJSON, ``},
		{`{"a":Infinity}`, errBadJSON, ``},
		{`{"a":tru}`, errBadJSON, ``},
		{`{"a":nul}`, errBadJSON, ``},
		{`{"a":[1,]}`, errBadJSON, ``},
		{`{"a":[1 2]}`, errBadJSON, ``},
		{`{"a":{"b"}}`, errBadJSON, ``},
		{`{"a":"\x"}`, errBadJSON, ``},
		{`{"a":"\u12"}`, errBadJSON, ``},
		{`{"a":"\u12G4"}`, errBadJSON, ``},
		{"{\"a\":\"\x00\"}", errBadJSON, ``},
		{"{\"a\":\"\x1f\"}", errBadJSON, ``},
		{"{\"a\":1}\x00", errBadJSON, ``},
		{"{\"a\":\"\xff\"}", errBadUTF8, ``},
		{"{\"a\":\"\xed\xa0\x80\"}", errBadUTF8, ``},
		{"{\"a\":\"\xc0\xaf\"}", errBadUTF8, ``},
		{`{"a":"\ud800"}`, errBadSurrogate, ``},
		{`{"a":"\udc00"}`, errBadSurrogate, ``},
		{`{"a":"\ud800x"}`, errBadSurrogate, ``},
		{`{"a":"\ud800\u0041"}`, errBadSurrogate, ``},
		{`{"a":"\ud800\ud800"}`, errBadSurrogate, ``},
		{`{"a":"\udbff\udfff"}`, nil, "a=\"\\udbff\\udfff\""},
		{`{"\ud800":1}`, errBadSurrogate, ``},
	}
	for _, c := range cases {
		ms, err := members([]byte(c.in))
		if !errors.Is(err, c.want) || (c.want != nil && err == nil) {
			t.Errorf("parseObject(%q) = %v, want %v", c.in, err, c.want)
			continue
		}
		if c.want == nil {
			var parts []string
			for _, m := range ms {
				parts = append(parts, m.name+"="+string(m.value))
			}
			if got := strings.Join(parts, ";"); got != c.ms {
				t.Errorf("parseObject(%q) members %q, want %q", c.in, got, c.ms)
			}
		}
	}
	// A callback error stops the parse and is returned as is.
	errStop := errors.New("stop")
	calls := 0
	err := parseObject([]byte(`{"a":1,"b":2}`), func(string, []byte) error { calls++; return errStop })
	if err != errStop || calls != 1 {
		t.Errorf("callback error: %v after %d calls", err, calls)
	}
}

func TestJSONValues(t *testing.T) {
	for _, c := range []struct {
		in, want string
		ok       bool
	}{
		{`"abc"`, "abc", true},
		{`""`, "", true},
		{`"a\"b\\c\/d\b\f\n\r\t"`, "a\"b\\c/d\b\f\n\r\t", true},
		{`"\u00e9\u20ac\ud83d\ude00"`, "é€😀", true},
		{`"é"`, "é", true},
		{`1`, "", false},
		{`null`, "", false},
		{`["a"]`, "", false},
		{``, "", false},
	} {
		got, err := jsonString([]byte(c.in))
		if (err == nil) != c.ok || got != c.want {
			t.Errorf("jsonString(%s) = %q, %v", c.in, got, err)
		}
	}
	for _, c := range []struct {
		in   string
		want int64
		ok   bool
	}{
		{`0`, 0, true}, {`42`, 42, true}, {`-7`, -7, true}, {`9223372036854775807`, 1<<63 - 1, true},
		{`9223372036854775808`, 0, false}, {`1.0`, 0, false}, {`1e3`, 0, false}, {`"1"`, 0, false}, {`true`, 0, false}, {``, 0, false},
	} {
		got, err := jsonInt64([]byte(c.in))
		if (err == nil) != c.ok || (c.ok && got != c.want) {
			t.Errorf("jsonInt64(%s) = %d, %v", c.in, got, err)
		}
	}
	for _, c := range []struct {
		in   string
		want float64
		ok   bool
	}{
		{`0`, 0, true}, {`1.5`, 1.5, true}, {`-2e3`, -2000, true}, {`1767225600`, 1767225600, true},
		{`1e400`, 0, false}, {`"1"`, 0, false}, {`null`, 0, false}, {`[1]`, 0, false}, {``, 0, false},
	} {
		got, err := jsonFloat([]byte(c.in))
		if (err == nil) != c.ok || (c.ok && got != c.want) {
			t.Errorf("jsonFloat(%s) = %v, %v", c.in, got, err)
		}
	}
	for _, c := range []struct {
		in   string
		want float64
		ok   bool
	}{
		{`0`, 0, true}, {`1767225600.5`, 1767225600.5, true}, {`253402300799`, 253402300799, true},
		{`253402300800`, 0, false}, {`-1`, 0, false}, {`1e300`, 0, false}, {`"1"`, 0, false},
	} {
		got, err := numericDate([]byte(c.in))
		if (err == nil) != c.ok || (c.ok && got != c.want) {
			t.Errorf("numericDate(%s) = %v, %v", c.in, got, err)
		}
	}
}

// surrogateEscape finds \u escapes of UTF-16 surrogates, which
// encoding/json silently turns into U+FFFD when unpaired.
var surrogateEscape = regexp.MustCompile(`(?i)\\ud[89a-f]`)

// oracle judges data with encoding/json: whether it is exactly one JSON
// object of valid UTF-8 with distinct member names (after unescaping) and at
// most maxJSONDepth levels of nesting, and its members.
type oracle struct {
	valid, object, utf8, dup bool
	depth                    int
	members                  []member
}

func judge(data []byte) oracle {
	o := oracle{valid: json.Valid(data), utf8: utf8.Valid(data)}
	if !o.valid {
		return o
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	// One frame per open object or array: an object's frame holds its names
	// so far, for duplicates at any depth; key tells whether the next token
	// of an object is a member name.
	type frame struct {
		names map[string]bool // nil for an array
		key   bool
	}
	var stack []frame
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			panic(err) // valid JSON
		}
		if n := len(stack); n > 0 && stack[n-1].names != nil && stack[n-1].key {
			if name, ok := tok.(string); ok {
				o.dup = o.dup || stack[n-1].names[name]
				stack[n-1].names[name] = true
				stack[n-1].key = false
				continue
			}
		}
		switch tok {
		case json.Delim('{'):
			stack = append(stack, frame{names: map[string]bool{}, key: true})
			o.depth = max(o.depth, len(stack))
			continue
		case json.Delim('['):
			stack = append(stack, frame{})
			o.depth = max(o.depth, len(stack))
			continue
		case json.Delim('}'), json.Delim(']'):
			stack = stack[:len(stack)-1]
		}
		// A value ended: the next token of an enclosing object is a name.
		if n := len(stack); n > 0 && stack[n-1].names != nil {
			stack[n-1].key = true
		}
	}
	dec = json.NewDecoder(bytes.NewReader(data))
	if tok, _ := dec.Token(); tok != json.Delim('{') {
		return o
	}
	o.object = true
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			panic(err)
		}
		name := tok.(string)
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			panic(err)
		}
		o.dup = o.dup || seen[name] // also set above, with nested ones
		seen[name] = true
		o.members = append(o.members, member{name, raw})
	}
	return o
}

// FuzzParseObject compares the strict reader with encoding/json plus
// duplicate detection: it must accept exactly the valid UTF-8 JSON objects
// without duplicate names (compared after unescaping) and nested no deeper
// than maxJSONDepth, report the same members with the same raw values, and
// refuse lone surrogates (which encoding/json replaces with U+FFFD, so only
// that direction is checked when the input has surrogate escapes).
func FuzzParseObject(f *testing.F) {
	for _, s := range []string{
		`{}`, `{"a":1}`, `{"a":1,"a":2}`, `{"sub":"x","s\u0075b":"y"}`, `{"a":[1,{"b":null}],"c":"\n"}`,
		`{"a":"\ud83d\ude00"}`, `{"a":"\ud800"}`, `{"a":"\udc00\ud800"}`, "{\"a\":\"\xff\"}", "\ufeff{}",
		` { "a" : -0.5e+10 , "b" : true , "c" : false , "d" : null } `, `[]`, `"x"`, `{"a":01}`,
		`{"a":` + strings.Repeat("[", 31) + strings.Repeat("]", 31) + `}`,
		`{"a":` + strings.Repeat("[", 32) + strings.Repeat("]", 32) + `}`,
		`{"é":1,"\u00e9":2}`, `{"a":{"a":1,"a":2}}`, `{"a":1}{}`, `{"a":"\u0000"}`, "{\"a\":\"\x7f\"}",
		baseClaims().String(), baseHeader().String(),
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		data = bytes.Clone(data)
		ms, err := members(data)
		o := judge(data)
		want := o.valid && o.utf8 && o.object && !o.dup && o.depth <= maxJSONDepth
		if err == nil {
			if !want {
				t.Fatalf("accepted %q; encoding/json: %+v", data, o)
			}
			if len(ms) != len(o.members) {
				t.Fatalf("%q: %d members, encoding/json %d", data, len(ms), len(o.members))
			}
			for i, m := range ms {
				if m.name != o.members[i].name || !bytes.Equal(m.value, o.members[i].value) {
					t.Fatalf("%q: member %d = %q:%q, encoding/json %q:%q", data, i, m.name, m.value, o.members[i].name, o.members[i].value)
				}
			}
			return
		}
		if want && !surrogateEscape.Match(data) {
			t.Fatalf("refused %q (%v); encoding/json accepts it", data, err)
		}
		// When the input is valid JSON, the reason must be the true one.
		if o.valid && o.utf8 {
			switch {
			case errors.Is(err, errDuplicate) && !o.dup,
				errors.Is(err, errTooDeep) && o.depth <= maxJSONDepth,
				errors.Is(err, errBadSurrogate) && !surrogateEscape.Match(data),
				errors.Is(err, errNotObject) && o.object,
				errors.Is(err, errBadJSON),
				errors.Is(err, errBadUTF8):
				t.Fatalf("%q: refused with %v; encoding/json: %+v", data, err, o)
			}
		}
	})
}
