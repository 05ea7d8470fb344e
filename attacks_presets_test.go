package authkit

import (
	"slices"
	"strings"
	"sync/atomic"
	"testing"
)

// The attack catalogue under every preset: the groups about forged and
// malformed tokens (format, JSON, header, algorithm, signature) rewritten in
// each preset's dialect (its typ, the claims its rules require, its audience
// claim) and sent to deployments with that profile. Every case must still be
// refused, by the same check. Left out: the claims, time and transport
// groups, whose rules a profile changes by design (another audience claim, a
// longer lifetime) and which the fixtures of each preset test, and A17, the
// typ confusion a preset relaxes (its ID-token rule is tested by the
// fixtures' twins), and the tokens over 64 KiB (A13, A25), refused by the
// size cap or the segment split before the header is read, which
// TestAttacks covers once (they are most of the time under -race).
var presetAttackGroups = []string{"format", "json", "header", "algorithm", "signature"}

// presetWhy is where a preset refuses a case by another check than the
// default profile, and why that is right.
var presetWhy = map[string]map[string]string{
	// Entra's x5t is accepted and ignored: the token, signed by the
	// attacker, is refused by its signature instead.
	"entra":    {"A6/x5t": "signature"},
	"entra-v1": {"A6/x5t": "signature"},
	// Their tokens have no typ: the case's one typ is the wrong type.
	"cognito": {"A24/header typ twice": "wrong token type"},
	"okta":    {"A24/header typ twice": "wrong token type"},
}

// presetFixture is newAttackFixture in the dialect of preset.
func presetFixture(t *testing.T, preset string) *attackFixture {
	p := Preset(preset)
	f := newAttackFixture(t)
	f.headerFor = func(alg, kid string) obj {
		h, _ := presetDialect(p, headerFor(alg, kid), nil)
		return h
	}
	_, c := presetDialect(p, nil, baseClaims())
	f.h0, f.c0 = f.headerFor("ES256", "k1"), c
	f.good = esToken(f.h0, f.c0)
	f.goodSig = signatureOf(f.good)
	f.b64h, f.b64c = b64([]byte(f.h0.String())), b64([]byte(f.c0.String()))
	f.gsig = f.good[strings.LastIndexByte(f.good, '.')+1:]
	f.newJWT = func(t testing.TB, opts ...Option) *JWT[*testUser] {
		return newTestJWT(t, append(opts, WithProfile(p))...)
	}
	k := testKeys()
	f.d = &deployments{
		es:     f.newJWT(t, WithKey("k1", &k.ec256.PublicKey)),
		multi:  f.newJWT(t, WithKey("k1", &k.ec256.PublicKey), WithKey("k2", &k.ec256b.PublicKey)),
		hs:     f.newJWT(t, WithKey("h1", k.hmac)),
		rs:     f.newJWT(t, WithKey("r1", &k.rsa.PublicKey)),
		big:    f.newJWT(t, WithKey("k1", &k.ec256.PublicKey), WithMaxTokenSize(1<<20)),
		cookie: f.newJWT(t, WithKey("k1", &k.ec256.PublicKey), WithTokenCookie("at")),
	}
	return f
}

// presetDialect rewrites a kit header and claims set into the dialect of
// p: its first typ (or none), the claims its rules require (by value, or
// present), and the audience in its audience claim.
func presetDialect(p Profile, h, c obj) (obj, obj) {
	switch {
	case h == nil, len(p.Types) == 0: // RFC 9068
	case p.Types[0] == "":
		h = h.del("typ")
	default:
		h = h.set("typ", q(p.Types[0]))
	}
	if c == nil {
		return h, c
	}
	for name, v := range p.RequireValue {
		c = c.set(name, q(v))
	}
	for _, name := range p.Require {
		if !slices.ContainsFunc(c, func(m kv) bool { return m.name == name }) {
			c = c.set(name, q("x"))
		}
	}
	if p.AudienceClaim != "" {
		c = c.set(p.AudienceClaim, q(testAudience))
	}
	return h, c
}

// TestAttacksPerPreset runs the forgery groups of the catalogue under each
// preset, as TestAttacksPerPreset/<preset>/<group>/<ID>/<case>: 0 forgeries
// reach a handler. The baseline token of each dialect is accepted first, so
// that every refusal is the attack's, not the dialect's.
func TestAttacksPerPreset(t *testing.T) {
	names := make([]string, 0, len(presets))
	for name := range presets {
		names = append(names, name)
	}
	slices.Sort(names)
	var ran atomic.Int64
	t.Cleanup(func() { t.Logf("%d cases across %d presets, every one refused", ran.Load(), len(names)) })
	for _, preset := range names {
		t.Run(preset, func(t *testing.T) {
			t.Parallel()
			f := presetFixture(t, preset)
			if res := serve(f.d.es, bearerRequest(f.good)); res.rec.Code != 200 {
				t.Fatalf("the baseline token in %s's dialect: %d %v", preset, res.rec.Code, res.err)
			}
			for _, g := range attackGroups {
				if !slices.Contains(presetAttackGroups, g.name) {
					continue
				}
				t.Run(g.name, func(t *testing.T) {
					for _, c := range g.cases(t, f) {
						if c.id == "A17" || len(c.token) > 64<<10 {
							continue // typ is the preset's; huge tokens end before the dialect matters
						}
						if why, ok := presetWhy[preset][c.id+"/"+c.name]; ok {
							c.why = why
						}
						t.Run(c.id+"/"+c.name, func(t *testing.T) { runAttack(t, f.d, c) })
						ran.Add(1)
					}
				})
			}
			if n := f.hits.Load(); n != 0 {
				t.Errorf("the attacker's key server got %d requests", n)
			}
		})
	}
}
