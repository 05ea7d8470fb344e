package authkit

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
)

// benchIssuer returns an ES256 issuer over the given stores, knowing user
// "1".
func benchIssuer(b *testing.B, fs FamilyStore, lookup VersionLookup) *Issuer {
	b.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	iss, err := NewIssuer("https://auth.test", "api", key, fs, lookup, WithReuseHandler(func(context.Context, ReuseEvent) {}))
	if err != nil {
		b.Fatal(err)
	}
	return iss
}

// benchRefresh measures one refresh round trip through the handler: parse
// the JSON body, verify the refresh token, look the version up, rotate the
// family in the store, sign two tokens, write the response. Each iteration
// presents the token the previous one received.
func benchRefresh(b *testing.B, iss *Issuer) {
	pair, err := iss.Issue(context.Background(), "1")
	if err != nil {
		b.Fatal(err)
	}
	rt := pair.RefreshToken
	h := iss.RefreshHandler()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		req := httptest.NewRequest("POST", "/token/refresh", strings.NewReader(`{"refresh_token":"`+rt+`"}`))
		req.Header.Set("Content-Type", "application/json")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != http.StatusOK {
			b.Fatalf("refresh: %d %s", w.Code, w.Body)
		}
		var body struct {
			RefreshToken string `json:"refresh_token"`
		}
		if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
			b.Fatal(err)
		}
		rt = body.RefreshToken
	}
}

func BenchmarkRefresh(b *testing.B) {
	b.Run("store=memory", func(b *testing.B) {
		vs := NewMemoryStore("1")
		benchRefresh(b, benchIssuer(b, NewMemoryStore(), vs.Version))
	})
	b.Run("store=postgres", func(b *testing.B) {
		ctx := context.Background()
		db := newPGDB(b)
		fs, vs := db.store(), db.store()
		if err := fs.Migrate(ctx); err != nil {
			b.Fatal(err)
		}
		if err := vs.Migrate(ctx); err != nil {
			b.Fatal(err)
		}
		if err := vs.Add(ctx, "1"); err != nil {
			b.Fatal(err)
		}
		// The version lookup goes to the database on every refresh (no
		// cache): the round trip as the store sees it.
		benchRefresh(b, benchIssuer(b, fs, vs.Version))
	})
}

// BenchmarkIssue measures a login's token issuance (memory stores).
func BenchmarkIssue(b *testing.B) {
	vs := NewMemoryStore("1")
	iss := benchIssuer(b, NewMemoryStore(), vs.Version)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := iss.Issue(ctx, "1"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVersionCache(b *testing.B) {
	ctx := context.Background()
	vs := NewMemoryStore()
	users := make([]string, 1024)
	for i := range users {
		users[i] = "user-" + strconv.Itoa(i)
		_ = vs.Add(context.Background(), users[i])
	}
	b.Run("hit", func(b *testing.B) {
		c, _ := NewVersionCache(vs)
		for _, u := range users {
			c.Lookup(ctx, u)
		}
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			if _, err := c.Lookup(ctx, users[i&1023]); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
	b.Run("hit-parallel", func(b *testing.B) {
		c, _ := NewVersionCache(vs)
		for _, u := range users {
			c.Lookup(ctx, u)
		}
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			i := 0
			for pb.Next() {
				if _, err := c.Lookup(ctx, users[i&1023]); err != nil {
					b.Error(err)
					return
				}
				i++
			}
		})
	})
	b.Run("miss", func(b *testing.B) {
		// Forget, then look up: the singleflight call, the store's lookup
		// (in memory, so this is the cache's own overhead) and the fill.
		c, _ := NewVersionCache(vs)
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			u := users[i&1023]
			c.Forget(u)
			if _, err := c.Lookup(ctx, u); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
}
