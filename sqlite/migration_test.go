package sqlite

import (
	"database/sql"
	"io/fs"
	"path/filepath"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/phonefleet/phonefleet"
)

// TestMigration_CommandsCarryReleaseJobs builds a database as it was before
// the commands migration, with release jobs in every state (one leased)
// and an admin token of the old preset, then opens it: every job is a
// release command with a stable job ID, its state, attempts, event ID and
// times; the lease is gone; the admin token gained the new actions; the
// instances are unassigned.
func TestMigration_CommandsCarryReleaseJobs(t *testing.T) {
	path, raw, exec := mustDatabaseBefore(t, "migration/0006")
	const ts = "2026-01-02T03:04:05.000000000Z"
	exec(`INSERT INTO tenants (id, name, created_at) VALUES ('tn1', 'acme', ?)`, ts)
	exec(`INSERT INTO tokens (id, tenant_id, name, hash, actions, created_at, expires_at)
		VALUES ('tkadmin', 'tn1', '', x'01', '["instanceCreate","instanceDelete","queryInstanceSku","queryInstanceBatch","queryBatchShowInstance"]', ?, ?),
		       ('tkview', 'tn1', '', x'02', '["queryInstanceSku","queryInstanceBatch","queryBatchShowInstance"]', ?, ?)`, ts, ts, ts, ts)
	exec(`INSERT INTO skus (id, type, name, band_sizes, month_price, year_price, hour_price, currency, created_at)
		VALUES ('kp.x', 'PROFESSIONAL', 'x', '2', 1, 1, 1, 'USD', ?)`, ts)
	exec(`INSERT INTO orders (id, tenant_id, sku_id, region_id, os, band_size, billing_mode, period_num, count, unit_price, total,
		currency, auto_pay, auto_renew, created_at) VALUES ('o1', 'tn1', 'kp.x', 'r', 'AOSP11', 2, 'monthly', 1, 3, 1, 3, 'USD', 0, 0, ?)`, ts)
	for _, id := range []string{"i1", "i2", "i3"} {
		exec(`INSERT INTO instances (id, tenant_id, order_id, name, region_id, sku_id, os, band_size, billing_mode, period_num,
			paid_amount, currency, starts_at, state, created_at, updated_at)
			VALUES (?, 'tn1', 'o1', ?, 'r', 'kp.x', 'AOSP11', 2, 'monthly', 1, 1, 'USD', ?, 'deleting', ?, ?)`, id, "n-"+id, ts, ts, ts)
	}
	exec(`UPDATE instances SET state = 'released' WHERE id = 'i3'`)
	exec(`INSERT INTO release_jobs (instance_id, tenant_id, event_id, request_id, state, attempts, next_attempt_at, last_error,
		lease_owner, lease_expires_at, created_at, done_at) VALUES
		('i1', 'tn1', 'evt_1', 'req-1', 'pending', 2, ?, 'status 500', 'old-worker', '2999-01-01T00:00:00.000000000Z', ?, NULL),
		('i2', 'tn1', 'evt_2', 'req-1', 'failed', 20, ?, 'gave up', NULL, NULL, ?, ?),
		('i3', 'tn1', 'evt_3', 'req-2', 'done', 1, ?, '', NULL, NULL, ?, ?)`, ts, ts, ts, ts, ts, ts, ts, ts)
	if err := raw.Close(); err != nil {
		t.Fatal(err)
	}

	db := NewDB(path)
	if err := db.Open(); err != nil {
		t.Fatalf("Open (migrating): %v", err)
	}
	t.Cleanup(func() { db.Close() })
	cs, err := db.FindCommands(t.Context(), phonefleet.CommandFilter{})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]struct {
		state    phonefleet.JobState
		attempts int
		event    string
		lastErr  string
		done     bool
	}{
		"i1": {phonefleet.JobStatePending, 2, "evt_1", "status 500", false},
		"i2": {phonefleet.JobStateFailed, 20, "evt_2", "gave up", true},
		"i3": {phonefleet.JobStateDone, 1, "evt_3", "", true},
	}
	if len(cs) != len(want) {
		t.Fatalf("commands=%d, want %d", len(cs), len(want))
	}
	for _, c := range cs {
		w := want[c.InstanceID]
		if c.ID != "job_"+c.InstanceID || c.Type != phonefleet.CommandRelease || c.State != w.state || c.Attempts != w.attempts ||
			c.EventID != w.event || c.LastError != w.lastErr || (c.DoneAt != nil) != w.done || c.TenantName != "acme" ||
			c.CreatedAt.Format("2006-01-02T15:04:05Z") != "2026-01-02T03:04:05Z" {
			t.Fatalf("command=%+v, want %+v", c, w)
		}
	}
	// The lease of the old worker did not survive: the job is claimable.
	claimed, err := db.ClaimCommands(t.Context(), "new-worker", 10, 60e9)
	if err != nil || len(claimed) != 1 || claimed[0].ID != "job_i1" {
		t.Fatalf("claim=%v, %v; want job_i1", claimed, err)
	}
	for hash, n := range map[string]int{"\x01": 10, "\x02": 3} {
		tok, err := db.FindTokenByHash(t.Context(), []byte(hash))
		if err != nil {
			t.Fatal(err)
		}
		if len(tok.Actions) != n || (n == 10 && !slices.Contains(tok.Actions, phonefleet.ActionInstanceAssign)) {
			t.Fatalf("token %s actions=%v, want %d", tok.ID, tok.Actions, n)
		}
	}
	ins, _, err := db.FindInstances(t.Context(), phonefleet.InstanceFilter{TenantID: "tn1", IncludeReleased: true})
	if err != nil || len(ins) != 3 {
		t.Fatalf("instances=%d, %v", len(ins), err)
	}
	for _, in := range ins {
		if in.AssignUser != "" {
			t.Fatalf("instance %s assigned to %q after the migration", in.ID, in.AssignUser)
		}
	}
}

