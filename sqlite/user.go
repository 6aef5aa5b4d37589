package sqlite

import (
	"context"
	"fmt"

	"github.com/phonefleet/phonefleet"
)

// CreateUser assigns u an ID and stores it. EInvalid if it does not
// validate, EConflict if the tenant already has a user of that name.
func (db *DB) CreateUser(ctx context.Context, u *phonefleet.User) error {
	ctx = db.onTenantClock(ctx, u.TenantID)
	if err := u.Validate(); err != nil {
		return err
	}
	return db.write(ctx, func(ctx context.Context, tx *Tx) error {
		return createUser(ctx, tx, u, true)
	})
}

// FindUser returns the user called name of the tenant called tenantName;
// ENotFound if either is unknown.
func (db *DB) FindUser(ctx context.Context, tenantName, name string) (*phonefleet.User, error) {
	tx, err := db.beginTx(ctx, false)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()

	us, err := findUsers(ctx, tx, "WHERE t.name = ? AND u.name = ?", tenantName, name)
	if err != nil {
		return nil, err
	} else if len(us) == 0 {
		return nil, phonefleet.Errorf(phonefleet.ENotFound, "user %q of tenant %q not found", name, tenantName)
	}
	return us[0], nil
}

// FindUsers lists users by tenant name, then user name.
func (db *DB) FindUsers(ctx context.Context, filter phonefleet.UserFilter) ([]*phonefleet.User, error) {
	tx, err := db.beginTx(ctx, false)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	if filter.TenantID != nil {
		return findUsers(ctx, tx, "WHERE u.tenant_id = ?", *filter.TenantID)
	}
	return findUsers(ctx, tx, "")
}

// UpdateUser applies upd and revokes the user's tokens in one transaction.
// ENotFound if there is no such user.
func (db *DB) UpdateUser(ctx context.Context, id string, upd phonefleet.UserUpdate) (*phonefleet.User, error) {
	var out *phonefleet.User
	err := db.write(ctx, func(ctx context.Context, tx *Tx) error {
		var err error
		out, err = updateUser(ctx, tx, id, upd)
		return err
	})
	return out, err
}

// createUser inserts u; fresh assigns it a new ID and times (an import
// keeps the snapshot's).
func createUser(ctx context.Context, tx *Tx, u *phonefleet.User, fresh bool) error {
	if fresh {
		u.ID, u.CreatedAt, u.UpdatedAt = "us"+phonefleet.NewID(10), tx.now, tx.now
	}
	if _, err := tx.ExecContext(ctx, `
		INSERT INTO users (id, tenant_id, name, role, password_hash, disabled, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)
	`, u.ID, u.TenantID, u.Name, u.Role, u.PasswordHash, u.Disabled,
		formatTime(u.CreatedAt), formatTime(u.UpdatedAt)); err != nil {
		if err = formatError(err); isConflict(err) {
			return phonefleet.Errorf(phonefleet.EConflict, "user %q already exists", u.Name)
		}
		return fmt.Errorf("insert user: %w", err)
	}
	return nil
}

func updateUser(ctx context.Context, tx *Tx, id string, upd phonefleet.UserUpdate) (*phonefleet.User, error) {
	us, err := findUsers(ctx, tx, "WHERE u.id = ?", id)
	if err != nil {
		return nil, err
	} else if len(us) == 0 {
		return nil, phonefleet.Errorf(phonefleet.ENotFound, "user %q not found", id)
	}
	u := us[0]
	if upd.Disabled != nil {
		u.Disabled = *upd.Disabled
	}
	if upd.PasswordHash != nil {
		u.PasswordHash = *upd.PasswordHash
	}
	u.UpdatedAt = tx.now
	if _, err := tx.ExecContext(ctx, `
		UPDATE users SET disabled = ?, password_hash = ?, updated_at = ?
		WHERE id = ?
	`, u.Disabled, u.PasswordHash, formatTime(u.UpdatedAt), id); err != nil {
		return nil, fmt.Errorf("update user: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `
		UPDATE tokens SET revoked_at = ?
		WHERE user_id = ? AND revoked_at IS NULL
	`, formatTime(tx.wall), id); err != nil {
		return nil, fmt.Errorf("revoke user tokens: %w", err)
	}
	return u, nil
}

// findUsers returns the users matching where (aliases u and t), by tenant
// name and user name.
func findUsers(ctx context.Context, tx *Tx, where string, args ...any) ([]*phonefleet.User, error) {
	rows, err := tx.QueryContext(ctx, `
		SELECT u.id, u.tenant_id, t.name, u.name, u.role, u.password_hash, u.disabled, u.created_at, u.updated_at
		FROM users u
		JOIN tenants t ON t.id = u.tenant_id
		`+where+`
		ORDER BY t.name, u.name
	`, args...)
	if err != nil {
		return nil, fmt.Errorf("query users: %w", err)
	}
	defer rows.Close()

	var out []*phonefleet.User
	for rows.Next() {
		var u phonefleet.User
		var createdAt, updatedAt string
		if err := rows.Scan(&u.ID, &u.TenantID, &u.TenantName, &u.Name, &u.Role, &u.PasswordHash, &u.Disabled,
			&createdAt, &updatedAt); err != nil {
			return nil, fmt.Errorf("scan user: %w", err)
		}
		if u.CreatedAt, err = parseTime(createdAt); err != nil {
			return nil, err
		} else if u.UpdatedAt, err = parseTime(updatedAt); err != nil {
			return nil, err
		}
		out = append(out, &u)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("query users: %w", err)
	}
	return out, nil
}
