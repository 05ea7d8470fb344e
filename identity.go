package authkit

import "context"

// This file holds the identity a request carries to its handler: one
// context value, put there by Require and Optional and read by UserFrom,
// ClaimsFrom and MethodFrom (middleware.go), and the request's own copy of
// the claims, which shares its allocation with that context.

// identityKey is the one context key under which every mechanism stores the
// request's identity.
type identityKey struct{}

type identity struct {
	user   any
	claims *Claims
	method Method
}

// identityCtx is context.WithValue(parent, identityKey{}, &id) in one
// allocation instead of two: the context and the identity it carries.
type identityCtx struct {
	context.Context
	id identity
}

func (c *identityCtx) Value(key any) any {
	if _, ok := key.(identityKey); ok {
		return &c.id
	}
	return c.Context.Value(key)
}

// withIdentity returns ctx carrying id. When id's claims are a request's
// own copy (requestClaims) the context is the room allocated with them;
// otherwise it is allocated here.
func withIdentity(ctx context.Context, id identity) context.Context {
	var ic *identityCtx
	if id.claims != nil {
		ic, _ = id.claims.room.(*identityCtx)
	}
	if ic == nil || ic.Context != nil { // not a request's copy, or its room is taken
		ic = new(identityCtx)
	}
	ic.Context, ic.id = ctx, id
	return ic
}

func identityFrom(ctx context.Context) *identity {
	id, _ := ctx.Value(identityKey{}).(*identity)
	return id
}

// requestClaims is one request's claims, with the usual one or two
// audiences and the context that will carry them to the handler in the
// same allocation. Claims.room points to ctx, the only way back from the
// *Claims a verification returns; the room is used once, by withIdentity,
// and never for claims that the verified-token cache keeps (put clears it).
// A program that keeps the request's Claims therefore keeps that context
// too (its parent, the user): a few hundred bytes, as long as it keeps them.
type requestClaims struct {
	Claims
	aud [2]string
	ctx identityCtx
}

// newRequestClaims returns empty claims with their room; Audience may be
// appended to within aud.
func newRequestClaims() (*Claims, []string) {
	rc := new(requestClaims)
	rc.room = &rc.ctx
	return &rc.Claims, rc.aud[:0:2]
}

// clone returns a copy of c for one request: the verified-token cache keeps
// the original, and every request gets its own, so that a toUser or handler
// that changes its Claims changes them for no other request. The copy has
// a room of its own, never c's.
func (c *Claims) clone() *Claims {
	rc := &requestClaims{Claims: *c}
	rc.room = &rc.ctx
	if len(c.Audience) > len(rc.aud) {
		rc.Audience = append([]string(nil), c.Audience...)
	} else {
		n := copy(rc.aud[:], c.Audience)
		rc.Audience = rc.aud[:n:n]
	}
	return &rc.Claims
}
