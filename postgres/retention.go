package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/phonefleet/phonefleet"
)

var _ phonefleet.RetentionService = (*DB)(nil)

// FindExpiredAuditEvents returns the oldest audit events that
// phonefleet.AuditExpired lets go at before, at most limit.
func (db *DB) FindExpiredAuditEvents(ctx context.Context, before time.Time, limit int) ([]*phonefleet.AuditEvent, error) {
	var events []*phonefleet.AuditEvent
	err := db.read(ctx, func(ctx context.Context) error {
		rows, err := db.pool.Query(ctx, `
			SELECT `+auditColumns+`
			FROM audit_events e LEFT JOIN tenants t ON t.id = e.tenant_id
			ORDER BY e.id LIMIT $1`, max(limit, 1))
		if err == nil {
			events, err = pgx.CollectRows(rows, scanAuditEvent)
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("find expired audit events: %w", err)
	}
	return events[:phonefleet.AuditExpired(events, before)], nil
}

// DeleteAuditEvents removes the events among ids older than before, in
// one transaction.
func (db *DB) DeleteAuditEvents(ctx context.Context, before time.Time, ids []int64) (int, error) {
	if len(ids) == 0 {
		return 0, nil
	}
	var n int
	err := db.withTx(ctx, "delete_audit_events", nil, func(ctx context.Context, tx pgx.Tx, now time.Time) error {
		tag, err := tx.Exec(ctx, `DELETE FROM audit_events WHERE id = ANY($1) AND at < $2`, ids, before)
		n = int(tag.RowsAffected())
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("delete audit events: %w", err)
	}
	return n, nil
}

// FindExpiredCommands reads commands created before before from just
// after the command after and returns those phonefleet.CommandExpired
// lets go; see phonefleet.RetentionService.
func (db *DB) FindExpiredCommands(ctx context.Context, before time.Time, after *phonefleet.Command, limit int) (expired []*phonefleet.Command, next *phonefleet.Command, err error) {
	cond, args := "c.created_at < $1", []any{before, max(limit, 1)}
	if after != nil {
		cond += " AND (c.created_at, c.instance_id, c.id) > ($3, $4, $5)"
		args = append(args, after.CreatedAt, after.InstanceID, after.ID)
	}
	err = db.read(ctx, func(ctx context.Context) error {
		rows, err := db.pool.Query(ctx, `
			SELECT `+commandColumns+`, i.state
			FROM commands c JOIN tenants t ON t.id = c.tenant_id JOIN instances i ON i.id = c.instance_id
			WHERE `+cond+`
			ORDER BY c.created_at, c.instance_id, c.id LIMIT $2`, args...)
		if err != nil {
			return err
		}
		expired, next = nil, nil
		_, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (struct{}, error) {
			c, state, err := scanCommandState(row)
			if err == nil {
				next = c
				if phonefleet.CommandExpired(c, state, before) {
					expired = append(expired, c)
				}
			}
			return struct{}{}, err
		})
		return err
	})
	if err != nil {
		return nil, nil, fmt.Errorf("find expired commands: %w", err)
	}
	return expired, next, nil
}

// scanCommandState scans commandColumns and the instance's state.
func scanCommandState(row pgx.CollectableRow) (*phonefleet.Command, phonefleet.InstanceState, error) {
	var c phonefleet.Command
	var state phonefleet.InstanceState
	err := row.Scan(append(commandDest(&c), &state)...)
	return &c, state, err
}

// DeleteCommands removes the commands among ids that
// phonefleet.CommandExpired still lets go. It locks their instances and
// them first, instances in ID order as every request that writes
// commands does, so a retry of one of them waits and then finds it gone.
func (db *DB) DeleteCommands(ctx context.Context, before time.Time, ids []string) (int, error) {
	if len(ids) == 0 {
		return 0, nil
	}
	var n int
	err := db.withTx(ctx, "delete_commands", nil, func(ctx context.Context, tx pgx.Tx, now time.Time) error {
		n = 0
		rows, err := tx.Query(ctx, `
			SELECT `+commandColumns+`, i.state
			FROM commands c JOIN tenants t ON t.id = c.tenant_id JOIN instances i ON i.id = c.instance_id
			WHERE c.id = ANY($1)
			ORDER BY i.id, c.id
			FOR UPDATE OF i, c`, ids)
		if err != nil {
			return err
		}
		var gone []string
		_, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (struct{}, error) {
			c, state, err := scanCommandState(row)
			if err == nil && phonefleet.CommandExpired(c, state, before) {
				gone = append(gone, c.ID)
			}
			return struct{}{}, err
		})
		if err != nil || len(gone) == 0 {
			return err
		}
		tag, err := tx.Exec(ctx, `DELETE FROM commands WHERE id = ANY($1)`, gone)
		n = int(tag.RowsAffected())
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("delete commands: %w", err)
	}
	return n, nil
}
