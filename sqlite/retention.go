package sqlite

import (
	"context"
	"fmt"
	"time"

	"github.com/phonefleet/phonefleet"
)

var _ phonefleet.RetentionService = (*DB)(nil)

// FindExpiredAuditEvents returns the oldest audit events that
// phonefleet.AuditExpired lets go at before, at most limit.
func (db *DB) FindExpiredAuditEvents(ctx context.Context, before time.Time, limit int) ([]*phonefleet.AuditEvent, error) {
	tx, err := db.beginTx(ctx, false)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	events, err := findAuditEvents(ctx, tx, phonefleet.AuditFilter{Limit: max(limit, 1)}, "ASC")
	if err != nil {
		return nil, err
	}
	return events[:phonefleet.AuditExpired(events, before)], nil
}

// DeleteAuditEvents removes the events among ids older than before, in
// one write operation.
func (db *DB) DeleteAuditEvents(ctx context.Context, before time.Time, ids []int64) (int, error) {
	if len(ids) == 0 {
		return 0, nil
	}
	var n int64
	err := db.writeWork(ctx, len(ids), func(ctx context.Context, tx *Tx) error {
		res, err := tx.ExecContext(ctx, `
			DELETE FROM audit_events WHERE id IN (SELECT value FROM json_each(?)) AND at < ?
		`, jsonInts(ids), formatTime(before))
		if err != nil {
			return fmt.Errorf("delete audit events: %w", err)
		}
		n, err = res.RowsAffected()
		return err
	})
	return int(n), err
}

// jsonInts returns ids as a JSON array.
func jsonInts(ids []int64) string {
	buf := []byte{'['}
	for i, id := range ids {
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = fmt.Appendf(buf, "%d", id)
	}
	return string(append(buf, ']'))
}

// FindExpiredCommands reads commands created before before from just
// after the command after and returns those phonefleet.CommandExpired
// lets go; see phonefleet.RetentionService.
func (db *DB) FindExpiredCommands(ctx context.Context, before time.Time, after *phonefleet.Command, limit int) (expired []*phonefleet.Command, next *phonefleet.Command, err error) {
	tx, err := db.beginTx(ctx, false)
	if err != nil {
		return nil, nil, err
	}
	defer tx.Rollback()
	where, args := []string{"c.created_at < ?"}, []any{formatTime(before)}
	if after != nil {
		where = append(where, "(c.created_at, c.instance_id, c.id) > (?, ?, ?)")
		args = append(args, formatTime(after.CreatedAt), after.InstanceID, after.ID)
	}
	cs, err := findCommands(ctx, tx, where, args, "c.created_at, c.instance_id, c.id", max(limit, 1))
	if err != nil {
		return nil, nil, err
	}
	if len(cs) == 0 {
		return nil, nil, nil
	}
	expired, err = expiredCommands(ctx, tx, cs, before)
	return expired, cs[len(cs)-1], err
}

// expiredCommands returns those of cs that phonefleet.CommandExpired lets
// go, given their instances' states as tx reads them.
func expiredCommands(ctx context.Context, tx *Tx, cs []*phonefleet.Command, before time.Time) ([]*phonefleet.Command, error) {
	ids := make([]string, len(cs))
	for i, c := range cs {
		ids[i] = c.InstanceID
	}
	rows, err := tx.QueryContext(ctx, `SELECT id, state FROM instances WHERE id IN (SELECT value FROM json_each(?))`, jsonArray(ids))
	if err != nil {
		return nil, fmt.Errorf("read instance states: %w", err)
	}
	defer rows.Close()
	states := map[string]phonefleet.InstanceState{}
	for rows.Next() {
		var id, state string
		if err := rows.Scan(&id, &state); err != nil {
			return nil, fmt.Errorf("read instance states: %w", err)
		}
		states[id] = phonefleet.InstanceState(state)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read instance states: %w", err)
	}
	var out []*phonefleet.Command
	for _, c := range cs {
		if phonefleet.CommandExpired(c, states[c.InstanceID], before) {
			out = append(out, c)
		}
	}
	return out, nil
}

// DeleteCommands removes the commands among ids that
// phonefleet.CommandExpired still lets go, in one write operation.
func (db *DB) DeleteCommands(ctx context.Context, before time.Time, ids []string) (int, error) {
	if len(ids) == 0 {
		return 0, nil
	}
	var n int
	err := db.writeWork(ctx, len(ids), func(ctx context.Context, tx *Tx) error {
		n = 0
		cs, err := findCommands(ctx, tx, []string{"c.id IN (SELECT value FROM json_each(?))"}, []any{jsonArray(ids)}, "c.id", 0)
		if err != nil {
			return err
		}
		expired, err := expiredCommands(ctx, tx, cs, before)
		if err != nil || len(expired) == 0 {
			return err
		}
		gone := make([]string, len(expired))
		for i, c := range expired {
			gone[i] = c.ID
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM commands WHERE id IN (SELECT value FROM json_each(?))`, jsonArray(gone))
		if err != nil {
			return fmt.Errorf("delete commands: %w", err)
		}
		k, err := res.RowsAffected()
		n = int(k)
		return err
	})
	return n, err
}
