package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/phonefleet/phonefleet"
)

var _ phonefleet.AdminService = (*DB)(nil)

// SetTenantSuspended suspends (at now) or resumes the tenant called name
// and returns it; ENotFound if there is no such tenant.
func (db *DB) SetTenantSuspended(ctx context.Context, name string, suspended bool) (*phonefleet.Tenant, error) {
	var t phonefleet.Tenant
	err := db.withTx(ctx, "set_tenant_suspended", nil, func(ctx context.Context, tx pgx.Tx, now time.Time) error {
		q := `UPDATE tenants SET suspended_at = NULL WHERE name = $1 RETURNING ` + tenantColumns
		args := []any{name}
		if suspended {
			q = `UPDATE tenants SET suspended_at = COALESCE(suspended_at, $2) WHERE name = $1 RETURNING ` + tenantColumns
			args = append(args, now)
		}
		err := tx.QueryRow(ctx, q, args...).Scan(tenantDest(&t)...)
		if errors.Is(err, pgx.ErrNoRows) {
			return phonefleet.Errorf(phonefleet.ENotFound, "tenant %q not found", name)
		} else if err != nil {
			return fmt.Errorf("suspend tenant: %w", err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &t, nil
}

// SuspendedTenantIDs returns the IDs of the suspended tenants.
func (db *DB) SuspendedTenantIDs(ctx context.Context) ([]string, error) {
	var ids []string
	err := db.read(ctx, func(ctx context.Context) error {
		rows, err := db.pool.Query(ctx, `SELECT id FROM tenants WHERE suspended_at IS NOT NULL ORDER BY id`)
		if err == nil {
			ids, err = pgx.CollectRows(rows, pgx.RowTo[string])
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("find suspended tenants: %w", err)
	}
	if ids == nil {
		ids = []string{}
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
	return db.withTx(ctx, "delete_tenant", nil, func(ctx context.Context, tx pgx.Tx, now time.Time) error {
		var id string
		err := tx.QueryRow(ctx, `SELECT id FROM tenants WHERE name = $1 FOR UPDATE`, name).Scan(&id)
		if errors.Is(err, pgx.ErrNoRows) {
			return phonefleet.Errorf(phonefleet.ENotFound, "tenant %q not found", name)
		} else if err != nil {
			return fmt.Errorf("find tenant: %w", err)
		}
		var held int
		if err := tx.QueryRow(ctx, `SELECT COUNT(*) FROM instances WHERE tenant_id = $1 AND state <> 'released'`, id).Scan(&held); err != nil {
			return fmt.Errorf("count held instances: %w", err)
		} else if held > 0 {
			return phonefleet.Errorf(phonefleet.EConflict, "tenant %q holds %d instance(s) that are not released; unsubscribe them and wait for their release first", name, held)
		}
		for _, table := range tenantTables {
			if _, err := tx.Exec(ctx, `DELETE FROM `+table+` WHERE tenant_id = $1`, id); err != nil {
				return fmt.Errorf("delete tenant %s: %w", table, err)
			}
		}
		if _, err := tx.Exec(ctx, `DELETE FROM tenants WHERE id = $1`, id); err != nil {
			return fmt.Errorf("delete tenant: %w", err)
		}
		return nil
	})
}

// CountInstancesByState returns, per tenant ID, its instances by state.
func (db *DB) CountInstancesByState(ctx context.Context) (map[string]map[phonefleet.InstanceState]int, error) {
	out := make(map[string]map[phonefleet.InstanceState]int)
	err := db.read(ctx, func(ctx context.Context) error {
		clear(out)
		rows, err := db.pool.Query(ctx, `SELECT tenant_id, state, lifecycle, COUNT(*) FROM instances GROUP BY tenant_id, state, lifecycle`)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var id string
			var state, lifecycle string
			var n int
			if err := rows.Scan(&id, &state, &lifecycle, &n); err != nil {
				return err
			}
			if out[id] == nil {
				out[id] = make(map[phonefleet.InstanceState]int)
			}
			out[id][phonefleet.JoinState(state, lifecycle)] += n
		}
		return rows.Err()
	})
	if err != nil {
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
	err := db.withTx(ctx, "set_sku_price", nil, func(ctx context.Context, tx pgx.Tx, now time.Time) error {
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

func upsertSKUPrice(ctx context.Context, tx pgx.Tx, id string, p phonefleet.RegionPrice) error {
	if _, err := tx.Exec(ctx, `
		INSERT INTO sku_region_prices (sku_id, region_id, month_price, year_price, hour_price)
		VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (sku_id, region_id) DO UPDATE SET
			month_price = excluded.month_price, year_price = excluded.year_price, hour_price = excluded.hour_price`,
		id, p.Region, p.MonthPrice, p.YearPrice, p.HourPrice); err != nil {
		return fmt.Errorf("set sku price: %w", err)
	}
	return nil
}

// RetireSKU stops selling the SKU and returns it; ENotFound if unknown.
func (db *DB) RetireSKU(ctx context.Context, id string) (*phonefleet.SKU, error) {
	var sku *phonefleet.SKU
	err := db.withTx(ctx, "retire_sku", nil, func(ctx context.Context, tx pgx.Tx, now time.Time) error {
		if _, err := tx.Exec(ctx, `UPDATE skus SET retired_at = COALESCE(retired_at, $2) WHERE id = $1`, id, now); err != nil {
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
// the rows since the start of the database clock's month (business time
// is never behind it), grouped by tenant and month.
func (db *DB) SumMonthMoney(ctx context.Context) (map[string]phonefleet.MonthMoney, error) {
	out := make(map[string]phonefleet.MonthMoney)
	err := db.withTx(ctx, "sum_month_money", nil, func(ctx context.Context, tx pgx.Tx, now time.Time) error {
		clear(out)
		months, err := db.tenantMonths(ctx, tx, now)
		if err != nil {
			return err
		}
		for id, m := range months {
			out[id] = phonefleet.MonthMoney{Month: m, Currency: phonefleet.Currency}
		}
		rows, err := tx.Query(ctx, `
			SELECT tenant_id, month, SUM(revenue)::bigint, SUM(refunds)::bigint FROM (
				SELECT tenant_id, to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM') AS month, total AS revenue, 0::bigint AS refunds FROM orders WHERE created_at >= $1
				UNION ALL
				SELECT tenant_id, to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM'), 0, amount FROM refunds WHERE created_at >= $1
			) m GROUP BY tenant_id, month
		`, phonefleet.MonthStart(now))
		if err != nil {
			return fmt.Errorf("sum month money: %w", err)
		}
		defer rows.Close()
		wallMonth := phonefleet.MonthKey(now)
		for rows.Next() {
			var id, month string
			var revenue, refunds int64
			if err := rows.Scan(&id, &month, &revenue, &refunds); err != nil {
				return fmt.Errorf("scan month money: %w", err)
			}
			want, ok := months[id]
			if !ok {
				want = wallMonth
			}
			if month == want {
				out[id] = phonefleet.MonthMoney{Month: month, MonthRevenue: revenue, MonthRefunds: refunds, Currency: phonefleet.Currency}
			}
		}
		return rows.Err()
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// tenantMonths returns the month of business time of every tenant whose
// test clock runs ahead of the database clock (none when the test clock is
// off); every other tenant is in the month of now.
func (db *DB) tenantMonths(ctx context.Context, tx pgx.Tx, now time.Time) (map[string]string, error) {
	out := make(map[string]string)
	if !db.TestClock {
		return out, nil
	}
	rows, err := tx.Query(ctx, `SELECT tenant_id, offset_s, offset_ns FROM tenant_clocks`)
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
		out[id] = phonefleet.MonthKey(off.AddTo(now))
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read test clocks: %w", err)
	}
	return out, nil
}
