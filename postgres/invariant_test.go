package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/phonefleet/phonefleet"
	"github.com/phonefleet/phonefleet/postgres"
)

// These tests drive the paths the ordinary tests never reach: a write that
// fails after others in the same transaction succeeded, a transaction that
// PostgreSQL aborts and the store must run again, and the schema's own
// guards, exercised by writing to the tables directly. The failures are
// injected with triggers and sequences created in each test's own schema;
// the migrations know nothing of them.

// schemaDB is a store in a fresh schema plus a connection of its own to
// that schema for the test's direct SQL.
type schemaDB struct {
	*postgres.DB
	conn *pgx.Conn
}

func mustOpenSchemaDB(tb testing.TB) *schemaDB {
	tb.Helper()
	dbURL := MustCreateSchema(tb, MustTestURL(tb))
	db := MustOpenDBAt(tb, dbURL, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		tb.Fatalf("connect: %v", err)
	}
	tb.Cleanup(func() { conn.Close(context.Background()) })
	return &schemaDB{DB: db, conn: conn}
}

// mustExec runs sql (one or more statements when there are no args) in the
// test's schema.
func (s *schemaDB) mustExec(tb testing.TB, sql string, args ...any) {
	tb.Helper()
	if _, err := s.conn.Exec(context.Background(), sql, args...); err != nil {
		tb.Fatalf("%s: %v", sql, err)
	}
}

// mustCount returns the result of a SELECT COUNT(*) or similar integer query.
func (s *schemaDB) mustCount(tb testing.TB, sql string, args ...any) int {
	tb.Helper()
	var n int
	if err := s.conn.QueryRow(context.Background(), sql, args...).Scan(&n); err != nil {
		tb.Fatalf("%s: %v", sql, err)
	}
	return n
}

