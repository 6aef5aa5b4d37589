package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/phonefleet/phonefleet"
)

// CreateTenant assigns t a new ID and creation time and stores it. EInvalid
// for a bad name, EConflict if the name is taken.
func (db *DB) CreateTenant(ctx context.Context, t *phonefleet.Tenant) error {
	if err := t.Validate(); err != nil {
		return err
	}
	id := "tn" + phonefleet.NewID(10)
	var createdAt time.Time
	err := db.withTx(ctx, "create_tenant", nil, func(ctx context.Context, tx pgx.Tx, now time.Time) error {
		createdAt = now
		_, err := tx.Exec(ctx, `INSERT INTO tenants (id, name, created_at, max_instances) VALUES ($1, $2, $3, $4)`, id, t.Name, now, t.MaxInstances)
		if err = formatError(err); isConflict(err) {
			return phonefleet.Errorf(phonefleet.EConflict, "tenant %q already exists", t.Name)
		} else if err != nil {
			return fmt.Errorf("insert tenant: %w", err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	t.ID, t.CreatedAt = id, createdAt
	return nil
}

// FindTenantByName returns ENotFound if there is no such tenant.
func (db *DB) FindTenantByName(ctx context.Context, name string) (*phonefleet.Tenant, error) {
	var t phonefleet.Tenant
	err := db.read(ctx, func(ctx context.Context) error {
		return db.pool.QueryRow(ctx, `SELECT `+tenantColumns+` FROM tenants WHERE name = $1`, name).Scan(tenantDest(&t)...)
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, phonefleet.Errorf(phonefleet.ENotFound, "tenant %q not found", name)
	} else if err != nil {
		return nil, fmt.Errorf("find tenant: %w", err)
	}
	return &t, nil
}

// FindTenants returns all tenants ordered by name.
func (db *DB) FindTenants(ctx context.Context) ([]*phonefleet.Tenant, error) {
	ctx, cancel := db.readCtx(ctx)
	defer cancel()
	rows, err := db.pool.Query(ctx, `SELECT `+tenantColumns+` FROM tenants ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("find tenants: %w", err)
	}
	tenants, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (*phonefleet.Tenant, error) {
		var t phonefleet.Tenant
		return &t, row.Scan(tenantDest(&t)...)
	})
	if err != nil {
		return nil, fmt.Errorf("find tenants: %w", err)
	}
	return tenants, nil
}

// tenantColumns are the columns tenantDest scans.
const tenantColumns = `id, name, created_at, max_instances, held_instances, suspended_at, grace_period_ns, retention_period_ns`

func tenantDest(t *phonefleet.Tenant) []any {
	return []any{&t.ID, &t.Name, &t.CreatedAt, &t.MaxInstances, &t.HeldInstances, &t.SuspendedAt, &t.GracePeriod, &t.RetentionPeriod}
}

// UpdateTenantPeriods sets the lifecycle periods of the tenant called name.
// ENotFound if there is no such tenant, EInvalid for a bad period.
func (db *DB) UpdateTenantPeriods(ctx context.Context, name string, u phonefleet.TenantPeriodsUpdate) (*phonefleet.Tenant, error) {
	if err := u.Validate(); err != nil {
		return nil, err
	}
	return db.updateTenant(ctx, "update_tenant_periods", `
		UPDATE tenants SET grace_period_ns = COALESCE($2, grace_period_ns), retention_period_ns = COALESCE($3, retention_period_ns)
		WHERE name = $1 RETURNING `+tenantColumns, name, nsArg(u.Grace), nsArg(u.Retention))
}

// UpdateTenantQuota sets the instance quota of the tenant called name.
// ENotFound if there is no such tenant, EInvalid for a bad quota.
func (db *DB) UpdateTenantQuota(ctx context.Context, name string, maxInstances int) (*phonefleet.Tenant, error) {
	if err := phonefleet.ValidateMaxInstances(maxInstances); err != nil {
		return nil, err
	}
	return db.updateTenant(ctx, "update_tenant_quota", `UPDATE tenants SET max_instances = $2 WHERE name = $1 RETURNING `+tenantColumns, name, maxInstances)
}

// updateTenant runs q, an update of the tenant called args[0] that returns
// tenantColumns, in a transaction named op, and returns the tenant as it
// is then; ENotFound if there is no such tenant.
func (db *DB) updateTenant(ctx context.Context, op, q string, args ...any) (*phonefleet.Tenant, error) {
	var t phonefleet.Tenant
	err := db.withTx(ctx, op, nil, func(ctx context.Context, tx pgx.Tx, now time.Time) error {
		err := tx.QueryRow(ctx, q, args...).Scan(tenantDest(&t)...)
		if errors.Is(err, pgx.ErrNoRows) {
			return phonefleet.Errorf(phonefleet.ENotFound, "tenant %q not found", args[0])
		} else if err != nil {
			return fmt.Errorf("%s: %w", strings.ReplaceAll(op, "_", " "), err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &t, nil
}

// nsArg is d in nanoseconds, or NULL.
func nsArg(d *time.Duration) *int64 {
	if d == nil {
		return nil
	}
	n := int64(*d)
	return &n
}

// periodNs is p in nanoseconds, or NULL.
func periodNs(p *phonefleet.Period) *int64 {
	if p == nil {
		return nil
	}
	n := int64(*p)
	return &n
}
