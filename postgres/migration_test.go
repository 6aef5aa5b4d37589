package postgres_test

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/phonefleet/phonefleet"
)

// TestMigration_CommandsCarryReleaseJobs builds a database as it was before
// the commands migration, with release jobs in every state (one leased)
// and an admin token of the old preset, then opens it: every job is a
// release command with a stable job ID and its state, attempts, event ID
// and times; the lease is gone; the admin token gained the new actions.
func TestMigration_CommandsCarryReleaseJobs(t *testing.T) {
	ctx := context.Background()
	url, conn, exec := mustSchemaBefore(t, "migration/0006")
	ts := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	exec(`INSERT INTO tenants (id, name, created_at) VALUES ('tn1', 'acme', $1)`, ts)
	exec(`INSERT INTO tokens (id, tenant_id, name, hash, actions, created_at, expires_at)
		VALUES ('tkadmin', 'tn1', '', '\x01', ARRAY['instanceCreate','instanceDelete','queryInstanceSku','queryInstanceBatch','queryBatchShowInstance'], $1, $1),
		       ('tkview', 'tn1', '', '\x02', ARRAY['queryInstanceSku','queryInstanceBatch','queryBatchShowInstance'], $1, $1)`, ts)
	exec(`INSERT INTO skus (id, type, name, band_sizes, month_price, year_price, hour_price, currency, created_at)
		VALUES ('kp.x', 'PROFESSIONAL', 'x', '{2}', 1, 1, 1, 'USD', $1)`, ts)
	exec(`INSERT INTO orders (id, tenant_id, sku_id, region_id, os, band_size, billing_mode, period_num, count, unit_price, total,
		currency, auto_pay, auto_renew, created_at) VALUES ('o1', 'tn1', 'kp.x', 'r', 'AOSP11', 2, 'monthly', 1, 3, 1, 3, 'USD', false, false, $1)`, ts)
	for _, id := range []string{"i1", "i2", "i3"} {
		exec(`INSERT INTO instances (id, tenant_id, order_id, name, region_id, sku_id, os, band_size, billing_mode, period_num,
			paid_amount, currency, starts_at, state, created_at, updated_at)
			VALUES ($1, 'tn1', 'o1', $2, 'r', 'kp.x', 'AOSP11', 2, 'monthly', 1, 1, 'USD', $3, 'deleting', $3, $3)`, id, "n-"+id, ts)
	}
	exec(`INSERT INTO release_jobs (instance_id, tenant_id, event_id, request_id, state, attempts, next_attempt_at, last_error,
		lease_owner, lease_expires_at, created_at, done_at) VALUES
		('i1', 'tn1', 'evt_1', 'req-1', 'pending', 2, $1, 'status 500', 'old-worker', '2999-01-01', $1, NULL),
		('i2', 'tn1', 'evt_2', 'req-1', 'failed', 20, $1, 'gave up', NULL, NULL, $1, $1),
		('i3', 'tn1', 'evt_3', 'req-2', 'done', 1, $1, '', NULL, NULL, $1, $1)`, ts)
	conn.Close(ctx)

	db := MustOpenDBAt(t, url, nil)
	cs, err := db.FindCommands(ctx, phonefleet.CommandFilter{})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]struct {
		state    phonefleet.JobState
		attempts int
		event    string
	}{"i1": {phonefleet.JobStatePending, 2, "evt_1"}, "i2": {phonefleet.JobStateFailed, 20, "evt_2"}, "i3": {phonefleet.JobStateDone, 1, "evt_3"}}
	if len(cs) != len(want) {
		t.Fatalf("commands=%d, want %d", len(cs), len(want))
	}
	for _, c := range cs {
		w := want[c.InstanceID]
		if c.ID != "job_"+c.InstanceID || c.Type != phonefleet.CommandRelease || c.State != w.state || c.Attempts != w.attempts ||
			c.EventID != w.event || !c.CreatedAt.Equal(ts) || c.TenantName != "acme" {
			t.Fatalf("command=%+v, want %+v", c, w)
		}
	}
	claimed, err := db.ClaimCommands(ctx, "new-worker", 10, time.Minute)
	if err != nil || len(claimed) != 1 || claimed[0].ID != "job_i1" {
		t.Fatalf("claim=%v, %v; want job_i1", claimed, err)
	}
	for hash, n := range map[string]int{"\x01": 10, "\x02": 3} {
		tok, err := db.FindTokenByHash(ctx, []byte(hash))
		if err != nil {
			t.Fatal(err)
		}
		if len(tok.Actions) != n || (n == 10 && !slices.Contains(tok.Actions, phonefleet.ActionInstanceAssign)) {
			t.Fatalf("token %s actions=%v, want %d", tok.ID, tok.Actions, n)
		}
	}
}

