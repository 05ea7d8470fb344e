package authkit

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base32"
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// This file is the refresh-token half of the Issuer: rotation, reuse
// detection, revocation and their HTTP endpoints.

// Refresh exchanges a refresh token for a new pair and invalidates the
// presented token; see "Refresh" in the [Issuer] documentation for the
// checks. A refused token is an error wrapping [ErrInvalidToken] (also
// [ErrTokenExpired] or [ErrTokenRevoked] where that applies); a rotated token
// presented again revokes its family and reports a [ReuseEvent] (also when
// its version is refused, after a bump), unless it
// is a retry (the token just rotated, its successor unused, within
// [WithRefreshRetryWindow]), which returns a new pair with the same
// successor. Any other error is a failure of the [VersionLookup] or the
// [FamilyStore] and nothing was issued, though the rotation may have been
// committed (a store that failed after its commit): retry with the same
// token. Safe for concurrent use; concurrent refreshes with one token all
// get the one successor (with retries off, one wins and the family is
// revoked).
//
// A DPoP-bound refresh token refreshes only through [Issuer.RefreshHandler]
// with a DPoP proof by its key; without one it is refused with
// [ErrInvalidDPoPProof] before anything else, so that a thief who cannot
// prove the key changes nothing (no rotation, no reuse detection).
func (i *Issuer) Refresh(ctx context.Context, refreshToken string) (*TokenPair, error) {
	return i.refreshAs(ctx, refreshToken, "", "")
}

// refreshAs is [Issuer.Refresh] for a request whose session belongs to
// sessionUser ("": none): a token of another user is refused before anything
// is rotated (SECURITY.md R-5); jkt is the thumbprint of the key of the
// request's DPoP proof ("": none), to which the new pair is bound.
func (i *Issuer) refreshAs(ctx context.Context, refreshToken, sessionUser, jkt string) (*TokenPair, error) {
	if i == nil || i.signer == nil {
		return nil, errNotBuilt
	}
	t, err := i.refresh.verify(ctx, refreshToken)
	if err != nil {
		return nil, err
	}
	c := t.claims
	now := i.cfg.now()
	if !now.Before(c.ExpiresAt) {
		return nil, expiredToken("refresh token expired")
	}
	famID, err := familyOf(c)
	if err != nil {
		return nil, err
	}
	if bound, isBound, err := confirmation(c); err != nil {
		return nil, err
	} else if isBound && bound != jkt {
		return nil, invalidProof("DPoP-bound refresh token without a proof by its key")
	}
	if sessionUser != "" && sessionUser != c.Subject {
		return nil, invalidToken("refresh token of another user than the request's session")
	}
	current, err := checkVersion(ctx, i.versions, c.Subject, c.Version)
	if err != nil {
		if errors.Is(err, ErrInvalidToken) {
			// Reuse is detected regardless of the version check: a rotated
			// token replayed after a bump (or the user's removal) is refused
			// all the same, but it still tells of a stolen copy.
			if err := i.reusedDespiteVersion(ctx, famID, c, now); err != nil {
				return nil, err
			}
		}
		return nil, err
	}
	// The successor's jti is derived from the presented one, so that a retry
	// of this refresh names the same successor (see retried). Sign before
	// rotating, so that a signer failing (a remote KMS, say) leaves the
	// presented token valid for a retry.
	next := successorID(famID, c.ID)
	pair, err := i.mint(c.Subject, c.Scope, current, famID, time.Time{}, next, jkt, now)
	if err != nil {
		return nil, err
	}
	f, err := i.families.RotateFamily(ctx, famID, hashTokenID(c.ID), hashTokenID(next), now)
	if errors.Is(err, ErrFamilyNotRotated) {
		f, err = i.retried(ctx, f, famID, next, now)
		if errors.Is(err, ErrFamilyNotRotated) {
			return nil, i.notRotated(ctx, f, famID, c, now)
		}
	}
	switch {
	case errors.Is(err, ErrFamilyNotFound):
		return nil, revokedToken("unknown refresh family")
	case err != nil:
		return nil, err
	}
	if f.UserID != c.Subject {
		// Only possible with a forged token or a corrupted store.
		if _, err := i.families.RevokeFamily(ctx, famID, now); err != nil {
			return nil, err
		}
		return nil, revokedToken("refresh family of another user")
	}
	i.cfg.events.emit(ctx, Event{Type: EventRefreshRotated, Issuer: i.issuer, UserID: c.Subject})
	if f.ExpiresAt.Before(pair.RefreshTokenExpiresAt) {
		// Within a refresh TTL of the family's end: no token outlives it.
		return i.mint(c.Subject, c.Scope, current, famID, f.ExpiresAt, next, jkt, now)
	}
	return pair, nil
}

