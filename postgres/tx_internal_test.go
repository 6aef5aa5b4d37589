package postgres

import (
	"context"
	"errors"
	"log/slog"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/phonefleet/phonefleet"
)

// openTxTestDB opens a store in a fresh schema of the test server, dropped
// when the test ends, or skips the test without a server.
func openTxTestDB(t testing.TB) *DB {
	t.Helper()
	return openTestDBAt(t, createTestSchema(t), 2)
}

// createTestSchema creates a fresh schema on the test server, dropped when
// the test ends, and returns the URL of a database whose search path is it;
// it skips the test without a server.
func createTestSchema(t testing.TB) string {
	t.Helper()
	adminURL := os.Getenv("PHONEFLEET_TEST_POSTGRES_URL")
	if adminURL == "" {
		t.Skip("PHONEFLEET_TEST_POSTGRES_URL is not set: skipping PostgreSQL tests")
	}
	schema := "pf_test_" + phonefleet.NewID(12)
	mustExecAt(t, adminURL, `CREATE SCHEMA `+schema)
	t.Cleanup(func() { mustExecAt(t, adminURL, `DROP SCHEMA IF EXISTS `+schema+` CASCADE`) })
	u, err := url.Parse(adminURL)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// mustExecAt runs sql on a connection of its own to the database at dbURL.
func mustExecAt(t testing.TB, dbURL, sql string, args ...any) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, sql, args...); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

// openTestDBAt opens a store with a pool of conns on the database at dbURL.
func openTestDBAt(t testing.TB, dbURL string, conns int32) *DB {
	t.Helper()
	db := NewDB(dbURL)
	db.MaxConns = conns
	db.Logger = slog.New(slog.DiscardHandler)
	if err := db.Open(); err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// TestWithTx_ErrorRollsBack: whatever error an operation returns after it
// wrote, its transaction is rolled back, never committed (invariant 1 rests
// on it). PostgreSQL errors abort a transaction by themselves; these do not.
func TestWithTx_ErrorRollsBack(t *testing.T) {
	db := openTxTestDB(t)
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		err  error
	}{
		{"ApplicationError", phonefleet.Errorf(phonefleet.EConflict, "refused after a write")},
		{"NoRows", pgx.ErrNoRows},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tn := &phonefleet.Tenant{Name: "acme-" + tc.name}
			if err := db.CreateTenant(ctx, tn); err != nil {
				t.Fatal(err)
			}
			err := db.withTx(ctx, "test", nil, func(ctx context.Context, tx pgx.Tx, now time.Time) error {
				if tag, err := tx.Exec(ctx, `UPDATE tenants SET name = 'renamed-' || name WHERE id = $1`, tn.ID); err != nil {
					return err
				} else if tag.RowsAffected() != 1 {
					t.Errorf("renamed %d tenants, want 1", tag.RowsAffected())
				}
				return tc.err
			})
			if !errors.Is(err, tc.err) {
				t.Fatalf("withTx=%v, want %v", err, tc.err)
			}
			got, err := db.FindTenantByName(ctx, tn.Name)
			if err != nil {
				t.Fatalf("the failed operation's write was kept: FindTenantByName(%s): %v", tn.Name, err)
			} else if got.ID != tn.ID {
				t.Fatalf("tenant %s is %s, want %s", tn.Name, got.ID, tn.ID)
			}
		})
	}
}
