package authkit

import (
	"context"
	"crypto/sha256"
	"time"
)

// familySweepInterval is how often a store deletes the families past their
// absolute lifetime, as new ones are created.
const familySweepInterval = time.Minute

// RefreshFamily is one login's chain of refresh tokens, as a [FamilyStore]
// keeps it (RFC 9700 §4.14.2). Every login starts a family; every refresh
// replaces its current token; presenting any other token of the family
// revokes it. The store holds only the SHA-256 of the current token's ID
// (jti), never a token.
type RefreshFamily struct {
	ID         string    // random, 130 bits; carried in the tokens' "fam" claim
	UserID     string    // the user the family belongs to
	Version    int64     // the user's token version when the family started
	CreatedAt  time.Time // the login
	ExpiresAt  time.Time // absolute end of the family; rotation never extends it
	LastUsedAt time.Time // the last rotation (the login before the first)
	RevokedAt  time.Time // when it was revoked; zero while it is live
}

// FamilyStore keeps refresh-token families; [Store] implements it.
// Implementations must be safe for concurrent use, and RotateFamily atomic:
// of concurrent calls with the same old hash, at most one succeeds. Times
// come from the kit's clock; stores never read their own.
type FamilyStore interface {
	// CreateFamily records a new family whose current token has the ID hash
	// current. f.ID is new and unique.
	CreateFamily(ctx context.Context, f RefreshFamily, current [32]byte) error

	// RotateFamily replaces the family's current token hash old by next and
	// sets LastUsedAt to now, if and only if, in one atomic step, the family
	// exists, is not revoked, expires after now, and its current hash is
	// old. It returns the updated family. Otherwise it changes nothing and
	// returns ErrFamilyNotFound, or ErrFamilyNotRotated together with the
	// family as stored (so the caller can tell revoked, expired and reuse
	// apart). Any other error is a failure of the store.
	RotateFamily(ctx context.Context, id string, old, next [32]byte, now time.Time) (RefreshFamily, error)

	// RevokeFamily marks the family revoked at now, unless it already is.
	// It reports whether this call revoked it; an unknown family is not an
	// error (false, nil).
	RevokeFamily(ctx context.Context, id string, now time.Time) (bool, error)
}

// hashTokenID is what a family store keeps of a refresh token: the SHA-256
// of its jti, never the token or the jti itself.
func hashTokenID(jti string) [32]byte {
	return sha256.Sum256([]byte(jti))
}