// retried tells a retry from reuse, for a presented token whose family f
// (as stored) did not rotate. It is a retry when the family's current token
// is the presented token's successor next, still unused (a later rotation
// replaces it), and was issued at most the retry window ago: the refresh
// that rotated it committed but its answer was lost (a client timeout, a
// dropped connection, a store or process restart), or it is a concurrent
// refresh with the same token. The retry is answered with the same
// successor, so that a family never has two live successors. The check is
// the store's atomic conditional update from next to next, which changes
// nothing (LastUsedAt is written back unchanged): it succeeds only while
// next is current. It returns ErrFamilyNotRotated (and the family as
// stored) when this is not a retry.
func (i *Issuer) retried(ctx context.Context, f RefreshFamily, famID, next string, now time.Time) (RefreshFamily, error) {
	w := i.cfg.retryWindow
	switch {
	case w <= 0, !f.RevokedAt.IsZero(), f.LastUsedAt.IsZero(),
		!f.ExpiresAt.IsZero() && !now.Before(f.ExpiresAt),
		now.Sub(f.LastUsedAt) > w, f.LastUsedAt.After(now.Add(w)):
		return f, ErrFamilyNotRotated
	}
	h := hashTokenID(next)
	return i.families.RotateFamily(ctx, famID, h, h, f.LastUsedAt)
}

// successorID is the jti of the refresh token that replaces the token jti of
// family famID: 128 bits of SHA-256 over both, in the alphabet of
// rand.Text. It needs no secret: a jti is not a credential (a refresh token
// is only as good as its signature, which needs the signing key) and the
// store keeps only its hash. Being derived from the jti, not from the
// token's bytes, the successor is the same for both ECDSA twins (r, s) and
// (r, n-s) of one token, and on every instance, with no shared state.
func successorID(famID, jti string) string {
	h := sha256.New()
	h.Write([]byte("authkit refresh successor\x00"))
	h.Write([]byte(famID))
	h.Write([]byte{0})
	h.Write([]byte(jti))
	return base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(h.Sum(nil)[:16])
}

// notRotated explains why the family f (famID) of the verified refresh token c did
// not rotate: revoked, expired, or else the token was already rotated, which
// is reuse (RFC 9700 §4.14.2): the family is revoked and the reuse reported.
// A store that returns no family falls through to revocation: reuse
// detection must not depend on the store's diligence. The kit's Store
// records the reuse in the family, so that a rotated token presented to a
// family revoked already (a bump, a logout on that device) is reported
// too, once per family.
func (i *Issuer) notRotated(ctx context.Context, f RefreshFamily, famID string, c *Claims, now time.Time) error {
	expired := !f.ExpiresAt.IsZero() && !now.Before(f.ExpiresAt)
	if r, ok := i.families.(reuseRecorder); ok && !expired {
		reused, err := i.recordReuse(ctx, r, famID, c, now)
		switch {
		case err != nil:
			return err
		case reused || f.RevokedAt.IsZero():
			return revokedToken("refresh token reused; family revoked")
		}
		return revokedToken("refresh family revoked")
	}
	switch {
	case !f.RevokedAt.IsZero():
		return revokedToken("refresh family revoked")
	case expired:
		return expiredToken("refresh family past its absolute lifetime")
	}
	revoked, err := i.families.RevokeFamily(ctx, famID, now)
	if err != nil {
		return err
	}
	if revoked {
		i.reportReuse(ctx, f, famID, c, now, true)
	}
	return revokedToken("refresh token reused; family revoked")
}

