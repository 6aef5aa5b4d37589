package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	"github.com/phonefleet/phonefleet"
)

// Purchase buys req.Count instances in one write operation with the order
// and the audit event. A new order or instance ID that collides with an
// existing one runs the purchase again with new IDs, up to
// phonefleet.MaxIDCollisionAttempts times. A failure writes nothing (the
// caller audits it). Errors: ESKUNotFound, EInvalid (band size), ENotFound
// (no such tenant), internal.
func (db *DB) Purchase(ctx context.Context, req *phonefleet.PurchaseRequest) (*phonefleet.Order, []*phonefleet.Instance, error) {
	ctx = db.onTenantClock(ctx, req.TenantID)
	var err error
	for attempt := 1; ; attempt++ {
		var o *phonefleet.Order
		var ins []*phonefleet.Instance
		if o, ins, err = db.purchase(ctx, req); err == nil {
			return o, ins, nil
		} else if !isIDCollision(err) || attempt == phonefleet.MaxIDCollisionAttempts {
			break
		}
	}
	if isNotFound(formatError(err)) {
		err = phonefleet.Errorf(phonefleet.ENotFound, "tenant %q not found", req.TenantID)
	}
	return nil, nil, err
}

// purchase is one attempt of Purchase, one write operation.
func (db *DB) purchase(ctx context.Context, req *phonefleet.PurchaseRequest) (o *phonefleet.Order, ins []*phonefleet.Instance, err error) {
	err = db.writeWork(ctx, req.Count, func(ctx context.Context, tx *Tx) error {
		if o, ins, err = findReplayedPurchase(ctx, tx, req); err != nil || o != nil {
			return err
		}
		sku, err := findSKU(ctx, tx, req.InstanceSKUID)
		if err != nil {
			return err
		}
		if o, ins, err = phonefleet.PlanPurchase(req, sku, tx.now, db.newInstanceID); err != nil {
			return err
		} else if err := holdInstances(ctx, tx, req.TenantID, len(ins)); err != nil {
			return err
		} else if err := insertOrder(ctx, tx, o); err != nil {
			return err
		} else if err := insertInstances(ctx, tx, ins); err != nil {
			return err
		}
		return insertAuditEvent(ctx, tx, phonefleet.PurchaseAuditEvent(req, o, ins, tx.now))
	})
	if err != nil {
		return nil, nil, err
	}
	return o, ins, nil
}

// FindInstances returns a page of the tenant's instances ordered by
// created_at, then ID, and the total matching the filter. Released
// instances are left out unless filter.IncludeReleased. A Limit of 0 or
// less means no limit.
func (db *DB) FindInstances(ctx context.Context, filter phonefleet.InstanceFilter) ([]*phonefleet.Instance, int, error) {
	tx, err := db.beginTx(ctx, false)
	if err != nil {
		return nil, 0, err
	}
	defer tx.Rollback()
	return findInstances(ctx, tx, filter)
}

