package postgres

import (
	"context"
	"errors"
	"fmt"
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
		_, err := tx.Exec(ctx, `INSERT INTO tenants (id, name, created_at) VALUES ($1, $2, $3)`, id, t.Name, now)
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
	ctx, cancel := db.readCtx(ctx)
	defer cancel()
	var t phonefleet.Tenant
	err := db.pool.QueryRow(ctx, `SELECT id, name, created_at FROM tenants WHERE name = $1`, name).Scan(&t.ID, &t.Name, &t.CreatedAt)
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
	rows, err := db.pool.Query(ctx, `SELECT id, name, created_at FROM tenants ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("find tenants: %w", err)
	}
	tenants, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (*phonefleet.Tenant, error) {
		var t phonefleet.Tenant
		return &t, row.Scan(&t.ID, &t.Name, &t.CreatedAt)
	})
	if err != nil {
		return nil, fmt.Errorf("find tenants: %w", err)
	}
	return tenants, nil
}
