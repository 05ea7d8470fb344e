package authkit

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// This file is the scope check of Require and Optional, and the scopes the
// kit's own Issuer writes into its tokens.

// WithScopes makes [Require] and [Optional] let a request through only when
// its access token grants every one of scopes (as its profile reads them:
// "scope" by default, see [Profile]). A token that lacks one is refused with
// [ErrInsufficientScope] (403, never 401). A request authenticated otherwise
// (a session, a custom [Authenticator]) has no scopes and is refused the
// same way; an anonymous request through Optional goes through. Each scope
// is a scope-token of RFC 6749 §3.3. Default: no scope required.
func WithScopes(scopes ...string) Option {
	return singleOption("WithScopes", strings.Join(scopes, " "), forGuard, func(c *guardConfig) error {
		if len(scopes) == 0 {
			return errors.New("WithScopes: no scope")
		}
		for _, s := range scopes {
			if !validScope(s) {
				return fmt.Errorf("WithScopes(%q): not an RFC 6749 scope-token", s)
			}
		}
		c.scopes = slices.Clone(scopes)
		return nil
	})
}

// validScope reports whether s is a scope-token: 1*( %x21 / %x23-5B /
// %x5D-7E ), which also makes it safe inside a quoted auth-param.
func validScope(s string) bool {
	if s == "" || len(s) > maxClaimLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x21 || c > 0x7e || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}

// scopeError is ErrInsufficientScope with the scopes the route requires.
type scopeError struct{ scope string }

func (e *scopeError) Error() string {
	return "authkit: insufficient scope: the route requires " + e.scope
}
func (e *scopeError) Unwrap() error { return ErrInsufficientScope }

func scopeOf(err error) string {
	var se *scopeError
	if errors.As(err, &se) {
		return se.scope
	}
	return ""
}

// checkScopes refuses claims (nil: not a token) that lack one of required.
func checkScopes(c *Claims, required []string) error {
	for _, s := range required {
		if c == nil || !slices.Contains(c.granted, s) {
			return &scopeError{scope: strings.Join(required, " ")}
		}
	}
	return nil
}

// WithScopeLookup makes [Issuer.Issue] ask lookup for the scopes to grant
// userID and write them into the access token's "scope" claim (RFC 9068
// §2.2.3), and into the refresh token, so that a refresh grants the same
// ones. Each must be an RFC 6749 scope-token; an error from lookup, or an
// invalid scope, issues nothing. lookup must be safe for concurrent use.
// Default: tokens without scopes.
func WithScopeLookup(lookup func(ctx context.Context, userID string) ([]string, error)) Option {
	return singleOption("WithScopeLookup", "func", forIssuer, func(c *issuerConfig) error {
		if lookup == nil {
			return errors.New("WithScopeLookup(nil)")
		}
		c.scopes = lookup
		return nil
	})
}

// grantedScope asks the issuer's scope lookup, if any, for userID's scopes
// as a "scope" claim value.
func (i *Issuer) grantedScope(ctx context.Context, userID string) (string, error) {
	if i.cfg.scopes == nil {
		return "", nil
	}
	scopes, err := i.cfg.scopes(ctx, userID)
	if err != nil {
		return "", fmt.Errorf("authkit: scope lookup: %w", err)
	}
	for _, s := range scopes {
		if !validScope(s) {
			return "", fmt.Errorf("authkit: scope lookup: %q is not an RFC 6749 scope-token", s)
		}
	}
	return strings.Join(scopes, " "), nil
}