// mustBeUntouched fails unless the tenant's instances are exactly ids, all
// running, and no refund or release job exists: what a failed unsubscribe
// must leave. Every read that fails fails the test.
func mustBeUntouched(tb testing.TB, db phonefleet.Store, tenantID string, ids []string) {
	tb.Helper()
	ctx := context.Background()
	all, total, err := db.FindInstances(ctx, phonefleet.InstanceFilter{TenantID: tenantID, IncludeReleased: true, Limit: 1000})
	if err != nil {
		tb.Fatalf("FindInstances: %v", err)
	} else if len(all) != len(ids) || total != len(ids) {
		tb.Fatalf("instances=%d (total %d), want %d", len(all), total, len(ids))
	}
	for _, in := range all {
		if !slices.Contains(ids, in.ID) || in.State != phonefleet.InstanceStateRunning {
			tb.Fatalf("instance %s State=%s, want one of %v running", in.ID, in.State, ids)
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

// mustAudit returns every audit event of the tenant, newest first.
func mustAudit(tb testing.TB, db phonefleet.Store, tenantID string) []*phonefleet.AuditEvent {
	tb.Helper()
	es, err := db.FindAuditEvents(context.Background(), phonefleet.AuditFilter{TenantID: &tenantID})
	if err != nil {
		tb.Fatalf("FindAuditEvents: %v", err)
	}
	return es
}

// mustBeUnaudited fails unless no audit event has the request ID of req:
// a failed operation writes nothing, its audit event included (the HTTP
// layer audits failures).
func mustBeUnaudited(tb testing.TB, db phonefleet.Store, req *phonefleet.UnsubscribeRequest) {
	tb.Helper()
	for _, e := range mustAudit(tb, db, req.TenantID) {
		if e.RequestID == req.RequestID {
			tb.Fatalf("audit event %+v written for the failed %s", e, req.RequestID)
		}
	}
}

// TestDB_UnsubscribeFailsHalfway fails an unsubscribe of three instances
// after some of its writes succeeded: nothing changes, audit included, and
// the caller gets an internal error to audit (invariant 1).
func TestDB_UnsubscribeFailsHalfway(t *testing.T) {
	for _, tc := range []struct {
		name, trigger, wantErr string
	}{
		// The second release job is refused: PostgreSQL aborts the
		// statement, after the instances and refunds were written.
		{"JobRefused", `
			CREATE FUNCTION inject() RETURNS trigger LANGUAGE plpgsql AS $$
			BEGIN
				IF NEW.instance_id = '%[1]s' THEN RAISE EXCEPTION 'injected failure'; END IF;
				RETURN NEW;
			END $$;
			CREATE TRIGGER inject BEFORE INSERT ON commands FOR EACH ROW EXECUTE FUNCTION inject();`,
			"injected failure"},
		// The second instance is not updated, without an SQL error: the
		// store sees fewer rows changed than planned and fails the
		// operation itself, on a transaction that could still commit.
		{"InstanceNotRunning", `
			CREATE FUNCTION inject() RETURNS trigger LANGUAGE plpgsql AS $$
			BEGIN
				IF NEW.id = '%[1]s' THEN RETURN NULL; END IF;
				RETURN NEW;
			END $$;
			CREATE TRIGGER inject BEFORE UPDATE ON instances FOR EACH ROW EXECUTE FUNCTION inject();`,
			"were running"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db := mustOpenSchemaDB(t)
			tn := MustCreateTenant(t, db, "acme")
			ins := MustPurchase(t, db, tn.ID, 3, true)
			ids := []string{ins[0].ID, ins[1].ID, ins[2].ID}
			db.mustExec(t, fmt.Sprintf(tc.trigger, ins[1].ID))

			req := &phonefleet.UnsubscribeRequest{TenantID: tn.ID, TokenID: "tk", RequestID: "req-halfway", InstanceIDs: ids}
			_, err := db.Unsubscribe(context.Background(), req)
			if code := phonefleet.ErrorCode(err); code != phonefleet.EInternal {
				t.Fatalf("ErrorCode=%q, want %q (err: %v)", code, phonefleet.EInternal, err)
			} else if !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("err=%v, want the cause %q", err, tc.wantErr)
			}
			mustBeUntouched(t, db, tn.ID, ids)
			mustBeUnaudited(t, db, req)

			// Once the cause is gone the same request succeeds in full.
			db.mustExec(t, `DROP FUNCTION inject() CASCADE`)
			plan, err := db.Unsubscribe(context.Background(), req)
			if err != nil {
				t.Fatalf("Unsubscribe after the fault: %v", err)
			} else if got := len(plan.Changes()); got != 3 {
				t.Fatalf("changes=%d, want 3", got)
			}
		})
	}
}

// forceFailures makes the first n inserts into table fail with SQLSTATE
// code, counting every attempt in the sequence attempts (a sequence is not
// rolled back with the transaction that advanced it).
func (s *schemaDB) forceFailures(tb testing.TB, table, code string, n int) {
	tb.Helper()
	s.mustExec(tb, fmt.Sprintf(`
		CREATE SEQUENCE attempts;
		CREATE FUNCTION force_failure() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN
			IF nextval('attempts') <= %d THEN
				RAISE EXCEPTION 'forced failure %s' USING ERRCODE = '%s';
			END IF;
			RETURN NULL;
		END $$;
		CREATE TRIGGER force_failure BEFORE INSERT ON %s FOR EACH STATEMENT EXECUTE FUNCTION force_failure();`,
		n, code, code, table))
}

// attempts returns how many times the forced-failure trigger ran.
func (s *schemaDB) attempts(tb testing.TB) int {
	tb.Helper()
	return s.mustCount(tb, `SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM attempts`)
}

// mustBeUnsubscribedOnce fails unless every one of ids is deleting with one
// refund and one release job, and one successful unsubscribe is audited.
func mustBeUnsubscribedOnce(tb testing.TB, db *schemaDB, tenantID string, ids []string) {
	tb.Helper()
	states, err := db.FindInstanceStatuses(context.Background(), tenantID, ids)
	if err != nil {
		tb.Fatalf("FindInstanceStatuses: %v", err)
	}
	for _, id := range ids {
		if states[id].State != phonefleet.InstanceStateDeleting {
			tb.Fatalf("instance %s is %q, want deleting", id, states[id].State)
		}
	}
	if n := db.mustCount(tb, `SELECT COUNT(*) FROM refunds WHERE instance_id = ANY($1)`, ids); n != len(ids) {
		tb.Fatalf("refunds=%d, want %d", n, len(ids))
	}
	if n := db.mustCount(tb, `SELECT COUNT(*) FROM commands WHERE instance_id = ANY($1)`, ids); n != len(ids) {
		tb.Fatalf("release jobs=%d, want %d", n, len(ids))
	}
	var unsubscribes []*phonefleet.AuditEvent
	for _, e := range mustAudit(tb, db, tenantID) {
		if e.Action == phonefleet.ActionInstanceDelete {
			unsubscribes = append(unsubscribes, e)
		}
	}
	if len(unsubscribes) != 1 || unsubscribes[0].ErrorCode != phonefleet.ECodeOK {
		tb.Fatalf("unsubscribe audit events=%+v, want one success (retries leave no trace)", unsubscribes)
	}
}

// TestDB_UnsubscribeRetried makes PostgreSQL abort the unsubscribe's
// transaction the way concurrent transactions can: the store runs the whole
// operation again and it succeeds once; an abort that never stops is given
// up after postgres.MaxAttempts runs, changing nothing.
func TestDB_UnsubscribeRetried(t *testing.T) {
	for _, tc := range []struct {
		name, code string
		failures   int
	}{
		{"SerializationFailure", "40001", 1},
		{"Deadlock", "40P01", 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db := mustOpenSchemaDB(t)
			tn := MustCreateTenant(t, db, "acme")
			ins := MustPurchase(t, db, tn.ID, 2, true)
			ids := []string{ins[0].ID, ins[1].ID}
			db.forceFailures(t, "refunds", tc.code, tc.failures)

			plan, err := db.Unsubscribe(context.Background(), &phonefleet.UnsubscribeRequest{TenantID: tn.ID, RequestID: "req-retried", InstanceIDs: ids})
			if err != nil {
				t.Fatalf("Unsubscribe: %v", err)
			} else if len(plan.Changes()) != 2 {
				t.Fatalf("changes=%d, want 2", len(plan.Changes()))
			}
			if got, want := db.attempts(t), tc.failures+1; got != want {
				t.Fatalf("attempts=%d, want %d", got, want)
			}
			mustBeUnsubscribedOnce(t, db, tn.ID, ids)
		})
	}

	t.Run("GivesUp", func(t *testing.T) {
		db := mustOpenSchemaDB(t)
		tn := MustCreateTenant(t, db, "acme")
		ins := MustPurchase(t, db, tn.ID, 2, true)
		ids := []string{ins[0].ID, ins[1].ID}
		db.forceFailures(t, "refunds", "40001", 1000)

		req := &phonefleet.UnsubscribeRequest{TenantID: tn.ID, RequestID: "req-gives-up", InstanceIDs: ids}
		_, err := db.Unsubscribe(context.Background(), req)
		if code := phonefleet.ErrorCode(err); code != phonefleet.EInternal {
			t.Fatalf("ErrorCode=%q, want %q (err: %v)", code, phonefleet.EInternal, err)
		}
		if got, want := db.attempts(t), postgres.MaxAttempts; got != want {
			t.Fatalf("attempts=%d, want %d", got, want)
		}
		mustBeUntouched(t, db, tn.ID, ids)
		mustBeUnaudited(t, db, req)
	})
}

