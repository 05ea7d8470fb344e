package authkit

// Issue 10, item 8: duplicate member names are refused at every depth by the
// strict reader, and Claims.DecodeExtra refuses objects whose member names
// encoding/json would fold together.

import (
	"errors"
	"net/http"
	"strings"
	"testing"
)

func TestHardeningNestedDuplicatesRefused(t *testing.T) {
	refused := []string{
		`{"role":{"admin":false,"admin":true}}`,
		`{"a":{"b":{"c":{"x":1,"x":2}}}}`,
		`{"a":[{"ok":1},{"x":1,"y":2,"x":3}]}`,
		`{"a":[[[{"x":1,"x":1}]]]}`,
		`{"a":{"admin":1,"\u0061dmin":2}}`,
		`{"a":{"k01":1,"k02":1,"k03":1,"k04":1,"k05":1,"k06":1,"k07":1,"k08":1,"k09":1,"k10":1,"k11":1,"k12":1,"k13":1,"k14":1,"k15":1,"k16":1,"k17":1,"k03":1}}`,
	}
	for _, in := range refused {
		if err := parseObject([]byte(in), func(string, []byte) error { return nil }); !errors.Is(err, errDuplicate) {
			t.Errorf("parseObject(%s) = %v, want errDuplicate", in, err)
		}
	}
	accepted := []string{
		`{"a":{"x":1},"b":{"x":1}}`,
		`{"a":[{"x":1},{"x":2}]}`,
		`{"a":{"Admin":1,"admin":2}}`, // distinct names; DecodeExtra judges folding
		`{"a":{"x":{"x":{"x":1}}}}`,
	}
	for _, in := range accepted {
		if err := parseObject([]byte(in), func(string, []byte) error { return nil }); err != nil {
			t.Errorf("parseObject(%s) = %v, want it accepted", in, err)
		}
	}
}

// TestHardeningNestedDuplicateClaimRefused: a token whose claim holds
// {"admin":false,"admin":true} is refused; encoding/json would have decoded
// admin = true.
func TestHardeningNestedDuplicateClaimRefused(t *testing.T) {
	j := newTestJWT(t, WithKey("k1", &testKeys().ec256.PublicKey))
	ok := esToken(baseHeader(), baseClaims().set("role", `{"admin":false}`))
	if res := serve(j, bearerRequest(ok)); res.rec.Code != http.StatusOK {
		t.Fatalf("a token with a nested object got %d (%v)", res.rec.Code, res.err)
	}
	for _, role := range []string{
		`{"admin":false,"admin":true}`,
		`[{"perm":{"admin":false,"admin":true}}]`,
		`{"admin":false,"\u0061dmin":true}`,
	} {
		tok := esToken(baseHeader(), baseClaims().set("role", role))
		res := serve(j, bearerRequest(tok))
		if res.called || res.rec.Code != http.StatusUnauthorized || !errors.Is(res.err, ErrInvalidToken) {
			t.Errorf("role %s: status %d, handler called %v, err %v; want 401", role, res.rec.Code, res.called, res.err)
		}
	}
}

func TestHardeningDecodeExtraRefusesFoldedNames(t *testing.T) {
	type role struct {
		Admin bool
		Name  string
	}
	type outer struct{ Role role }
	refused := map[string]string{
		"case variant":             `{"Admin":false,"admin":true}`,
		"case variant, upper last": `{"admin":true,"ADMIN":false}`,
		"Kelvin sign":              `{"name":"x","\u212Aey":1,"key":2}`,
		"long s":                   `{"\u017Fub":1,"sub":2}`,
		"exact duplicate":          `{"admin":false,"admin":true}`,
		"nested":                   `{"Role":{"Admin":false,"aDmin":true}}`,
		"in an array":              `[{"x":1},{"admin":false,"Admin":true}]`,
	}
	for name, raw := range refused {
		c := &Claims{extra: map[string][]byte{"role": []byte(raw)}}
		for _, v := range []any{new(role), new(outer), new(map[string]any), new(any)} {
			present, err := c.DecodeExtra("role", v)
			if !present || err == nil {
				t.Errorf("%s: DecodeExtra(%s) into %T = %v, %v; want an error", name, raw, v, present, err)
				continue
			}
			if !strings.Contains(err.Error(), "duplicate") {
				t.Errorf("%s: error %q does not say duplicate", name, err)
			}
		}
	}
	c := &Claims{extra: map[string][]byte{"role": []byte(`{"admin":true,"name":"ops","tags":[{"a":1},{"a":2}]}`)}}
	var r role
	if present, err := c.DecodeExtra("role", &r); !present || err != nil || !r.Admin || r.Name != "ops" {
		t.Errorf("DecodeExtra of a clean object = %v, %v, %+v", present, err, r)
	}
	if present, err := c.DecodeExtra("missing", &r); present || err != nil {
		t.Errorf("DecodeExtra of a missing claim = %v, %v", present, err)
	}
}
