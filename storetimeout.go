package authkit

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// This file bounds every store call in time. A store that does not answer
// within the bound fails the request closed with an error wrapping
// ErrStoreUnavailable (503 with Retry-After from the default error
// handlers), instead of holding it, and everything queued behind it, as long
// as the database takes.

// defaultStoreTimeout bounds each store call unless WithStoreTimeout says
// otherwise.
const defaultStoreTimeout = 5 * time.Second

// WithStoreTimeout sets how long one store call may take before the kit
// gives up on it with an error wrapping [ErrStoreUnavailable]. It applies to
// [NewPostgresStore] (every statement of the kit's store), [NewSession]
// (every call to the session store, whatever its kind) and
// [NewVersionCache] (the lookup that concurrent misses share). A store call
// that ignores its context is abandoned, not stopped: it may still complete
// afterwards. d must be positive. Default: 5 seconds.
func WithStoreTimeout(d time.Duration) Option {
	return singleOption[common]("WithStoreTimeout", d, forSession|forCache|forStore, func(c *common) error {
		if d <= 0 {
			return fmt.Errorf("WithStoreTimeout(%v): must be positive", d)
		}
		c.storeTimeout = d
		return nil
	})
}

// timeout returns the configured bound of a store call, or the default.
func (c *common) timeout() time.Duration {
	if c.storeTimeout > 0 {
		return c.storeTimeout
	}
	return defaultStoreTimeout
}

// errStoreDeadline is the cause of a bounded context whose bound passed.
var errStoreDeadline = &authError{kind: ErrStoreUnavailable, msg: "no answer within the store timeout"}

// boundStore returns ctx bounded by d for one store call.
func boundStore(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeoutCause(ctx, d, errStoreDeadline)
}

// timedStoreCall is boundStore for a store with an events hook h: the
// CancelFunc it returns also emits the EventStoreCall op, on the caller's
// ctx, with its duration and the failure storeErr saw. Without a hook the
// store calls boundStore, so that this costs nothing.
func timedStoreCall(ctx context.Context, d time.Duration, h eventHook, op string) (context.Context, context.CancelFunc) {
	start := time.Now()
	bctx, cancel := boundStore(ctx, d)
	c := &timedCallCtx{Context: bctx}
	return c, func() {
		cancel()
		h(ctx, Event{Type: EventStoreCall, Op: op, Duration: time.Since(start), Err: c.err})
	}
}

// timedCallCtx is the bounded context of a timed store call; storeErr
// records the call's failure in it.
type timedCallCtx struct {
	context.Context
	err error
}

// storeErr returns err, from a call made under ctx (from boundStore),
// wrapped in ErrStoreUnavailable when the bound is why it failed. A caller
// that went away (its own context ended first) is not the store's fault and
// is returned as is.
func storeErr(ctx context.Context, err error) error {
	if err == nil {
		return nil
	}
	if !errors.Is(err, ErrStoreUnavailable) && errors.Is(context.Cause(ctx), errStoreDeadline) {
		err = &storeTimeoutError{err}
	}
	if c, ok := ctx.(*timedCallCtx); ok && c.err == nil && !errors.Is(err, sql.ErrNoRows) {
		c.err = err // finding nothing is an answer, not a failure
	}
	return err
}

// storeTimeoutError is a store call's own error, after the bound passed.
type storeTimeoutError struct{ err error }

func (e *storeTimeoutError) Error() string   { return errStoreDeadline.Error() + ": " + e.err.Error() }
func (e *storeTimeoutError) Unwrap() []error { return []error{errStoreDeadline, e.err} }

// callBounded runs f under a context bounded by d and returns when f does or
// when the bound passes, whichever comes first: a store that ignores its
// context is abandoned (f finishes in its goroutine), never waited for.
func callBounded[T any](ctx context.Context, d time.Duration, f func(context.Context) (T, error)) (T, error) {
	ctx, cancel := boundStore(ctx, d)
	defer cancel()
	type result struct {
		v   T
		err error
	}
	done := make(chan result, 1) // buffered: an abandoned call still ends
	go func() {
		v, err := f(ctx)
		done <- result{v, err}
	}()
	select {
	case r := <-done:
		return r.v, storeErr(ctx, r.err)
	case <-ctx.Done():
		var zero T
		return zero, storeErr(ctx, ctx.Err())
	}
}