// TestMigration_TenantClocks builds a database with the one test clock all
// tenants shared, then opens it: every existing tenant's clock carries that
// offset, a tenant created later has none, and moving one tenant's clock
// moves no other.
func TestMigration_TenantClocks(t *testing.T) {
	ctx := context.Background()
	url, conn, exec := mustSchemaBefore(t, "migration/0008")
	ts := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	exec(`INSERT INTO tenants (id, name, created_at) VALUES ('tn1', 'acme', $1), ('tn2', 'beta', $1)`, ts)
	offset := 121*time.Hour + 5*time.Microsecond
	exec(`INSERT INTO test_clock (id, offset_ns, updated_at) VALUES (1, $1, $2)`, int64(offset), ts)
	conn.Close(ctx)

	wall := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	db := MustOpenDBAt(t, url, func() time.Time { return wall })
	db.TestClock = true
	gamma := &phonefleet.Tenant{Name: "gamma"}
	if err := db.CreateTenant(ctx, gamma); err != nil {
		t.Fatal(err)
	}
	for id, want := range map[string]time.Time{"tn1": wall.Add(offset), "tn2": wall.Add(offset), gamma.ID: wall} {
		if got, err := db.BusinessNow(ctx, id); err != nil || !got.Equal(want) {
			t.Fatalf("BusinessNow(%s)=%v, %v after the upgrade; want %v", id, got, err, want)
		}
	}
	far := time.Date(2400, 1, 1, 0, 0, 0, 0, time.UTC)
	if _, err := db.MoveClock(ctx, &phonefleet.ClockMove{TenantID: "tn1", Now: &far}); err != nil {
		t.Fatal(err)
	}
	if got, err := db.BusinessNow(ctx, "tn2"); err != nil || !got.Equal(wall.Add(offset)) {
		t.Fatalf("beta's BusinessNow=%v, %v after acme's move; want %v", got, err, wall.Add(offset))
	}
}

// TestMigration_PurchaseDigest builds a database as it was before orders
// kept their request's digest, with an order bought with an X-Request-Id,
// then opens it: a retry with that ID answers the old order, whatever its
// body, since the old order has no digest to compare (it counts as the same
// purchase), and buys nothing.
func TestMigration_PurchaseDigest(t *testing.T) {
	ctx := context.Background()
	url, conn, exec := mustSchemaBefore(t, "migration/0009")
	ts := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	exec(`INSERT INTO tenants (id, name, created_at, held_instances) VALUES ('tn1', 'acme', $1, 2)`, ts)
	exec(`INSERT INTO skus (id, type, name, band_sizes, month_price, year_price, hour_price, currency, created_at)
		VALUES ('kp.pro.2u4g', 'PROFESSIONAL', 'x', '{4}', 1, 1, 1, 'USD', $1)`, ts)
	exec(`INSERT INTO sku_regions (sku_id, region_id, position) VALUES ('kp.pro.2u4g', 'cn-north-4', 0)`)
	exec(`INSERT INTO orders (id, tenant_id, sku_id, region_id, os, band_size, billing_mode, period_num, count, unit_price, total,
		currency, auto_pay, auto_renew, request_id, created_at)
		VALUES ('o1', 'tn1', 'kp.pro.2u4g', 'cn-north-4', 'AOSP11', 4, 'monthly', 1, 2, 1, 2, 'USD', false, false, 'buy-old', $1)`, ts)
	for _, id := range []string{"i1", "i2"} {
		exec(`INSERT INTO instances (id, tenant_id, order_id, name, region_id, sku_id, os, band_size, billing_mode, period_num,
			paid_amount, currency, starts_at, state, created_at, updated_at)
			VALUES ($1, 'tn1', 'o1', $2, 'cn-north-4', 'kp.pro.2u4g', 'AOSP11', 4, 'monthly', 1, 1, 'USD', $3, 'running', $3, $3)`, id, "p-"+id, ts)
	}
	conn.Close(ctx)

	db := MustOpenDBAt(t, url, func() time.Time { return ts.Add(time.Hour) })
	req := &phonefleet.PurchaseRequest{
		TenantID: "tn1", RequestID: "buy-old", OS: "AOSP14", InstanceSKUID: "kp.pro.2u4g", BandSKUID: phonefleet.BandSKUID,
		RegionID: "cn-north-4", NamePrefix: "other", BandSize: 4, Count: 7,
		ChargingMode: phonefleet.ChargingModePrepaid, PeriodType: phonefleet.PeriodTypeMonth, PeriodNum: 1,
	}
	o, ins, err := db.Purchase(ctx, req)
	if err != nil || o.ID != "o1" || len(ins) != 2 {
		t.Fatalf("retry of an order from before the migration: %+v, %d instances, %v; want o1 and its 2 instances", o, len(ins), err)
	}
	if _, total, err := db.FindInstances(ctx, phonefleet.InstanceFilter{TenantID: "tn1"}); err != nil || total != 2 {
		t.Fatalf("instances=%d, %v after the retry, want 2", total, err)
	}
}

// mustSchemaBefore makes a fresh schema with every migration before the
// one whose name starts with before (such as "migration/0008") applied and
// recorded, as a database of an older release is. It returns the schema's
// URL, a connection to it (the caller closes it before opening the store)
// and exec, which runs a statement on it or fails the test.
func mustSchemaBefore(t *testing.T, before string) (string, *pgx.Conn, func(q string, args ...any)) {
	t.Helper()
	url := MustCreateSchema(t, MustTestURL(t))
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	exec := func(q string, args ...any) {
		t.Helper()
		if _, err := conn.Exec(ctx, q, args...); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	exec(`CREATE TABLE migrations (name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())`)
	names, err := filepath.Glob("migration/*.sql")
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(names)
	for _, name := range names {
		if name >= before {
			break
		}
		buf, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		exec(string(buf))
		exec(`INSERT INTO migrations (name) VALUES ($1)`, name)
	}
	return url, conn, exec
}
