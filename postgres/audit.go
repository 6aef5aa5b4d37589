package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/phonefleet/phonefleet"
)

// CreateAuditEvent stores e on its own and sets its ID. At defaults to now.
// A commit whose answer was lost is read back like any operation's, so an
// event is never stored twice by a retry.
func (db *DB) CreateAuditEvent(ctx context.Context, e *phonefleet.AuditEvent) error {
	ctx = db.onTenantClock(ctx, e.TenantID)
	return db.withTxCheck(ctx, "create_audit_event", nil, func(ctx context.Context, tx pgx.Tx, now time.Time) error {
		if e.At.IsZero() {
			e.At = now
		}
		return insertAuditEvent(ctx, tx, e)
	}, auditCommitted(&e))
}

// FindAuditEvents returns events newest first (by ID), with TenantName filled
// in for tenants that exist. A Limit of 0 means no limit.
func (db *DB) FindAuditEvents(ctx context.Context, filter phonefleet.AuditFilter) ([]*phonefleet.AuditEvent, error) {
	conds, args := auditConds(filter)
	limit := ""
	if filter.Limit > 0 {
		args = append(args, filter.Limit)
		limit = fmt.Sprintf(" LIMIT $%d", len(args))
	}
	if filter.Offset > 0 {
		args = append(args, filter.Offset)
		limit += fmt.Sprintf(" OFFSET $%d", len(args))
	}
	var events []*phonefleet.AuditEvent
	err := db.read(ctx, func(ctx context.Context) error {
		rows, err := db.pool.Query(ctx, `
			SELECT `+auditColumns+`
			FROM audit_events e LEFT JOIN tenants t ON t.id = e.tenant_id
			`+whereClause(conds)+`
			ORDER BY e.id DESC`+limit, args...)
		if err == nil {
			events, err = pgx.CollectRows(rows, scanAuditEvent)
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("find audit events: %w", err)
	}
	return events, nil
}

// CountAuditEvents returns how many events match filter, ignoring its
// BeforeID, Offset and Limit.
func (db *DB) CountAuditEvents(ctx context.Context, filter phonefleet.AuditFilter) (int, error) {
	filter.BeforeID = 0
	conds, args := auditConds(filter)
	var n int
	err := db.read(ctx, func(ctx context.Context) error {
		return db.pool.QueryRow(ctx, `SELECT COUNT(*) FROM audit_events e `+whereClause(conds), args...).Scan(&n)
	})
	if err != nil {
		return 0, fmt.Errorf("count audit events: %w", err)
	}
	return n, nil
}

// auditConds returns filter's conditions (alias e) and their arguments.
func auditConds(filter phonefleet.AuditFilter) ([]string, []any) {
	var conds []string
	var args []any
	add := func(cond string, arg any) {
		args = append(args, arg)
		conds = append(conds, fmt.Sprintf(cond, len(args)))
	}
	if filter.TenantID != nil {
		add("e.tenant_id = $%d", *filter.TenantID)
	}
	if filter.Action != nil {
		add("e.action = $%d", *filter.Action)
	}
	if filter.Actor != nil {
		add("e.actor = $%d", *filter.Actor)
	}
	if filter.InstanceID != nil {
		add("$%d = ANY (e.instance_ids)", *filter.InstanceID)
	}
	if filter.Since != nil {
		add("e.at >= $%d", filter.Since.UTC())
	}
	if filter.Until != nil {
		add("e.at < $%d", filter.Until.UTC())
	}
	if filter.BeforeID > 0 {
		add("e.id < $%d", filter.BeforeID)
	}
	return conds, args
}

const auditColumns = `e.id, e.at, COALESCE(e.tenant_id, ''), COALESCE(t.name, ''), COALESCE(e.token_id, ''), e.user_name,
	e.actor, e.client_addr, e.dry_run, e.action, e.request_id, e.instance_ids, e.error_code, e.detail`

func scanAuditEvent(row pgx.CollectableRow) (*phonefleet.AuditEvent, error) {
	var e phonefleet.AuditEvent
	err := row.Scan(&e.ID, &e.At, &e.TenantID, &e.TenantName, &e.TokenID, &e.UserName,
		&e.Actor, &e.ClientAddr, &e.DryRun, &e.Action, &e.RequestID, &e.InstanceIDs, &e.ErrorCode, &e.Detail)
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
		INSERT INTO audit_events (at, tenant_id, token_id, user_name, client_addr, action, request_id, instance_ids, error_code, detail, actor, dry_run)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
		RETURNING id`,
		e.At.UTC(), nullString(e.TenantID), nullString(e.TokenID), e.UserName, e.ClientAddr, e.Action, e.RequestID, ids, e.ErrorCode, e.Detail,
		e.Actor, e.DryRun,
	).QueryRow(func(row pgx.Row) error { return row.Scan(&e.ID) })
}

// queueAuditEvents queues the insert of events into b, as one statement
// however many; it sets their IDs when run, in order.
func queueAuditEvents(b *pgx.Batch, events []*phonefleet.AuditEvent) {
	if len(events) == 1 {
		queueAuditEvent(b, events[0])
		return
	}
	n := len(events)
	at, tenants, tokens := make([]time.Time, n), make([]*string, n), make([]*string, n)
	users, actions, requests, codes, details := make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	addrs, actors, dryRuns := make([]string, n), make([]string, n), make([]bool, n)
	// Each event's instance IDs are a slice [from:to] of one flat array.
	var ids []string
	from, to := make([]int32, n), make([]int32, n)
	for i, e := range events {
		at[i], tenants[i], tokens[i] = e.At.UTC(), nullString(e.TenantID), nullString(e.TokenID)
		users[i], actions[i], requests[i], codes[i], details[i] = e.UserName, e.Action, e.RequestID, e.ErrorCode, e.Detail
		addrs[i], actors[i], dryRuns[i] = e.ClientAddr, e.Actor, e.DryRun
		from[i] = int32(len(ids) + 1)
		ids = append(ids, e.InstanceIDs...)
		to[i] = int32(len(ids))
	}
	if ids == nil {
		ids = []string{}
	}
	// Identities are drawn in the order rows are inserted, which ORDER BY
	// fixes: the returned IDs, sorted, are the events' in order.
	b.Queue(`
		INSERT INTO audit_events (at, tenant_id, token_id, user_name, client_addr, action, request_id, instance_ids, error_code, detail, actor, dry_run)
		SELECT u.at, u.tenant_id, u.token_id, u.user_name, u.client_addr, u.action, u.request_id,
			COALESCE(($8::text[])[u.ids_from:u.ids_to], '{}'), u.error_code, u.detail, u.actor, u.dry_run
		FROM unnest($1::timestamptz[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
			$9::int[], $10::int[], $11::text[], $12::text[], $13::text[], $14::boolean[]) WITH ORDINALITY
			AS u (at, tenant_id, token_id, user_name, action, request_id, error_code, ids_from, ids_to, detail, client_addr, actor, dry_run, ord)
		ORDER BY u.ord
		RETURNING id`,
		at, tenants, tokens, users, actions, requests, codes, ids, from, to, details, addrs, actors, dryRuns,
	).Query(func(rows pgx.Rows) error {
		got, err := pgx.CollectRows(rows, pgx.RowTo[int64])
		if err != nil {
			return err
		} else if len(got) != n {
			return fmt.Errorf("inserted %d of %d audit events", len(got), n)
		}
		slices.Sort(got)
		for i, e := range events {
			e.ID = got[i]
		}
		return nil
	})
}

// AuditFailure records e, the audit event of an operation that failed with
// cause, in its own transaction, within what is left of ctx's deadline (ctx
// may be done: the client went away, but its deadline still holds). An
// event that cannot be written in time is logged (the log line is then the
// record), counted and written later by a background writer. When the
// operation's outcome is unknown, the event is only written later, once
// reading back shows that its transaction did not commit, so the trail
// never holds two outcomes for one request. It never returns an error: what
// it cannot write now it keeps for later.
func (db *DB) AuditFailure(ctx context.Context, e *phonefleet.AuditEvent, cause error) error {
	var unknown *unknownOutcomeError
	if errors.As(cause, &unknown) {
		db.deferAudit(lateAudit{event: e, check: unknown.check, xid: unknown.xid}, cause)
		return nil
	}
	wctx, cancel := db.opContext(context.WithoutCancel(ctx))
	defer cancel()
	if d, ok := ctx.Deadline(); ok {
		wctx, cancel = context.WithDeadline(wctx, d)
		defer cancel()
	}
	if wctx.Err() != nil {
		db.deferAudit(lateAudit{event: e}, wctx.Err())
		return nil
	}
	if werr := db.CreateAuditEvent(wctx, e); werr != nil {
		// Written or not, as reading back will tell.
		if errors.As(werr, &unknown) {
			db.deferAudit(lateAudit{event: e, check: unknown.check, xid: unknown.xid}, werr)
			return nil
		}
		db.deferAudit(lateAudit{event: e}, werr)
	}
	return nil
}
