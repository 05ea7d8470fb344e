package authkit

import (
	"container/heap"
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/maphash"
	"math/big"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// This file is DPoP (RFC 9449): the proof a client sends with each request
// to show that it holds the key its token is bound to (cnf.jkt), its
// checks (§4.3), the replay cache, the server-provided nonces (§8, §9), and
// the per-issuer policy of the access-token authenticator. The Issuer binds
// the tokens it mints with the same proof verifier (issuer.go, refresh.go).

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
	dpopReplayEntries = 100_000 // proofs remembered in memory, about 10 MB at most
	dpopNonceSlot     = 5 * time.Minute
	dpopNonceKeyName  = "dpop-nonce-mac" // its row in authkit_keys
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

// WithDPoPNonce makes DPoP proofs carry a nonce the server provided
// (RFC 9449 §8 at an [Issuer]'s token requests, §9 at a [JWT]'s resource),
// so that a client, or whoever borrows its key for a while, cannot make
// proofs ahead of time. It applies to [NewJWT] and [NewIssuer]. A proof
// that is otherwise valid but has no nonce, or one that is not current, is
// refused with an error wrapping [ErrInvalidDPoPProof]:
// [DefaultErrorHandler] answers 401 with WWW-Authenticate: DPoP …,
// error="use_dpop_nonce", [DefaultTokenErrorHandler] 400
// {"error":"use_dpop_nonce"}, both with a DPoP-Nonce header holding the
// nonce to use (a custom error handler passes such errors on to them). A
// successful answer to a proof whose nonce is about to expire carries the
// next one in DPoP-Nonce ([Require] and [Optional], [Issuer.WriteTokens],
// [Issuer.RefreshHandler]).
//
// A nonce is the 5-minute time slot it was made in, with a MAC by a secret
// key: no state, nothing stored per client. It is accepted during its slot
// and the next one, so 5 to 10 minutes after it was handed out, and during
// the leeway before its slot starts (an instance whose clock is ahead).
// Every [JWT] and [Issuer] of a process shares the key, and so every
// instance given the same PostgreSQL store ([WithDPoPStore]): their nonces
// are interchangeable and instances agree without asking each other, as
// long as their clocks agree within the leeway. Default: no nonce.
func WithDPoPNonce() Option {
	return singleOption[common]("WithDPoPNonce", "", forJWT|forIssuer, func(c *common) error {
		c.dpopNonce = true
		return nil
	})
}

// WithDPoPStore keeps DPoP's state in s: the proofs already used (the
// replay cache, RFC 9449 §11.1) and the key of [WithDPoPNonce]'s nonces. It
// applies to [NewJWT] and [NewIssuer]. With [NewPostgresStore] every
// instance on the database refuses a proof that any of them accepted (one
// INSERT per proof into authkit_dpop_proofs, which [Store.Migrate] creates;
// rows expire with the proof, a minute after its iat, and are deleted by
// the store's cleanup, see [WithCleanupInterval]) and uses the nonce key kept in authkit_keys. A
// store call that fails or does not answer within the store's
// [WithStoreTimeout] refuses the request with an error wrapping
// [ErrStoreUnavailable] (503): the proof is never accepted unrecorded. With
// [NewMemoryStore], the JWTs and Issuers given it share one replay cache,
// bounded like the default. Default: a replay cache in memory per [JWT] and
// per [Issuer], of at most 100 000 proofs (about 10 MB), so that instances
// behind one load balancer each accept a proof once within its minute.
func WithDPoPStore(s *Store) Option {
	return singleOption[common]("WithDPoPStore", "store", forJWT|forIssuer, func(c *common) error {
		if s == nil || s.b == nil {
			return errors.New("WithDPoPStore(nil)")
		}
		c.dpopStore = s.b
		return nil
	})
}

// dpopOptionsUsed reports the DPoP options given to c that need DPoP to be
// on, for a JWT whose issuers are all DPoPOff.
func (c *common) dpopOptionsUsed() []string {
	var used []string
	for _, name := range []string{"WithDPoPNonce", "WithDPoPStore"} {
		if c.has(name) {
			used = append(used, name)
		}
	}
	return used
}

// proofVerifier checks DPoP proofs (RFC 9449 §4.3) and their nonces (§8,
// §9), and remembers the ones it accepted, so that none is accepted twice.
// Safe for concurrent use.
type proofVerifier struct {
	now    func() time.Time
	leeway time.Duration // clock skew tolerated on a proof's iat in the future
	origin string        // WithDPoPOrigin; "" for the request's own
	seen   proofReplay
	nonces *nonceSource // WithDPoPNonce; nil: no nonce
	keys   proofKeys
}

// newProofVerifier returns the proof verifier of a JWT or Issuer
// configured by c: its origin, its replay cache (the store's, or its own)
// and, with WithDPoPNonce, its nonces.
func newProofVerifier(c *common, now func() time.Time, leeway time.Duration) *proofVerifier {
	p := &proofVerifier{now: now, leeway: leeway, origin: c.dpopOrigin}
	secret := processNonceSecret
	if s := c.dpopStore; s != nil {
		p.seen, secret = s, s.dpopSecret
	} else {
		p.seen = newReplayCache(dpopReplayEntries)
	}
	if c.dpopNonce {
		p.nonces = &nonceSource{now: now, leeway: leeway, secret: secret}
	}
	return p
}

// proof is a proof that verified, not yet recorded as used.
type proof struct {
	jkt    string   // the RFC 7638 thumbprint of its key
	replay [16]byte // what the replay cache remembers: 128 bits of SHA-256 of the key and jti
	iat    float64
	nonce  string // its nonce claim, "" for none
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
	key, jkt, known := p.keys.get(alg, jwk)
	if !known {
		if key, jkt, err = proofKey(jwk, alg); err != nil {
			return proof{}, invalidProof("jwk: " + err.Error())
		}
	}
	if key.verify(bytesOf(t.signingInput), t.signature) != nil {
		return proof{}, invalidProof("signature does not verify")
	}
	if !known {
		p.keys.put(alg, jwk, key, jkt) // its holder signs with it
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
		var ath [43]byte // 32 bytes in base64url
		strictB64.Encode(ath[:], sum[:])
		if !c.hasAth || c.ath != string(ath[:]) {
			return proof{}, invalidProof("ath is not the hash of the access token")
		}
	}
	pr := proof{jkt: jkt, iat: c.iat, nonce: c.nonce}
	var in [64 + maxDPoPJTILen]byte
	sum := sha256.Sum256(append(append(append(in[:0], jkt...), 0), c.jti...))
	copy(pr.replay[:], sum[:])
	return pr, nil
}

// accept checks the nonce of pr, a proof that passed every other check,
// and records pr as used, refusing it when it was used before (§11.1). It
// returns the nonce that the answer should hand out, "" for none. A store
// that fails refuses the proof with ErrStoreUnavailable.
func (p *proofVerifier) accept(ctx context.Context, pr proof) (next string, err error) {
	if p.nonces != nil {
		if next, err = p.nonces.check(ctx, pr.nonce); err != nil {
			return "", err
		}
	}
	fresh, err := p.seen.recordProof(ctx, pr.replay, pr.iat, p.now())
	switch {
	case err != nil && ctx.Err() != nil:
		return "", err // the client went away: not the store's fault
	case err != nil && !errors.Is(err, ErrStoreUnavailable):
		return "", &authError{kind: ErrStoreUnavailable, cause: err}
	case err != nil:
		return "", err
	case !fresh:
		return "", invalidProof("proof replayed (jti seen before)")
	}
	return next, nil
}

// tokenRequest verifies the proof of a token request r, if it carries one,
// and records it: it returns the thumbprint of its key, or "" for none,
// and the nonce to hand out with the answer, if any.
func (p *proofVerifier) tokenRequest(r *http.Request) (jkt, nonce string, err error) {
	raw, ok, err := requestProof(r)
	if !ok || err != nil {
		return "", "", err
	}
	pr, err := p.verify(r, raw, "")
	if err != nil {
		return "", "", err
	}
	if nonce, err = p.accept(r.Context(), pr); err != nil {
		return "", "", err
	}
	return pr.jkt, nonce, nil
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
		case "kid": // the key is the jwk; clients' JOSE libraries add its kid
			_, err = jsonString(value)
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
// checks of configured keys (curve points, small-order Ed25519 keys, RSA
// size and exponent, alg fitting the key: newVerifyKey's), and returns its
// RFC 7638 thumbprint. Private and symmetric keys are refused; the key
// members must be canonical base64url of the exact size, so that one key
// has one thumbprint, computed from the members as sent. It runs on every
// DPoP request, so it decodes into the stack where it can.
func proofKey(raw []byte, alg string) (*verifyKey, string, error) {
	var m jwkMembers
	err := parseObject(raw, func(name string, value []byte) error {
		var dst *string
		switch name {
		case "kty":
			dst = &m.kty
		case "crv":
			dst = &m.crv
		case "x":
			dst = &m.x
		case "y":
			dst = &m.y
		case "n":
			dst = &m.n
		case "e":
			dst = &m.e
		case "k":
			return errors.New("symmetric key")
		default:
			for _, p := range jwkPrivateMembers {
				if name == p {
					return errors.New("private key member " + p)
				}
			}
			return nil
		}
		var err error
		*dst, err = jsonString(value)
		return err
	})
	if err != nil {
		return nil, "", err
	}
	var k *verifyKey
	var buf [512]byte // the thumbprint's input: every EC and Ed25519 key, RSA up to 2048 bits
	var tp []byte
	switch m.kty {
	case "EC":
		k, tp, err = ecProofKey(&m, alg, buf[:0])
	case "OKP":
		if m.crv != "Ed25519" {
			return nil, "", errors.New("OKP key not on Ed25519")
		}
		var x [ed25519.PublicKeySize]byte
		if !b64Member(x[:], m.x) {
			return nil, "", errors.New("bad Ed25519 x")
		}
		k, err = newVerifyKey("", alg, ed25519.PublicKey(x[:])) // copies x
		tp = append(append(append(buf[:0], `{"crv":"Ed25519","kty":"OKP","x":"`...), m.x...), `"}`...)
	case "RSA":
		var pub *rsa.PublicKey
		if pub, err = rsaProofKey(&m); err == nil {
			k, err = newVerifyKey("", alg, pub)
			tp = append(append(append(append(append(buf[:0], `{"e":"`...), m.e...), `","kty":"RSA","n":"`...), m.n...), `"}`...)
		}
	case "oct":
		return nil, "", errors.New("symmetric key")
	default:
		return nil, "", errors.New("unsupported kty")
	}
	if err != nil {
		return nil, "", err
	}
	sum := sha256.Sum256(tp)
	return k, strictB64.EncodeToString(sum[:]), nil
}

// jwkMembers are the members of a proof's jwk that name its public key.
type jwkMembers struct{ kty, crv, x, y, n, e string }

// ecProofKey is proofKey for an EC key: its point is checked by
// ecdsa.ParseUncompressedPublicKey (on the curve, not the identity), and
// its thumbprint's input is appended to tp.
func ecProofKey(m *jwkMembers, alg string, tp []byte) (*verifyKey, []byte, error) {
	var c elliptic.Curve
	switch m.crv {
	case "P-256":
		c = elliptic.P256()
	case "P-384":
		c = elliptic.P384()
	case "P-521":
		c = elliptic.P521()
	default:
		return nil, nil, errors.New("unsupported EC curve")
	}
	size := (c.Params().BitSize + 7) / 8
	var pt [1 + 2*66]byte // the uncompressed point: 4, x, y
	pt[0] = 4
	if !b64Member(pt[1:1+size], m.x) || !b64Member(pt[1+size:1+2*size], m.y) {
		return nil, nil, errors.New("bad EC coordinates")
	}
	pub, err := ecdsa.ParseUncompressedPublicKey(c, pt[:1+2*size])
	if err != nil {
		return nil, nil, errors.New("EC point not on the curve")
	}
	k, err := ecdsaKey("", alg, pub)
	if err != nil {
		return nil, nil, err
	}
	tp = append(append(append(tp, `{"crv":"`...), m.crv...), `","kty":"EC","x":"`...)
	tp = append(append(append(append(tp, m.x...), `","y":"`...), m.y...), `"}`...)
	return k, tp, nil
}

func rsaProofKey(m *jwkMembers) (*rsa.PublicKey, error) {
	n, errN := strictB64.DecodeString(m.n)
	e, errE := strictB64.DecodeString(m.e)
	if errN != nil || errE != nil || len(n) == 0 || n[0] == 0 || len(e) == 0 || e[0] == 0 || len(e) > 4 {
		return nil, errors.New("bad RSA modulus or exponent")
	}
	exp := 0
	for _, b := range e {
		exp = exp<<8 | int(b)
	}
	return &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: exp}, nil
}

// b64Member decodes s, strict base64url of exactly len(dst) bytes, into
// dst, and reports whether it was.
func b64Member(dst []byte, s string) bool {
	if len(s) != strictB64.EncodedLen(len(dst)) {
		return false
	}
	n, err := strictB64.Decode(dst, bytesOf(s))
	return err == nil && n == len(dst)
}

// proofKeys remembers the keys of recent proofs, so that a client's next
// proof by the same jwk (and alg) skips decoding and checking the key again;
// the proof's signature is checked every time. It is direct-mapped: a jwk's
// slot is picked by a keyed hash, and a new key replaces the slot's. Only
// keys that verified a proof's signature are kept, at most proofKeySlots of
// them, each at most a proof's size. Safe for concurrent use.
type proofKeys struct {
	seed  maphash.Seed
	once  sync.Once
	slots [proofKeySlots]atomic.Pointer[proofKeyEntry]
}

const proofKeySlots = 256

type proofKeyEntry struct {
	alg, jwk string
	key      *verifyKey
	jkt      string
}

func (c *proofKeys) slot(alg string, jwk []byte) *atomic.Pointer[proofKeyEntry] {
	c.once.Do(func() { c.seed = maphash.MakeSeed() })
	var h maphash.Hash
	h.SetSeed(c.seed)
	h.WriteString(alg)
	h.Write(jwk)
	return &c.slots[h.Sum64()%proofKeySlots]
}

// get returns the key and thumbprint of jwk for alg, if remembered.
func (c *proofKeys) get(alg string, jwk []byte) (*verifyKey, string, bool) {
	e := c.slot(alg, jwk).Load()
	if e == nil || e.alg != alg || e.jwk != string(jwk) {
		return nil, "", false
	}
	return e.key, e.jkt, true
}

func (c *proofKeys) put(alg string, jwk []byte, key *verifyKey, jkt string) {
	c.slot(alg, jwk).Store(&proofKeyEntry{alg: alg, jwk: string(jwk), key: key, jkt: jkt})
}

// proofClaims are the claims of a proof the kit reads.
type proofClaims struct {
	jti, htm, htu, ath, nonce string
	iat                       float64
	hasAth                    bool
}

// readProofClaims reads and checks the presence of jti, htm, htu and iat,
// and reads ath and nonce; other claims are ignored.
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
		case "nonce":
			c.nonce, err = jsonString(value)
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

// proofReplay remembers the proofs accepted within their lifetime: the
// replay cache in memory, or a Store's (dpopStorage), the PostgreSQL one
// shared by its instances.
type proofReplay interface {
	// recordProof records key, of a proof issued at iat (Unix seconds), at
	// now, and reports whether it was new.
	recordProof(ctx context.Context, key [16]byte, iat float64, now time.Time) (bool, error)
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
	seen  map[[16]byte]struct{}
	order replayHeap
	floor float64
}

func newReplayCache(max int) *replayCache {
	return &replayCache{max: max, seen: make(map[[16]byte]struct{})}
}

func (c *replayCache) recordProof(_ context.Context, key [16]byte, iat float64, now time.Time) (bool, error) {
	return c.add(key, iat, float64(now.UnixNano())/1e9-dpopProofLifetime.Seconds()), nil
}

// add records key, of a proof issued at iat, and reports whether it was new
// (and above the floor). Entries issued before oldest are dropped.
func (c *replayCache) add(key [16]byte, iat, oldest float64) bool {
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
	key [16]byte
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

// newDPoPPolicy returns the policy for the modes by issuer, with the proof
// verifier c configures, nil when every one is DPoPOff.
func newDPoPPolicy(modes map[string]DPoPMode, c *common, now func() time.Time, leeway time.Duration) *dpopPolicy {
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
	p.proofs = newProofVerifier(c, now, leeway)
	return p
}

// check applies the policy to a verified token c, presented as DPoP
// (usedDPoP) or Bearer: a bound token needs the DPoP scheme and a proof by
// its key, for this request and token, with the server's nonce when
// configured, never seen before; an issuer's mode decides which schemes it
// accepts. A proof sent with a token that is not presented as DPoP is a
// malformed request. It runs on every request, the token cache's hits too;
// r is nil for a token that came without a request (JWT.Verify).
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
		case p != nil && r != nil && len(r.Header["Dpop"]) > 0:
			// A client that sends a proof but not the DPoP scheme is
			// confused: the proof would be ignored (RFC 9449 §7.2).
			return invalidRequest("DPoP proof with a token not presented as DPoP")
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
	c.dpopNonce, err = p.proofs.accept(r.Context(), pr)
	return err
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

// nonceSource makes and checks the server's DPoP nonces (RFC 9449 §8, §9):
// the number of the current time slot (dpopNonceSlot long) and a 128-bit
// HMAC-SHA256 of it under a key derived from a secret, in base64url. Nonces
// are unpredictable without the key, need no state, and are the same on
// every instance with the secret. A nonce is accepted during its slot and
// the next, and from the leeway before its slot starts. Safe for
// concurrent use.
type nonceSource struct {
	now    func() time.Time
	leeway time.Duration
	secret func(ctx context.Context) ([]byte, error)
	mu     sync.Mutex // serialises fetching the key
	key    atomic.Pointer[[]byte]
	slots  atomic.Pointer[nonceSlots] // the nonces of the last slot asked for
}

// nonceSlots are the nonces of slot and of the slot before.
type nonceSlots struct {
	slot      int64
	cur, prev string
}

// processNonceSecret is the nonce secret of a process without a shared
// store: random, made once, shared by its JWTs and Issuers.
var processNonceSecret = func() func(context.Context) ([]byte, error) {
	secret := sync.OnceValue(func() []byte {
		b := make([]byte, 32)
		rand.Read(b) // never fails
		return b
	})
	return func(context.Context) ([]byte, error) { return secret(), nil }
}()

// macKey returns the nonces' MAC key, fetching the secret on first use. A
// failed fetch is not kept: the next request asks again.
func (n *nonceSource) macKey(ctx context.Context) ([]byte, error) {
	if k := n.key.Load(); k != nil {
		return *k, nil
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if k := n.key.Load(); k != nil {
		return *k, nil
	}
	secret, err := n.secret(ctx)
	if err != nil {
		if ctx.Err() == nil && !errors.Is(err, ErrStoreUnavailable) {
			err = &authError{kind: ErrStoreUnavailable, msg: "reading the DPoP nonce key", cause: err}
		}
		return nil, err
	}
	m := hmac.New(sha256.New, secret)
	m.Write([]byte("authkit DPoP nonce v1"))
	k := m.Sum(nil)
	n.key.Store(&k)
	return k, nil
}

// slotOf is the number of the nonce slot t is in.
func slotOf(t time.Time) int64 { return t.Unix() / int64(dpopNonceSlot/time.Second) }

// make returns the nonce of slot under key.
func makeNonce(key []byte, slot int64) string {
	var b [8 + 16]byte
	binary.BigEndian.PutUint64(b[:8], uint64(slot))
	m := hmac.New(sha256.New, key)
	m.Write(b[:8])
	copy(b[8:], m.Sum(nil))
	return strictB64.EncodeToString(b[:])
}

// current returns the nonces of the slot now is in and of the one before.
func (n *nonceSource) current(ctx context.Context, now time.Time) (*nonceSlots, []byte, error) {
	key, err := n.macKey(ctx)
	if err != nil {
		return nil, nil, err
	}
	slot := slotOf(now)
	if s := n.slots.Load(); s != nil && s.slot == slot {
		return s, key, nil
	}
	s := &nonceSlots{slot: slot, cur: makeNonce(key, slot), prev: makeNonce(key, slot-1)}
	n.slots.Store(s)
	return s, key, nil
}

// check checks a proof's nonce claim (RFC 9449 §4.3 check 10): it must be
// the current slot's nonce, the previous one's (then next is the current
// one, for the answer to hand out), or, within the leeway of the next
// slot, that one's. Anything else is refused with the current nonce.
func (n *nonceSource) check(ctx context.Context, got string) (next string, err error) {
	now := n.now()
	s, key, err := n.current(ctx, now)
	if err != nil {
		return "", err
	}
	switch {
	case got == "":
		return "", &nonceError{nonce: s.cur, msg: "proof without the server's nonce"}
	case got == s.cur:
		return "", nil
	case got == s.prev:
		return s.cur, nil
	}
	if ahead := slotOf(now.Add(n.leeway)); ahead != s.slot && hmac.Equal([]byte(got), []byte(makeNonce(key, ahead))) {
		return "", nil
	}
	return "", &nonceError{nonce: s.cur, msg: "nonce stale or not issued by this server"}
}

// nonceError refuses a proof for its nonce (RFC 9449 §8, §9): the answer is
// use_dpop_nonce, with nonce, the one to use, in a DPoP-Nonce header. It
// matches ErrInvalidToken and ErrInvalidDPoPProof.
type nonceError struct {
	nonce, msg string
}

func (e *nonceError) Error() string { return "authkit: invalid token: invalid DPoP proof: " + e.msg }
func (e *nonceError) Unwrap() []error {
	return []error{ErrInvalidToken, ErrInvalidDPoPProof}
}

// nonceOf returns the nonce to hand out with the refusal err, or "".
func nonceOf(err error) string {
	var ne *nonceError
	if errors.As(err, &ne) {
		return ne.nonce
	}
	return ""
}
