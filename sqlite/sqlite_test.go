package sqlite

import (
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/phonefleet/phonefleet"
	"github.com/phonefleet/phonefleet/storetest"
)

// MustOpenDB opens a new database file in a temporary directory with the
// given clock and closes it when the test ends.
func MustOpenDB(tb testing.TB, now func() time.Time) *DB {
	tb.Helper()
	return MustOpenDBPath(tb, filepath.Join(tb.TempDir(), "phonefleet.db"), now)
}

// MustOpenDBPath opens the database file at path with the given clock (nil:
// time.Now) and closes it when the test ends.
func MustOpenDBPath(tb testing.TB, path string, now func() time.Time) *DB {
	tb.Helper()
	return mustOpenDBWith(tb, path, func(db *DB) {
		if now != nil {
			db.Now = now
		}
	})
}

// mustOpenDBWith opens the database file at path after configure has set
// the DB's fields, and closes it when the test ends.
func mustOpenDBWith(tb testing.TB, path string, configure func(*DB)) *DB {
	tb.Helper()
	db := NewDB(path)
	configure(db)
	if err := db.Open(); err != nil {
		tb.Fatalf("Open: %v", err)
	}
	tb.Cleanup(func() {
		if err := db.Close(); err != nil {
			tb.Errorf("Close: %v", err)
		}
	})
	return db
}

func TestStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T, now func() time.Time) phonefleet.Store {
		return MustOpenDB(t, now)
	})
}

// TestTestClock runs the test clock's suite, with and without group commit.
func TestTestClock(t *testing.T) {
	for _, group := range []bool{true, false} {
		t.Run(fmt.Sprintf("GroupCommit=%t", group), func(t *testing.T) {
			storetest.RunTestClock(t, func(t *testing.T, now func() time.Time) phonefleet.Store {
				return mustOpenDBWith(t, filepath.Join(t.TempDir(), "phonefleet.db"), func(db *DB) {
					db.Now, db.GroupCommit, db.TestClock = now, group, true
				})
			})
		})
	}
}

// TestStore_OneTxPerOp runs the suite without group commit, the benchmark
// baseline.
func TestStore_OneTxPerOp(t *testing.T) {
	storetest.Run(t, func(t *testing.T, now func() time.Time) phonefleet.Store {
		return mustOpenDBWith(t, filepath.Join(t.TempDir(), "phonefleet.db"), func(db *DB) {
			db.Now, db.GroupCommit = now, false
		})
	})
}

