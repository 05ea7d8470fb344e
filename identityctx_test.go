package authkit

import (
	"context"
	"testing"
)

type otherKey struct{}

// TestIdentityContextIsAContext: the identity's context answers the
// identity, passes every other key and the cancellation to its parent, and
// an inner identity shadows an outer one.
func TestIdentityContextIsAContext(t *testing.T) {
	parent, cancel := context.WithCancel(context.WithValue(context.Background(), otherKey{}, "v"))
	ctx := ContextWithUser(ContextWithUser(parent, "outer"), "inner")
	if u, ok := UserFrom[string](ctx); !ok || u != "inner" {
		t.Errorf("UserFrom = %q, %v; want inner", u, ok)
	}
	if v := ctx.Value(otherKey{}); v != "v" {
		t.Errorf("parent value = %v, want v", v)
	}
	child, stop := context.WithCancel(ctx)
	defer stop()
	cancel()
	<-child.Done()
	if ctx.Err() != context.Canceled || child.Err() != context.Canceled {
		t.Errorf("Err = %v, %v; want canceled", ctx.Err(), child.Err())
	}
	if _, ok := UserFrom[string](context.Background()); ok {
		t.Error("UserFrom found a user in an empty context")
	}
}
