package postgres

import (
	"context"
	"log/slog"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/phonefleet/phonefleet"
)

// mustOpenInternal opens a store in a fresh database of the test server,
// dropped when the test ends.
func mustOpenInternal(t *testing.T) *DB {
	t.Helper()
	admin := os.Getenv("PHONEFLEET_TEST_POSTGRES_URL")
	if admin == "" {
		t.Skip("PHONEFLEET_TEST_POSTGRES_URL is not set")
	}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	name := "pf_test_" + phonefleet.NewID(12)
	if _, err := conn.Exec(ctx, `CREATE DATABASE `+name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c, err := pgx.Connect(context.Background(), admin)
		if err == nil {
			c.Exec(context.Background(), `DROP DATABASE IF EXISTS `+name+` WITH (FORCE)`)
			c.Close(context.Background())
		}
	})
	u, _ := url.Parse(admin)
	u.Path = "/" + name
	db := NewDB(u.String())
	db.Logger = slog.New(slog.DiscardHandler)
	if err := db.Open(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// Business time is the database transaction's time, not this process's
// clock, and Clock follows the server even when this node's idea of the
// offset is an hour off (as after a step of the node's clock).
func TestDB_DatabaseTime(t *testing.T) {
	db := mustOpenInternal(t)
	ctx := context.Background()
	t.Run("TransactionTime", func(t *testing.T) {
		var now, xact time.Time
		err := db.withTx(ctx, "test", nil, func(ctx context.Context, tx pgx.Tx, n time.Time) error {
			now = n
			return tx.QueryRow(ctx, `SELECT transaction_timestamp()`).Scan(&xact)
		})
		if err != nil {
			t.Fatal(err)
		} else if !now.Equal(xact.UTC()) {
			t.Fatalf("now=%s, want the transaction's time %s", now, xact.UTC())
		}
	})
	t.Run("ClockFollowsServer", func(t *testing.T) {
		db.clockOffset.Store(int64(time.Hour))
		if d := time.Until(db.Clock()); d < 59*time.Minute {
			t.Fatalf("Clock is %s ahead with an offset of 1h", d)
		}
		if err := db.withTx(ctx, "test", nil, func(ctx context.Context, tx pgx.Tx, n time.Time) error { return nil }); err != nil {
			t.Fatal(err)
		}
		var server time.Time
		if err := db.pool.QueryRow(ctx, `SELECT clock_timestamp()`).Scan(&server); err != nil {
			t.Fatal(err)
		}
		if d := db.Clock().Sub(server).Abs(); d > time.Second {
			t.Fatalf("after a transaction, Clock is %s off the server's clock, want under 1s", d)
		}
	})
}