func TestDB_Open(t *testing.T) {
	t.Run("MigrationsIdempotent", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "phonefleet.db")
		db := MustOpenDBPath(t, path, nil)
		tn := &phonefleet.Tenant{Name: "acme"}
		if err := db.CreateTenant(t.Context(), tn); err != nil {
			t.Fatal(err)
		}
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}

		// Reopening applies nothing again: data and catalogue are as they were.
		db = MustOpenDBPath(t, path, nil)
		if got, err := db.FindTenantByName(t.Context(), "acme"); err != nil {
			t.Fatal(err)
		} else if got.ID != tn.ID {
			t.Fatalf("tenant ID=%s, want %s", got.ID, tn.ID)
		}
		if skus, err := db.FindSKUs(t.Context()); err != nil {
			t.Fatal(err)
		} else if len(skus) != len(phonefleet.DefaultSKUs()) {
			t.Fatalf("SKUs=%d after reopen, want %d", len(skus), len(phonefleet.DefaultSKUs()))
		}
		var names []string
		rows, err := db.rdb.QueryContext(t.Context(), `SELECT name FROM migrations ORDER BY name`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		for rows.Next() {
			var name string
			if err := rows.Scan(&name); err != nil {
				t.Fatal(err)
			}
			names = append(names, name)
		}
		if len(names) == 0 || names[0] != "migration/0001_init.sql" {
			t.Fatalf("migrations=%v, want 0001_init first", names)
		}
		for i := 1; i < len(names); i++ {
			if names[i] == names[i-1] {
				t.Fatalf("migration %s recorded twice", names[i])
			}
		}
	})

	t.Run("Pragmas", func(t *testing.T) {
		db := MustOpenDB(t, nil)
		// The writer commits with synchronous=NORMAL (1) and fsyncs the
		// log itself before answering (TestWriter_SyncBeforeAnswer).
		// Its checkpoints run on another connection (TestCheckpointer).
		for _, pool := range []struct {
			name, synchronous, autocheckpoint, cache string
			tx                                       func() (*Tx, error)
		}{
			{"write", "1", strconv.Itoa(DefaultWALRestartPages), strconv.Itoa(-WriterCacheKiB), func() (*Tx, error) { return db.beginTx(t.Context(), true) }},
			{"read", "2", "1000", "-2000", func() (*Tx, error) { return db.beginTx(t.Context(), false) }},
		} {
			tx, err := pool.tx()
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range []struct{ pragma, want string }{
				{"journal_mode", "wal"}, {"foreign_keys", "1"}, {"synchronous", pool.synchronous}, {"busy_timeout", "5000"}, {"temp_store", "2"},
				{"wal_autocheckpoint", pool.autocheckpoint}, {"cache_size", pool.cache},
			} {
				var got string
				if err := tx.QueryRowContext(t.Context(), "PRAGMA "+p.pragma).Scan(&got); err != nil {
					t.Fatal(err)
				} else if got != p.want {
					t.Fatalf("%s pool: %s=%s, want %s", pool.name, p.pragma, got, p.want)
				}
			}
			tx.Rollback()
		}
	})

	t.Run("ReadPoolIsReadOnly", func(t *testing.T) {
		db := MustOpenDB(t, nil)
		tx, err := db.beginTx(t.Context(), false)
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback()
		if _, err := tx.ExecContext(t.Context(), `INSERT INTO tenants (id, name, created_at) VALUES ('x', 'x', 'x')`); err == nil {
			t.Fatal("write through the read pool succeeded")
		}
	})

	t.Run("ErrNotOpen", func(t *testing.T) {
		db := NewDB(filepath.Join(t.TempDir(), "phonefleet.db"))
		if err := db.Ping(t.Context()); err == nil {
			t.Fatal("Ping before Open succeeded")
		}
		if _, err := db.FindTenants(t.Context()); err == nil {
			t.Fatal("FindTenants before Open succeeded")
		}
	})

	t.Run("ErrPath", func(t *testing.T) {
		for _, path := range []string{"", ":memory:", "file:x.db", "x.db?mode=ro"} {
			if err := NewDB(path).Open(); err == nil {
				t.Fatalf("Open(%q) succeeded", path)
			}
		}
	})
}

