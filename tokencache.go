package authkit

import (
	"context"
	"crypto/ecdsa"
	"crypto/subtle"
	"math/big"
	"strings"
	"sync"
	"time"
)

// The verified-token cache's bounds: [WithTokenCacheSize] entries (default
// 10 000) and tokenCacheMaxBytes in all, whichever is reached first.
const (
	defaultTokenCacheSize = 10_000
	tokenCacheMaxBytes    = 16 << 20 // 16 MiB, counted as entryCost
	tokenCacheEntryCost   = 512      // bytes an entry costs beyond its token
)

// tokenCache remembers tokens whose signature and claims verified, so that
// a token seen again skips parsing and signature verification (the idea of
// Envoy's jwt_authn cache). It wraps the verifier, which knows nothing of it.
//
// Keys: an entry is found by the token's signing input (header.payload)
// itself, compared in full, and matches only a token whose signature, in
// canonical form, is the one that verified. ECDSA signatures are malleable: (r, s) and
// (r, n-s) both verify, two strings for one token. The canonical form is
// low-S, so both twins hit one entry; high-S is not refused (common issuers
// produce it). Other algorithms have one signature per token and key
// (Ed25519 refuses a non-canonical S) or need the private key for another
// (RSA-PSS), and are compared as they are.
//
// What a hit still checks, on every request: that the key which verified the
// token is still configured (a key removed from a JWK Set stops its tokens at
// once), and the token's time claims (exp, iat, nbf) against the clock. The
// version check and the program's toUser run after verification as on a
// miss. Only tokens that verified are stored, so a flood of forged tokens
// cannot fill the cache; a flood of valid ones evicts arbitrary entries and
// the size stays bounded: at most max entries and tokenCacheMaxBytes, an
// entry counted as its key's length plus its token's plus
// tokenCacheEntryCost (more than it keeps: the key, the decoded segments and
// the claims). The cached Claims are never handed out: each request gets a
// copy (see Claims.clone).
type tokenCache struct {
	max      int
	maxBytes int
	mu       sync.RWMutex
	bytes    int
	entries  map[string]cachedToken // by signing input
	events   eventHook
}

// cachedToken is a cache entry: the verification and the canonical
// signature that verified.
type cachedToken struct {
	verified
	sig  []byte
	twin []byte // the high-S form of sig for an ECDSA key, else nil
	cost int
}

func newTokenCache(max int) *tokenCache {
	return &tokenCache{max: max, maxBytes: tokenCacheMaxBytes, entries: make(map[string]cachedToken)}
}

// verify answers from the cache when it can, and otherwise verifies token
// with v and remembers the result. The claims it returns belong to the
// caller.
func (tc *tokenCache) verify(ctx context.Context, v *verifier, token string) (*Claims, error) {
	if len(token) > v.maxSize {
		return nil, invalidToken("token larger than the size limit")
	}
	dot := strings.LastIndexByte(token, '.')
	if dot < 0 {
		_, err := v.verify(ctx, token) // refused, with the verifier's reason
		return nil, err
	}
	in := token[:dot]
	var sigBuf [512]byte
	sig, sigOK := decodeSignature(sigBuf[:], token[dot+1:])
	tc.mu.RLock()
	e, ok := tc.entries[in]
	tc.mu.RUnlock()
	if ok && sigOK && e.matches(sig) {
		if k, err := e.by.keys.key(ctx, e.kid, e.hasKID); err == nil && k == e.key {
			if err := v.checkTimes(e.claims); err != nil {
				return nil, err
			}
			if tc.events != nil {
				tc.events(ctx, Event{Type: EventCacheHit, Issuer: e.by.issuer})
			}
			return e.claims.clone(), nil
		}
		// The key that verified it is gone: verify from scratch.
		tc.remove(in)
	}
	var start time.Time // read only for the event
	if tc.events != nil {
		start = time.Now()
	}
	ver, err := v.verify(ctx, token)
	if tc.events != nil {
		tc.events(ctx, Event{Type: EventCacheMiss, Issuer: v.issuer, Duration: time.Since(start)})
	}
	if err != nil {
		return nil, err
	}
	if sigOK {
		canon := canonicalSignature(ver.key, sig)
		tc.put(in, cachedToken{verified: ver, sig: canon, twin: highSTwin(ver.key, canon), cost: len(in) + len(token) + tokenCacheEntryCost},
			v.now(), v.leeway)
	}
	return ver.claims.clone(), nil
}

