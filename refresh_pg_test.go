package authkit

import (
	"context"
	"database/sql"
	"errors"
	"testing"

	_ "github.com/jackc/pgx/v5/stdlib"
)

func postgresKit(t *testing.T, users ...string) storeKit {
	t.Helper()
	ctx := context.Background()
	db := newPGDB(t)
	fs, vs := db.store(), db.store()
	for range 2 { // idempotent
		if err := fs.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
		if err := vs.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
	}
	for _, u := range users {
		if err := vs.Add(ctx, u); err != nil {
			t.Fatal(err)
		}
	}
	return storeKit{
		families: fs,
		version:  vs.Version,
		bump:     vs.Bump,
		remove: func(t *testing.T, id string) {
			if err := vs.Remove(ctx, id); err != nil {
				t.Fatal(err)
			}
		},
		family: func(t *testing.T, id string) (RefreshFamily, [32]byte, bool) {
			f := RefreshFamily{ID: id}
			var cur []byte
			var revoked sql.NullTime
			err := db.QueryRow(`SELECT user_id, version, current_hash, created_at, expires_at, last_used_at, revoked_at
				FROM authkit_refresh_families WHERE family_id = $1`, id).
				Scan(&f.UserID, &f.Version, &cur, &f.CreatedAt, &f.ExpiresAt, &f.LastUsedAt, &revoked)
			if errors.Is(err, sql.ErrNoRows) {
				return RefreshFamily{}, [32]byte{}, false
			}
			if err != nil {
				t.Fatal(err)
			}
			f.RevokedAt = revoked.Time
			return f, [32]byte(cur), true
		},
	}
}

func TestRefreshPostgres(t *testing.T) {
	runRefreshSuite(t, func(t *testing.T) storeKit { return postgresKit(t, "1", "2") })
}
