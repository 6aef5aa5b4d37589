package sqlite

import (
	"context"
	"fmt"

	"github.com/phonefleet/phonefleet"
)

// CreateAccessKey stores k (ID and Secret set by the caller; CreatedAt
// defaults to now). EInvalid if it does not validate, ENotFound if its user
// is not a user of its tenant, EConflict if the ID is taken.
func (db *DB) CreateAccessKey(ctx context.Context, k *phonefleet.AccessKey) error {
	ctx = db.onTenantClock(ctx, k.TenantID)
	if err := k.Validate(); err != nil {
		return err
	}
	return db.write(ctx, func(ctx context.Context, tx *Tx) error {
		return createAccessKey(ctx, tx, k)
	})
}

// FindAccessKey returns the key with its secret and its user's name, role
// and disabled flag; ENotFound if none.
func (db *DB) FindAccessKey(ctx context.Context, id string) (*phonefleet.AccessKey, error) {
	tx, err := db.beginTx(ctx, false)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	ks, err := findAccessKeys(ctx, tx, "WHERE k.id = ?", id)
	if err != nil {
		return nil, err
	} else if len(ks) == 0 {
		return nil, phonefleet.Errorf(phonefleet.ENotFound, "access key %q not found", id)
	}
	return ks[0], nil
}

// FindAccessKeys lists keys by tenant name, user name and ID.
func (db *DB) FindAccessKeys(ctx context.Context, filter phonefleet.AccessKeyFilter) ([]*phonefleet.AccessKey, error) {
	tx, err := db.beginTx(ctx, false)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	if filter.TenantID != nil {
		return findAccessKeys(ctx, tx, "WHERE k.tenant_id = ?", *filter.TenantID)
	}
	return findAccessKeys(ctx, tx, "")
}

// DeleteAccessKey removes the key; ENotFound if there is no such ID.
func (db *DB) DeleteAccessKey(ctx context.Context, id string) error {
	return db.write(ctx, func(ctx context.Context, tx *Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM access_keys WHERE id = ?`, id)
		if err != nil {
			return fmt.Errorf("delete access key: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return fmt.Errorf("delete access key: %w", err)
		} else if n == 0 {
			return phonefleet.Errorf(phonefleet.ENotFound, "access key %q not found", id)
		}
		return nil
	})
}

func createAccessKey(ctx context.Context, tx *Tx, k *phonefleet.AccessKey) error {
	if k.CreatedAt.IsZero() {
		k.CreatedAt = tx.now
	}
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM users WHERE id = ? AND tenant_id = ?`, k.UserID, k.TenantID).Scan(&n); err != nil {
		return fmt.Errorf("find access key user: %w", err)
	} else if n == 0 {
		return phonefleet.Errorf(phonefleet.ENotFound, "user %q of tenant %q not found", k.UserID, k.TenantID)
	}
	if _, err := tx.ExecContext(ctx, `
		INSERT INTO access_keys (id, tenant_id, user_id, secret, created_at)
		VALUES (?, ?, ?, ?, ?)
	`, k.ID, k.TenantID, k.UserID, k.Secret, formatTime(k.CreatedAt)); err != nil {
		if err = formatError(err); isConflict(err) {
			return phonefleet.Errorf(phonefleet.EConflict, "access key %q already exists", k.ID)
		}
		return fmt.Errorf("insert access key: %w", err)
	}
	return nil
}

// findAccessKeys returns the keys matching where (alias k), with tenant and
// user, by tenant name, user name and ID.
func findAccessKeys(ctx context.Context, tx *Tx, where string, args ...any) ([]*phonefleet.AccessKey, error) {
	rows, err := tx.QueryContext(ctx, `
		SELECT k.id, k.tenant_id, t.name, k.user_id, u.name, u.role, u.disabled, k.secret, k.created_at
		FROM access_keys k
		JOIN tenants t ON t.id = k.tenant_id
		JOIN users u ON u.id = k.user_id
		`+where+`
		ORDER BY t.name, u.name, k.id
	`, args...)
	if err != nil {
		return nil, fmt.Errorf("query access keys: %w", err)
	}
	defer rows.Close()

	var out []*phonefleet.AccessKey
	for rows.Next() {
		var k phonefleet.AccessKey
		var createdAt string
		if err := rows.Scan(&k.ID, &k.TenantID, &k.TenantName, &k.UserID, &k.UserName, &k.UserRole, &k.UserDisabled,
			&k.Secret, &createdAt); err != nil {
			return nil, fmt.Errorf("scan access key: %w", err)
		}
		if k.CreatedAt, err = parseTime(createdAt); err != nil {
			return nil, err
		}
		out = append(out, &k)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("query access keys: %w", err)
	}
	return out, nil
}
