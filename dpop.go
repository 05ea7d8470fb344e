package authkit

import (
	"container/heap"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// This file is DPoP (RFC 9449): the proof a client sends with each request
// to show that it holds the key its token is bound to (cnf.jkt), its
// checks (§4.3), the replay cache, and the per-issuer policy of the
// access-token authenticator. The Issuer binds the tokens it mints with the
// same proof verifier (issuer.go, refresh.go).

// DPoPMode says whether an issuer's access tokens may, or must, be
// sender-constrained with DPoP (RFC 9449); see [WithDPoP] and
// [TrustedIssuer].DPoP. Whatever the mode, a DPoP-bound token (one with a
// "cnf" claim) presented as Bearer is refused (§7.2).
type DPoPMode int

// The DPoP modes.
const (
	DPoPOff      DPoPMode = iota // bearer tokens only (the default)
	DPoPAllowed                  // bearer tokens, and DPoP-bound tokens with a proof
	DPoPRequired                 // DPoP-bound tokens with a proof only
)

func (m DPoPMode) String() string {
	switch m {
	case DPoPOff:
		return "DPoPOff"
	case DPoPAllowed:
		return "DPoPAllowed"
	case DPoPRequired:
		return "DPoPRequired"
	}
	return fmt.Sprintf("DPoPMode(%d)", int(m))
}

// The proof's limits.
const (
	dpopProofType     = "dpop+jwt"
	dpopProofLifetime = time.Minute // how long after its iat a proof is accepted
	maxDPoPProofSize  = 8 << 10     // bytes of a proof, its JWK included
	maxDPoPJTILen     = 256
	dpopReplayEntries = 100_000 // proofs remembered, about 10 MB at most
)

// dpopAlgs are the proof algorithms accepted: asymmetric only, as RFC 9449
// §4.2 says (never "none" nor an HMAC), in the order the challenge lists
// them.
var dpopAlgs = []string{"ES256", "ES384", "ES512", "EdDSA", "Ed25519", "PS256", "PS384", "PS512", "RS256", "RS384", "RS512"}

// WithDPoPOrigin sets the external origin (scheme://host[:port], as clients
// address the service) against which the "htu" of DPoP proofs is checked,
// for a service behind a proxy or load balancer that changes the scheme or
// host: the proof must name this origin and the request's path. It applies
// to [NewJWT] and [NewIssuer]. Default: the request's own, https when it
// came over TLS and its Host header; forwarding headers are never trusted.
func WithDPoPOrigin(origin string) Option {
	return singleOption("WithDPoPOrigin", fmt.Sprintf("%q", origin), forJWT|forIssuer, func(c *common) error {
		u, err := url.Parse(origin)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil ||
			(u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
			return fmt.Errorf("WithDPoPOrigin(%q): must be an http or https origin, scheme://host[:port]", origin)
		}
		c.dpopOrigin = strings.TrimSuffix(origin, "/")
		return nil
	})
}

// proofVerifier checks DPoP proofs (RFC 9449 §4.3) and remembers the ones
// it accepted, so that none is accepted twice. Safe for concurrent use.
type proofVerifier struct {
	now    func() time.Time
	leeway time.Duration // clock skew tolerated on a proof's iat in the future
	origin string        // WithDPoPOrigin; "" for the request's own
	seen   *replayCache
}

func newProofVerifier(now func() time.Time, leeway time.Duration, origin string) *proofVerifier {
	return &proofVerifier{now: now, leeway: leeway, origin: origin, seen: newReplayCache(dpopReplayEntries)}
}

// proof is a proof that verified, not yet recorded as used.
type proof struct {
	jkt    string   // the RFC 7638 thumbprint of its key
	replay [32]byte // what the replay cache remembers: the key and jti
	iat    float64
}

// requestProof reads the request's one DPoP header. ok is false when there
// is none; two are a refused proof (§4.3 check 1).
func requestProof(r *http.Request) (string, bool, error) {
	hs := r.Header.Values("DPoP")
	switch {
	case len(hs) == 0:
		return "", false, nil
	case len(hs) > 1:
		return "", true, invalidProof("more than one DPoP header")
	case len(hs[0]) > maxDPoPProofSize:
		return "", true, invalidProof("proof larger than the size limit")
	}
	return hs[0], true, nil
}

// verify checks the proof of r, for accessToken ("" at a token endpoint,
// where the proof has no ath), and returns it unrecorded: the caller
// records it with use once every other check passed.
func (p *proofVerifier) verify(r *http.Request, raw, accessToken string) (proof, error) {
	t, err := splitJWS(raw)
	if err != nil {
		return proof{}, invalidProof("not a compact JWS")
	}
	alg, jwk, err := proofHeader(t.header)
	if err != nil {
		return proof{}, err
	}
	key, jkt, err := proofKey(jwk, alg)
	if err != nil {
		return proof{}, invalidProof("jwk: " + err.Error())
	}
	if key.verify(bytesOf(t.signingInput), t.signature) != nil {
		return proof{}, invalidProof("signature does not verify")
	}
	c, err := readProofClaims(t.payload)
	if err != nil {
		return proof{}, err
	}
	now := p.now()
	nowS := float64(now.UnixNano()) / 1e9
	switch {
	case c.htm != r.Method:
		return proof{}, invalidProof("htm is not the request's method")
	case !p.htuMatches(c.htu, r):
		return proof{}, invalidProof("htu is not the request's URL")
	case c.iat > nowS+p.leeway.Seconds():
		return proof{}, invalidProof("iat in the future")
	case c.iat < nowS-dpopProofLifetime.Seconds():
		return proof{}, invalidProof("iat too old")
	}
	if accessToken != "" {
		sum := sha256.Sum256(bytesOf(accessToken))
		if !c.hasAth || c.ath != strictB64.EncodeToString(sum[:]) {
			return proof{}, invalidProof("ath is not the hash of the access token")
		}
	}
	pr := proof{jkt: jkt, iat: c.iat}
	h := sha256.New()
	h.Write([]byte(jkt))
	h.Write([]byte{0})
	h.Write([]byte(c.jti))
	h.Sum(pr.replay[:0])
	return pr, nil
}

// use records pr as used, refusing it when it was used before (§11.1).
func (p *proofVerifier) use(pr proof) error {
	if !p.seen.add(pr.replay, pr.iat, float64(p.now().UnixNano())/1e9-dpopProofLifetime.Seconds()) {
		return invalidProof("proof replayed (jti seen before)")
	}
	return nil
}

// tokenRequest verifies the proof of a token request r, if it carries one,
// and records it: it returns the thumbprint of its key, or "" for none.
func (p *proofVerifier) tokenRequest(r *http.Request) (string, error) {
	raw, ok, err := requestProof(r)
	if !ok || err != nil {
		return "", err
	}
	pr, err := p.verify(r, raw, "")
	if err != nil {
		return "", err
	}
	if err := p.use(pr); err != nil {
		return "", err
	}
	return pr.jkt, nil
}

// proofHeader reads a proof's header: typ dpop+jwt, an allowed alg and the
// public jwk; any other member is refused, as in tokens.
func proofHeader(b []byte) (alg string, jwk []byte, err error) {
	var typ string
	err = parseObject(b, func(name string, value []byte) error {
		var err error
		switch name {
		case "typ":
			typ, err = jsonString(value)
		case "alg":
			alg, err = jsonString(value)
		case "jwk":
			if len(value) == 0 || value[0] != '{' {
				return errNotObject
			}
			jwk = value
		default:
			return fmt.Errorf("header parameter %q is not accepted", name)
		}
		return err
	})
	switch {
	case err != nil:
		return "", nil, invalidProof("header: " + err.Error())
	case !strings.EqualFold(typ, dpopProofType):
		return "", nil, invalidProof("typ is not dpop+jwt")
	case !dpopAlgAllowed(alg):
		return "", nil, invalidProof("alg is not an allowed asymmetric algorithm")
	case jwk == nil:
		return "", nil, invalidProof("header without jwk")
	}
	return alg, jwk, nil
}

func dpopAlgAllowed(alg string) bool {
	for _, a := range dpopAlgs {
		if a == alg {
			return true
		}
	}
	return false
}

// proofKey turns a proof's jwk into a verification key for alg, with the
// checks of configured keys (newVerifyKey: curve points, small-order
// Ed25519 keys, RSA size and exponent, alg fitting the key), and returns
// its RFC 7638 thumbprint. Private and symmetric keys are refused; the key
// members must be canonical base64url of the exact size, so that one key
// has one thumbprint, computed from the members as sent.
func proofKey(raw []byte, alg string) (*verifyKey, string, error) {
	m := map[string]string{}
	err := parseObject(raw, func(name string, value []byte) error {
		switch name {
		case "kty", "crv", "x", "y", "n", "e":
			s, err := jsonString(value)
			m[name] = s
			return err
		}
		for _, p := range jwkPrivateMembers {
			if name == p {
				return errors.New("private key member " + p)
			}
		}
		if name == "k" {
			return errors.New("symmetric key")
		}
		return nil
	})
	if err != nil {
		return nil, "", err
	}
	var pub any
	var tp string
	switch m["kty"] {
	case "EC":
		pub, tp, err = ecProofKey(m)
	case "OKP":
		if m["crv"] != "Ed25519" {
			return nil, "", errors.New("OKP key not on Ed25519")
		}
		x, ok := b64Member(m, "x", ed25519.PublicKeySize)
		if !ok {
			return nil, "", errors.New("bad Ed25519 x")
		}
		pub, tp = ed25519.PublicKey(x), `{"crv":"Ed25519","kty":"OKP","x":"`+m["x"]+`"}`
	case "RSA":
		pub, tp, err = rsaProofKey(m)
	case "oct":
		return nil, "", errors.New("symmetric key")
	default:
		return nil, "", errors.New("unsupported kty")
	}
	if err != nil {
		return nil, "", err
	}
	k, err := newVerifyKey("", alg, pub)
	if err != nil {
		return nil, "", err
	}
	sum := sha256.Sum256([]byte(tp))
	return k, strictB64.EncodeToString(sum[:]), nil
}

func ecProofKey(m map[string]string) (any, string, error) {
	var c elliptic.Curve
	switch m["crv"] {
	case "P-256":
		c = elliptic.P256()
	case "P-384":
		c = elliptic.P384()
	case "P-521":
		c = elliptic.P521()
	default:
		return nil, "", errors.New("unsupported EC curve")
	}
	size := (c.Params().BitSize + 7) / 8
	x, okX := b64Member(m, "x", size)
	y, okY := b64Member(m, "y", size)
	if !okX || !okY {
		return nil, "", errors.New("bad EC coordinates")
	}
	pub, err := ecdsa.ParseUncompressedPublicKey(c, append(append([]byte{4}, x...), y...))
	if err != nil {
		return nil, "", errors.New("EC point not on the curve")
	}
	return pub, `{"crv":"` + m["crv"] + `","kty":"EC","x":"` + m["x"] + `","y":"` + m["y"] + `"}`, nil
}

func rsaProofKey(m map[string]string) (any, string, error) {
	n, okN := b64Member(m, "n", -1)
	e, okE := b64Member(m, "e", -1)
	if !okN || !okE || len(n) == 0 || n[0] == 0 || len(e) == 0 || e[0] == 0 || len(e) > 4 {
		return nil, "", errors.New("bad RSA modulus or exponent")
	}
	exp := 0
	for _, b := range e {
		exp = exp<<8 | int(b)
	}
	pub := &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: exp}
	return pub, `{"e":"` + m["e"] + `","kty":"RSA","n":"` + m["n"] + `"}`, nil
}

