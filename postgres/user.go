package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/phonefleet/phonefleet"
)

const userColumns = `u.id, u.tenant_id, t.name, u.name, u.role, u.password_hash, u.disabled, u.created_at, u.updated_at`

// CreateUser assigns u an ID and stores it. EInvalid if it does not
// validate, ENotFound if its tenant does not exist, EConflict if the tenant
// already has a user of that name.
func (db *DB) CreateUser(ctx context.Context, u *phonefleet.User) error {
	ctx = db.onTenantClock(ctx, u.TenantID)
	if err := u.Validate(); err != nil {
		return err
	}
	return db.withTx(ctx, "create_user", nil, func(ctx context.Context, tx pgx.Tx, now time.Time) error {
		c := *u
		c.ID, c.CreatedAt, c.UpdatedAt = "us"+phonefleet.NewID(10), now, now
		if err := insertUser(ctx, tx, &c); err != nil {
			return err
		}
		*u = c
		return nil
	})
}

func insertUser(ctx context.Context, tx pgx.Tx, u *phonefleet.User) error {
	_, err := tx.Exec(ctx, `
		INSERT INTO users (id, tenant_id, name, role, password_hash, disabled, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
		u.ID, u.TenantID, u.Name, u.Role, u.PasswordHash, u.Disabled, u.CreatedAt.UTC(), u.UpdatedAt.UTC())
	switch err = formatError(err); {
	case err == nil:
		return nil
	case isNotFound(err):
		return phonefleet.Errorf(phonefleet.ENotFound, "tenant %q not found", u.TenantID)
	case isConflict(err):
		return phonefleet.Errorf(phonefleet.EConflict, "user %q already exists", u.Name)
	}
	return fmt.Errorf("insert user: %w", err)
}

// FindUser returns the user called name of the tenant called tenantName;
// ENotFound if either is unknown.
func (db *DB) FindUser(ctx context.Context, tenantName, name string) (*phonefleet.User, error) {
	var u *phonefleet.User
	err := db.read(ctx, func(ctx context.Context) error {
		rows, err := db.pool.Query(ctx, `SELECT `+userColumns+` FROM users u JOIN tenants t ON t.id = u.tenant_id
			WHERE t.name = $1 AND u.name = $2`, tenantName, name)
		if err == nil {
			u, err = pgx.CollectExactlyOneRow(rows, scanUser)
		}
		return err
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, phonefleet.Errorf(phonefleet.ENotFound, "user %q of tenant %q not found", name, tenantName)
	} else if err != nil {
		return nil, fmt.Errorf("find user: %w", err)
	}
	return u, nil
}

// FindUsers lists users by tenant name, then user name.
func (db *DB) FindUsers(ctx context.Context, filter phonefleet.UserFilter) ([]*phonefleet.User, error) {
	ctx, cancel := db.readCtx(ctx)
	defer cancel()
	var conds []string
	var args []any
	if filter.TenantID != nil {
		args = append(args, *filter.TenantID)
		conds = append(conds, fmt.Sprintf("u.tenant_id = $%d", len(args)))
	}
	rows, err := db.pool.Query(ctx, `SELECT `+userColumns+` FROM users u JOIN tenants t ON t.id = u.tenant_id
		`+whereClause(conds)+` ORDER BY t.name COLLATE "C", u.name COLLATE "C"`, args...)
	if err != nil {
		return nil, fmt.Errorf("find users: %w", err)
	}
	users, err := pgx.CollectRows(rows, scanUser)
	if err != nil {
		return nil, fmt.Errorf("find users: %w", err)
	}
	return users, nil
}

// UpdateUser applies upd and revokes the user's tokens in one transaction.
// ENotFound if there is no such user.
func (db *DB) UpdateUser(ctx context.Context, id string, upd phonefleet.UserUpdate) (*phonefleet.User, error) {
	var out *phonefleet.User
	err := db.withTx(ctx, "update_user", nil, func(ctx context.Context, tx pgx.Tx, now time.Time) error {
		rows, err := tx.Query(ctx, `SELECT `+userColumns+` FROM users u JOIN tenants t ON t.id = u.tenant_id
			WHERE u.id = $1 FOR UPDATE OF u`, id)
		if err != nil {
			return fmt.Errorf("find user: %w", err)
		}
		u, err := pgx.CollectExactlyOneRow(rows, scanUser)
		if errors.Is(err, pgx.ErrNoRows) {
			return phonefleet.Errorf(phonefleet.ENotFound, "user %q not found", id)
		} else if err != nil {
			return fmt.Errorf("find user: %w", err)
		}
		if upd.Disabled != nil {
			u.Disabled = *upd.Disabled
		}
		if upd.PasswordHash != nil {
			u.PasswordHash = *upd.PasswordHash
		}
		u.UpdatedAt = now
		if _, err := tx.Exec(ctx, `UPDATE users SET disabled = $2, password_hash = $3, updated_at = $4 WHERE id = $1`,
			id, u.Disabled, u.PasswordHash, now); err != nil {
			return fmt.Errorf("update user: %w", err)
		}
		wall, err := db.wallNow(ctx, tx, now) // security timing keeps wall time
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE tokens SET revoked_at = $2 WHERE user_id = $1 AND revoked_at IS NULL`, id, wall); err != nil {
			return fmt.Errorf("revoke user tokens: %w", err)
		}
		out = u
		return nil
	})
	return out, err
}

func scanUser(row pgx.CollectableRow) (*phonefleet.User, error) {
	var u phonefleet.User
	err := row.Scan(&u.ID, &u.TenantID, &u.TenantName, &u.Name, &u.Role, &u.PasswordHash, &u.Disabled, &u.CreatedAt, &u.UpdatedAt)
	u.CreatedAt, u.UpdatedAt = u.CreatedAt.UTC(), u.UpdatedAt.UTC()
	return &u, err
}