// recordReuse has the kit's Store record the reuse of c's token in family
// famID (see reuseRecorder), with the retry rule of retried, and reports it
// when this call recorded it.
func (i *Issuer) recordReuse(ctx context.Context, r reuseRecorder, famID string, c *Claims, now time.Time) (bool, error) {
	chk := reuseCheck{presented: hashTokenID(c.ID), now: now}
	chk.retry = chk.presented
	if w := i.cfg.retryWindow; w > 0 {
		chk.retry, chk.retryFrom, chk.retryTo = hashTokenID(successorID(famID, c.ID)), now.Add(-w), now.Add(w)
	}
	f, recorded, revoked, err := r.recordReuse(ctx, famID, chk)
	if err != nil || !recorded {
		return false, err
	}
	i.reportReuse(ctx, f, famID, c, now, revoked)
	return true, nil
}

// reusedDespiteVersion looks for reuse of the refresh token c of family
// famID, which the version check refused, without rotating anything: with
// the kit's Store the reuse is recorded (a bump revoked the family in
// storage); with another FamilyStore, a family left live is revoked and the
// reuse reported when c is neither its current token nor a retry. It
// returns only the store's failures.
func (i *Issuer) reusedDespiteVersion(ctx context.Context, famID string, c *Claims, now time.Time) error {
	if r, ok := i.families.(reuseRecorder); ok {
		_, err := i.recordReuse(ctx, r, famID, c, now)
		return err
	}
	// The family as stored: no token's hash is all zeros, so this rotates
	// nothing.
	f, err := i.families.RotateFamily(ctx, famID, [32]byte{}, [32]byte{}, now)
	switch {
	case errors.Is(err, ErrFamilyNotFound):
		return nil
	case !errors.Is(err, ErrFamilyNotRotated):
		return err
	case !f.RevokedAt.IsZero(), !f.ExpiresAt.IsZero() && !now.Before(f.ExpiresAt):
		return nil // this store cannot tell its current token from a rotated one
	}
	// The current token? A rotation from it to itself, at its own last
	// use, changes nothing and succeeds only then.
	h := hashTokenID(c.ID)
	if _, err := i.families.RotateFamily(ctx, famID, h, h, f.LastUsedAt); !errors.Is(err, ErrFamilyNotRotated) {
		return ignoreRefusal(err)
	}
	if _, err := i.retried(ctx, f, famID, successorID(famID, c.ID), now); !errors.Is(err, ErrFamilyNotRotated) {
		return ignoreRefusal(err)
	}
	return ignoreRefusal(i.notRotated(ctx, f, famID, c, now))
}

// ignoreRefusal returns err unless it refuses the token (ErrInvalidToken)
// or finds no family: only the store's failures.
func ignoreRefusal(err error) error {
	if errors.Is(err, ErrInvalidToken) || errors.Is(err, ErrFamilyNotFound) {
		return nil
	}
	return err
}

// reportReuse reports the reuse of the refresh token c in family f (famID),
// and its revocation when this call revoked it.
func (i *Issuer) reportReuse(ctx context.Context, f RefreshFamily, famID string, c *Claims, now time.Time, revoked bool) {
	i.cfg.events.emit(ctx, Event{Type: EventRefreshReused, Reason: ErrTokenRevoked, Method: MethodRefresh, Issuer: i.issuer, UserID: f.UserID})
	if revoked {
		i.cfg.events.emit(ctx, Event{Type: EventFamilyRevoked, Method: MethodRefresh, Issuer: i.issuer, UserID: f.UserID})
	}
	i.cfg.onReuse(ctx, ReuseEvent{
		UserID:          f.UserID,
		FamilyID:        famID,
		TokenID:         c.ID,
		TokenIssuedAt:   c.IssuedAt,
		FamilyCreatedAt: f.CreatedAt,
		DetectedAt:      now,
	})
}

// familyOf returns the family ID of a verified refresh token.
func familyOf(c *Claims) (string, error) {
	if c.ID == "" {
		return "", invalidToken("refresh token without jti")
	}
	raw, ok := c.extra["fam"]
	if !ok {
		return "", invalidToken("refresh token without fam")
	}
	fam, err := jsonString(raw)
	if err != nil || fam == "" || len(fam) > 128 {
		return "", invalidToken("bad fam claim")
	}
	return fam, nil
}

