package authkit

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"time"
)

// Options are functional options of one type, [Option], for every
// constructor. Each option's doc names the constructors it applies to; given
// to another, it is a construction error, as is a single-valued option given
// twice, or two options that contradict each other: the error names both.
// Every constructor applies its options over its defaults, checks the result
// once, and reports every problem in one error.

// An Option configures one of the package's constructors: [NewJWT],
// [NewSession], [NewIssuer], [NewVersionCache], [NewPostgresStore], or
// [Require] and [Optional]. The settings several constructors share (the
// clock, the version check, the error handler, cross-origin protection) have
// one option each, accepted by every constructor they apply to. The zero
// Option is invalid.
type Option struct {
	name  string
	to    int             // the forX bits of the constructors it applies to
	apply func(any) error // given the constructor's *xConfig
}

// The constructors an Option may apply to.
const (
	forJWT = 1 << iota
	forSession
	forIssuer
	forCache
	forGuard
	forStore
)

var constructorNames = [...]string{"NewJWT", "NewSession", "NewIssuer", "NewVersionCache", "Require and Optional", "NewPostgresStore"}

// configurable is every constructor's configuration: it embeds common.
type configurable interface{ base() *common }

// optionFor returns an option named name for the constructors to that may be
// given several times (a key, an audience). C is the configuration it sets:
// a constructor's, or common for a shared option.
func optionFor[C any](name string, to int, f func(*C) error) Option {
	return Option{name: name, to: to, apply: func(c any) error { return f(configOf[C](c)) }}
}

// singleOption is optionFor for a single-valued option: f checks and sets the
// value, and a second one is an error naming both. arg is what an error shows
// of the value.
func singleOption[C any](name string, arg any, to int, f func(*C) error) Option {
	return Option{name: name, to: to, apply: func(c any) error {
		if err := f(configOf[C](c)); err != nil {
			return err
		}
		return c.(configurable).base().once(name, arg)
	}}
}

// configOf returns the part of the configuration c that an option of type C
// sets: c itself, or its common part.
func configOf[C any](c any) *C {
	if p, ok := c.(*C); ok {
		return p
	}
	return any(c.(configurable).base()).(*C)
}

// common holds the settings the shared options set, and the record of which
// single-valued options were given. Every configuration embeds it.
type common struct {
	given        map[string]string // option name → its argument, as given
	now          func() time.Time
	versions     func(ctx context.Context, userID string) (int64, error) // a VersionLookup
	errorHandler func(http.ResponseWriter, *http.Request, error)         // an ErrorHandler
	crossOrigin  *http.CrossOriginProtection
	storeTimeout time.Duration // 0: defaultStoreTimeout
	events       eventHook     // WithEvents; nil: none
	dpopOrigin   string        // WithDPoPOrigin
	dpopNonce    bool          // WithDPoPNonce
	dpopStore    dpopStorage   // WithDPoPStore; nil: the verifier's own replay cache
}

// dpopStorage is what a Store gives WithDPoPStore (dpop.go): the record of
// the DPoP proofs used (a proofReplay) and the secret of the nonces. It is
// declared here, where common holds it, so that no file cycle runs through
// store.go.
type dpopStorage interface {
	recordProof(ctx context.Context, key [16]byte, iat float64, now time.Time) (bool, error)
	dpopSecret(ctx context.Context) ([]byte, error)
}

// once records a single-valued option and refuses a second one, naming both.
func (c *common) once(name string, arg any) error {
	s := fmt.Sprint(arg)
	if prev, ok := c.given[name]; ok {
		return fmt.Errorf("%s(%s) given after %s(%s): the option takes one value", name, s, name, prev)
	}
	if c.given == nil {
		c.given = make(map[string]string)
	}
	c.given[name] = s
	return nil
}

// has reports whether the option name was given.
func (c *common) has(name string) bool {
	_, ok := c.given[name]
	return ok
}

// clock returns the configured clock, or time.Now.
func (c *common) clock() func() time.Time {
	if c.now != nil {
		return c.now
	}
	return time.Now
}

// applyOptions applies each of opts to cfg, the configuration of the
// constructor target, and joins the errors, so that a constructor reports
// every problem at once.
func applyOptions(opts []Option, target int, cfg configurable) error {
	var errs []error
	for i, o := range opts {
		switch {
		case o.apply == nil:
			errs = append(errs, fmt.Errorf("option %d is the zero Option", i))
		case o.to&target == 0:
			var where []string
			for i, n := range constructorNames {
				if o.to&(1<<i) != 0 {
					where = append(where, n)
				}
			}
			errs = append(errs, fmt.Errorf("%s applies to %s only", o.name, strings.Join(where, ", ")))
		default:
			if err := o.apply(cfg); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

// base lets applyOptions and the options reach the common part of every
// configuration.
func (c *common) base() *common { return c }

// WithClock sets the function that tells the current time, for tests. It
// applies to [NewJWT], [NewSession], [NewIssuer] and [NewVersionCache] (whose
// entries then expire by this clock, checked on each lookup, rather than by
// timer). Default: [time.Now].
func WithClock(now func() time.Time) Option {
	return singleOption[common]("WithClock", "func", forJWT|forSession|forIssuer|forCache,
		func(c *common) error {
			if now == nil {
				return errors.New("WithClock(nil)")
			}
			c.now = now
			return nil
		})
}

// WithEvents sets the hook that receives every [Event] of the constructor's
// object. It applies to [NewJWT] (cache and key events), [NewSession]
// (session events and [Session.LoadAndSave]'s refusals), [NewIssuer]
// (refresh events and its endpoints' refusals), [NewVersionCache] (bumps),
// [NewPostgresStore] (store calls, notifications received) and [Require]
// and [Optional] (authenticated and refused requests). h runs
// synchronously on the request's goroutine (key events: on the fetcher's;
// notifications: on the listener's), possibly concurrently: it must be fast
// and safe for concurrent use, and must not keep ctx. Combine hooks in a
// function of your own; see [LogEvents]. Default: none, which costs one nil
// check per event.
func WithEvents(h func(ctx context.Context, e Event)) Option {
	return singleOption[common]("WithEvents", "func", forJWT|forSession|forIssuer|forCache|forGuard|forStore,
		func(c *common) error {
			if h == nil {
				return errors.New("WithEvents(nil)")
			}
			c.events = h
			return nil
		})
}

// isNil reports whether v is nil or a typed nil pointer, map, func or slice
// in an interface (an Authenticator held as a nil *JWT, say).
func isNil(v any) bool {
	if v == nil {
		return true
	}
	switch rv := reflect.ValueOf(v); rv.Kind() {
	case reflect.Pointer, reflect.Map, reflect.Func, reflect.Slice, reflect.Interface, reflect.Chan:
		return rv.IsNil()
	}
	return false
}
