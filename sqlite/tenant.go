package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

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

	ts, err := findTenants(ctx, tx, "WHERE name = ?", name)
	if err != nil {
		return nil, err
	} else if len(ts) == 0 {
		return nil, phonefleet.Errorf(phonefleet.ENotFound, "tenant %q not found", name)
	}
	return ts[0], nil
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
	var t *phonefleet.Tenant
	err := db.write(ctx, func(ctx context.Context, tx *Tx) error {
		if _, err := tx.ExecContext(ctx, `UPDATE tenants SET max_instances = ? WHERE name = ?`, maxInstances, name); err != nil {
			return fmt.Errorf("update tenant quota: %w", err)
		}
		ts, err := findTenants(ctx, tx, "WHERE name = ?", name)
		if err != nil {
			return err
		} else if len(ts) == 0 {
			return phonefleet.Errorf(phonefleet.ENotFound, "tenant %q not found", name)
		}
		t = ts[0]
		return nil
	})
	return t, err
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
		SELECT id, name, created_at, max_instances, held_instances, suspended_at
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
		if err := rows.Scan(&t.ID, &t.Name, &createdAt, &t.MaxInstances, &t.HeldInstances, &suspendedAt); err != nil {
			return nil, fmt.Errorf("scan tenant: %w", err)
		}
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