// Revoke revokes the family of refreshToken, which must verify (signature,
// type, issuer, audience, not expired), whether or not it is the family's
// current token: "log out on this device". A token that does not verify is
// an error wrapping [ErrInvalidToken]; any other error is a failure of the
// [FamilyStore].
func (i *Issuer) Revoke(ctx context.Context, refreshToken string) error {
	if i == nil || i.signer == nil {
		return errNotBuilt
	}
	t, err := i.refresh.verify(ctx, refreshToken)
	if err != nil {
		return err
	}
	famID, err := familyOf(t.claims)
	if err != nil {
		return err
	}
	revoked, err := i.families.RevokeFamily(ctx, famID, i.cfg.now())
	if revoked {
		i.cfg.events.emit(ctx, Event{Type: EventFamilyRevoked, Method: MethodRefresh, Issuer: i.issuer, UserID: t.claims.Subject})
	}
	return err
}

// RefreshHandler returns the refresh endpoint, for POST (other methods: 405).
// The refresh token comes from the refresh cookie ([WithRefreshCookie]) or a
// JSON body {"refresh_token": "…"} (Content-Type application/json, at most
// 9 KiB; a "grant_type" member must be "refresh_token"), or the RFC 6749 §6
// form grant_type=refresh_token&refresh_token=… (application/x-www-form-urlencoded,
// as OAuth clients send it; a parameter sent twice is refused, client_id and
// scope are ignored: the new pair has the family's scope). Answers, JSON with
// Cache-Control: no-store (errors through [WithErrorHandler], default
// [DefaultTokenErrorHandler]):
//
//   - 200: the new pair (RFC 6749 §5.1) and the new refresh cookie; a token
//     that came in the cookie is answered in the cookie only, never the body;
//   - 403 invalid_request: the token came in the cookie on a cross-origin
//     request;
//   - 400 invalid_request: no token, a token in both places, the cookie
//     twice, a malformed body;
//   - 400 unsupported_grant_type: a form whose grant_type is not
//     refresh_token;
//   - 400 invalid_dpop_proof (RFC 9449 §5): the request's DPoP proof is
//     refused, or a DPoP-bound token came without a proof by its key;
//     nothing is rotated and a cookie is kept; 400 use_dpop_nonce with a
//     DPoP-Nonce header: the proof lacks the current nonce of
//     [WithDPoPNonce] (§8); a success may carry the next nonce in
//     DPoP-Nonce;
//   - 400 invalid_grant (RFC 6749 §5.2): the token is refused (forged,
//     expired, revoked, of an older version, of another user than the
//     request's session with [WithRefreshSessionUser], reused: which
//     revokes the family); a refusing cookie is cleared;
//   - 503 temporarily_unavailable with Retry-After: the [WithDPoPStore]
//     store did not answer in time or failed; nothing was issued;
//   - 500 server_error: the store or lookup failed, or the session check of
//     [WithRefreshSessionUser]; nothing was issued. The client retries with
//     the same token: if the rotation was committed all the same, the retry
//     gets the same successor (see [WithRefreshRetryWindow]).
func (i *Issuer) RefreshHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			i.writeError(w, r, errNotPost, false)
			return
		}
		token, fromCookie, err := i.presentedToken(r)
		if err == nil && token == "" {
			err = invalidRequest("no refresh token")
		}
		if err == nil && fromCookie {
			err = checkCrossOrigin(i.cfg.crossOrigin, r)
		}
		sessionUser, jkt := "", ""
		if err == nil && i.cfg.sessionUser != nil {
			sessionUser, err = i.cfg.sessionUser(r)
		}
		nonce := ""
		if err == nil {
			jkt, nonce, err = i.proofs.tokenRequest(r)
		}
		if err == nil {
			var pair *TokenPair
			if pair, err = i.refreshAs(r.Context(), token, sessionUser, jkt); err == nil {
				pair.dpopNonce = nonce
				// A token that came in the HttpOnly cookie goes back only in
				// the cookie: echoing it in the body would hand it to any
				// script that can call this endpoint.
				i.writeTokens(w, pair, !fromCookie)
				return
			}
		}
		i.writeError(w, r, err, fromCookie)
	})
}

