package sqlite

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/phonefleet/phonefleet"
)

// unsubscribeOp is an unsubscribe in the writer's queue: its request, and
// the plan it answers with once it ran.
type unsubscribeOp struct {
	req  *phonefleet.UnsubscribeRequest
	plan *phonefleet.UnsubscribePlan
}

// unsubscribeGroup runs the unsubscribes of a batch together, first in the
// batch's transaction tx: one query reads every instance they name, each
// request's plan is made in Go (phonefleet.PlanUnsubscribe, in queue
// order), and one statement per table writes what the successful ones
// decided. A request whose plan fails gets its error and writes nothing. It
// marks in settled the operations of the batch it settled (their errors are
// in errs); the others run one by one as before.
//
// It runs in no savepoint of its own: a savepoint makes SQLite copy every
// page the group changes into an in-memory journal, which cost a fifth of
// the writer's time. If any statement fails (a constraint, a trigger, a
// full disk), it returns errGroupFailed, and the writer rolls the whole
// transaction back and runs the batch again with one savepoint per
// operation, so that only the one at fault fails. It settles nothing
// either when fewer than two unsubscribes are queued, or when two of them
// name the same instance (the second must see the first's writes, which a
// plan made from one read would not).
func (db *DB) unsubscribeGroup(ctx context.Context, tx *Tx, batch []*writeOp, errs []error, settled []bool) error {
	var idx []int
	var ids []string
	seen := make(map[string]bool)
	for i, op := range batch {
		if op.unsub == nil {
			continue
		}
		for _, id := range op.unsub.req.InstanceIDs {
			if seen[id] {
				return nil
			}
			seen[id] = true
		}
		idx = append(idx, i)
		ids = append(ids, op.unsub.req.InstanceIDs...)
	}
	return db.runGroup("unsubscribes", idx, settled, func() error {
		return db.runUnsubscribeGroup(ctx, tx, batch, idx, ids, errs)
	})
}

// runUnsubscribeGroup reads, plans and writes the unsubscribes batch[idx],
// which name ids, recording each request's own error in errs. Its error
// means a write failed and the group must be undone.
func (db *DB) runUnsubscribeGroup(ctx context.Context, tx *Tx, batch []*writeOp, idx []int, ids []string, errs []error) (err error) {
	// One transaction time for the group (wall time); each request plans
	// on its own tenant's business time (the tenant's test clock offset
	// applied when the test clock is on).
	if tx, err = db.newTx(ctx, tx.sqlTx, db.wstmts); err != nil {
		return err
	}
	var nows map[string]time.Time // by tenant; none: wall time
	for _, i := range idx {
		if tenant := batch[i].unsub.req.TenantID; db.TestClock && nows[tenant].IsZero() {
			if nows == nil {
				nows = make(map[string]time.Time)
			}
			if nows[tenant], err = db.tenantNow(ctx, tx, tenant); err != nil {
				return err
			}
		}
	}
	found, err := findInstancesByIDAnyTenant(ctx, tx, ids)
	if err != nil {
		return err
	}
	var w unsubscribeWrites
	for _, i := range idx {
		u := batch[i].unsub
		now := tx.wall
		if t, ok := nows[u.req.TenantID]; ok {
			now = t
		}
		plan, err := phonefleet.PlanUnsubscribe(u.req, found, now)
		if err != nil {
			errs[i] = err
			continue
		}
		u.plan = plan
		w.add(u.req, plan, now, tx.wall)
	}
	return w.write(ctx, tx, tx.wall)
}