// b64Member decodes the member name of m, strict base64url, of exactly size
// bytes (size < 0: any).
func b64Member(m map[string]string, name string, size int) ([]byte, bool) {
	s, ok := m[name]
	if !ok {
		return nil, false
	}
	b, err := strictB64.DecodeString(s)
	return b, err == nil && (size < 0 || len(b) == size)
}

// proofClaims are the claims of a proof the kit reads.
type proofClaims struct {
	jti, htm, htu, ath string
	iat                float64
	hasAth             bool
}

// readProofClaims reads and checks the presence of jti, htm, htu and iat;
// other claims (nonce, …) are ignored.
func readProofClaims(b []byte) (proofClaims, error) {
	var c proofClaims
	var hasIat bool
	err := parseObject(b, func(name string, value []byte) error {
		var err error
		switch name {
		case "jti":
			c.jti, err = jsonString(value)
		case "htm":
			c.htm, err = jsonString(value)
		case "htu":
			c.htu, err = jsonString(value)
		case "ath":
			c.ath, err = jsonString(value)
			c.hasAth = true
		case "iat":
			c.iat, err = numericDate(value)
			hasIat = true
		}
		if err != nil {
			return fmt.Errorf("claim %q: %w", name, err)
		}
		return nil
	})
	switch {
	case err != nil:
		return c, invalidProof("claims: " + err.Error())
	case c.jti == "" || len(c.jti) > maxDPoPJTILen:
		return c, invalidProof("missing or oversized jti")
	case c.htm == "" || c.htu == "" || !hasIat:
		return c, invalidProof("a required claim (htm, htu, iat) is missing")
	}
	return c, nil
}