// revokeRequest does the work of [Issuer.LogoutHandler] without writing the
// status or a body. It revokes the family of
// the refresh token the request carries (cookie or JSON body, as for
// [Issuer.RefreshHandler]) and sets a header that clears the refresh cookie.
// A request without a token, or with one that does not verify, has nothing
// to revoke: it returns nil. A malformed request is an error wrapping
// [ErrInvalidRequest]; a failing store returns its error and leaves the
// cookie alone.
func (i *Issuer) revokeRequest(w http.ResponseWriter, r *http.Request) error {
	token, fromCookie, err := i.presentedToken(r)
	if err != nil {
		return err
	}
	if fromCookie {
		if err := checkCrossOrigin(i.cfg.crossOrigin, r); err != nil {
			return err
		}
	}
	if token != "" {
		if err := i.Revoke(r.Context(), token); err != nil && !errors.Is(err, ErrInvalidToken) {
			return err
		}
	}
	i.clearRefreshCookie(w)
	return nil
}

// LogoutHandler returns the "log out on this device" endpoint, for POST
// (other methods: 405): it revokes the family of the presented refresh token
// and clears the refresh cookie. It answers 204, also without a valid token
// (logging out twice is not an error); 400 invalid_request for a malformed
// request; 500 server_error when the store failed; always no-store.
func (i *Issuer) LogoutHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			i.writeError(w, r, errNotPost, false)
			return
		}
		if err := i.revokeRequest(w, r); err != nil {
			i.writeError(w, r, err, false)
			return
		}
		noStore(w.Header())
		w.WriteHeader(http.StatusNoContent)
	})
}

// WriteTokens writes pair as a successful RFC 6749 §5.1 token response to r:
// 200, Cache-Control: no-store, the refresh cookie (Secure, HttpOnly,
// SameSite=Strict, on the refresh path) and the JSON body {"access_token",
// "token_type": "Bearer", "expires_in", "refresh_token"}. A browser's
// request (it sends Fetch Metadata, Sec-Fetch-Mode) gets the refresh token in
// the cookie only, never in the body where scripts could read it. Call it
// before anything else is written to w.
func (i *Issuer) WriteTokens(w http.ResponseWriter, r *http.Request, pair *TokenPair) {
	i.writeTokens(w, pair, r.Header.Get("Sec-Fetch-Mode") == "")
}

func (i *Issuer) writeTokens(w http.ResponseWriter, pair *TokenPair, refreshInBody bool) {
	h := w.Header()
	noStore(h)
	h.Set("Content-Type", "application/json")
	if pair.dpopNonce != "" {
		h.Set("DPoP-Nonce", pair.dpopNonce) // RFC 9449 §8.2
	}
	http.SetCookie(w, i.cookie(pair.RefreshToken, int(pair.RefreshTokenExpiresAt.Sub(pair.IssuedAt)/time.Second)))
	b := make([]byte, 0, len(pair.AccessToken)+len(pair.RefreshToken)+96)
	b = append(b, `{"access_token":`...)
	b = appendJSONString(b, pair.AccessToken)
	if pair.DPoPThumbprint != "" {
		b = append(b, `,"token_type":"DPoP","expires_in":`...)
	} else {
		b = append(b, `,"token_type":"Bearer","expires_in":`...)
	}
	b = strconv.AppendInt(b, int64(pair.AccessTokenExpiresAt.Sub(pair.IssuedAt)/time.Second), 10)
	if refreshInBody {
		b = append(b, `,"refresh_token":`...)
		b = appendJSONString(b, pair.RefreshToken)
	}
	b = append(b, "}\n"...)
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(b)
}

// clearRefreshCookie sets a header on w that deletes the refresh cookie
// (Max-Age=0, same name, path and attributes).
func (i *Issuer) clearRefreshCookie(w http.ResponseWriter) {
	http.SetCookie(w, i.cookie("", -1))
}

func (i *Issuer) cookie(value string, maxAge int) *http.Cookie {
	return &http.Cookie{
		Name:     i.cfg.cookieName,
		Value:    value,
		Path:     i.cfg.cookiePath,
		MaxAge:   maxAge,
		Secure:   true,
		HttpOnly: true,
		SameSite: http.SameSiteStrictMode,
	}
}

