package authkit

import (
	"crypto/sha256"
	"sync"
	"time"
	"unsafe"
)

// DefaultTokenCacheSize is the number of verified access tokens a [JWT]
// remembers by default; see [WithTokenCache].
const DefaultTokenCacheSize = 10_000

// tokenCache remembers tokens whose signature and claims verified, keyed by
// the SHA-256 of their exact bytes, so that a token seen again skips parsing
// and signature verification (the idea of Envoy's jwt_authn cache).
//
// What a hit still checks, on every request: that the key which verified the
// token is still configured (a key removed from a JWK Set stops its tokens at
// once) and that the token has not expired. The version check and the
// program's toUser run after verification as on a miss. Only tokens that
// verified are stored, so a flood of forged tokens cannot fill the cache; a
// flood of valid ones evicts arbitrary entries and the size stays bounded.
type tokenCache struct {
	max     int
	mu      sync.RWMutex
	entries map[[sha256.Size]byte]cachedToken
}

type cachedToken struct {
	claims *Claims
	key    *verifyKey
	kid    string
	hasKID bool
}

func newTokenCache(max int) *tokenCache {
	return &tokenCache{max: max, entries: make(map[[sha256.Size]byte]cachedToken)}
}

func tokenHash(token string) [sha256.Size]byte {
	return sha256.Sum256(unsafe.Slice(unsafe.StringData(token), len(token)))
}

func (tc *tokenCache) get(sum [sha256.Size]byte) (cachedToken, bool) {
	tc.mu.RLock()
	e, ok := tc.entries[sum]
	tc.mu.RUnlock()
	return e, ok
}

func (tc *tokenCache) put(sum [sha256.Size]byte, e cachedToken, now time.Time, leeway time.Duration) {
	tc.mu.Lock()
	defer tc.mu.Unlock()
	if _, ok := tc.entries[sum]; ok {
		return
	}
	if len(tc.entries) >= tc.max {
		// Evict expired entries if there are any among the first few, else an
		// arbitrary one (map iteration order is unspecified and varies).
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

func (tc *tokenCache) len() int {
	tc.mu.RLock()
	defer tc.mu.RUnlock()
	return len(tc.entries)
}
