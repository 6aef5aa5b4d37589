package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/phonefleet/phonefleet"
)

const instanceColumns = `i.id, i.tenant_id, i.order_id, i.name, i.region_id, i.sku_id, COALESCE(s.spec_desc, ''), i.os,
	i.band_size, i.billing_mode, i.period_num, i.paid_amount, i.currency, i.starts_at, i.expires_at,
	i.state, i.created_at, i.updated_at`

// Purchase buys req.Count instances in one transaction with its audit event.
// A collision of a new instance or order ID runs the whole purchase again
// with new IDs. On failure nothing is written but a failure audit event, in
// its own transaction. Errors: ESKUNotFound, EInvalid (band size), EInternal.
func (db *DB) Purchase(ctx context.Context, req *phonefleet.PurchaseRequest) (*phonefleet.Order, []*phonefleet.Instance, error) {
	var order *phonefleet.Order
	var instances []*phonefleet.Instance
	collision := func(err error) bool { return isUniqueViolation(err, "instances_pkey", "orders_pkey") }
	err := db.withTx(ctx, "purchase", collision, func(ctx context.Context, tx pgx.Tx, now time.Time) error {
		sku, err := findSKU(ctx, tx, req.InstanceSKUID)
		if err != nil {
			return err
		}
		o, ins, err := phonefleet.PlanPurchase(req, sku, now, phonefleet.NewInstanceID)
		if err != nil {
			return err
		}
		if err := insertOrder(ctx, tx, o); err != nil {
			return err
		}
		if err := insertInstances(ctx, tx, ins); err != nil {
			return err
		}
		if err := insertAuditEvent(ctx, tx, phonefleet.PurchaseAuditEvent(req, o, ins, nil, now)); err != nil {
			return err
		}
		order, instances = o, ins
		return nil
	})
	if err != nil {
		db.auditFailure(ctx, phonefleet.PurchaseAuditEvent(req, nil, nil, err, db.now()))
		return nil, nil, err
	}
	return order, instances, nil
}

func insertOrder(ctx context.Context, tx pgx.Tx, o *phonefleet.Order) error {
	_, err := tx.Exec(ctx, `
		INSERT INTO orders (id, tenant_id, sku_id, region_id, os, band_size, billing_mode, period_num,
			count, unit_price, total, currency, auto_pay, auto_renew, request_id, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)`,
		o.ID, o.TenantID, o.SKUID, o.RegionID, o.OS, o.BandSize, string(o.BillingMode), o.PeriodNum,
		o.Count, o.UnitPrice, o.Total, o.Currency, o.AutoPay, o.AutoRenew, o.RequestID, o.CreatedAt)
	if err != nil {
		return fmt.Errorf("insert order: %w", err)
	}
	return nil
}

// insertInstances writes a purchase's instances with COPY: one round trip
// for up to 1,500 rows.
func insertInstances(ctx context.Context, tx pgx.Tx, ins []*phonefleet.Instance) error {
	_, err := tx.CopyFrom(ctx, pgx.Identifier{"instances"}, instanceCopyColumns,
		pgx.CopyFromSlice(len(ins), func(i int) ([]any, error) { return instanceCopyRow(ins[i]), nil }))
	if err != nil {
		return fmt.Errorf("insert instances: %w", err)
	}
	return nil
}

// instanceCopyColumns are the columns instanceCopyRow returns values for.
var instanceCopyColumns = []string{"id", "tenant_id", "order_id", "name", "region_id", "sku_id", "os", "band_size",
	"billing_mode", "period_num", "paid_amount", "currency", "starts_at", "expires_at", "state", "created_at", "updated_at"}

func instanceCopyRow(in *phonefleet.Instance) []any {
	return []any{in.ID, in.TenantID, in.OrderID, in.Name, in.RegionID, in.SKUID, in.OS, in.BandSize,
		string(in.BillingMode), in.PeriodNum, in.PaidAmount, in.Currency, in.StartsAt, in.ExpiresAt,
		string(in.State), in.CreatedAt, in.UpdatedAt}
}