// htuMatches reports whether a proof's htu names the request's URL, both
// without query and fragment, after syntax- and scheme-based normalisation
// (RFC 9449 §4.3, RFC 3986 §6.2.2–6.2.3).
func (p *proofVerifier) htuMatches(htu string, r *http.Request) bool {
	got, ok := normalizeHTU(htu)
	if !ok {
		return false
	}
	origin := p.origin
	if origin == "" {
		scheme := "http"
		if r.TLS != nil {
			scheme = "https"
		}
		origin = scheme + "://" + r.Host
	}
	want, ok := normalizeHTU(origin + r.URL.EscapedPath())
	return ok && got == want
}

// normalizeHTU returns the normal form of an http(s) URL without its query
// and fragment: scheme and host in lower case, the default port dropped, an
// empty path "/", dot segments removed, percent-encodings in upper case and
// unreserved characters decoded.
func normalizeHTU(s string) (string, bool) {
	u, err := url.Parse(s)
	if err != nil || u.Opaque != "" || u.User != nil || u.Host == "" {
		return "", false
	}
	scheme := strings.ToLower(u.Scheme)
	if scheme != "http" && scheme != "https" {
		return "", false
	}
	host, port := strings.ToLower(u.Hostname()), u.Port()
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	if port != "" && !(scheme == "http" && port == "80") && !(scheme == "https" && port == "443") {
		host += ":" + port
	}
	path := normalizePercent(u.EscapedPath())
	if path == "" {
		path = "/"
	}
	path = removeDotSegments(path)
	return scheme + "://" + host + path, true
}

