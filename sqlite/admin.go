package sqlite

import (
	"context"
	"fmt"

	"github.com/phonefleet/phonefleet"
)

var _ phonefleet.AdminService = (*DB)(nil)

// SetTenantSuspended suspends (at now) or resumes the tenant called name
// and returns it; ENotFound if there is no such tenant.
func (db *DB) SetTenantSuspended(ctx context.Context, name string, suspended bool) (*phonefleet.Tenant, error) {
	var t *phonefleet.Tenant
	err := db.write(ctx, func(ctx context.Context, tx *Tx) error {
		q := `UPDATE tenants SET suspended_at = NULL WHERE name = ?`
		args := []any{name}
		if suspended {
			q = `UPDATE tenants SET suspended_at = COALESCE(suspended_at, ?) WHERE name = ?`
			args = []any{formatTime(tx.now), name}
		}
		if _, err := tx.ExecContext(ctx, q, args...); err != nil {
			return fmt.Errorf("suspend tenant: %w", err)
		}
		var err error
		t, err = findTenantNamed(ctx, tx, name)
		return err
	})
	return t, err
}

// SuspendedTenantIDs returns the IDs of the suspended tenants.
func (db *DB) SuspendedTenantIDs(ctx context.Context) ([]string, error) {
	tx, err := db.beginTx(ctx, false)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	rows, err := tx.QueryContext(ctx, `SELECT id FROM tenants WHERE suspended_at IS NOT NULL ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("query suspended tenants: %w", err)
	}
	defer rows.Close()
	ids := []string{}
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("scan suspended tenant: %w", err)
		}
		ids = append(ids, id)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("query suspended tenants: %w", err)
	}
	return ids, nil
}

// tenantTables are the tables whose rows belong to a tenant, in the order
// DeleteTenant removes them (rows that others reference last).
var tenantTables = []string{"tenant_clocks", "tokens", "access_keys", "users", "commands", "refunds", "instances", "orders"}

// DeleteTenant removes the tenant called name and everything it owns;
// ENotFound if there is no such tenant, EConflict if it holds an instance
// that is not released. Its audit events stay.
func (db *DB) DeleteTenant(ctx context.Context, name string) error {
	return db.write(ctx, func(ctx context.Context, tx *Tx) error {
		tn, err := findTenantNamed(ctx, tx, name)
		if err != nil {
			return err
		}
		var held int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM instances WHERE tenant_id = ? AND state <> 'released'`, tn.ID).Scan(&held); err != nil {
			return fmt.Errorf("count held instances: %w", err)
		} else if held > 0 {
			return phonefleet.Errorf(phonefleet.EConflict, "tenant %q holds %d instance(s) that are not released; unsubscribe them and wait for their release first", name, held)
		}
		for _, table := range tenantTables {
			if _, err := tx.ExecContext(ctx, `DELETE FROM `+table+` WHERE tenant_id = ?`, tn.ID); err != nil {
				return fmt.Errorf("delete tenant %s: %w", table, err)
			}
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM tenants WHERE id = ?`, tn.ID); err != nil {
			return fmt.Errorf("delete tenant: %w", err)
		}
		return nil
	})
}

// CountInstancesByState returns, per tenant ID, its instances by state.
func (db *DB) CountInstancesByState(ctx context.Context) (map[string]map[phonefleet.InstanceState]int, error) {
	tx, err := db.beginTx(ctx, false)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	rows, err := tx.QueryContext(ctx, `SELECT tenant_id, state, lifecycle, COUNT(*) FROM instances GROUP BY tenant_id, state, lifecycle`)
	if err != nil {
		return nil, fmt.Errorf("count instances: %w", err)
	}
	defer rows.Close()
	out := make(map[string]map[phonefleet.InstanceState]int)
	for rows.Next() {
		var id string
		var state, lifecycle string
		var n int
		if err := rows.Scan(&id, &state, &lifecycle, &n); err != nil {
			return nil, fmt.Errorf("scan instance count: %w", err)
		}
		if out[id] == nil {
			out[id] = make(map[phonefleet.InstanceState]int)
		}
		out[id][phonefleet.JoinState(state, lifecycle)] += n
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("count instances: %w", err)
	}
	return out, nil
}

// SetSKUPrice sets the SKU's prices in p.Region and returns the SKU.
func (db *DB) SetSKUPrice(ctx context.Context, id string, p phonefleet.RegionPrice) (*phonefleet.SKU, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	var sku *phonefleet.SKU
	err := db.write(ctx, func(ctx context.Context, tx *Tx) error {
		s, err := findSKU(ctx, tx, id)
		if err != nil {
			return err
		} else if s == nil {
			return phonefleet.Errorf(phonefleet.ENotFound, "sku %q not found", id)
		} else if !s.OffersRegion(p.Region) {
			return phonefleet.Errorf(phonefleet.EInvalid, "region %q is not a region of sku %q (regions: %v)", p.Region, id, s.Regions)
		}
		if err := upsertSKUPrice(ctx, tx, id, p); err != nil {
			return err
		}
		sku, err = findSKU(ctx, tx, id)
		return err
	})
	return sku, err
}

func upsertSKUPrice(ctx context.Context, tx *Tx, id string, p phonefleet.RegionPrice) error {
	if _, err := tx.ExecContext(ctx, `
		INSERT INTO sku_region_prices (sku_id, region_id, month_price, year_price, hour_price)
		VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (sku_id, region_id) DO UPDATE SET
			month_price = excluded.month_price, year_price = excluded.year_price, hour_price = excluded.hour_price
	`, id, p.Region, p.MonthPrice, p.YearPrice, p.HourPrice); err != nil {
		return fmt.Errorf("set sku price: %w", formatError(err))
	}
	return nil
}

// RetireSKU stops selling the SKU and returns it; ENotFound if unknown.
func (db *DB) RetireSKU(ctx context.Context, id string) (*phonefleet.SKU, error) {
	var sku *phonefleet.SKU
	err := db.write(ctx, func(ctx context.Context, tx *Tx) error {
		if _, err := tx.ExecContext(ctx, `UPDATE skus SET retired_at = COALESCE(retired_at, ?) WHERE id = ?`, formatTime(tx.now), id); err != nil {
			return fmt.Errorf("retire sku: %w", err)
		}
		s, err := findSKU(ctx, tx, id)
		if err != nil {
			return err
		} else if s == nil {
			return phonefleet.Errorf(phonefleet.ENotFound, "sku %q not found", id)
		}
		sku = s
		return nil
	})
	return sku, err
}

// SumMonthMoney returns, per tenant ID, its orders' and refunds' totals in
// the calendar month of its business time, from one aggregate query over
// the rows since the start of the wall clock's month (business time is
// never behind it), grouped by tenant and month.
func (db *DB) SumMonthMoney(ctx context.Context) (map[string]phonefleet.MonthMoney, error) {
	tx, err := db.beginTx(ctx, false)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	months, err := db.tenantMonths(ctx, tx)
	if err != nil {
		return nil, err
	}
	since := formatTime(phonefleet.MonthStart(tx.wall))
	rows, err := tx.QueryContext(ctx, `
		SELECT tenant_id, month, SUM(revenue), SUM(refunds) FROM (
			SELECT tenant_id, substr(created_at, 1, 7) AS month, total AS revenue, 0 AS refunds FROM orders WHERE created_at >= ?
			UNION ALL
			SELECT tenant_id, substr(created_at, 1, 7), 0, amount FROM refunds WHERE created_at >= ?
		) GROUP BY tenant_id, month
	`, since, since)
	if err != nil {
		return nil, fmt.Errorf("sum month money: %w", err)
	}
	defer rows.Close()
	wallMonth := phonefleet.MonthKey(tx.wall)
	out := make(map[string]phonefleet.MonthMoney)
	for id, m := range months {
		out[id] = phonefleet.MonthMoney{Month: m, Currency: phonefleet.Currency}
	}
	for rows.Next() {
		var id, month string
		var revenue, refunds int64
		if err := rows.Scan(&id, &month, &revenue, &refunds); err != nil {
			return nil, fmt.Errorf("scan month money: %w", err)
		}
		want, ok := months[id]
		if !ok {
			want = wallMonth
		}
		if month == want {
			out[id] = phonefleet.MonthMoney{Month: month, MonthRevenue: revenue, MonthRefunds: refunds, Currency: phonefleet.Currency}
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sum month money: %w", err)
	}
	return out, nil
}

// tenantMonths returns the month of business time of every tenant whose
// test clock runs ahead of the wall clock (none when the test clock is
// off); every other tenant is in the wall clock's month.
func (db *DB) tenantMonths(ctx context.Context, tx *Tx) (map[string]string, error) {
	out := make(map[string]string)
	if !db.TestClock || !db.migrated {
		return out, nil
	}
	rows, err := tx.QueryContext(ctx, `SELECT tenant_id, offset_s, offset_ns FROM tenant_clocks`)
	if err != nil {
		return nil, fmt.Errorf("read test clocks: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		var off phonefleet.ClockSpan
		if err := rows.Scan(&id, &off.Seconds, &off.Nanos); err != nil {
			return nil, fmt.Errorf("scan test clock: %w", err)
		}
		out[id] = phonefleet.MonthKey(off.AddTo(tx.wall))
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read test clocks: %w", err)
	}
	return out, nil
}
