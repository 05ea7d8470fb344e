package authkit

import (
	"context"
	"crypto/sha256"
	"time"
)

// familySweepInterval is how often the memory store deletes the families
// past their absolute lifetime (and expired index rows), as new ones are
// created; PostgreSQL's run in the background (WithCleanupInterval).
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

// reuseRecorder is implemented by the kit's [Store]: it records the reuse
// of a family's token in the family itself, so that reuse is reported once
// per family whether the family is live or was revoked already (by a bump,
// a logout on that device), and so regardless of the version check.
type reuseRecorder interface {
	// recordReuse records, in one atomic step, that the token r.presented of
	// family id was presented but did not rotate it, and revokes the family
	// unless it is revoked already. It does nothing when the token is the
	// family's current one, when it is a retry (the current token is
	// r.retry, last used within [r.retryFrom, r.retryTo]), when a reuse was
	// recorded already, or when the family is unknown. It reports whether it
	// recorded the reuse and whether this call revoked the family.
	recordReuse(ctx context.Context, id string, r reuseCheck) (f RefreshFamily, recorded, revoked bool, err error)
}

// reuseCheck is what recordReuse needs of a presented refresh token.
type reuseCheck struct {
	presented          [32]byte  // the hash of its jti
	retry              [32]byte  // the hash of its successor's jti; presented when retries are off
	retryFrom, retryTo time.Time // the successor's last use that makes it a retry
	now                time.Time
}

// isRetry reports whether a family whose current token hash is current,
// last used at lastUsed, answers a retry of the presented token.
func (r reuseCheck) isRetry(current [32]byte, lastUsed time.Time) bool {
	return current == r.retry && !lastUsed.Before(r.retryFrom) && !lastUsed.After(r.retryTo)
}

// hashTokenID is what a family store keeps of a refresh token: the SHA-256
// of its jti, never the token or the jti itself.
func hashTokenID(jti string) [32]byte {
	return sha256.Sum256([]byte(jti))
}
