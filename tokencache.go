package authkit

import (
	"context"
	"crypto/ecdsa"
	"encoding/binary"
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

// cachedToken is a cache entry: the verification, the signature that
// verified, as the token's segment spells it (strict base64url gives bytes
// one spelling), and the window in which its time claims pass.
type cachedToken struct {
	verified
	sig         string    // the canonical (low-S) signature's segment
	twin        string    // the high-S twin's segment for an ECDSA key, else ""
	from, until time.Time // max(iat, nbf) - leeway and exp + leeway
	cost        int
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
	// The signing input ends at the second dot: a token with more dots has
	// one in its signature segment, which then matches no entry.
	in, sig := "", ""
	if dot1 := strings.IndexByte(token, '.'); dot1 >= 0 {
		if dot2 := strings.IndexByte(token[dot1+1:], '.'); dot2 >= 0 {
			in, sig = token[:dot1+1+dot2], token[dot1+2+dot2:]
		}
	}
	if in != "" {
		tc.mu.RLock()
		e, ok := tc.entries[in]
		tc.mu.RUnlock()
		if ok && e.matches(sig) {
			if k, err := e.by.keys.key(ctx, e.kid, e.hasKID); err == nil && k == e.key {
				if now := v.now(); now.Before(e.from) || !now.Before(e.until) {
					if err := v.checkTimes(e.claims); err != nil {
						return nil, err
					}
				}
				if tc.events != nil {
					tc.events(ctx, Event{Type: EventCacheHit, Issuer: e.by.issuer})
				}
				return e.claims.clone(), nil
			}
			// The key that verified it is gone: verify from scratch.
			tc.remove(in)
		}
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
	// The token verified, so in and sig are its signing input and its
	// signature's canonical segment.
	var sigBuf [512]byte
	if strictB64.DecodedLen(len(sig)) <= len(sigBuf) {
		raw, err := decodeB64(sigBuf[:strictB64.DecodedLen(len(sig))], sig)
		if err != nil {
			return nil, invalidTokenCause("signature segment", err) // not reached: it verified
		}
		tc.put(in, newCachedToken(ver, raw, v, len(in)+len(token)+tokenCacheEntryCost), v.now())
	}
	return ver.claims.clone(), nil
}

// newCachedToken is the entry for ver, whose signature was raw.
func newCachedToken(ver verified, raw []byte, v *verifier, cost int) cachedToken {
	ver.claims.room = nil // only a request's copy carries a request's context
	canon := canonicalSignature(ver.key, raw)
	e := cachedToken{verified: ver, sig: strictB64.EncodeToString(canon), cost: cost}
	if twin := highSTwin(ver.key, canon); twin != nil {
		e.twin = strictB64.EncodeToString(twin)
	}
	c := ver.claims
	from := c.IssuedAt
	if c.NotBefore.After(from) {
		from = c.NotBefore
	}
	e.from, e.until = from.Add(-v.leeway), c.ExpiresAt.Add(v.leeway)
	return e
}

// matches reports whether sig, as presented, is the segment of the entry's
// signature or of its ECDSA twin, both computed when the entry was stored,
// in time that depends on the lengths only.
func (e *cachedToken) matches(sig string) bool {
	return sameSegment(sig, e.sig) || e.twin != "" && sameSegment(sig, e.twin)
}

// sameSegment reports whether a and b are equal, eight bytes at a time and
// in constant time for a given length (the lengths are not secret): the
// stored segment is a valid signature, which a timing difference would let a
// forger find byte by byte.
func sameSegment(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	x, y := bytesOf(a), bytesOf(b)
	y = y[:len(x)]
	var d uint64
	i := 0
	for ; i+8 <= len(x); i += 8 {
		d |= binary.LittleEndian.Uint64(x[i:]) ^ binary.LittleEndian.Uint64(y[i:])
	}
	for ; i < len(x); i++ {
		d |= uint64(x[i] ^ y[i])
	}
	return d == 0
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
func (tc *tokenCache) put(in string, e cachedToken, now time.Time) {
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
			if !now.Before(old.until) || n == 0 {
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
