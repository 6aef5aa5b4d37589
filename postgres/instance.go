package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/phonefleet/phonefleet"
)

const instanceColumns = `i.id, i.tenant_id, i.order_id, i.name, i.region_id, i.sku_id, COALESCE(s.spec_desc, ''), i.os,
	i.band_size, i.billing_mode, i.period_num, i.paid_amount, i.currency, i.starts_at, i.expires_at,
	` + stateColumn + `, i.created_at, i.updated_at, i.assign_user, COALESCE(c.type, ''), COALESCE(c.id, ''), i.charge_ended_at`

// stateColumn is the instance's state as the domain has it
// (phonefleet.JoinState): a running instance's lifecycle phase, if any.
const stateColumn = `CASE WHEN i.state = 'running' AND i.lifecycle <> 'active' THEN i.lifecycle ELSE i.state END`

// instanceTables are instances i with their SKU s and their command in
// flight c, if any (there is at most one).
const instanceTables = `instances i
	LEFT JOIN skus s ON s.id = i.sku_id
	LEFT JOIN commands c ON c.instance_id = i.id AND c.state IN ('pending', 'accepted')`

// Purchase buys req.Count instances in one transaction with its audit event.
// A new order or instance ID that collides with an existing one runs the
// purchase again with new IDs, up to phonefleet.MaxIDCollisionAttempts
// times. A failure writes nothing (the caller audits it). Errors:
// ESKUNotFound, EInvalid (band size), ENotFound (no such tenant), EInternal.
func (db *DB) Purchase(ctx context.Context, req *phonefleet.PurchaseRequest) (*phonefleet.Order, []*phonefleet.Instance, error) {
	ctx = db.onTenantClock(ctx, req.TenantID)
	// One deadline for the operation and its failure audit event.
	ctx, cancel := db.opContext(ctx)
	defer cancel()
	var order *phonefleet.Order
	var event *phonefleet.AuditEvent
	var instances []*phonefleet.Instance
	err := db.withTxCheck(ctx, "purchase", isIDCollision, func(ctx context.Context, tx pgx.Tx, now time.Time) error {
		// Locking the tenant's row first serialises the tenant's purchases:
		// the quota check sees every earlier purchase, and a retry with the
		// same request ID sees the first one once it committed.
		var held, maxInstances int
		if err := tx.QueryRow(ctx, `SELECT held_instances, max_instances FROM tenants WHERE id = $1 FOR UPDATE`,
			req.TenantID).Scan(&held, &maxInstances); errors.Is(err, pgx.ErrNoRows) {
			return phonefleet.Errorf(phonefleet.ENotFound, "tenant %q not found", req.TenantID)
		} else if err != nil {
			return fmt.Errorf("lock tenant: %w", err)
		}
		o, ins, err := findReplayedPurchase(ctx, tx, req, now)
		if err != nil {
			return err
		} else if o != nil {
			order, instances = o, ins
			return nil
		}
		sku, err := findSKU(ctx, tx, req.InstanceSKUID)
		if err != nil {
			return err
		}
		o, ins, err = phonefleet.PlanPurchase(req, sku, now, phonefleet.NewInstanceID)
		if err != nil {
			return err
		}
		if err := phonefleet.CheckQuota(held, maxInstances, len(ins)); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE tenants SET held_instances = held_instances + $2 WHERE id = $1`, req.TenantID, len(ins)); err != nil {
			return fmt.Errorf("hold instances: %w", err)
		}
		if err := insertOrder(ctx, tx, o); err != nil {
			return err
		}
		if err := insertInstances(ctx, tx, ins); err != nil {
			return err
		}
		event = phonefleet.PurchaseAuditEvent(req, o, ins, now)
		if err := insertAuditEvent(ctx, tx, event); err != nil {
			return err
		}
		order, instances = o, ins
		return nil
	}, auditCommitted(&event))
	if err != nil {
		if isNotFound(formatError(err)) {
			err = phonefleet.Errorf(phonefleet.ENotFound, "tenant %q not found", req.TenantID)
		}
		return nil, nil, err
	}
	return order, instances, nil
}

func insertOrder(ctx context.Context, tx pgx.Tx, o *phonefleet.Order) error {
	_, err := tx.Exec(ctx, `
		INSERT INTO orders (id, tenant_id, sku_id, region_id, os, band_size, billing_mode, period_num,
			count, unit_price, total, currency, auto_pay, auto_renew, request_id, request_digest, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)`,
		o.ID, o.TenantID, o.SKUID, o.RegionID, o.OS, o.BandSize, string(o.BillingMode), o.PeriodNum,
		o.Count, o.UnitPrice, o.Total, o.Currency, o.AutoPay, o.AutoRenew, o.RequestID, o.RequestDigest, o.CreatedAt)
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
	"billing_mode", "period_num", "paid_amount", "currency", "starts_at", "expires_at", "state", "lifecycle", "created_at", "updated_at", "assign_user", "charge_ended_at"}

func instanceCopyRow(in *phonefleet.Instance) []any {
	state, lifecycle := phonefleet.StoredState(in.State)
	return []any{in.ID, in.TenantID, in.OrderID, in.Name, in.RegionID, in.SKUID, in.OS, in.BandSize,
		string(in.BillingMode), in.PeriodNum, in.PaidAmount, in.Currency, in.StartsAt, in.ExpiresAt,
		state, lifecycle, in.CreatedAt, in.UpdatedAt, in.AssignUser, in.ChargeEndedAt}
}

// FindInstances returns a page of the tenant's instances, ordered by
// created_at then ID, and the total matching the filter.
func (db *DB) FindInstances(ctx context.Context, filter phonefleet.InstanceFilter) ([]*phonefleet.Instance, int, error) {
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
	if filter.AssignUser != nil {
		args = append(args, *filter.AssignUser)
		conds = append(conds, fmt.Sprintf("i.assign_user = $%d", len(args)))
	}
	if filter.State != nil {
		state, lifecycle := phonefleet.StoredState(*filter.State)
		args = append(args, state)
		conds = append(conds, fmt.Sprintf("i.state = $%d", len(args)))
		if state == string(phonefleet.InstanceStateRunning) {
			args = append(args, lifecycle)
			conds = append(conds, fmt.Sprintf("i.lifecycle = $%d", len(args)))
		}
	} else if !filter.IncludeReleased {
		conds = append(conds, "i.state <> 'released'")
	}
	if filter.Prepaid != nil {
		op := "IN"
		if !*filter.Prepaid {
			op = "NOT IN"
		}
		conds = append(conds, "i.billing_mode "+op+" ('yearly', 'monthly')")
	}
	if filter.RegionID != nil {
		args = append(args, *filter.RegionID)
		conds = append(conds, fmt.Sprintf("i.region_id = $%d", len(args)))
	}
	order := "i.created_at, i.id"
	if filter.Descending {
		order = "i.created_at DESC, i.id DESC"
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

	total := 0
	var instances []*phonefleet.Instance
	err := db.read(ctx, func(ctx context.Context) error {
		rows, err := db.pool.Query(ctx, `
			SELECT `+instanceColumns+`, COUNT(*) OVER ()
			FROM `+instanceTables+`
			`+where+`
			ORDER BY `+order+page, args...)
		if err != nil {
			return err
		}
		instances, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (*phonefleet.Instance, error) {
			var in phonefleet.Instance
			dest := append(instanceDest(&in), &total)
			return &in, row.Scan(dest...)
		})
		if err != nil {
			return err
		}
		// A page past the end has no row to carry the window count.
		if len(instances) == 0 && filter.Offset > 0 {
			return db.pool.QueryRow(ctx, `SELECT COUNT(*) FROM instances i `+where, args[:whereArgs]...).Scan(&total)
		}
		return nil
	})
	if err != nil {
		return nil, 0, fmt.Errorf("find instances: %w", err)
	}
	return instances, total, nil
}

// FindInstanceStatuses returns the statuses of those of ids that belong to
// the tenant; others are absent from the map.
func (db *DB) FindInstanceStatuses(ctx context.Context, tenantID string, ids []string) (map[string]phonefleet.InstanceStatus, error) {
	var states map[string]phonefleet.InstanceStatus
	err := db.read(ctx, func(ctx context.Context) error {
		rows, err := db.pool.Query(ctx, `
			SELECT i.id, `+stateColumn+`, i.assign_user, COALESCE(c.type, '')
			FROM instances i
			LEFT JOIN commands c ON c.instance_id = i.id AND c.state IN ('pending', 'accepted')
			WHERE i.tenant_id = $1 AND i.id = ANY($2)`, tenantID, ids)
		if err != nil {
			return err
		}
		defer rows.Close()
		states = make(map[string]phonefleet.InstanceStatus, len(ids))
		for rows.Next() {
			var id, state, user, command string
			if err := rows.Scan(&id, &state, &user, &command); err != nil {
				return err
			}
			states[id] = phonefleet.InstanceStatus{State: phonefleet.InstanceState(state), Command: phonefleet.CommandType(command), AssignUser: user}
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("find instance states: %w", err)
	}
	return states, nil
}

// instanceDest returns the scan destinations of instanceColumns.
func instanceDest(in *phonefleet.Instance) []any {
	return []any{&in.ID, &in.TenantID, &in.OrderID, &in.Name, &in.RegionID, &in.SKUID, &in.SKUSpec, &in.OS,
		&in.BandSize, &in.BillingMode, &in.PeriodNum, &in.PaidAmount, &in.Currency, &in.StartsAt, &in.ExpiresAt,
		&in.State, &in.CreatedAt, &in.UpdatedAt, &in.AssignUser, &in.Command, &in.CommandID, &in.ChargeEndedAt}
}

// findReplayedPurchase returns the tenant's first order with the request's
// ID from the last phonefleet.PurchaseReplayWindow and its instances, or
// nil if there is none (or the request has no ID). A request whose body
// differs from that order's is EInvalid (phonefleet.CheckPurchaseRetry).
func findReplayedPurchase(ctx context.Context, tx pgx.Tx, req *phonefleet.PurchaseRequest, now time.Time) (*phonefleet.Order, []*phonefleet.Instance, error) {
	if req.RequestID == "" {
		return nil, nil, nil
	}
	o := phonefleet.Order{TenantID: req.TenantID, RequestID: req.RequestID}
	err := tx.QueryRow(ctx, `
		SELECT id, created_at, count, request_digest FROM orders
		WHERE tenant_id = $1 AND request_id = $2 AND created_at >= $3
		ORDER BY created_at, id LIMIT 1`,
		req.TenantID, req.RequestID, now.Add(-phonefleet.PurchaseReplayWindow)).Scan(&o.ID, &o.CreatedAt, &o.Count, &o.RequestDigest)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil, nil
	} else if err != nil {
		return nil, nil, fmt.Errorf("find replayed order: %w", err)
	}
	if err := phonefleet.CheckPurchaseRetry(req, &o); err != nil {
		return nil, nil, err
	}
	// An order's instances were created with it: the tenant's created_at
	// index finds them without a scan.
	rows, err := tx.Query(ctx, `
		SELECT `+instanceColumns+`
		FROM `+instanceTables+`
		WHERE i.tenant_id = $1 AND i.created_at = $2 AND i.order_id = $3
		ORDER BY i.name, i.id`, req.TenantID, o.CreatedAt, o.ID)
	if err != nil {
		return nil, nil, fmt.Errorf("find replayed instances: %w", err)
	}
	ins, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (*phonefleet.Instance, error) {
		var in phonefleet.Instance
		return &in, row.Scan(instanceDest(&in)...)
	})
	if err != nil {
		return nil, nil, fmt.Errorf("find replayed instances: %w", err)
	}
	return &o, ins, nil
}