// TestDB_TwoHandles uses one file through two DBs at once, as the CLI does
// next to a running server: both write concurrently, each sees the other's
// writes, and an instance is still refunded once.
func TestDB_TwoHandles(t *testing.T) {
	path := filepath.Join(t.TempDir(), "phonefleet.db")
	server, cli := MustOpenDBPath(t, path, nil), MustOpenDBPath(t, path, nil)

	tn := &phonefleet.Tenant{Name: "acme"}
	if err := cli.CreateTenant(t.Context(), tn); err != nil {
		t.Fatal(err)
	}
	if _, err := server.FindTenantByName(t.Context(), "acme"); err != nil {
		t.Fatalf("server does not see the CLI's tenant: %v", err)
	}
	req := &phonefleet.PurchaseRequest{
		TenantID: tn.ID, OS: "AOSP11", InstanceSKUID: "kp.pro.2u4g", BandSKUID: phonefleet.BandSKUID,
		RegionID: "cn-north-4", NamePrefix: "p", BandSize: 4, Count: 20,
		ChargingMode: phonefleet.ChargingModePrepaid, PeriodType: phonefleet.PeriodTypeMonth, PeriodNum: 1,
	}
	_, ins, err := server.Purchase(t.Context(), req)
	if err != nil {
		t.Fatal(err)
	}

	// Both handles unsubscribe the same instances at once, while the CLI
	// also writes audit events; the busy timeout makes them take turns.
	var wg sync.WaitGroup
	errs := make(chan error, 40)
	for i := range 20 {
		db := server
		if i%2 == 1 {
			db = cli
		}
		wg.Go(func() {
			_, err := db.Unsubscribe(t.Context(), &phonefleet.UnsubscribeRequest{
				TenantID: tn.ID, InstanceIDs: []string{ins[i].ID, ins[(i+1)%20].ID},
			})
			errs <- err
		})
		wg.Go(func() {
			errs <- cli.CreateAuditEvent(t.Context(), &phonefleet.AuditEvent{TenantID: tn.ID, Action: "cli", ErrorCode: "0"})
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, db := range []*DB{server, cli} {
		if rs, err := db.FindRefunds(t.Context(), phonefleet.RefundFilter{}); err != nil {
			t.Fatal(err)
		} else if len(rs) != 20 {
			t.Fatalf("refunds=%d, want 20", len(rs))
		}
		if es, err := db.FindAuditEvents(t.Context(), phonefleet.AuditFilter{}); err != nil {
			t.Fatal(err)
		} else if len(es) != 41 {
			t.Fatalf("audit events=%d, want 41", len(es))
		}
	}
}

// TestDB_UnsubscribeInternalError fails an unsubscribe half-way through its
// writes (a trigger rejects the second release job): nothing changes, the
// caller gets an internal error and the failure is audited.
func TestDB_UnsubscribeInternalError(t *testing.T) {
	db := MustOpenDB(t, nil)
	tn := &phonefleet.Tenant{Name: "acme"}
	if err := db.CreateTenant(t.Context(), tn); err != nil {
		t.Fatal(err)
	}
	_, ins, err := db.Purchase(t.Context(), monthlyRequest(tn.ID, 3))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.wdb.ExecContext(t.Context(), `
		CREATE TRIGGER fail_release_job BEFORE INSERT ON commands
		WHEN NEW.instance_id = '`+ins[1].ID+`'
		BEGIN SELECT RAISE(ABORT, 'injected failure'); END
	`); err != nil {
		t.Fatal(err)
	}

	_, err = db.Unsubscribe(t.Context(), &phonefleet.UnsubscribeRequest{
		TenantID: tn.ID, RequestID: "req-x", InstanceIDs: []string{ins[0].ID, ins[1].ID, ins[2].ID},
	})
	if code := phonefleet.ErrorCode(err); code != phonefleet.EInternal {
		t.Fatalf("ErrorCode=%s, want %s (err: %v)", code, phonefleet.EInternal, err)
	} else if !strings.Contains(err.Error(), "injected failure") {
		t.Fatalf("err=%v, want the cause", err)
	}
	MustBeUntouched(t, db, tn.ID, ins)
	// Nothing of the failed unsubscribe is written, its audit event
	// included (the HTTP layer audits failures).
	es, err := db.FindAuditEvents(t.Context(), phonefleet.AuditFilter{})
	if err != nil {
		t.Fatalf("FindAuditEvents: %v", err)
	}
	for _, e := range es {
		if e.RequestID == "req-x" {
			t.Fatalf("audit event %+v written for the failed unsubscribe", e)
		}
	}
}

// TestDB_PurchaseIDCollision makes the first instance ID collide with an
// existing one: the purchase starts over with new IDs and succeeds once.
func TestDB_PurchaseIDCollision(t *testing.T) {
	db := MustOpenDB(t, nil)
	tn := &phonefleet.Tenant{Name: "acme"}
	if err := db.CreateTenant(t.Context(), tn); err != nil {
		t.Fatal(err)
	}
	req := &phonefleet.PurchaseRequest{
		TenantID: tn.ID, OS: "AOSP11", InstanceSKUID: "kp.pro.2u4g", BandSKUID: phonefleet.BandSKUID,
		RegionID: "cn-north-4", NamePrefix: "p", BandSize: 4, Count: 2,
		ChargingMode: phonefleet.ChargingModePrepaid, PeriodType: phonefleet.PeriodTypeMonth, PeriodNum: 1,
	}
	_, first, err := db.Purchase(t.Context(), req)
	if err != nil {
		t.Fatal(err)
	}

	var mu sync.Mutex
	taken := first[0].ID
	collisions := 2 // the first two attempts reuse an existing ID
	db.newInstanceID = func() string {
		mu.Lock()
		defer mu.Unlock()
		if collisions > 0 {
			collisions--
			return taken
		}
		return phonefleet.NewInstanceID()
	}
	_, ins, err := db.Purchase(t.Context(), req)
	if err != nil {
		t.Fatalf("Purchase after collisions: %v", err)
	}
	if ins[0].ID == taken || ins[1].ID == taken {
		t.Fatalf("collided ID %s reused", taken)
	}
	all, total, err := db.FindInstances(t.Context(), phonefleet.InstanceFilter{TenantID: tn.ID, Limit: 10})
	if err != nil {
		t.Fatal(err)
	} else if total != 4 || len(all) != 4 {
		t.Fatalf("instances=%d, want 4", total)
	}
	if es, err := db.FindAuditEvents(t.Context(), phonefleet.AuditFilter{}); err != nil {
		t.Fatalf("FindAuditEvents: %v", err)
	} else if len(es) != 2 {
		t.Fatalf("audit events=%d, want 2 (retries leave no trace)", len(es))
	}

	// Endless collisions end in an internal error, not a conflict.
	db.newInstanceID = func() string { return taken }
	_, _, err = db.Purchase(t.Context(), req)
	if code := phonefleet.ErrorCode(err); code != phonefleet.EInternal {
		t.Fatalf("ErrorCode=%s, want %s (err: %v)", code, phonefleet.EInternal, err)
	}
}

func TestSnapshot(t *testing.T) {
	open := func(t *testing.T, now func() time.Time) phonefleet.Store { return MustOpenDB(t, now) }
	storetest.RunSnapshot(t, open, open)
}

// MustBeUntouched fails unless the tenant's instances are exactly ins, all
// running, and no refund or release job exists: what a failed unsubscribe
// must leave. A read that fails fails the test: it must never pass as "no
// rows".
func MustBeUntouched(tb testing.TB, db *DB, tenantID string, ins []*phonefleet.Instance) {
	tb.Helper()
	ctx := tb.Context()
	all, total, err := db.FindInstances(ctx, phonefleet.InstanceFilter{TenantID: tenantID, IncludeReleased: true, Limit: len(ins) + 1})
	if err != nil {
		tb.Fatalf("FindInstances: %v", err)
	} else if len(all) != len(ins) || total != len(ins) {
		tb.Fatalf("instances=%d (total %d), want %d", len(all), total, len(ins))
	}
	want := map[string]bool{}
	for _, in := range ins {
		want[in.ID] = true
	}
	for _, in := range all {
		if !want[in.ID] {
			tb.Fatalf("unexpected instance %s", in.ID)
		} else if in.State != phonefleet.InstanceStateRunning {
			tb.Fatalf("instance %s State=%s, want running", in.ID, in.State)
		}
	}
	if rs, err := db.FindRefunds(ctx, phonefleet.RefundFilter{}); err != nil {
		tb.Fatalf("FindRefunds: %v", err)
	} else if len(rs) != 0 {
		tb.Fatalf("refunds=%d, want 0", len(rs))
	}
	if js, err := db.FindCommands(ctx, phonefleet.CommandFilter{}); err != nil {
		tb.Fatalf("FindCommands: %v", err)
	} else if len(js) != 0 {
		tb.Fatalf("release jobs=%d, want 0", len(js))
	}
}