// TestDB_UnsubscribeKeyGuard makes the refund or release-job key fire on the
// first two attempts, as a second refund or job for an instance would: the
// store runs the operation again instead of failing it, and writes one of
// each. (Twice: a shared transaction that fails is followed by a run alone
// whatever its error, so only the second failure needs the guard.)
func TestDB_UnsubscribeKeyGuard(t *testing.T) {
	for _, table := range []string{"refunds", "commands"} {
		t.Run(table, func(t *testing.T) {
			db := mustOpenSchemaDB(t)
			tn := MustCreateTenant(t, db, "acme")
			ins := MustPurchase(t, db, tn.ID, 2, true)
			ids := []string{ins[0].ID, ins[1].ID}
			// On the first two attempts, a copy of the first row goes in
			// first, so the row itself breaks the key.
			db.mustExec(t, fmt.Sprintf(`
				CREATE SEQUENCE attempts;
				CREATE SEQUENCE duplicates;
				CREATE FUNCTION duplicate() RETURNS trigger LANGUAGE plpgsql AS $$
				BEGIN
					IF nextval('attempts') > 0 AND pg_trigger_depth() = 1 AND nextval('duplicates') <= 2 THEN
						INSERT INTO %[1]s SELECT (NEW).*;
					END IF;
					RETURN NEW;
				END $$;
				CREATE TRIGGER duplicate BEFORE INSERT ON %[1]s FOR EACH ROW EXECUTE FUNCTION duplicate();`, table))

			if _, err := db.Unsubscribe(context.Background(), &phonefleet.UnsubscribeRequest{TenantID: tn.ID, RequestID: "req-guard", InstanceIDs: ids}); err != nil {
				t.Fatalf("Unsubscribe: %v", err)
			}
			if got := db.mustCount(t, `SELECT last_value FROM duplicates`); got < 3 {
				t.Fatalf("%d attempts reached the key, want two that broke it and a third one", got)
			}
			mustBeUnsubscribedOnce(t, db, tn.ID, ids)
		})
	}
}

