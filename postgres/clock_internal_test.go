package postgres

import (
	"context"
	"log/slog"
	"net/url"
	"os"
	"sync"
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

// TestDB_TenantClocksOnDatabaseTime: with the database's own clock (no Now),
// each tenant's business time is the transaction's time plus its own
// offset, read with that time in the transaction's first query, and the
// unsubscribes of tenants with different clocks refund at their own
// tenant's time, alone or coalesced.
func TestDB_TenantClocksOnDatabaseTime(t *testing.T) {
	db := mustOpenInternal(t)
	db.TestClock = true
	ctx := t.Context()
	far := time.Date(2400, 1, 1, 0, 0, 0, 0, time.UTC)
	a, b := &phonefleet.Tenant{Name: "acme"}, &phonefleet.Tenant{Name: "beta"}
	for _, tn := range []*phonefleet.Tenant{a, b} {
		if err := db.CreateTenant(ctx, tn); err != nil {
			t.Fatal(err)
		}
	}
	buy := func(tenantID string, n int) []*phonefleet.Instance {
		t.Helper()
		_, ins, err := db.Purchase(ctx, &phonefleet.PurchaseRequest{
			TenantID: tenantID, RequestID: "buy-" + phonefleet.NewID(8), OS: "AOSP14", InstanceSKUID: "kp.pro.2u4g",
			BandSKUID: phonefleet.BandSKUID, RegionID: "cn-north-4", NamePrefix: "p", BandSize: 4, Count: n,
			ChargingMode: phonefleet.ChargingModePrepaid, PeriodType: phonefleet.PeriodTypeMonth, PeriodNum: 1,
		})
		if err != nil {
			t.Fatal(err)
		}
		return ins
	}
	insA, insB := buy(a.ID, 4), buy(b.ID, 4)
	p, err := db.MoveClock(ctx, &phonefleet.ClockMove{TenantID: a.ID, Now: &far})
	if err != nil || !p.New.Equal(far) {
		t.Fatalf("MoveClock: %+v, %v", p, err)
	}
	near := func(got, want time.Time) bool { return !got.Before(want) && got.Sub(want) < time.Minute }
	if got, err := db.BusinessNow(ctx, a.ID); err != nil || !near(got, far) {
		t.Fatalf("acme's BusinessNow=%v, %v; want just after %v", got, err, far)
	}
	if got, err := db.BusinessNow(ctx, b.ID); err != nil || time.Until(got).Abs() > time.Minute {
		t.Fatalf("beta's BusinessNow=%v, %v; want about now", got, err)
	}
	if in := buy(a.ID, 1)[0]; !near(in.StartsAt, far) {
		t.Fatalf("acme's purchase StartsAt=%v, want just after %v", in.StartsAt, far)
	}
	var wg sync.WaitGroup
	for _, in := range append(insA, insB...) {
		wg.Go(func() {
			if _, err := db.Unsubscribe(ctx, &phonefleet.UnsubscribeRequest{TenantID: in.TenantID, InstanceIDs: []string{in.ID}, RequestID: "u-" + in.ID}); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	refunds, err := db.FindRefunds(ctx, phonefleet.RefundFilter{})
	if err != nil || len(refunds) != 8 {
		t.Fatalf("refunds=%d, %v; want 8", len(refunds), err)
	}
	for _, r := range refunds {
		if r.TenantID == a.ID && !near(r.CreatedAt, far) {
			t.Fatalf("acme's refund at %v, want just after %v", r.CreatedAt, far)
		} else if r.TenantID == b.ID && (time.Until(r.CreatedAt).Abs() > time.Minute || r.Amount != r.Paid) {
			t.Fatalf("beta's refund %+v, want a full one at about now", r)
		}
	}
}
