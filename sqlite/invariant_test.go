package sqlite

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/phonefleet/phonefleet"
)

// mustUnsubscribable opens a store with a tenant and three running monthly
// instances, with or without group commit.
func mustUnsubscribable(tb testing.TB, groupCommit bool) (*DB, *phonefleet.Tenant, []*phonefleet.Instance) {
	tb.Helper()
	db := mustOpenDBWith(tb, filepath.Join(tb.TempDir(), "phonefleet.db"), func(db *DB) { db.GroupCommit = groupCommit })
	tn := &phonefleet.Tenant{Name: "acme"}
	if err := db.CreateTenant(tb.Context(), tn); err != nil {
		tb.Fatal(err)
	}
	_, ins, err := db.Purchase(tb.Context(), monthlyRequest(tn.ID, 3))
	if err != nil {
		tb.Fatal(err)
	}
	return db, tn, ins
}

// TestDB_UnsubscribeNotRunningAnyMore skips the update of the second
// instance without an SQL error (a trigger ignores it), as if it had left
// running under the plan: the store notices the missing row and fails the
// whole operation, which then changes nothing and is audited.
func TestDB_UnsubscribeNotRunningAnyMore(t *testing.T) {
	t.Run("GroupCommit", func(t *testing.T) { testUnsubscribeNotRunningAnyMore(t, true) })
	t.Run("OneTxPerOp", func(t *testing.T) { testUnsubscribeNotRunningAnyMore(t, false) })
}

func testUnsubscribeNotRunningAnyMore(t *testing.T, groupCommit bool) {
	db, tn, ins := mustUnsubscribable(t, groupCommit)
	if _, err := db.wdb.ExecContext(t.Context(), `
		CREATE TRIGGER skip_update BEFORE UPDATE ON instances
		WHEN NEW.id = '`+ins[1].ID+`'
		BEGIN SELECT RAISE(IGNORE); END
	`); err != nil {
		t.Fatal(err)
	}
	_, err := db.Unsubscribe(t.Context(), &phonefleet.UnsubscribeRequest{
		TenantID: tn.ID, RequestID: "req-x", InstanceIDs: []string{ins[0].ID, ins[1].ID, ins[2].ID},
	})
	if code := phonefleet.ErrorCode(err); code != phonefleet.EInternal {
		t.Fatalf("ErrorCode=%s, want %s (err: %v)", code, phonefleet.EInternal, err)
	} else if !strings.Contains(err.Error(), "not running any more") {
		t.Fatalf("err=%v, want the cause", err)
	}
	MustBeUntouched(t, db, tn.ID, ins)
	es, err := db.FindAuditEvents(t.Context(), phonefleet.AuditFilter{})
	if err != nil {
		t.Fatalf("FindAuditEvents: %v", err)
	} else if len(es) != 1 || es[0].Action != phonefleet.ActionInstanceCreate {
		// The failed unsubscribe writes nothing, no audit event either: the
		// HTTP layer audits failures.
		t.Fatalf("audit=%+v, want only the purchase", es)
	}
}

// TestSchema_OnePerInstance writes a second refund, a second release and a
// second command in flight for one instance straight into the tables: the
// schema itself refuses them all, whatever the code above it does
// (invariants 2 and 7).
func TestSchema_OnePerInstance(t *testing.T) {
	db, tn, ins := mustUnsubscribable(t, true)
	if _, err := db.Unsubscribe(t.Context(), &phonefleet.UnsubscribeRequest{TenantID: tn.ID, RequestID: "req-1", InstanceIDs: []string{ins[0].ID}}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, sql string }{
		{"Refund", `INSERT INTO refunds (instance_id, tenant_id, order_id, paid, consumed, fee, amount, currency, request_id, created_at)
			SELECT instance_id, tenant_id, order_id, paid, consumed, fee, amount, currency, 'req-2', created_at FROM refunds WHERE instance_id = ?`},
		{"ReleaseJob", `INSERT INTO commands (id, type, instance_id, tenant_id, event_id, request_id, state, attempts, next_attempt_at, created_at)
			SELECT id || '-2', type, instance_id, tenant_id, event_id || '-2', 'req-2', 'done', 0, next_attempt_at, created_at FROM commands WHERE instance_id = ?`},
		{"CommandInFlight", `INSERT INTO commands (id, type, instance_id, tenant_id, event_id, request_id, state, attempts, next_attempt_at, created_at)
			SELECT id || '-3', 'reboot', instance_id, tenant_id, event_id || '-3', 'req-3', 'pending', 0, next_attempt_at, created_at FROM commands WHERE instance_id = ?`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := db.wdb.ExecContext(t.Context(), tc.sql, ins[0].ID)
			if err == nil {
				n, _ := res.RowsAffected()
				t.Fatalf("second row for one instance: inserted %d row(s), want a unique violation", n)
			} else if !strings.Contains(err.Error(), "UNIQUE constraint failed") {
				t.Fatalf("second row for one instance: err=%v, want a unique violation", err)
			}
		})
	}
	for table, want := range map[string]int{"refunds": 1, "commands": 1} {
		var n int
		if err := db.rdb.QueryRowContext(t.Context(), `SELECT COUNT(*) FROM `+table).Scan(&n); err != nil {
			t.Fatal(err)
		} else if n != want {
			t.Fatalf("%s=%d rows, want %d", table, n, want)
		}
	}
}
