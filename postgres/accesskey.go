package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/phonefleet/phonefleet"
)

const accessKeyColumns = `k.id, k.tenant_id, t.name, k.user_id, u.name, u.role, u.disabled, k.secret, k.created_at`

const accessKeyFrom = ` FROM access_keys k JOIN tenants t ON t.id = k.tenant_id JOIN users u ON u.id = k.user_id `

// CreateAccessKey stores k (ID and Secret set by the caller; CreatedAt
// defaults to now). EInvalid if it does not validate, ENotFound if its user
// is not a user of its tenant, EConflict if the ID is taken.
func (db *DB) CreateAccessKey(ctx context.Context, k *phonefleet.AccessKey) error {
	ctx = db.onTenantClock(ctx, k.TenantID)
	if err := k.Validate(); err != nil {
		return err
	}
	return db.withTx(ctx, "create_access_key", nil, func(ctx context.Context, tx pgx.Tx, now time.Time) error {
		c := *k
		if c.CreatedAt.IsZero() {
			c.CreatedAt = now
		}
		if err := insertAccessKey(ctx, tx, &c); err != nil {
			return err
		}
		*k = c
		return nil
	})
}

func insertAccessKey(ctx context.Context, tx pgx.Tx, k *phonefleet.AccessKey) error {
	tag, err := tx.Exec(ctx, `
		INSERT INTO access_keys (id, tenant_id, user_id, secret, created_at)
		SELECT $1, $2, $3, $4, $5 FROM users WHERE id = $3 AND tenant_id = $2`,
		k.ID, k.TenantID, k.UserID, k.Secret, k.CreatedAt.UTC())
	switch err = formatError(err); {
	case isConflict(err):
		return phonefleet.Errorf(phonefleet.EConflict, "access key %q already exists", k.ID)
	case err != nil:
		return fmt.Errorf("insert access key: %w", err)
	case tag.RowsAffected() == 0:
		return phonefleet.Errorf(phonefleet.ENotFound, "user %q of tenant %q not found", k.UserID, k.TenantID)
	}
	return nil
}

// FindAccessKey returns the key with its secret and its user's name, role
// and disabled flag; ENotFound if none.
func (db *DB) FindAccessKey(ctx context.Context, id string) (*phonefleet.AccessKey, error) {
	var k *phonefleet.AccessKey
	err := db.read(ctx, func(ctx context.Context) error {
		rows, err := db.pool.Query(ctx, `SELECT `+accessKeyColumns+accessKeyFrom+`WHERE k.id = $1`, id)
		if err == nil {
			k, err = pgx.CollectExactlyOneRow(rows, scanAccessKey)
		}
		return err
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, phonefleet.Errorf(phonefleet.ENotFound, "access key %q not found", id)
	} else if err != nil {
		return nil, fmt.Errorf("find access key: %w", err)
	}
	return k, nil
}

// FindAccessKeys lists keys by tenant name, user name and ID.
func (db *DB) FindAccessKeys(ctx context.Context, filter phonefleet.AccessKeyFilter) ([]*phonefleet.AccessKey, error) {
	ctx, cancel := db.readCtx(ctx)
	defer cancel()
	var conds []string
	var args []any
	if filter.TenantID != nil {
		args = append(args, *filter.TenantID)
		conds = append(conds, fmt.Sprintf("k.tenant_id = $%d", len(args)))
	}
	rows, err := db.pool.Query(ctx, `SELECT `+accessKeyColumns+accessKeyFrom+whereClause(conds)+
		` ORDER BY t.name COLLATE "C", u.name COLLATE "C", k.id COLLATE "C"`, args...)
	if err != nil {
		return nil, fmt.Errorf("find access keys: %w", err)
	}
	keys, err := pgx.CollectRows(rows, scanAccessKey)
	if err != nil {
		return nil, fmt.Errorf("find access keys: %w", err)
	}
	return keys, nil
}

// DeleteAccessKey removes the key; ENotFound if there is no such ID.
func (db *DB) DeleteAccessKey(ctx context.Context, id string) error {
	return db.withTx(ctx, "delete_access_key", nil, func(ctx context.Context, tx pgx.Tx, now time.Time) error {
		tag, err := tx.Exec(ctx, `DELETE FROM access_keys WHERE id = $1`, id)
		if err != nil {
			return fmt.Errorf("delete access key: %w", err)
		} else if tag.RowsAffected() == 0 {
			return phonefleet.Errorf(phonefleet.ENotFound, "access key %q not found", id)
		}
		return nil
	})
}

func scanAccessKey(row pgx.CollectableRow) (*phonefleet.AccessKey, error) {
	var k phonefleet.AccessKey
	err := row.Scan(&k.ID, &k.TenantID, &k.TenantName, &k.UserID, &k.UserName, &k.UserRole, &k.UserDisabled, &k.Secret, &k.CreatedAt)
	k.CreatedAt = k.CreatedAt.UTC()
	return &k, err
}
