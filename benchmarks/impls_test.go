package benchmarks

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"time"

	jwtmiddleware "github.com/auth0/go-jwt-middleware/v2"
	"github.com/auth0/go-jwt-middleware/v2/validator"
	"github.com/authkit-go/authkit"
	"github.com/go-chi/jwtauth/v5"
	"github.com/golang-jwt/jwt/v5"
	echojwt "github.com/labstack/echo-jwt/v4"
	"github.com/labstack/echo/v4"
	jwxjwt "github.com/lestrrat-go/jwx/v2/jwt"
)

// An impl is one middleware under test. build returns the whole stack for
// one algorithm: the middleware around a trivial handler that reads the
// user the way that library hands it over, calls seen with the subject, and
// answers 204. A refusal is whatever the library answers (401 for all).
type impl struct {
	name  string
	build func(f *fixture, seen func(sub string)) (http.Handler, error)
}

var impls = []impl{
	{"authkit", func(f *fixture, seen func(string)) (http.Handler, error) {
		return buildAuthkit(f, seen, authkit.WithTokenCacheSize(0))
	}},
	{"authkit-cached", func(f *fixture, seen func(string)) (http.Handler, error) {
		return buildAuthkit(f, seen)
	}},
	{"golang-jwt", buildGolangJWT},
	{"echo-jwt", buildEchoJWT},
	{"jwtauth", buildJWTAuth},
	{"auth0-v2", buildAuth0},
}

// leeway is the clock skew every library that takes one is given (authkit's
// default).
const leeway = 30 * time.Second

// buildAuthkit: authkit with its defaults, which are its strict policy:
// typ at+jwt, kid selects the key and pins the algorithm, iss, aud, exp,
// iat (required, not in the future, exp-iat at most one hour), sub required,
// every claim type-checked, duplicate JSON keys and unknown header parameters
// refused.
//
// The kit's verified-token cache is on by default; "authkit" turns it off so
// that every request parses and verifies, "authkit-cached" keeps it, so that
// every request after the first is a hit (the same token again).
func buildAuthkit(f *fixture, seen func(string), opts ...authkit.Option) (http.Handler, error) {
	key := authkit.WithKey(kid, f.verifyKey()) // a []byte secret is HS256
	a, err := authkit.NewJWT(func(_ context.Context, c *authkit.Claims) (string, error) {
		return c.Subject, nil
	}, append([]authkit.Option{authkit.WithIssuer(issuer), authkit.WithAudience(audience), key}, opts...)...)
	if err != nil {
		return nil, err
	}
	return authkit.Require(a)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if sub, ok := authkit.UserFrom[string](r.Context()); ok {
			seen(sub)
			w.WriteHeader(http.StatusNoContent)
		}
	})), nil
}

// atClaims are the registered claims plus the token version, for the two
// golang-jwt based middlewares. Validate (golang-jwt's ClaimsValidator hook)
// checks the issuer and audience for echo-jwt, whose default parser takes no
// parser options; the standalone middleware also sets them as parser options.
type atClaims struct {
	jwt.RegisteredClaims
	Ver int64 `json:"ver"`
}

func (c *atClaims) Validate() error {
	if c.Issuer != issuer {
		return errors.New("wrong issuer")
	}
	if !slices.Contains(c.Audience, audience) {
		return errors.New("wrong audience")
	}
	return nil
}

type claimsKey struct{}

// buildGolangJWT: the minimal middleware one writes over golang-jwt/jwt/v5:
// a parser pinned to the algorithm, requiring exp and iss/aud, checking iat;
// the key function checks kid and typ.
func buildGolangJWT(f *fixture, seen func(string)) (http.Handler, error) {
	p := jwt.NewParser(
		jwt.WithValidMethods([]string{f.alg}),
		jwt.WithIssuer(issuer),
		jwt.WithAudience(audience),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(leeway),
	)
	vk := f.verifyKey()
	keyFunc := func(t *jwt.Token) (any, error) {
		if t.Header["kid"] != kid || t.Header["typ"] != "at+jwt" {
			return nil, errors.New("wrong kid or typ")
		}
		return vk, nil
	}
	next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if c, ok := r.Context().Value(claimsKey{}).(*atClaims); ok {
			seen(c.Subject)
			w.WriteHeader(http.StatusNoContent)
		}
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok {
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		c := new(atClaims)
		if _, err := p.ParseWithClaims(tok, c, keyFunc); err != nil {
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), claimsKey{}, c)))
	}), nil
}

// buildEchoJWT: labstack/echo-jwt/v4 in an echo.Echo, as its README shows:
// SigningKeys by kid with SigningMethod (its default key function pins the
// algorithm and selects the key by kid), NewClaimsFunc for typed claims,
// whose Validate checks iss and aud; golang-jwt checks exp and iat when
// present. typ is not checked.
func buildEchoJWT(f *fixture, seen func(string)) (http.Handler, error) {
	mw, err := echojwt.Config{
		SigningKeys:   map[string]any{kid: f.verifyKey()},
		SigningMethod: f.alg,
		NewClaimsFunc: func(echo.Context) jwt.Claims { return new(atClaims) },
	}.ToMiddleware()
	if err != nil {
		return nil, err
	}
	e := echo.New()
	e.Use(mw)
	e.GET("/", func(c echo.Context) error {
		if t, ok := c.Get("user").(*jwt.Token); ok {
			seen(t.Claims.(*atClaims).Subject)
			return c.NoContent(http.StatusNoContent)
		}
		return nil
	})
	return e, nil
}

// buildJWTAuth: go-chi/jwtauth/v5 (lestrrat-go/jwx v2) as its README shows,
// Verifier then Authenticator, with jwx validation options for iss, aud and
// the skew; jwx checks exp, iat and nbf. It pins the algorithm to the one
// key; kid and typ are not checked. The handler reads the token from the
// context directly, which is cheaper than jwtauth.FromContext (that one
// copies the claims into a map, and Authenticator already does it once).
func buildJWTAuth(f *fixture, seen func(string)) (http.Handler, error) {
	ja := jwtauth.New(f.alg, nil, f.verifyKey(),
		jwxjwt.WithIssuer(issuer), jwxjwt.WithAudience(audience), jwxjwt.WithAcceptableSkew(leeway))
	next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if t, ok := r.Context().Value(jwtauth.TokenCtxKey).(jwxjwt.Token); ok && t != nil {
			seen(t.Subject())
			w.WriteHeader(http.StatusNoContent)
		}
	})
	return jwtauth.Verifier(ja)(jwtauth.Authenticator(ja)(next)), nil
}

// buildAuth0: auth0/go-jwt-middleware/v2 (go-jose v2) as its README shows:
// validator.New with the key, algorithm, issuer and audience, and a clock
// skew; it checks exp, nbf and iat when present. kid and typ are not
// checked. (v3 is not served by the module proxy here.)
func buildAuth0(f *fixture, seen func(string)) (http.Handler, error) {
	vk := f.verifyKey()
	v, err := validator.New(func(context.Context) (any, error) { return vk, nil },
		validator.SignatureAlgorithm(f.alg), issuer, []string{audience},
		validator.WithAllowedClockSkew(leeway))
	if err != nil {
		return nil, err
	}
	return jwtmiddleware.New(v.ValidateToken).CheckJWT(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if c, ok := r.Context().Value(jwtmiddleware.ContextKey{}).(*validator.ValidatedClaims); ok {
			seen(c.RegisteredClaims.Subject)
			w.WriteHeader(http.StatusNoContent)
		}
	})), nil
}