// presentedToken reads the refresh token from the cookie or the JSON body.
// It returns "" without error when there is none; a token in both places,
// the cookie twice or a malformed body is an invalid-request error.
func (i *Issuer) presentedToken(r *http.Request) (token string, fromCookie bool, err error) {
	cs := r.CookiesNamed(i.cfg.cookieName)
	if len(cs) > 1 {
		return "", false, invalidRequest("refresh cookie sent more than once")
	}
	var cookieToken string
	if len(cs) == 1 {
		cookieToken = cs[0].Value
	}
	bodyToken, err := refreshTokenFromBody(r)
	switch {
	case err != nil:
		return "", false, err
	case cookieToken != "" && bodyToken != "":
		return "", false, invalidRequest("refresh token in both the cookie and the body")
	case cookieToken != "":
		return cookieToken, true, nil
	}
	return bodyToken, false, nil
}

func refreshTokenFromBody(r *http.Request) (string, error) {
	if r.Body == nil || r.Body == http.NoBody {
		return "", nil
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxRefreshBody+1))
	switch {
	case err != nil:
		return "", invalidRequest("reading the body: " + err.Error())
	case len(body) > maxRefreshBody:
		return "", invalidRequest("body too large")
	case len(bytes.TrimSpace(body)) == 0:
		return "", nil
	}
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch {
	case err == nil && mt == "application/x-www-form-urlencoded":
		return refreshTokenFromForm(body)
	case err != nil || mt != "application/json":
		return "", invalidRequest("the body must be application/json or application/x-www-form-urlencoded")
	}
	var token string
	found := false
	err = parseObject(body, func(name string, value []byte) error {
		var err error
		switch name {
		case "refresh_token":
			token, err = jsonString(value)
			found = true
		case "grant_type":
			var gt string
			if gt, err = jsonString(value); err == nil && gt != "refresh_token" {
				err = errors.New("grant_type is not refresh_token")
			}
		}
		return err
	})
	switch {
	case err != nil:
		return "", invalidRequest("body: " + err.Error())
	case found && token == "":
		return "", invalidRequest("empty refresh_token")
	}
	return token, nil
}

// refreshTokenFromForm reads an RFC 6749 §6 refresh request: grant_type
// refresh_token and refresh_token, form-encoded. As §3.2 says, a parameter
// without a value counts as omitted, unknown parameters (client_id, scope)
// are ignored and none may be sent twice. Another grant_type is an
// unsupported-grant error (§5.2).
func refreshTokenFromForm(body []byte) (string, error) {
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return "", invalidRequest("form body: " + err.Error())
	}
	for name, v := range form {
		if len(v) > 1 {
			return "", invalidRequest("form parameter " + strconv.Quote(name) + " sent more than once")
		}
	}
	switch gt := form.Get("grant_type"); gt {
	case "refresh_token":
	case "":
		return "", invalidRequest("form body without grant_type")
	default:
		return "", &authError{kind: ErrInvalidRequest, detail: errUnsupportedGrantType, msg: "grant_type " + strconv.Quote(gt)}
	}
	token := form.Get("refresh_token")
	if token == "" {
		return "", invalidRequest("form body without refresh_token")
	}
	return token, nil
}

// errNotPost is the refusal of a request to a POST-only endpoint with another
// method: an invalid request, which DefaultTokenErrorHandler answers 405.
var errNotPost = &authError{kind: ErrInvalidRequest, detail: errMethodNotAllowed, msg: "the endpoint takes POST only"}

// writeError answers a failed refresh or logout through the configured
// error handler (default [DefaultTokenErrorHandler]). A refused token that
// came in the refresh cookie also clears the cookie.
func (i *Issuer) writeError(w http.ResponseWriter, r *http.Request, err error, fromCookie bool) {
	if fromCookie && errors.Is(err, ErrInvalidToken) && !errors.Is(err, ErrInvalidDPoPProof) {
		i.clearRefreshCookie(w)
	}
	i.cfg.events.refused(r, MethodRefresh, err, time.Time{})
	if i.cfg.errorHandler == nil {
		DefaultTokenErrorHandler(w, r, err)
		return
	}
	i.cfg.errorHandler(w, r, err)
}
