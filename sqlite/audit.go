package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/phonefleet/phonefleet"
)

// CreateAuditEvent stores e in a write operation of its own and sets its
// ID. At defaults to now.
func (db *DB) CreateAuditEvent(ctx context.Context, e *phonefleet.AuditEvent) error {
	ctx = db.onTenantClock(ctx, e.TenantID)
	return db.write(ctx, func(ctx context.Context, tx *Tx) error {
		return insertAuditEvent(ctx, tx, e)
	})
}

// FindAuditEvents returns events newest first, with their tenant's name.
// A Limit of 0 means no limit.
func (db *DB) FindAuditEvents(ctx context.Context, filter phonefleet.AuditFilter) ([]*phonefleet.AuditEvent, error) {
	tx, err := db.beginTx(ctx, false)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	return findAuditEvents(ctx, tx, filter, "DESC")
}

// CountAuditEvents returns how many events match filter, ignoring its
// BeforeID, Offset and Limit.
func (db *DB) CountAuditEvents(ctx context.Context, filter phonefleet.AuditFilter) (int, error) {
	tx, err := db.beginTx(ctx, false)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback()
	filter.BeforeID = 0
	where, args := auditWhere(filter)
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM audit_events e `+where, args...).Scan(&n); err != nil {
		return 0, fmt.Errorf("count audit events: %w", err)
	}
	return n, nil
}

// auditWhere returns the WHERE clause (alias e) and its arguments for
// filter's conditions.
func auditWhere(filter phonefleet.AuditFilter) (string, []any) {
	var conds []string
	var args []any
	if filter.TenantID != nil {
		conds, args = append(conds, "e.tenant_id = ?"), append(args, *filter.TenantID)
	}
	if filter.Action != nil {
		conds, args = append(conds, "e.action = ?"), append(args, *filter.Action)
	}
	if filter.Actor != nil {
		conds, args = append(conds, "e.actor = ?"), append(args, *filter.Actor)
	}
	if filter.InstanceID != nil {
		conds, args = append(conds, "EXISTS (SELECT 1 FROM json_each(e.instance_ids) j WHERE j.value = ?)"), append(args, *filter.InstanceID)
	}
	// Times are stored as fixed-width RFC 3339 text, so they compare as text.
	if filter.Since != nil {
		conds, args = append(conds, "e.at >= ?"), append(args, formatTime(*filter.Since))
	}
	if filter.Until != nil {
		conds, args = append(conds, "e.at < ?"), append(args, formatTime(*filter.Until))
	}
	if filter.BeforeID > 0 {
		conds, args = append(conds, "e.id < ?"), append(args, filter.BeforeID)
	}
	if len(conds) == 0 {
		return "", nil
	}
	return "WHERE " + strings.Join(conds, " AND "), args
}

// findAuditEvents returns the events matching filter with their tenant's
// name, by ID in dir order ("ASC" or "DESC").
func findAuditEvents(ctx context.Context, tx *Tx, filter phonefleet.AuditFilter, dir string) ([]*phonefleet.AuditEvent, error) {
	where, args := auditWhere(filter)
	limit := filter.Limit
	if limit <= 0 {
		limit = -1
	}
	rows, err := tx.QueryContext(ctx, `
		SELECT `+auditColumns+`
		FROM audit_events e
		LEFT JOIN tenants t ON t.id = e.tenant_id
		`+where+`
		ORDER BY e.id `+dir+`
		LIMIT ? OFFSET ?
	`, append(args, limit, max(filter.Offset, 0))...)
	if err != nil {
		return nil, fmt.Errorf("query audit events: %w", err)
	}
	defer rows.Close()

	out := []*phonefleet.AuditEvent{}
	for rows.Next() {
		e, err := scanAuditEvent(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("query audit events: %w", err)
	}
	return out, nil
}

// auditColumns are the columns scanAuditEvent reads (alias e, tenants t).
const auditColumns = `e.id, e.at, COALESCE(e.tenant_id, ''), COALESCE(t.name, ''), COALESCE(e.token_id, ''), e.user_name,
		       e.actor, e.client_addr, e.dry_run, e.action, e.request_id, e.instance_ids, e.error_code, e.detail`

func scanAuditEvent(rows *sql.Rows) (*phonefleet.AuditEvent, error) {
	var e phonefleet.AuditEvent
	var at, ids string
	if err := rows.Scan(&e.ID, &at, &e.TenantID, &e.TenantName, &e.TokenID, &e.UserName,
		&e.Actor, &e.ClientAddr, &e.DryRun, &e.Action, &e.RequestID, &ids, &e.ErrorCode, &e.Detail); err != nil {
		return nil, fmt.Errorf("scan audit event: %w", err)
	}
	var err error
	if e.At, err = parseTime(at); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(ids), &e.InstanceIDs); err != nil {
		return nil, fmt.Errorf("audit event %d instance ids: %w", e.ID, err)
	}
	return &e, nil
}

// insertAuditEvent inserts e, defaulting At to the transaction's time.
func insertAuditEvent(ctx context.Context, tx *Tx, e *phonefleet.AuditEvent) error {
	if e.At.IsZero() {
		e.At = tx.now
	}
	ids := e.InstanceIDs
	if ids == nil {
		ids = []string{}
	}
	buf, err := json.Marshal(ids)
	if err != nil {
		return fmt.Errorf("marshal audit instance ids: %w", err)
	}
	res, err := tx.ExecContext(ctx, `
		INSERT INTO audit_events (at, tenant_id, token_id, user_name, actor, client_addr, dry_run, action, request_id, instance_ids, error_code, detail)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
	`, formatTime(e.At), nullString(e.TenantID), nullString(e.TokenID), e.UserName, e.Actor, e.ClientAddr, e.DryRun, e.Action, e.RequestID,
		string(buf), e.ErrorCode, e.Detail)
	if err != nil {
		return fmt.Errorf("insert audit event: %w", err)
	}
	if e.ID, err = res.LastInsertId(); err != nil {
		return fmt.Errorf("insert audit event: %w", err)
	}
	return nil
}

// AuditFailure records e, the audit event of an operation that failed with
// cause, in a write operation of its own. It runs even if ctx was canceled
// (the client went away), within ctx's deadline if it has one.
func (db *DB) AuditFailure(ctx context.Context, e *phonefleet.AuditEvent, cause error) error {
	wctx := context.WithoutCancel(ctx)
	if d, ok := ctx.Deadline(); ok {
		var cancel context.CancelFunc
		wctx, cancel = context.WithDeadline(wctx, d)
		defer cancel()
	}
	return db.CreateAuditEvent(wctx, e)
}
