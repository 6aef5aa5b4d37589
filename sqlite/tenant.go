package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/phonefleet/phonefleet"
)

// CreateTenant assigns t a new ID and stores it. EInvalid for a bad name,
// EConflict if the name is taken.
func (db *DB) CreateTenant(ctx context.Context, t *phonefleet.Tenant) error {
	if err := t.Validate(); err != nil {
		return err
	}
	return db.write(ctx, func(ctx context.Context, tx *Tx) error {
		return insertTenant(ctx, tx, t)
	})
}

// FindTenantByName returns the tenant called name; ENotFound if none.
func (db *DB) FindTenantByName(ctx context.Context, name string) (*phonefleet.Tenant, error) {
	tx, err := db.beginTx(ctx, false)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	return findTenantNamed(ctx, tx, name)
}

// FindTenants returns all tenants ordered by name.
func (db *DB) FindTenants(ctx context.Context) ([]*phonefleet.Tenant, error) {
	tx, err := db.beginTx(ctx, false)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	return findTenants(ctx, tx, "")
}

// UpdateTenantQuota sets the instance quota of the tenant called name.
// ENotFound if there is no such tenant, EInvalid for a bad quota.
func (db *DB) UpdateTenantQuota(ctx context.Context, name string, maxInstances int) (*phonefleet.Tenant, error) {
	if err := phonefleet.ValidateMaxInstances(maxInstances); err != nil {
		return nil, err
	}
	return db.updateTenant(ctx, name, "update tenant quota", `UPDATE tenants SET max_instances = ? WHERE name = ?`, maxInstances, name)
}

// UpdateTenantPeriods sets the lifecycle periods of the tenant called name.
// ENotFound if there is no such tenant, EInvalid for a bad period.
func (db *DB) UpdateTenantPeriods(ctx context.Context, name string, u phonefleet.TenantPeriodsUpdate) (*phonefleet.Tenant, error) {
	if err := u.Validate(); err != nil {
		return nil, err
	}
	return db.updateTenant(ctx, name, "update tenant periods", `
		UPDATE tenants SET grace_period_ns = COALESCE(?, grace_period_ns), retention_period_ns = COALESCE(?, retention_period_ns)
		WHERE name = ?
	`, durationArg(u.Grace), durationArg(u.Retention), name)
}

// updateTenant runs the update q (with args) on the tenant called name and
// returns the tenant as it is then; what names the update in errors.
// ENotFound if there is no such tenant.
func (db *DB) updateTenant(ctx context.Context, name, what, q string, args ...any) (*phonefleet.Tenant, error) {
	var t *phonefleet.Tenant
	err := db.write(ctx, func(ctx context.Context, tx *Tx) error {
		if _, err := tx.ExecContext(ctx, q, args...); err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		var err error
		t, err = findTenantNamed(ctx, tx, name)
		return err
	})
	return t, err
}

// findTenantNamed returns the tenant called name; ENotFound if there is
// none.
func findTenantNamed(ctx context.Context, tx *Tx, name string) (*phonefleet.Tenant, error) {
	ts, err := findTenants(ctx, tx, "WHERE name = ?", name)
	if err != nil {
		return nil, err
	} else if len(ts) == 0 {
		return nil, phonefleet.Errorf(phonefleet.ENotFound, "tenant %q not found", name)
	}
	return ts[0], nil
}

// durationArg is d in nanoseconds, or NULL.
func durationArg(d *time.Duration) any {
	if d == nil {
		return nil
	}
	return int64(*d)
}

// periodArg is p in nanoseconds, or NULL.
func periodArg(p *phonefleet.Period) any {
	if p == nil {
		return nil
	}
	return int64(*p)
}

// nullPeriod is the period of a nullable nanoseconds column.
func nullPeriod(v sql.NullInt64) *phonefleet.Period {
	if !v.Valid {
		return nil
	}
	p := phonefleet.Period(v.Int64)
	return &p
}

func insertTenant(ctx context.Context, tx *Tx, t *phonefleet.Tenant) error {
	t.ID, t.CreatedAt = "tn"+phonefleet.NewID(10), tx.now
	if _, err := tx.ExecContext(ctx, `
		INSERT INTO tenants (id, name, created_at, max_instances)
		VALUES (?, ?, ?, ?)
	`, t.ID, t.Name, formatTime(t.CreatedAt), t.MaxInstances); err != nil {
		if err = formatError(err); isConflict(err) {
			return phonefleet.Errorf(phonefleet.EConflict, "tenant %q already exists", t.Name)
		}
		return fmt.Errorf("insert tenant: %w", err)
	}
	return nil
}

// findTenants returns the tenants matching where (with its args) by name.
func findTenants(ctx context.Context, tx *Tx, where string, args ...any) ([]*phonefleet.Tenant, error) {
	rows, err := tx.QueryContext(ctx, `
		SELECT id, name, created_at, max_instances, held_instances, suspended_at, grace_period_ns, retention_period_ns
		FROM tenants
		`+where+`
		ORDER BY name
	`, args...)
	if err != nil {
		return nil, fmt.Errorf("query tenants: %w", err)
	}
	defer rows.Close()

	var out []*phonefleet.Tenant
	for rows.Next() {
		var t phonefleet.Tenant
		var createdAt string
		var suspendedAt sql.NullString
		var grace, retention sql.NullInt64
		if err := rows.Scan(&t.ID, &t.Name, &createdAt, &t.MaxInstances, &t.HeldInstances, &suspendedAt, &grace, &retention); err != nil {
			return nil, fmt.Errorf("scan tenant: %w", err)
		}
		t.GracePeriod, t.RetentionPeriod = nullPeriod(grace), nullPeriod(retention)
		if t.CreatedAt, err = parseTime(createdAt); err != nil {
			return nil, err
		} else if t.SuspendedAt, err = parseNullTime(suspendedAt); err != nil {
			return nil, err
		}
		out = append(out, &t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("query tenants: %w", err)
	}
	return out, nil
}

// errNoRows reports whether err is sql.ErrNoRows.
func errNoRows(err error) bool { return errors.Is(err, sql.ErrNoRows) }
