package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"

	"github.com/phonefleet/phonefleet"
)

// CreateToken stores t as the caller built it. EInvalid if it does not
// validate, ENotFound if its tenant does not exist, EConflict if its ID or
// hash is taken.
func (db *DB) CreateToken(ctx context.Context, t *phonefleet.Token) error {
	if err := t.Validate(); err != nil {
		return err
	}
	return db.write(ctx, func(ctx context.Context, tx *Tx) error {
		return insertToken(ctx, tx, t)
	})
}

// FindTokenByHash returns the token with that hash, revoked or expired ones
// included, with TenantName filled in; ENotFound if none.
func (db *DB) FindTokenByHash(ctx context.Context, hash []byte) (*phonefleet.Token, error) {
	tx, err := db.beginTx(ctx, false)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()

	ts, err := findTokens(ctx, tx, "WHERE k.hash = ?", hash)
	if err != nil {
		return nil, err
	} else if len(ts) == 0 {
		return nil, phonefleet.Errorf(phonefleet.ENotFound, "token not found")
	}
	return ts[0], nil
}

// FindTokens lists tokens, newest first.
func (db *DB) FindTokens(ctx context.Context, filter phonefleet.TokenFilter) ([]*phonefleet.Token, error) {
	tx, err := db.beginTx(ctx, false)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()

	if filter.TenantID != nil {
		return findTokens(ctx, tx, "WHERE k.tenant_id = ?", *filter.TenantID)
	}
	return findTokens(ctx, tx, "")
}

// RevokeToken marks the token revoked; ENotFound if there is no such ID.
// Revoking a revoked token keeps its first revocation time.
func (db *DB) RevokeToken(ctx context.Context, id string) error {
	return db.write(ctx, func(ctx context.Context, tx *Tx) error {
		return revokeToken(ctx, tx, id)
	})
}

func insertToken(ctx context.Context, tx *Tx, t *phonefleet.Token) error {
	actions, err := json.Marshal(t.Actions)
	if err != nil {
		return fmt.Errorf("marshal token actions: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `
		INSERT INTO tokens (id, tenant_id, user_id, name, hash, actions, created_at, expires_at, revoked_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
	`, t.ID, t.TenantID, nullString(t.UserID), t.Name, t.Hash, string(actions),
		formatTime(t.CreatedAt), formatTime(t.ExpiresAt), formatNullTime(t.RevokedAt),
	); err != nil {
		switch err = formatError(err); {
		case isNotFound(err):
			return phonefleet.Errorf(phonefleet.ENotFound, "tenant %q not found", t.TenantID)
		case isConflict(err):
			return phonefleet.Errorf(phonefleet.EConflict, "token %q already exists", t.ID)
		}
		return fmt.Errorf("insert token: %w", err)
	}
	return nil
}

func revokeToken(ctx context.Context, tx *Tx, id string) error {
	res, err := tx.ExecContext(ctx, `
		UPDATE tokens SET revoked_at = COALESCE(revoked_at, ?)
		WHERE id = ?
	`, formatTime(tx.wall), id)
	if err != nil {
		return fmt.Errorf("revoke token: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("revoke token: %w", err)
	} else if n == 0 {
		return phonefleet.Errorf(phonefleet.ENotFound, "token %q not found", id)
	}
	return nil
}

// findTokens returns tokens matching where (alias k, with its args), newest
// first, with their tenant's name.
func findTokens(ctx context.Context, tx *Tx, where string, args ...any) ([]*phonefleet.Token, error) {
	rows, err := tx.QueryContext(ctx, `
		SELECT k.id, k.tenant_id, t.name, COALESCE(k.user_id, ''), COALESCE(u.name, ''), k.name, k.hash, k.actions,
		       k.created_at, k.expires_at, k.revoked_at
		FROM tokens k
		JOIN tenants t ON t.id = k.tenant_id
		LEFT JOIN users u ON u.id = k.user_id
		`+where+`
		ORDER BY k.created_at DESC, k.id DESC
	`, args...)
	if err != nil {
		return nil, fmt.Errorf("query tokens: %w", err)
	}
	defer rows.Close()

	var out []*phonefleet.Token
	for rows.Next() {
		var t phonefleet.Token
		var actions, createdAt, expiresAt string
		var revokedAt sql.NullString
		if err := rows.Scan(&t.ID, &t.TenantID, &t.TenantName, &t.UserID, &t.UserName, &t.Name, &t.Hash, &actions,
			&createdAt, &expiresAt, &revokedAt); err != nil {
			return nil, fmt.Errorf("scan token: %w", err)
		}
		if err := json.Unmarshal([]byte(actions), &t.Actions); err != nil {
			return nil, fmt.Errorf("token %s actions: %w", t.ID, err)
		}
		if t.CreatedAt, err = parseTime(createdAt); err != nil {
			return nil, err
		} else if t.ExpiresAt, err = parseTime(expiresAt); err != nil {
			return nil, err
		} else if t.RevokedAt, err = parseNullTime(revokedAt); err != nil {
			return nil, err
		}
		out = append(out, &t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("query tokens: %w", err)
	}
	return out, nil
}