// removeDotSegments is RFC 3986 §5.2.4 for an absolute path.
func removeDotSegments(path string) string {
	if !strings.Contains(path, ".") {
		return path
	}
	var out []string
	segs := strings.Split(path, "/")
	for i, s := range segs {
		switch s {
		case ".":
			if i == len(segs)-1 {
				out = append(out, "")
			}
		case "..":
			if len(out) > 1 {
				out = out[:len(out)-1]
			}
			if i == len(segs)-1 {
				out = append(out, "")
			}
		default:
			out = append(out, s)
		}
	}
	return strings.Join(out, "/")
}

// replayCache remembers the proofs accepted within their lifetime, bounded
// in entries. Entries leave in the order of their iat: those past the
// lifetime first (their proofs are refused as too old anyway); when the
// cache is full of live ones, the oldest is dropped and its iat becomes the
// floor, below which every proof is refused, so that dropping an entry never
// lets its proof be replayed: the accepted window shrinks instead, under a
// flood of valid proofs. Safe for concurrent use.
type replayCache struct {
	mu    sync.Mutex
	max   int
	seen  map[[32]byte]struct{}
	order replayHeap
	floor float64
}

func newReplayCache(max int) *replayCache {
	return &replayCache{max: max, seen: make(map[[32]byte]struct{})}
}

// add records key, of a proof issued at iat, and reports whether it was new
// (and above the floor). Entries issued before oldest are dropped.
func (c *replayCache) add(key [32]byte, iat, oldest float64) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for len(c.order) > 0 && c.order[0].iat < oldest {
		delete(c.seen, heap.Pop(&c.order).(replayEntry).key)
	}
	if _, ok := c.seen[key]; ok || iat <= c.floor {
		return false
	}
	for len(c.order) >= c.max {
		e := heap.Pop(&c.order).(replayEntry)
		delete(c.seen, e.key)
		c.floor = max(c.floor, e.iat)
		if iat <= c.floor {
			return false
		}
	}
	c.seen[key] = struct{}{}
	heap.Push(&c.order, replayEntry{key: key, iat: iat})
	return true
}

// len returns the number of proofs remembered.
func (c *replayCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.order)
}

type replayEntry struct {
	key [32]byte
	iat float64
}

