package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/phonefleet/phonefleet"
)

// Unsubscribe applies PlanUnsubscribe in one transaction. It locks the
// tenant's named instances in ID order (so overlapping batches queue behind
// each other instead of deadlocking), plans on the locked rows, and writes
// the states, refunds, release commands (cancelling any command in flight)
// and audit event. A batch that waited on
// another sees the other's committed states and treats those instances as
// no-ops. On error nothing changes (the caller audits the failure).
// Errors: ENotOwned, EPayPerUse, EInternal.
func (db *DB) Unsubscribe(ctx context.Context, req *phonefleet.UnsubscribeRequest) (*phonefleet.UnsubscribePlan, error) {
	// One deadline for the unsubscribe and its failure audit event.
	ctx, cancel := db.opContext(ctx)
	defer cancel()
	var plan *phonefleet.UnsubscribePlan
	var event *phonefleet.AuditEvent
	// The refund and release-job keys are the last guard: should they ever
	// fire, the retry sees the instances as unsubscribed and plans no-ops.
	guard := func(err error) bool {
		return isUniqueViolation(err, "refunds_pkey", "commands_pkey", "commands_release_idx", "commands_in_flight_idx")
	}
	err := db.withTxCheck(ctx, "unsubscribe", guard, func(ctx context.Context, tx pgx.Tx, now time.Time) error {
		found, err := lockInstances(ctx, tx, req.TenantID, req.InstanceIDs, !req.DryRun)
		if err != nil {
			return err
		}
		p, err := phonefleet.PlanUnsubscribe(req, found, now)
		if err != nil {
			return err
		}
		var changes []phonefleet.UnsubscribeItem
		if !req.DryRun {
			changes = p.Changes()
		}
		event = phonefleet.UnsubscribeAuditEvent(req, p, now)
		wall, err := db.wallNow(ctx, tx, now) // release commands are scheduled on wall time
		if err != nil {
			return err
		}
		if err := applyUnsubscribe(ctx, tx, req, changes, event, now, wall); err != nil {
			return err
		}
		plan = p
		return nil
	}, auditCommitted(&event))
	if err != nil {
		return nil, err
	}
	return plan, nil
}

// lockInstances loads the tenant's instances among ids with their command
// in flight, locking them FOR UPDATE in ID order when lock is set. Rows
// changed while we waited for their locks are returned in their committed
// state.
func lockInstances(ctx context.Context, tx pgx.Tx, tenantID string, ids []string, lock bool) (map[string]*phonefleet.Instance, error) {
	if lock {
		// Lock first, read after: the read is a new statement, so under
		// READ COMMITTED it sees everything committed by the transactions
		// it waited for, their commands included (a locked row that was
		// not itself updated would otherwise be read with the joins of the
		// first statement's snapshot).
		if _, err := tx.Exec(ctx, `
			SELECT id FROM instances WHERE tenant_id = $1 AND id = ANY($2) ORDER BY id FOR UPDATE`, tenantID, ids); err != nil {
			return nil, fmt.Errorf("lock instances: %w", err)
		}
	}
	rows, err := tx.Query(ctx, `SELECT `+instanceColumns+`
		FROM `+instanceTables+`
		WHERE i.tenant_id = $1 AND i.id = ANY($2)`, tenantID, ids)
	if err != nil {
		return nil, fmt.Errorf("lock instances: %w", err)
	}
	list, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (*phonefleet.Instance, error) {
		var in phonefleet.Instance
		return &in, row.Scan(instanceDest(&in)...)
	})
	if err != nil {
		return nil, fmt.Errorf("lock instances: %w", err)
	}
	found := make(map[string]*phonefleet.Instance, len(list))
	for _, in := range list {
		found[in.ID] = in
	}
	return found, nil
}

// applyUnsubscribe writes the plan's changes (instances to deleting, one
// refund and one release job each) and the audit event, as one pipelined
// batch: a single round trip whatever the count.
func applyUnsubscribe(ctx context.Context, tx pgx.Tx, req *phonefleet.UnsubscribeRequest, changes []phonefleet.UnsubscribeItem, event *phonefleet.AuditEvent, now, wall time.Time) error {
	b := &pgx.Batch{}
	n := len(changes)
	if n > 0 {
		ids, orders, currencies := make([]string, n), make([]string, n), make([]string, n)
		tenants, requests := make([]string, n), make([]string, n)
		paid, consumed, fee, amount := make([]int64, n), make([]int64, n), make([]int64, n), make([]int64, n)
		createdAt := make([]time.Time, n)
		cancel := []string{}
		releases := make([]*phonefleet.Command, n)
		for i, it := range changes {
			r := it.Refund
			ids[i], orders[i], currencies[i] = it.InstanceID, r.OrderID, r.Currency
			tenants[i], requests[i] = r.TenantID, r.RequestID
			paid[i], consumed[i], fee[i], amount[i] = r.Paid, r.Consumed, r.Fee, r.Amount
			createdAt[i] = r.CreatedAt
			releases[i] = phonefleet.NewReleaseCommand(it.InstanceID, req.TenantID, req.RequestID, wall)
			if it.CancelJobID != "" {
				cancel = append(cancel, it.CancelJobID)
			}
		}
		b.Queue(`
			UPDATE instances SET state = 'deleting', assign_user = '', updated_at = $3
			WHERE tenant_id = $1 AND id = ANY($2) AND state = 'running'`, req.TenantID, ids, now)
		// Unsubscribing wins: the command in flight is cancelled before
		// the release takes its place.
		b.Queue(`
			UPDATE commands SET state = 'canceled', done_at = $2, lease_owner = NULL, lease_expires_at = NULL
			WHERE id = ANY($1) AND state IN ('pending', 'accepted')`, cancel, wall)
		b.Queue(`
			INSERT INTO refunds (instance_id, tenant_id, order_id, paid, consumed, fee, amount, currency, request_id, created_at)
			SELECT u.id, u.tenant_id, u.order_id, u.paid, u.consumed, u.fee, u.amount, u.currency, u.request_id, u.created_at
			FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::bigint[], $6::bigint[], $7::bigint[], $8::text[], $9::text[], $10::timestamptz[])
				AS u (id, tenant_id, order_id, paid, consumed, fee, amount, currency, request_id, created_at)`,
			ids, tenants, orders, paid, consumed, fee, amount, currencies, requests, createdAt)
		queueInsertCommands(b, releases)
	}
	queueAuditEvent(b, event)

	br := tx.SendBatch(ctx, b)
	defer br.Close()
	if n > 0 {
		tag, err := br.Exec()
		if err != nil {
			return fmt.Errorf("update instances: %w", err)
		} else if tag.RowsAffected() != int64(n) {
			// The rows are locked, so this cannot happen unless a rule changed.
			return fmt.Errorf("update instances: %d of %d were running", tag.RowsAffected(), n)
		}
		if _, err := br.Exec(); err != nil {
			return fmt.Errorf("cancel commands: %w", err)
		}
		if _, err := br.Exec(); err != nil {
			return fmt.Errorf("insert refunds: %w", err)
		}
		if _, err := br.Exec(); err != nil {
			return fmt.Errorf("insert release commands: %w", err)
		}
	}
	// Close runs the audit insert's callback, which sets event.ID.
	if err := br.Close(); err != nil {
		return fmt.Errorf("insert audit event: %w", err)
	}
	return nil
}