// findInstancesByIDAnyTenant returns the instances of ids, by ID, whatever
// their tenant: PlanUnsubscribe checks each request's tenant.
func findInstancesByIDAnyTenant(ctx context.Context, tx *Tx, ids []string) (map[string]*phonefleet.Instance, error) {
	out := make(map[string]*phonefleet.Instance, len(ids))
	rows, err := tx.QueryContext(ctx, `
		SELECT `+instanceColumns+`
		FROM `+instanceTables+`
		WHERE i.id IN (SELECT value FROM json_each(?))
	`, jsonArray(ids))
	if err != nil {
		return nil, fmt.Errorf("query instances by id: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		in, err := scanInstance(rows)
		if err != nil {
			return nil, err
		}
		out[in.ID] = in
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("query instances by id: %w", err)
	}
	return out, nil
}

// unsubscribeWrites are the rows a group of unsubscribes writes, each table's
// as one JSON array of row arrays.
type unsubscribeWrites struct {
	instances []string    // to move from running to deleting
	updatedAt []time.Time // each instance's new updated_at: its tenant's business time
	refunds   [][]any
	cancels   []string // commands in flight to cancel
	commands  [][]any
	audit     [][]any
}

// add records what plan decided for req at now, its tenant's business
// time; release commands are due at wall time.
func (w *unsubscribeWrites) add(req *phonefleet.UnsubscribeRequest, plan *phonefleet.UnsubscribePlan, now, wall time.Time) {
	if !req.DryRun {
		for _, it := range plan.Changes() {
			w.instances = append(w.instances, it.InstanceID)
			w.updatedAt = append(w.updatedAt, now)
			r := it.Refund
			w.refunds = append(w.refunds, []any{r.InstanceID, r.TenantID, r.OrderID, r.Paid, r.Consumed,
				r.Fee, r.Amount, r.Currency, r.RequestID, formatTime(r.CreatedAt)})
			if it.CancelJobID != "" {
				w.cancels = append(w.cancels, it.CancelJobID)
			}
			c := phonefleet.NewReleaseCommand(it.InstanceID, req.TenantID, req.RequestID, wall)
			w.commands = append(w.commands, []any{c.ID, string(c.Type), c.InstanceID, c.TenantID, c.UserID, c.TaskID,
				c.EventID, c.RequestID, string(c.State), c.Attempts, formatTime(c.NextAttemptAt), c.LastError,
				formatTime(c.CreatedAt), formatNullTime(c.DoneAt)})
		}
	}
	e := phonefleet.UnsubscribeAuditEvent(req, plan, now)
	ids, _ := json.Marshal(e.InstanceIDs)
	w.audit = append(w.audit, []any{formatTime(e.At), nullString(e.TenantID), nullString(e.TokenID), e.UserName, e.Actor, e.ClientAddr, e.DryRun,
		e.Action, e.RequestID, string(ids), e.ErrorCode, e.Detail})
}

// write writes the group's rows: one statement per table and change (the
// instances' one per business time among them, so one unless tenants'
// test clocks differ), in the order the single operation writes them;
// cancellations happen at wall time.
func (w *unsubscribeWrites) write(ctx context.Context, tx *Tx, wall time.Time) error {
	for len(w.instances) > 0 {
		at := w.updatedAt[0]
		ids := w.instances
		if !w.sameTime() {
			var restIDs []string
			var restAt []time.Time
			ids = nil
			for i, id := range w.instances {
				if w.updatedAt[i].Equal(at) {
					ids = append(ids, id)
				} else {
					restIDs, restAt = append(restIDs, id), append(restAt, w.updatedAt[i])
				}
			}
			w.instances, w.updatedAt = restIDs, restAt
		} else {
			w.instances, w.updatedAt = nil, nil
		}
		res, err := tx.ExecContext(ctx, `
			UPDATE instances SET state = 'deleting', assign_user = '', updated_at = ?
			WHERE id IN (SELECT value FROM json_each(?)) AND state = 'running'
		`, formatTime(at), jsonArray(ids))
		if err != nil {
			return fmt.Errorf("update instances: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return fmt.Errorf("update instances: %w", err)
		} else if n != int64(len(ids)) {
			return fmt.Errorf("update instances: %d of %d still running", n, len(ids))
		}
	}
	if err := insertRows(ctx, tx, "insert refunds", `INSERT INTO refunds
		(instance_id, tenant_id, order_id, paid, consumed, fee, amount, currency, request_id, created_at)`, w.refunds); err != nil {
		return err
	}
	if len(w.cancels) > 0 {
		if _, err := tx.ExecContext(ctx, `
			UPDATE commands SET state = 'canceled', done_at = ?, lease_owner = NULL, lease_expires_at = NULL
			WHERE id IN (SELECT value FROM json_each(?)) AND state IN ('pending', 'accepted')
		`, formatTime(wall), jsonArray(w.cancels)); err != nil {
			return fmt.Errorf("cancel commands: %w", err)
		}
	}
	if err := insertRows(ctx, tx, "insert commands", `INSERT INTO commands
		(id, type, instance_id, tenant_id, user_id, task_id, event_id, request_id, state,
		 attempts, next_attempt_at, last_error, created_at, done_at)`, w.commands); err != nil {
		return err
	}
	return insertRows(ctx, tx, "insert audit events", `INSERT INTO audit_events
		(at, tenant_id, token_id, user_name, actor, client_addr, dry_run, action, request_id, instance_ids, error_code, detail)`, w.audit)
}

// sameTime reports whether every instance left has the same updated_at.
func (w *unsubscribeWrites) sameTime() bool {
	for _, t := range w.updatedAt {
		if !t.Equal(w.updatedAt[0]) {
			return false
		}
	}
	return true
}

// maxRowsPerInsert is the most rows one multi-row INSERT of insertRows
// takes.
const maxRowsPerInsert = 64

// insertRows inserts rows with head ("INSERT INTO t (columns)") and checks
// that every row went in. The rows go as multi-row VALUES lists of 64, 32,
// 16, ... 1 rows, so a table has at most seven statement texts, each
// prepared once, and each value is bound as it is instead of being
// extracted from a JSON text (which cost a third of the writes' time).
func insertRows(ctx context.Context, tx *Tx, what, head string, rows [][]any) error {
	for len(rows) > 0 {
		n := maxRowsPerInsert
		for n > len(rows) {
			n /= 2
		}
		args := make([]any, 0, n*len(rows[0]))
		for _, r := range rows[:n] {
			args = append(args, r...)
		}
		res, err := tx.ExecContext(ctx, valuesStatement(head, n, len(rows[0])), args...)
		if err != nil {
			return fmt.Errorf("%s: %w", what, formatError(err))
		}
		if got, err := res.RowsAffected(); err != nil {
			return fmt.Errorf("%s: %w", what, err)
		} else if got != int64(n) {
			return fmt.Errorf("%s: %d of %d rows", what, got, n)
		}
		rows = rows[n:]
	}
	return nil
}

// valuesStatements holds the texts valuesStatement made, so that a hot
// insert does not build its text again.
var valuesStatements sync.Map // valuesKey → string

type valuesKey struct {
	head       string
	rows, cols int
}

// valuesStatement returns head followed by VALUES and rows lists of cols
// placeholders.
func valuesStatement(head string, rows, cols int) string {
	key := valuesKey{head, rows, cols}
	if s, ok := valuesStatements.Load(key); ok {
		return s.(string)
	}
	one := "(?" + strings.Repeat(", ?", cols-1) + ")"
	s := head + " VALUES " + one + strings.Repeat(", "+one, rows-1)
	valuesStatements.Store(key, s)
	return s
}