// FindInstanceStatuses returns the statuses of those of ids that belong to
// the tenant; foreign and missing IDs are absent from the map.
func (db *DB) FindInstanceStatuses(ctx context.Context, tenantID string, ids []string) (map[string]phonefleet.InstanceStatus, error) {
	out := make(map[string]phonefleet.InstanceStatus, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	tx, err := db.beginTx(ctx, false)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()

	rows, err := tx.QueryContext(ctx, `
		SELECT i.id, `+stateColumn+`, i.assign_user, COALESCE(c.type, '')
		FROM instances i
		LEFT JOIN commands c ON c.instance_id = i.id AND c.state IN ('pending', 'accepted')
		WHERE i.tenant_id = ? AND i.id IN (SELECT value FROM json_each(?))
	`, tenantID, jsonArray(ids))
	if err != nil {
		return nil, fmt.Errorf("query instance states: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id, state, user, command string
		if err := rows.Scan(&id, &state, &user, &command); err != nil {
			return nil, fmt.Errorf("scan instance state: %w", err)
		}
		out[id] = phonefleet.InstanceStatus{State: phonefleet.InstanceState(state), Command: phonefleet.CommandType(command), AssignUser: user}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("query instance states: %w", err)
	}
	return out, nil
}

// insertOrder inserts o. A constraint violation stays the driver's error,
// for Purchase to tell an ID collision from a missing tenant.
func insertOrder(ctx context.Context, tx *Tx, o *phonefleet.Order) error {
	if _, err := tx.ExecContext(ctx, `
		INSERT INTO orders (id, tenant_id, sku_id, region_id, os, band_size, billing_mode, period_num,
		                    count, unit_price, total, currency, auto_pay, auto_renew, request_id, request_digest, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
	`, o.ID, o.TenantID, o.SKUID, o.RegionID, o.OS, o.BandSize, string(o.BillingMode), o.PeriodNum,
		o.Count, o.UnitPrice, o.Total, o.Currency, o.AutoPay, o.AutoRenew, o.RequestID, o.RequestDigest, formatTime(o.CreatedAt),
	); err != nil {
		return fmt.Errorf("insert order: %w", err)
	}
	return nil
}

// insertInstances inserts the instances of one order through one prepared
// statement: a 1,500-instance order is 1,500 executions, not 1,500 parses.
func insertInstances(ctx context.Context, tx *Tx, ins []*phonefleet.Instance) error {
	stmt, err := tx.PrepareContext(ctx, `
		INSERT INTO instances (id, tenant_id, order_id, name, region_id, sku_id, os, band_size,
		                       billing_mode, period_num, paid_amount, currency, starts_at, expires_at,
		                       state, lifecycle, created_at, updated_at, assign_user, charge_ended_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
	`)
	if err != nil {
		return fmt.Errorf("prepare insert instance: %w", err)
	}
	defer stmt.Close()

	for _, in := range ins {
		state, lifecycle := phonefleet.StoredState(in.State)
		if _, err := stmt.ExecContext(ctx,
			in.ID, in.TenantID, in.OrderID, in.Name, in.RegionID, in.SKUID, in.OS, in.BandSize,
			string(in.BillingMode), in.PeriodNum, in.PaidAmount, in.Currency,
			formatTime(in.StartsAt), formatNullTime(in.ExpiresAt),
			state, lifecycle, formatTime(in.CreatedAt), formatTime(in.UpdatedAt), in.AssignUser,
			formatNullTime(in.ChargeEndedAt),
		); err != nil {
			return fmt.Errorf("insert instance: %w", err)
		}
	}
	return nil
}

// instanceColumns are the columns scanInstance reads, from instanceTables.
const instanceColumns = `
	i.id, i.tenant_id, i.order_id, i.name, i.region_id, i.sku_id, s.spec_desc, i.os, i.band_size,
	i.billing_mode, i.period_num, i.paid_amount, i.currency, i.starts_at, i.expires_at,
	` + stateColumn + `, i.created_at, i.updated_at, i.assign_user, COALESCE(c.type, ''), COALESCE(c.id, ''), i.charge_ended_at`

// stateColumn is the instance's state as the domain has it
// (phonefleet.JoinState): a running instance's lifecycle phase, if any.
const stateColumn = `CASE WHEN i.state = 'running' AND i.lifecycle <> 'active' THEN i.lifecycle ELSE i.state END`

// stateCondition returns the condition and arguments that select instances
// i in state st.
func stateCondition(st phonefleet.InstanceState) (string, []any) {
	state, lifecycle := phonefleet.StoredState(st)
	if state != string(phonefleet.InstanceStateRunning) {
		return "i.state = ?", []any{state}
	}
	return "i.state = ? AND i.lifecycle = ?", []any{state, lifecycle}
}

// instanceTables are instances i with their SKU s and their command in
// flight c, if any (there is at most one).
const instanceTables = `instances i
	JOIN skus s ON s.id = i.sku_id
	LEFT JOIN commands c ON c.instance_id = i.id AND c.state IN ('pending', 'accepted')`

// instanceTablesByTenantID is instanceTables with the instances found
// through the (tenant_id, id) index only, for lookups of a tenant's
// instances by ID: another tenant's ID is not found there exactly as a
// missing one is not, and no row of another tenant is read, so a foreign ID
// costs what a missing one does (looked up by primary key and then filtered
// by tenant, a foreign row would be read). INDEXED BY makes the statement
// fail rather than plan otherwise.
var instanceTablesByTenantID = strings.Replace(instanceTables, "instances i", "instances i INDEXED BY instances_tenant_id_id_idx", 1)

// findInstances returns the page of instances matching filter and the total.
func findInstances(ctx context.Context, tx *Tx, filter phonefleet.InstanceFilter) ([]*phonefleet.Instance, int, error) {
	where, args := []string{"i.tenant_id = ?"}, []any{filter.TenantID}
	if v := filter.ID; v != nil {
		where, args = append(where, "i.id = ?"), append(args, *v)
	}
	if v := filter.Name; v != nil {
		where, args = append(where, "i.name = ?"), append(args, *v)
	}
	if v := filter.CreatedFrom; v != nil {
		where, args = append(where, "i.created_at >= ?"), append(args, formatTime(*v))
	}
	if v := filter.CreatedTo; v != nil {
		where, args = append(where, "i.created_at <= ?"), append(args, formatTime(*v))
	}
	if v := filter.AssignUser; v != nil {
		where, args = append(where, "i.assign_user = ?"), append(args, *v)
	}
	if v := filter.State; v != nil {
		cond, condArgs := stateCondition(*v)
		where, args = append(where, cond), append(args, condArgs...)
	} else if !filter.IncludeReleased {
		where = append(where, "i.state <> 'released'")
	}
	if v := filter.Prepaid; v != nil {
		op := "IN"
		if !*v {
			op = "NOT IN"
		}
		where = append(where, "i.billing_mode "+op+" ('yearly', 'monthly')")
	}
	if v := filter.RegionID; v != nil {
		where, args = append(where, "i.region_id = ?"), append(args, *v)
	}
	order := "i.created_at, i.id"
	if filter.Descending {
		order = "i.created_at DESC, i.id DESC"
	}
	limit := filter.Limit
	if limit <= 0 {
		limit = -1 // SQLite: no limit
	}
	offset := max(filter.Offset, 0)
	if liveListing(filter) {
		return findLiveInstances(ctx, tx, filter.TenantID, order, limit, offset)
	}

	rows, err := tx.QueryContext(ctx, `
		SELECT `+instanceColumns+`, COUNT(*) OVER ()
		FROM `+instanceTables+`
		WHERE `+strings.Join(where, " AND ")+`
		ORDER BY `+order+`
		LIMIT ? OFFSET ?
	`, append(args, limit, offset)...)
	if err != nil {
		return nil, 0, fmt.Errorf("query instances: %w", err)
	}
	defer rows.Close()

	out, total := []*phonefleet.Instance{}, 0
	for rows.Next() {
		in, err := scanInstance(rows, &total)
		if err != nil {
			return nil, 0, err
		}
		out = append(out, in)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, fmt.Errorf("query instances: %w", err)
	}
	rows.Close()

	// A page past the end has no row to carry the total: count separately.
	if len(out) == 0 && offset > 0 {
		if err := tx.QueryRowContext(ctx, `
			SELECT COUNT(*) FROM instances i WHERE `+strings.Join(where, " AND "),
			args...).Scan(&total); err != nil {
			return nil, 0, fmt.Errorf("count instances: %w", err)
		}
	}
	return out, total, nil
}

// findInstancesByID returns those of ids that are instances of the tenant,
// by ID. It costs one primary-key lookup per ID; the IDs go in as one JSON
// array, so every call runs the same prepared statement.
func findInstancesByID(ctx context.Context, tx *Tx, tenantID string, ids []string) (map[string]*phonefleet.Instance, error) {
	out := make(map[string]*phonefleet.Instance, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	rows, err := tx.QueryContext(ctx, `
		SELECT `+instanceColumns+`
		FROM `+instanceTablesByTenantID+`
		WHERE i.tenant_id = ? AND i.id IN (SELECT value FROM json_each(?))
	`, tenantID, jsonArray(ids))
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

// scanInstance scans instanceColumns and then extra destinations.
func scanInstance(rows *sql.Rows, extra ...any) (*phonefleet.Instance, error) {
	var in phonefleet.Instance
	var mode, state, startsAt, createdAt, updatedAt, command string
	var expiresAt, chargeEndedAt sql.NullString
	dest := append([]any{
		&in.ID, &in.TenantID, &in.OrderID, &in.Name, &in.RegionID, &in.SKUID, &in.SKUSpec, &in.OS, &in.BandSize,
		&mode, &in.PeriodNum, &in.PaidAmount, &in.Currency, &startsAt, &expiresAt,
		&state, &createdAt, &updatedAt, &in.AssignUser, &command, &in.CommandID, &chargeEndedAt,
	}, extra...)
	if err := rows.Scan(dest...); err != nil {
		return nil, fmt.Errorf("scan instance: %w", err)
	}
	in.BillingMode, in.State = phonefleet.BillingMode(mode), phonefleet.InstanceState(state)
	in.Command = phonefleet.CommandType(command)

	var err error
	if in.StartsAt, err = parseTime(startsAt); err != nil {
		return nil, err
	} else if in.ExpiresAt, err = parseNullTime(expiresAt); err != nil {
		return nil, err
	} else if in.CreatedAt, err = parseTime(createdAt); err != nil {
		return nil, err
	} else if in.UpdatedAt, err = parseTime(updatedAt); err != nil {
		return nil, err
	} else if in.ChargeEndedAt, err = parseNullTime(chargeEndedAt); err != nil {
		return nil, err
	}
	return &in, nil
}

// liveListing reports whether filter asks for the tenant's instances that
// are not released, with no other condition: the listing a batch-query
// without filters runs, paged through by big tenants.
func liveListing(f phonefleet.InstanceFilter) bool {
	return f.ID == nil && f.Name == nil && f.CreatedFrom == nil && f.CreatedTo == nil && f.AssignUser == nil &&
		f.State == nil && !f.IncludeReleased && f.Prepaid == nil && f.RegionID == nil
}

// findLiveInstances pages through the tenant's live instances without
// scanning them: the page's IDs come from the partial index of live
// instances alone (the offset walks index entries, never rows), and the
// total is the count the store keeps on the tenant.
func findLiveInstances(ctx context.Context, tx *Tx, tenantID, order string, limit, offset int) ([]*phonefleet.Instance, int, error) {
	var total int
	if err := tx.QueryRowContext(ctx, `SELECT held_instances FROM tenants WHERE id = ?`, tenantID).Scan(&total); errNoRows(err) {
		return []*phonefleet.Instance{}, 0, nil
	} else if err != nil {
		return nil, 0, fmt.Errorf("count instances: %w", err)
	}
	inner := strings.NewReplacer("i.", "").Replace(order)
	rows, err := tx.QueryContext(ctx, `
		SELECT `+instanceColumns+`
		FROM `+instanceTables+`
		WHERE i.id IN (
			SELECT id FROM instances
			WHERE tenant_id = ? AND state <> 'released'
			ORDER BY `+inner+`
			LIMIT ? OFFSET ?
		)
		ORDER BY `+order, tenantID, limit, offset)
	if err != nil {
		return nil, 0, fmt.Errorf("query instances: %w", err)
	}
	defer rows.Close()
	out := []*phonefleet.Instance{}
	for rows.Next() {
		in, err := scanInstance(rows)
		if err != nil {
			return nil, 0, err
		}
		out = append(out, in)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, fmt.Errorf("query instances: %w", err)
	}
	return out, total, nil
}