// FindInstances returns a page of the tenant's instances, ordered by
// created_at then ID, and the total matching the filter.
func (db *DB) FindInstances(ctx context.Context, filter phonefleet.InstanceFilter) ([]*phonefleet.Instance, int, error) {
	ctx, cancel := db.readCtx(ctx)
	defer cancel()

	args := []any{filter.TenantID}
	conds := []string{"i.tenant_id = $1"}
	if filter.ID != nil {
		args = append(args, *filter.ID)
		conds = append(conds, fmt.Sprintf("i.id = $%d", len(args)))
	}
	if filter.Name != nil {
		args = append(args, *filter.Name)
		conds = append(conds, fmt.Sprintf("i.name = $%d", len(args)))
	}
	if filter.CreatedFrom != nil {
		args = append(args, filter.CreatedFrom.UTC())
		conds = append(conds, fmt.Sprintf("i.created_at >= $%d", len(args)))
	}
	if filter.CreatedTo != nil {
		args = append(args, filter.CreatedTo.UTC())
		conds = append(conds, fmt.Sprintf("i.created_at <= $%d", len(args)))
	}
	if !filter.IncludeReleased {
		conds = append(conds, "i.state <> 'released'")
	}
	where, whereArgs := whereClause(conds), len(args)
	page := ""
	if filter.Limit > 0 {
		args = append(args, filter.Limit)
		page += fmt.Sprintf(" LIMIT $%d", len(args))
	}
	if filter.Offset > 0 {
		args = append(args, filter.Offset)
		page += fmt.Sprintf(" OFFSET $%d", len(args))
	}

	rows, err := db.pool.Query(ctx, `
		SELECT `+instanceColumns+`, COUNT(*) OVER ()
		FROM instances i LEFT JOIN skus s ON s.id = i.sku_id
		`+where+`
		ORDER BY i.created_at, i.id`+page, args...)
	if err != nil {
		return nil, 0, fmt.Errorf("find instances: %w", err)
	}
	total := 0
	instances, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (*phonefleet.Instance, error) {
		var in phonefleet.Instance
		dest := append(instanceDest(&in), &total)
		return &in, row.Scan(dest...)
	})
	if err != nil {
		return nil, 0, fmt.Errorf("find instances: %w", err)
	}
	// A page past the end has no row to carry the window count.
	if len(instances) == 0 && filter.Offset > 0 {
		if err := db.pool.QueryRow(ctx, `SELECT COUNT(*) FROM instances i `+where, args[:whereArgs]...).Scan(&total); err != nil {
			return nil, 0, fmt.Errorf("count instances: %w", err)
		}
	}
	return instances, total, nil
}

// FindInstanceStates returns the states of those of ids that belong to the
// tenant; others are absent from the map.
func (db *DB) FindInstanceStates(ctx context.Context, tenantID string, ids []string) (map[string]phonefleet.InstanceState, error) {
	ctx, cancel := db.readCtx(ctx)
	defer cancel()
	rows, err := db.pool.Query(ctx, `SELECT id, state FROM instances WHERE tenant_id = $1 AND id = ANY($2)`, tenantID, ids)
	if err != nil {
		return nil, fmt.Errorf("find instance states: %w", err)
	}
	defer rows.Close()
	states := make(map[string]phonefleet.InstanceState, len(ids))
	for rows.Next() {
		var id, state string
		if err := rows.Scan(&id, &state); err != nil {
			return nil, fmt.Errorf("find instance states: %w", err)
		}
		states[id] = phonefleet.InstanceState(state)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("find instance states: %w", err)
	}
	return states, nil
}

// Unsubscribe applies PlanUnsubscribe in one transaction. It locks the
// tenant's named instances in ID order (so overlapping batches queue behind
// each other instead of deadlocking), plans on the locked rows, and writes
// the states, refunds, release jobs and audit event. A batch that waited on
// another sees the other's committed states and treats those instances as
// no-ops. On error nothing changes and the failure audit event is written in
// its own transaction. Errors: ENotOwned, EPayPerUse, EInternal.
func (db *DB) Unsubscribe(ctx context.Context, req *phonefleet.UnsubscribeRequest) (*phonefleet.UnsubscribePlan, error) {
	var plan *phonefleet.UnsubscribePlan
	// The refund and release-job keys are the last guard: should they ever
	// fire, the retry sees the instances as unsubscribed and plans no-ops.
	guard := func(err error) bool { return isUniqueViolation(err, "refunds_pkey", "release_jobs_pkey") }
	err := db.withTx(ctx, "unsubscribe", guard, func(ctx context.Context, tx pgx.Tx, now time.Time) error {
		found, err := lockInstances(ctx, tx, req.TenantID, req.InstanceIDs, !req.DryRun)
		if err != nil {
			return err
		}
		p, err := phonefleet.PlanUnsubscribe(req.TenantID, req.InstanceIDs, found, now)
		if err != nil {
			return err
		}
		var changes []phonefleet.UnsubscribeItem
		if !req.DryRun {
			changes = p.Changes()
		}
		if err := applyUnsubscribe(ctx, tx, req, changes, phonefleet.UnsubscribeAuditEvent(req, p, nil, now), now); err != nil {
			return err
		}
		plan = p
		return nil
	})
	if err != nil {
		db.auditFailure(ctx, phonefleet.UnsubscribeAuditEvent(req, nil, err, db.now()))
		return nil, err
	}
	return plan, nil
}

