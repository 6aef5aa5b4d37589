package sqlite

import (
	"context"
	"fmt"

	"github.com/phonefleet/phonefleet"
)

// completeGroup runs the command completions of a batch (CompleteCommand)
// together, in the batch's transaction tx after the unsubscribe group: one
// query reads every command they name, each completion is decided in Go as
// CompleteCommand decides it (ENotFound for a missing job, nothing for one
// no longer in flight), and one statement per table writes the rest: the
// commands done, their released instances, and each tenant's count of held
// instances. The release worker completes every command it delivers, so
// under unsubscribe load there are as many completions as released
// instances.
//
// It marks in settled the operations it settled (their errors are in errs)
// and leaves the others to run one by one. Like unsubscribeGroup, it runs
// in no savepoint: when a write fails it returns errGroupFailed, and the
// writer runs the batch again with one savepoint per operation. It settles
// nothing when fewer than two completions are left, or when two of them
// name the same job.
func (db *DB) completeGroup(ctx context.Context, tx *Tx, batch []*writeOp, errs []error, settled []bool) error {
	var idx []int
	var ids []string
	seen := make(map[string]bool)
	for i, op := range batch {
		if op.complete == "" || settled[i] {
			continue
		}
		if seen[op.complete] {
			return nil
		}
		seen[op.complete] = true
		idx = append(idx, i)
		ids = append(ids, op.complete)
	}
	return db.runGroup("command completions", idx, settled, func() error {
		return db.runCompleteGroup(ctx, tx, batch, idx, ids, errs)
	})
}

// runCompleteGroup reads, decides and writes the completions batch[idx] of
// the jobs ids, recording each one's own error in errs. Its error means a
// write failed and the group must be undone.
func (db *DB) runCompleteGroup(ctx context.Context, tx *Tx, batch []*writeOp, idx []int, ids []string, errs []error) (err error) {
	if tx, err = db.newTx(ctx, tx.sqlTx, db.wstmts); err != nil {
		return err
	}
	cs, err := findCommands(ctx, tx, []string{"c.id IN (SELECT value FROM json_each(?))"}, []any{jsonArray(ids)}, "c.id", 0)
	if err != nil {
		return err
	}
	byID := make(map[string]*phonefleet.Command, len(cs))
	for _, c := range cs {
		byID[c.ID] = c
	}
	var done, released []string
	for _, i := range idx {
		id := batch[i].complete
		c, ok := byID[id]
		switch {
		case !ok:
			errs[i] = phonefleet.Errorf(phonefleet.ENotFound, "job %s not found", id)
		case c.State.InFlight():
			done = append(done, c.ID)
			if c.Type == phonefleet.CommandRelease {
				released = append(released, c.InstanceID)
			}
		}
	}
	if len(done) == 0 {
		return nil
	}

	now := formatTime(tx.wall)
	res, err := tx.ExecContext(ctx, `
		UPDATE commands SET state = 'done', done_at = ?, last_error = '', lease_owner = NULL, lease_expires_at = NULL
		WHERE id IN (SELECT value FROM json_each(?))
	`, now, jsonArray(done))
	if err != nil {
		return fmt.Errorf("complete commands: %w", err)
	} else if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("complete commands: %w", err)
	} else if n != int64(len(done)) {
		return fmt.Errorf("complete commands: %d of %d", n, len(done))
	}
	if len(released) == 0 {
		return nil
	}
	rows, err := tx.QueryContext(ctx, `
		UPDATE instances SET state = 'released', assign_user = '', updated_at = ?
		WHERE id IN (SELECT value FROM json_each(?)) AND state = 'deleting'
		RETURNING tenant_id
	`, now, jsonArray(released))
	if err != nil {
		return fmt.Errorf("release instances: %w", err)
	}
	held := make(map[string]int)
	var tenants []string // in the order first seen, for a stable write order
	for rows.Next() {
		var tenantID string
		if err := rows.Scan(&tenantID); err != nil {
			rows.Close()
			return fmt.Errorf("release instances: %w", err)
		}
		if held[tenantID] == 0 {
			tenants = append(tenants, tenantID)
		}
		held[tenantID]++
	}
	if err := rows.Close(); err != nil {
		return fmt.Errorf("release instances: %w", err)
	} else if err := rows.Err(); err != nil {
		return fmt.Errorf("release instances: %w", err)
	}
	for _, t := range tenants {
		if _, err := tx.ExecContext(ctx, `UPDATE tenants SET held_instances = held_instances - ? WHERE id = ?`, held[t], t); err != nil {
			return fmt.Errorf("release held instances: %w", err)
		}
	}
	return nil
}