// TestMigration_TenantClocks builds a database with the one test clock all
// tenants shared (an offset past what a time.Duration holds is not
// possible there; 121h and 5ns is), then opens it: every existing tenant's
// clock carries that offset, a tenant created later has none, and moving
// one tenant's clock moves no other.
func TestMigration_TenantClocks(t *testing.T) {
	path, raw, exec := mustDatabaseBefore(t, "migration/0008")
	const ts = "2026-01-02T03:04:05.000000000Z"
	exec(`INSERT INTO tenants (id, name, created_at) VALUES ('tn1', 'acme', ?), ('tn2', 'beta', ?)`, ts, ts)
	offset := 121*time.Hour + 5
	exec(`INSERT INTO test_clock (id, offset_ns, updated_at) VALUES (1, ?, ?)`, int64(offset), ts)
	if err := raw.Close(); err != nil {
		t.Fatal(err)
	}

	wall := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	db := NewDB(path)
	db.Now, db.TestClock = func() time.Time { return wall }, true
	if err := db.Open(); err != nil {
		t.Fatalf("Open (migrating): %v", err)
	}
	t.Cleanup(func() { db.Close() })
	gamma := &phonefleet.Tenant{Name: "gamma"}
	if err := db.CreateTenant(t.Context(), gamma); err != nil {
		t.Fatal(err)
	}
	for id, want := range map[string]time.Time{"tn1": wall.Add(offset), "tn2": wall.Add(offset), gamma.ID: wall} {
		if got, err := db.BusinessNow(t.Context(), id); err != nil || !got.Equal(want) {
			t.Fatalf("BusinessNow(%s)=%v, %v after the upgrade; want %v", id, got, err, want)
		}
	}
	far := time.Date(2400, 1, 1, 0, 0, 0, 0, time.UTC)
	if _, err := db.MoveClock(t.Context(), &phonefleet.ClockMove{TenantID: "tn1", Now: &far}); err != nil {
		t.Fatal(err)
	}
	if got, err := db.BusinessNow(t.Context(), "tn2"); err != nil || !got.Equal(wall.Add(offset)) {
		t.Fatalf("beta's BusinessNow=%v, %v after acme's move; want %v", got, err, wall.Add(offset))
	}
}