// lockInstances loads the tenant's instances among ids, locking them FOR
// UPDATE in ID order when lock is set. Under READ COMMITTED a row that was
// changed while we waited for its lock is returned in its committed state.
func lockInstances(ctx context.Context, tx pgx.Tx, tenantID string, ids []string, lock bool) (map[string]*phonefleet.Instance, error) {
	q := `SELECT ` + instanceColumns + `
		FROM instances i LEFT JOIN skus s ON s.id = i.sku_id
		WHERE i.tenant_id = $1 AND i.id = ANY($2)
		ORDER BY i.id`
	if lock {
		q += ` FOR UPDATE OF i`
	}
	rows, err := tx.Query(ctx, q, tenantID, ids)
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
func applyUnsubscribe(ctx context.Context, tx pgx.Tx, req *phonefleet.UnsubscribeRequest, changes []phonefleet.UnsubscribeItem, event *phonefleet.AuditEvent, now time.Time) error {
	b := &pgx.Batch{}
	n := len(changes)
	if n > 0 {
		ids, orders, currencies := make([]string, n), make([]string, n), make([]string, n)
		paid, consumed, fee, amount := make([]int64, n), make([]int64, n), make([]int64, n), make([]int64, n)
		createdAt, eventIDs := make([]time.Time, n), make([]string, n)
		for i, it := range changes {
			r := it.Refund
			ids[i], orders[i], currencies[i] = it.InstanceID, r.OrderID, r.Currency
			paid[i], consumed[i], fee[i], amount[i] = r.Paid, r.Consumed, r.Fee, r.Amount
			createdAt[i], eventIDs[i] = r.CreatedAt, phonefleet.NewEventID()
		}
		b.Queue(`
			UPDATE instances SET state = 'deleting', updated_at = $3
			WHERE tenant_id = $1 AND id = ANY($2) AND state = 'running'`, req.TenantID, ids, now)
		b.Queue(`
			INSERT INTO refunds (instance_id, tenant_id, order_id, paid, consumed, fee, amount, currency, request_id, created_at)
			SELECT u.id, $1, u.order_id, u.paid, u.consumed, u.fee, u.amount, u.currency, $2, u.created_at
			FROM unnest($3::text[], $4::text[], $5::bigint[], $6::bigint[], $7::bigint[], $8::bigint[], $9::text[], $10::timestamptz[])
				AS u (id, order_id, paid, consumed, fee, amount, currency, created_at)`,
			req.TenantID, req.RequestID, ids, orders, paid, consumed, fee, amount, currencies, createdAt)
		b.Queue(`
			INSERT INTO release_jobs (instance_id, tenant_id, event_id, request_id, state, attempts, next_attempt_at, created_at)
			SELECT u.id, $1, u.event_id, $2, 'pending', 0, $5, $5
			FROM unnest($3::text[], $4::text[]) AS u (id, event_id)`,
			req.TenantID, req.RequestID, ids, eventIDs, now)
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
			return fmt.Errorf("insert refunds: %w", err)
		}
		if _, err := br.Exec(); err != nil {
			return fmt.Errorf("insert release jobs: %w", err)
		}
	}
	// Close runs the audit insert's callback, which sets event.ID.
	if err := br.Close(); err != nil {
		return fmt.Errorf("insert audit event: %w", err)
	}
	return nil
}

// instanceDest returns the scan destinations of instanceColumns.
func instanceDest(in *phonefleet.Instance) []any {
	return []any{&in.ID, &in.TenantID, &in.OrderID, &in.Name, &in.RegionID, &in.SKUID, &in.SKUSpec, &in.OS,
		&in.BandSize, &in.BillingMode, &in.PeriodNum, &in.PaidAmount, &in.Currency, &in.StartsAt, &in.ExpiresAt,
		&in.State, &in.CreatedAt, &in.UpdatedAt}
}
