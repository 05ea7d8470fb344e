package authkit

import (
	"context"
	"crypto/sha256"
	"sync"
	"time"
)

// defaultTokenCacheSize is the number of verified access tokens a [JWT]
// remembers by default; see [WithTokenCacheSize].
const defaultTokenCacheSize = 10_000

// tokenCache remembers tokens whose signature and claims verified, keyed by
// the SHA-256 of their exact bytes, so that a token seen again skips parsing
// and signature verification (the idea of Envoy's jwt_authn cache). It wraps
// the verifier, which knows nothing of it.
//
// What a hit still checks, on every request: that the key which verified the
// token is still configured (a key removed from a JWK Set stops its tokens at
// once), and the token's time claims (exp, iat, nbf) against the clock. The
// version check and the program's toUser run after verification as on a
// miss. Only tokens that verified are stored, so a flood of forged tokens
// cannot fill the cache; a flood of valid ones evicts arbitrary entries and
// the size stays bounded. The cached Claims are never handed out: each
// request gets a copy (see Claims.clone).
type tokenCache struct {
	max     int
	mu      sync.RWMutex
	entries map[[sha256.Size]byte]verified
}

func newTokenCache(max int) *tokenCache {
	return &tokenCache{max: max, entries: make(map[[sha256.Size]byte]verified)}
}

// verify answers from the cache when it can, and otherwise verifies token
// with v and remembers the result. The claims it returns belong to the
// caller.
func (tc *tokenCache) verify(ctx context.Context, v *verifier, token string) (*Claims, error) {
	if len(token) > v.maxSize {
		return nil, invalidToken("token larger than the size limit")
	}
	sum := sha256.Sum256(bytesOf(token))
	tc.mu.RLock()
	e, ok := tc.entries[sum]
	tc.mu.RUnlock()
	if ok {
		if k, err := e.by.keys.key(ctx, e.kid, e.hasKID); err == nil && k == e.key {
			if err := v.checkTimes(e.claims); err != nil {
				return nil, err
			}
			return e.claims.clone(), nil
		}
		// The key that verified it is gone: verify from scratch.
		tc.remove(sum)
	}
	e, err := v.verify(ctx, token)
	if err != nil {
		return nil, err
	}
	tc.put(sum, e, v.now(), v.leeway)
	return e.claims.clone(), nil
}

// put stores e unless the token is there already. When the cache is full it
// evicts expired entries among the first few it sees, or else one arbitrary
// entry (map iteration order is unspecified and varies).
func (tc *tokenCache) put(sum [sha256.Size]byte, e verified, now time.Time, leeway time.Duration) {
	tc.mu.Lock()
	defer tc.mu.Unlock()
	if _, ok := tc.entries[sum]; ok {
		return
	}
	if len(tc.entries) >= tc.max {
		n := 0
		for k, old := range tc.entries {
			if !now.Before(old.claims.ExpiresAt.Add(leeway)) || n == 0 {
				delete(tc.entries, k)
			}
			n++
			if n == 8 {
				break
			}
		}
	}
	tc.entries[sum] = e
}

func (tc *tokenCache) remove(sum [sha256.Size]byte) {
	tc.mu.Lock()
	delete(tc.entries, sum)
	tc.mu.Unlock()
}