// TestMigration_PurchaseDigest builds a database as it was before orders
// kept their request's digest, with an order bought with an X-Request-Id,
// then opens it: a retry with that ID answers the old order, whatever its
// body, since the old order has no digest to compare (it counts as the same
// purchase), and buys nothing.
func TestMigration_PurchaseDigest(t *testing.T) {
	path, raw, exec := mustDatabaseBefore(t, "migration/0009")
	const ts = "2026-01-02T03:04:05.000000000Z"
	exec(`INSERT INTO tenants (id, name, created_at, held_instances) VALUES ('tn1', 'acme', ?, 2)`, ts)
	exec(`INSERT INTO skus (id, type, name, band_sizes, month_price, year_price, hour_price, currency, created_at)
		VALUES ('kp.pro.2u4g', 'PROFESSIONAL', 'x', '4', 1, 1, 1, 'USD', ?)`, ts)
	exec(`INSERT INTO sku_regions (sku_id, region_id, position) VALUES ('kp.pro.2u4g', 'cn-north-4', 0)`)
	exec(`INSERT INTO orders (id, tenant_id, sku_id, region_id, os, band_size, billing_mode, period_num, count, unit_price, total,
		currency, auto_pay, auto_renew, request_id, created_at)
		VALUES ('o1', 'tn1', 'kp.pro.2u4g', 'cn-north-4', 'AOSP11', 4, 'monthly', 1, 2, 1, 2, 'USD', 0, 0, 'buy-old', ?)`, ts)
	for _, id := range []string{"i1", "i2"} {
		exec(`INSERT INTO instances (id, tenant_id, order_id, name, region_id, sku_id, os, band_size, billing_mode, period_num,
			paid_amount, currency, starts_at, state, created_at, updated_at)
			VALUES (?, 'tn1', 'o1', ?, 'cn-north-4', 'kp.pro.2u4g', 'AOSP11', 4, 'monthly', 1, 1, 'USD', ?, 'running', ?, ?)`, id, "p-"+id, ts, ts, ts)
	}
	if err := raw.Close(); err != nil {
		t.Fatal(err)
	}

	now, _ := time.Parse(time.RFC3339, "2026-01-02T04:00:00Z")
	db := MustOpenDBPath(t, path, func() time.Time { return now })
	req := &phonefleet.PurchaseRequest{
		TenantID: "tn1", RequestID: "buy-old", OS: "AOSP14", InstanceSKUID: "kp.pro.2u4g", BandSKUID: phonefleet.BandSKUID,
		RegionID: "cn-north-4", NamePrefix: "other", BandSize: 4, Count: 7,
		ChargingMode: phonefleet.ChargingModePrepaid, PeriodType: phonefleet.PeriodTypeMonth, PeriodNum: 1,
	}
	o, ins, err := db.Purchase(t.Context(), req)
	if err != nil || o.ID != "o1" || len(ins) != 2 {
		t.Fatalf("retry of an order from before the migration: %+v, %d instances, %v; want o1 and its 2 instances", o, len(ins), err)
	}
	if _, total, err := db.FindInstances(t.Context(), phonefleet.InstanceFilter{TenantID: "tn1"}); err != nil || total != 2 {
		t.Fatalf("instances=%d, %v after the retry, want 2", total, err)
	}
}

// mustDatabaseBefore makes a database file with every migration before the
// one whose name starts with before (such as "migration/0008") applied and
// recorded, as a database of an older release is. It returns the file's
// path, a connection to it (the caller closes it before opening the store)
// and exec, which runs a statement on it or fails the test.
func mustDatabaseBefore(t *testing.T, before string) (string, *sql.DB, func(q string, args ...any)) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "old.db")
	raw, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	exec := func(q string, args ...any) {
		t.Helper()
		if _, err := raw.Exec(q, args...); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	exec(`CREATE TABLE migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)`)
	names, err := fs.Glob(migrationFS, "migration/*.sql")
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(names)
	for _, name := range names {
		if name >= before {
			break
		}
		buf, err := fs.ReadFile(migrationFS, name)
		if err != nil {
			t.Fatal(err)
		}
		exec(string(buf))
		exec(`INSERT INTO migrations (name, applied_at) VALUES (?, '2026-01-01T00:00:00.000000000Z')`, name)
	}
	return path, raw, exec
}