// TestSchema_OnePerInstance writes a second refund and a second release job
// for one instance straight into the tables: the schema itself refuses both,
// whatever the code above it does (invariants 2 and 7).
func TestSchema_OnePerInstance(t *testing.T) {
	db := mustOpenSchemaDB(t)
	tn := MustCreateTenant(t, db, "acme")
	ins := MustPurchase(t, db, tn.ID, 2, true)
	if _, err := db.Unsubscribe(context.Background(), &phonefleet.UnsubscribeRequest{TenantID: tn.ID, RequestID: "req-1", InstanceIDs: []string{ins[0].ID}}); err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct{ name, sql string }{
		{"Refund", `INSERT INTO refunds (instance_id, tenant_id, order_id, paid, consumed, fee, amount, currency, request_id, created_at)
			SELECT instance_id, tenant_id, order_id, paid, consumed, fee, amount, currency, 'req-2', created_at FROM refunds WHERE instance_id = $1`},
		{"ReleaseJob", `INSERT INTO commands (id, type, instance_id, tenant_id, event_id, request_id, state, attempts, next_attempt_at, created_at)
			SELECT id || '-2', type, instance_id, tenant_id, event_id || '-2', 'req-2', 'done', 0, next_attempt_at, created_at FROM commands WHERE instance_id = $1`},
		{"CommandInFlight", `INSERT INTO commands (id, type, instance_id, tenant_id, event_id, request_id, state, attempts, next_attempt_at, created_at)
			SELECT id || '-3', 'reboot', instance_id, tenant_id, event_id || '-3', 'req-3', 'pending', 0, next_attempt_at, created_at FROM commands WHERE instance_id = $1`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := db.conn.Exec(context.Background(), tc.sql, ins[0].ID)
			var pgErr *pgconn.PgError
			if !errors.As(err, &pgErr) || pgErr.Code != "23505" {
				t.Fatalf("second row for one instance: err=%v, want a unique violation (23505)", err)
			}
		})
	}
	if n := db.mustCount(t, `SELECT COUNT(*) FROM refunds`); n != 1 {
		t.Fatalf("refunds=%d, want 1", n)
	}
	if n := db.mustCount(t, `SELECT COUNT(*) FROM commands`); n != 1 {
		t.Fatalf("release jobs=%d, want 1", n)
	}
}
