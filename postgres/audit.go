package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/phonefleet/phonefleet"
)

// CreateAuditEvent stores e on its own and sets its ID. At defaults to now.
func (db *DB) CreateAuditEvent(ctx context.Context, e *phonefleet.AuditEvent) error {
	return db.withTx(ctx, "create_audit_event", nil, func(ctx context.Context, tx pgx.Tx, now time.Time) error {
		if e.At.IsZero() {
			e.At = now
		}
		return insertAuditEvent(ctx, tx, e)
	})
}

// FindAuditEvents returns events newest first (by ID), with TenantName filled
// in for tenants that exist. A Limit of 0 means no limit.
func (db *DB) FindAuditEvents(ctx context.Context, filter phonefleet.AuditFilter) ([]*phonefleet.AuditEvent, error) {
	ctx, cancel := db.readCtx(ctx)
	defer cancel()
	var conds []string
	var args []any
	if filter.TenantID != nil {
		args = append(args, *filter.TenantID)
		conds = append(conds, fmt.Sprintf("e.tenant_id = $%d", len(args)))
	}
	limit := ""
	if filter.Limit > 0 {
		args = append(args, filter.Limit)
		limit = fmt.Sprintf(" LIMIT $%d", len(args))
	}
	rows, err := db.pool.Query(ctx, `
		SELECT `+auditColumns+`
		FROM audit_events e LEFT JOIN tenants t ON t.id = e.tenant_id
		`+whereClause(conds)+`
		ORDER BY e.id DESC`+limit, args...)
	if err != nil {
		return nil, fmt.Errorf("find audit events: %w", err)
	}
	events, err := pgx.CollectRows(rows, scanAuditEvent)
	if err != nil {
		return nil, fmt.Errorf("find audit events: %w", err)
	}
	return events, nil
}

const auditColumns = `e.id, e.at, COALESCE(e.tenant_id, ''), COALESCE(t.name, ''), COALESCE(e.token_id, ''), e.user_name,
	e.action, e.request_id, e.instance_ids, e.error_code, e.detail`

func scanAuditEvent(row pgx.CollectableRow) (*phonefleet.AuditEvent, error) {
	var e phonefleet.AuditEvent
	err := row.Scan(&e.ID, &e.At, &e.TenantID, &e.TenantName, &e.TokenID, &e.UserName,
		&e.Action, &e.RequestID, &e.InstanceIDs, &e.ErrorCode, &e.Detail)
	if e.InstanceIDs == nil {
		e.InstanceIDs = []string{}
	}
	return &e, err
}

func insertAuditEvent(ctx context.Context, tx pgx.Tx, e *phonefleet.AuditEvent) error {
	b := &pgx.Batch{}
	queueAuditEvent(b, e)
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return fmt.Errorf("insert audit event: %w", err)
	}
	return nil
}

// queueAuditEvent queues the insert of e into b; it sets e.ID when run.
func queueAuditEvent(b *pgx.Batch, e *phonefleet.AuditEvent) {
	ids := e.InstanceIDs
	if ids == nil {
		ids = []string{}
	}
	b.Queue(`
		INSERT INTO audit_events (at, tenant_id, token_id, user_name, action, request_id, instance_ids, error_code, detail)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
		RETURNING id`,
		e.At.UTC(), nullString(e.TenantID), nullString(e.TokenID), e.UserName, e.Action, e.RequestID, ids, e.ErrorCode, e.Detail,
	).QueryRow(func(row pgx.Row) error { return row.Scan(&e.ID) })
}

// auditFailure records the audit event of an operation that failed and
// rolled back, in its own transaction. It runs even if the caller's context
// is done (the client went away), within the operation timeout. A failure
// to write it is only logged: the caller returns the operation's error.
func (db *DB) auditFailure(ctx context.Context, e *phonefleet.AuditEvent) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), db.opTimeout())
	defer cancel()
	if err := db.CreateAuditEvent(ctx, e); err != nil {
		db.log.Error("write failure audit event", "action", e.Action, "request_id", e.RequestID,
			"tenant_id", e.TenantID, "error_code", e.ErrorCode, "error", err)
	}
}
