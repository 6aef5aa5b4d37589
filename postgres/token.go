package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/phonefleet/phonefleet"
)

const tokenColumns = `k.id, k.tenant_id, t.name, COALESCE(k.user_id, ''), COALESCE(u.name, ''), k.name, k.actions, k.hash, k.created_at, k.expires_at, k.revoked_at`

// CreateToken stores t. EInvalid if it does not validate, ENotFound if its
// tenant does not exist, EConflict if its ID or hash is taken.
func (db *DB) CreateToken(ctx context.Context, t *phonefleet.Token) error {
	if err := t.Validate(); err != nil {
		return err
	}
	return db.withTx(ctx, "create_token", nil, func(ctx context.Context, tx pgx.Tx, now time.Time) error {
		_, err := tx.Exec(ctx, `
			INSERT INTO tokens (id, tenant_id, user_id, name, hash, actions, created_at, expires_at, revoked_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
			t.ID, t.TenantID, nullString(t.UserID), t.Name, t.Hash, t.Actions, t.CreatedAt.UTC(), t.ExpiresAt.UTC(), t.RevokedAt)
		switch err = formatError(err); {
		case err == nil:
			return nil
		case isNotFound(err):
			return phonefleet.Errorf(phonefleet.ENotFound, "tenant %q or user %q not found", t.TenantID, t.UserID)
		case isConflict(err):
			return phonefleet.Errorf(phonefleet.EConflict, "token %q already exists", t.ID)
		}
		return fmt.Errorf("insert token: %w", err)
	})
}

// FindTokenByHash returns the token with that hash, revoked or expired ones
// included, with TenantName filled in; ENotFound if none.
func (db *DB) FindTokenByHash(ctx context.Context, hash []byte) (*phonefleet.Token, error) {
	var tok *phonefleet.Token
	err := db.read(ctx, func(ctx context.Context) error {
		rows, err := db.pool.Query(ctx, `SELECT `+tokenColumns+` FROM tokens k JOIN tenants t ON t.id = k.tenant_id LEFT JOIN users u ON u.id = k.user_id WHERE k.hash = $1`, hash)
		if err == nil {
			tok, err = pgx.CollectExactlyOneRow(rows, scanToken)
		}
		return err
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, phonefleet.Errorf(phonefleet.ENotFound, "token not found")
	} else if err != nil {
		return nil, fmt.Errorf("find token: %w", err)
	}
	return tok, nil
}

// FindTokens lists tokens, newest first.
func (db *DB) FindTokens(ctx context.Context, filter phonefleet.TokenFilter) ([]*phonefleet.Token, error) {
	ctx, cancel := db.readCtx(ctx)
	defer cancel()
	var conds []string
	var args []any
	if filter.TenantID != nil {
		args = append(args, *filter.TenantID)
		conds = append(conds, fmt.Sprintf("k.tenant_id = $%d", len(args)))
	}
	rows, err := db.pool.Query(ctx, `
		SELECT `+tokenColumns+`
		FROM tokens k JOIN tenants t ON t.id = k.tenant_id LEFT JOIN users u ON u.id = k.user_id
		`+whereClause(conds)+`
		ORDER BY k.created_at DESC, k.id DESC`, args...)
	if err != nil {
		return nil, fmt.Errorf("find tokens: %w", err)
	}
	tokens, err := pgx.CollectRows(rows, scanToken)
	if err != nil {
		return nil, fmt.Errorf("find tokens: %w", err)
	}
	return tokens, nil
}

// RevokeToken marks the token revoked; ENotFound if there is no such ID.
// Revoking a revoked token keeps its first revocation time.
func (db *DB) RevokeToken(ctx context.Context, id string) error {
	return db.withTx(ctx, "revoke_token", nil, func(ctx context.Context, tx pgx.Tx, now time.Time) error {
		wall, err := db.wallNow(ctx, tx, now) // security timing keeps wall time
		if err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, `UPDATE tokens SET revoked_at = COALESCE(revoked_at, $2) WHERE id = $1`, id, wall)
		if err != nil {
			return fmt.Errorf("revoke token: %w", err)
		} else if tag.RowsAffected() == 0 {
			return phonefleet.Errorf(phonefleet.ENotFound, "token %q not found", id)
		}
		return nil
	})
}

func scanToken(row pgx.CollectableRow) (*phonefleet.Token, error) {
	var t phonefleet.Token
	err := row.Scan(&t.ID, &t.TenantID, &t.TenantName, &t.UserID, &t.UserName, &t.Name, &t.Actions, &t.Hash, &t.CreatedAt, &t.ExpiresAt, &t.RevokedAt)
	return &t, err
}