// replayHeap is a min-heap of entries by iat.
type replayHeap []replayEntry

func (h replayHeap) Len() int           { return len(h) }
func (h replayHeap) Less(i, j int) bool { return h[i].iat < h[j].iat }
func (h replayHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *replayHeap) Push(x any)        { *h = append(*h, x.(replayEntry)) }
func (h *replayHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	*h = old[:len(old)-1]
	return e
}

// dpopPolicy is the access-token authenticator's DPoP: each issuer's mode
// and the proof verifier. A nil policy (every issuer DPoPOff) still refuses
// DPoP-bound tokens presented as Bearer.
type dpopPolicy struct {
	modes  map[string]DPoPMode // by issuer; absent: DPoPOff
	bearer bool                // some issuer accepts bearer tokens
	algs   string              // for the challenge
	proofs *proofVerifier
}

// newDPoPPolicy returns the policy for the modes by issuer, nil when every
// one is DPoPOff.
func newDPoPPolicy(modes map[string]DPoPMode, now func() time.Time, leeway time.Duration, origin string) *dpopPolicy {
	p := &dpopPolicy{modes: map[string]DPoPMode{}, algs: strings.Join(dpopAlgs, " ")}
	for iss, m := range modes {
		if m != DPoPOff {
			p.modes[iss] = m
		}
		p.bearer = p.bearer || m != DPoPRequired
	}
	if len(p.modes) == 0 {
		return nil
	}
	p.proofs = newProofVerifier(now, leeway, origin)
	return p
}

// check applies the policy to a verified token c, presented as DPoP
// (usedDPoP) or Bearer: a bound token needs the DPoP scheme and a proof by
// its key, for this request and token, never seen before; an issuer's mode
// decides which schemes it accepts. It runs on every request, the token
// cache's hits too.
func (p *dpopPolicy) check(r *http.Request, token string, usedDPoP bool, c *Claims) error {
	jkt, bound, err := confirmation(c)
	if err != nil {
		return err
	}
	var mode DPoPMode
	if p != nil {
		mode = p.modes[c.Issuer]
	}
	if !usedDPoP {
		switch {
		case bound:
			return invalidToken("DPoP-bound token presented as Bearer")
		case mode == DPoPRequired:
			return invalidToken("this issuer's tokens must be DPoP-bound")
		}
		return nil
	}
	switch {
	case mode == DPoPOff:
		return invalidToken("this issuer's tokens are bearer tokens")
	case !bound:
		return invalidToken("DPoP scheme with a token that is not DPoP-bound")
	}
	raw, ok, err := requestProof(r)
	switch {
	case err != nil:
		return err
	case !ok:
		return invalidProof("no DPoP proof")
	}
	pr, err := p.proofs.verify(r, raw, token)
	if err != nil {
		return err
	}
	if pr.jkt != jkt {
		return invalidProof("the proof's key is not the token's (cnf.jkt)")
	}
	return p.proofs.use(pr)
}

// confirmation reads a token's "cnf" claim (RFC 7800): the jkt of a
// DPoP-bound token. A cnf without a jkt binds the token to something the
// kit cannot check (a certificate): it is refused.
func confirmation(c *Claims) (jkt string, bound bool, err error) {
	raw, ok := c.extra["cnf"]
	if !ok {
		return "", false, nil
	}
	err = parseObject(raw, func(name string, value []byte) error {
		if name != "jkt" {
			return nil
		}
		var err error
		jkt, err = jsonString(value)
		return err
	})
	if err != nil || jkt == "" {
		return "", true, invalidToken("cnf claim without a usable jkt")
	}
	return jkt, true, nil
}

// dpopError is a refusal by an authenticator that accepts DPoP, for its
// challenge.
type dpopError struct {
	err      error
	algs     string
	bearer   bool // Bearer tokens are accepted too: both challenges
	usedDPoP bool // the request used the DPoP scheme
}

func (e *dpopError) Error() string { return e.err.Error() }
func (e *dpopError) Unwrap() error { return e.err }

// wrap marks err, a refusal of r, for the DPoP challenge.
func (p *dpopPolicy) wrap(err error, usedDPoP bool) error {
	if p == nil || err == nil {
		return err
	}
	return &dpopError{err: err, algs: p.algs, bearer: p.bearer, usedDPoP: usedDPoP}
}