// decodeSignature decodes a signature segment into buf, if it fits.
func decodeSignature(buf []byte, seg string) ([]byte, bool) {
	if strictB64.DecodedLen(len(seg)) > len(buf) {
		return nil, false
	}
	n, err := strictB64.Decode(buf, bytesOf(seg))
	return buf[:n], err == nil
}

// matches reports whether sig, as presented, is the entry's signature or its
// ECDSA twin, both computed when the entry was stored.
func (e *cachedToken) matches(sig []byte) bool {
	return subtle.ConstantTimeCompare(sig, e.sig) == 1 || e.twin != nil && subtle.ConstantTimeCompare(sig, e.twin) == 1
}

// highSTwin returns the other ECDSA signature of a canonical (low-S) one,
// r || n-s, or nil for other keys.
func highSTwin(k *verifyKey, canon []byte) []byte {
	pub, ok := k.public.(*ecdsa.PublicKey)
	if !ok || len(canon)%2 != 0 {
		return nil
	}
	n := pub.Curve.Params().N
	half := len(canon) / 2
	s := new(big.Int).SetBytes(canon[half:])
	if s.Sign() == 0 || s.Cmp(n) >= 0 {
		return nil
	}
	out := make([]byte, len(canon))
	copy(out, canon[:half])
	new(big.Int).Sub(n, s).FillBytes(out[half:])
	return out
}

// canonicalSignature returns the form of sig that both ECDSA twins share:
// r || min(s, n-s) for an ECDSA key, sig itself otherwise. The result never
// aliases a caller's buffer.
func canonicalSignature(k *verifyKey, sig []byte) []byte {
	out := make([]byte, len(sig))
	copy(out, sig)
	pub, ok := k.public.(*ecdsa.PublicKey)
	if !ok || len(sig)%2 != 0 {
		return out
	}
	n := pub.Curve.Params().N
	half := len(sig) / 2
	s := new(big.Int).SetBytes(sig[half:])
	if s.Cmp(new(big.Int).Rsh(n, 1)) > 0 && s.Cmp(n) < 0 {
		new(big.Int).Sub(n, s).FillBytes(out[half:])
	}
	return out
}

// put stores e unless the token is there already. While the cache is full
// (in entries or bytes) it evicts expired entries among the first few it
// sees, or else arbitrary ones (map iteration order is unspecified and
// varies).
func (tc *tokenCache) put(in string, e cachedToken, now time.Time, leeway time.Duration) {
	if e.cost > tc.maxBytes {
		return
	}
	tc.mu.Lock()
	defer tc.mu.Unlock()
	if _, ok := tc.entries[in]; ok {
		return
	}
	for len(tc.entries) > 0 && (len(tc.entries) >= tc.max || tc.bytes+e.cost > tc.maxBytes) {
		n := 0
		for k, old := range tc.entries {
			if !now.Before(old.claims.ExpiresAt.Add(leeway)) || n == 0 {
				tc.bytes -= old.cost
				delete(tc.entries, k)
			}
			n++
			if n == 8 {
				break
			}
		}
	}
	tc.entries[strings.Clone(in)] = e // not the request's header
	tc.bytes += e.cost
}

func (tc *tokenCache) remove(in string) {
	tc.mu.Lock()
	if e, ok := tc.entries[in]; ok {
		tc.bytes -= e.cost
		delete(tc.entries, in)
	}
	tc.mu.Unlock()
}

// size returns the number of entries and the bytes they are counted as.
func (tc *tokenCache) size() (entries, bytes int) {
	tc.mu.RLock()
	defer tc.mu.RUnlock()
	return len(tc.entries), tc.bytes
}
