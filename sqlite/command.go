package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/phonefleet/phonefleet"
)

// msgReportTimeout is the last error of an accepted command whose report
// did not come in time.
const msgReportTimeout = "the data plane did not report the outcome in time"

// ClaimCommands first fails the accepted commands whose report is overdue,
// then leases up to limit pending commands that are due (next attempt at or
// before now, no live lease) to owner until now+lease, oldest due first,
// with TenantName filled in. The claim is one write operation, so two
// claimers, in this process or another, never get the same command.
func (db *DB) ClaimCommands(ctx context.Context, owner string, limit int, lease time.Duration) ([]*phonefleet.Command, error) {
	if err := phonefleet.ValidateClaim(owner, limit, lease); err != nil {
		return nil, err
	}
	var cmds []*phonefleet.Command
	err := db.write(ctx, func(ctx context.Context, tx *Tx) error {
		now := formatTime(tx.wall)
		if _, err := tx.ExecContext(ctx, `
			UPDATE commands SET state = 'failed', last_error = ?, done_at = ?,
			                    lease_owner = NULL, lease_expires_at = NULL
			WHERE state = 'accepted' AND next_attempt_at <= ?
		`, msgReportTimeout, now, now); err != nil {
			return fmt.Errorf("time out commands: %w", err)
		}

		var err error
		cmds, err = findCommands(ctx, tx, []string{
			"c.state = 'pending'",
			"c.next_attempt_at <= ?",
			"(c.lease_expires_at IS NULL OR c.lease_expires_at <= ?)",
		}, []any{now, now}, "c.next_attempt_at, c.instance_id, c.id", limit)
		if err != nil || len(cmds) == 0 {
			return err
		}
		ids := make([]string, len(cmds))
		for i, c := range cmds {
			ids[i] = c.ID
		}
		if _, err := tx.ExecContext(ctx, `
			UPDATE commands SET lease_owner = ?, lease_expires_at = ?
			WHERE id IN (SELECT value FROM json_each(?))
		`, owner, formatTime(tx.wall.Add(lease)), jsonArray(ids)); err != nil {
			return fmt.Errorf("lease commands: %w", err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return cmds, nil
}

// CompleteCommand marks an in-flight command done; a release also moves its
// instance from deleting to released. A command no longer in flight is left
// alone. The owner is not checked: a delivery that succeeded is done even if
// its lease ran out meanwhile. ENotFound if there is no such command.
//
// The writer may run the completions of a batch together (completeGroup).
func (db *DB) CompleteCommand(ctx context.Context, jobID, owner string) error {
	return db.writeWith(ctx, &writeOp{ctx: ctx, complete: jobID, fn: func(ctx context.Context, tx *Tx) error {
		c, err := findCommandByID(ctx, tx, jobID, phonefleet.ENotFound)
		if err != nil || !c.State.InFlight() {
			return err
		}
		return completeCommand(ctx, tx, c, false)
	}})
}

// completeCommand marks c done, by the data plane's report if reported,
// clears its last error and applies its effect.
func completeCommand(ctx context.Context, tx *Tx, c *phonefleet.Command, reported bool) error {
	now := formatTime(tx.wall)
	if _, err := tx.ExecContext(ctx, `
		UPDATE commands SET state = 'done', done_at = ?, last_error = '', reported = ?, lease_owner = NULL, lease_expires_at = NULL
		WHERE id = ?
	`, now, reported, c.ID); err != nil {
		return fmt.Errorf("complete command: %w", err)
	}
	if c.Type == phonefleet.CommandRelease {
		var tenantID string
		err := tx.QueryRowContext(ctx, `
			UPDATE instances SET state = 'released', assign_user = '', updated_at = ?
			WHERE id = ? AND state = 'deleting'
			RETURNING tenant_id
		`, now, c.InstanceID).Scan(&tenantID)
		if errNoRows(err) {
			return nil
		} else if err != nil {
			return fmt.Errorf("release instance: %w", err)
		}
		return releaseHeld(ctx, tx, tenantID)
	}
	return nil
}

// AcceptCommand records that the data plane took owner's delivery: the
// command becomes accepted, waiting for a report until deadline. A command
// leased to someone else or no longer pending is left alone. ENotFound if
// there is no such command.
func (db *DB) AcceptCommand(ctx context.Context, jobID, owner string, deadline time.Time) error {
	return db.write(ctx, func(ctx context.Context, tx *Tx) error {
		if _, err := findCommandByID(ctx, tx, jobID, phonefleet.ENotFound); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `
			UPDATE commands
			SET state = 'accepted', attempts = attempts + 1, next_attempt_at = ?, lease_owner = NULL, lease_expires_at = NULL
			WHERE id = ? AND lease_owner = ? AND state = 'pending'
		`, formatTime(deadline), jobID, owner); err != nil {
			return fmt.Errorf("accept command: %w", err)
		}
		return nil
	})
}

// FailCommand records a failed attempt of owner's lease: attempts+1, the
// last error, the lease cleared, and either pending until next or, when
// final, failed. A command leased to someone else or no longer pending is
// left alone. ENotFound if there is no such command.
func (db *DB) FailCommand(ctx context.Context, jobID, owner, lastError string, next time.Time, final bool) error {
	return db.write(ctx, func(ctx context.Context, tx *Tx) error {
		if _, err := findCommandByID(ctx, tx, jobID, phonefleet.ENotFound); err != nil {
			return err
		}
		q := `UPDATE commands SET attempts = attempts + 1, last_error = ?, next_attempt_at = ?, state = 'pending',
		             lease_owner = NULL, lease_expires_at = NULL
		      WHERE id = ? AND lease_owner = ? AND state = 'pending'`
		args := []any{lastError, formatTime(next), jobID, owner}
		if final {
			q = `UPDATE commands SET attempts = attempts + 1, last_error = ?, next_attempt_at = ?, state = 'failed',
			            done_at = ?, lease_owner = NULL, lease_expires_at = NULL
			     WHERE id = ? AND lease_owner = ? AND state = 'pending'`
			args = []any{lastError, formatTime(next), formatTime(tx.wall), jobID, owner}
		}
		if _, err := tx.ExecContext(ctx, q, args...); err != nil {
			return fmt.Errorf("fail command: %w", err)
		}
		return nil
	})
}

// ReportCommand applies the data plane's report with
// phonefleet.PlanReport: done completes the command, failed fails it for
// good with the report's error. EJobNotFound, EJobFinished.
func (db *DB) ReportCommand(ctx context.Context, jobID string, r phonefleet.CommandReport) error {
	if err := r.Validate(); err != nil {
		return err
	}
	return db.write(ctx, func(ctx context.Context, tx *Tx) error {
		c, err := findCommandByID(ctx, tx, jobID, phonefleet.EJobNotFound)
		if err != nil {
			return err
		}
		if apply, err := phonefleet.PlanReport(c, r); err != nil || !apply {
			return err
		}
		if r.State == phonefleet.JobStateDone {
			return completeCommand(ctx, tx, c, true)
		}
		if _, err := tx.ExecContext(ctx, `
			UPDATE commands SET state = 'failed', last_error = ?, done_at = ?, reported = 1, lease_owner = NULL, lease_expires_at = NULL
			WHERE id = ?
		`, r.Error, formatTime(tx.wall), c.ID); err != nil {
			return fmt.Errorf("fail command: %w", err)
		}
		return nil
	})
}

// RetryCommand makes a failed command pending and due now with attempts
// reset, as a new delivery (deliveries+1); its last error stays for
// reference. id is a job ID or an instance
// ID (that instance's latest failed command, else its latest command). ENotFound if there is no such
// command, EInvalid if it is not failed or its instance cannot take it.
func (db *DB) RetryCommand(ctx context.Context, id string) error {
	return db.write(ctx, func(ctx context.Context, tx *Tx) error {
		cs, err := findCommands(ctx, tx, []string{"(c.id = ? OR c.instance_id = ?)"},
			[]any{id, id}, "c.id = ? DESC, c.state = 'failed' DESC, c.created_at DESC, c.id DESC", 1, id)
		if err != nil {
			return err
		} else if len(cs) == 0 {
			return phonefleet.Errorf(phonefleet.ENotFound, "no job %s (nor an instance %s with jobs)", id, id)
		}
		c := cs[0]
		var state, busy string
		if err := tx.QueryRowContext(ctx, `
			SELECT `+stateColumn+`, COALESCE((SELECT f.id FROM commands f WHERE f.instance_id = i.id AND f.state IN ('pending', 'accepted')), '')
			FROM instances i WHERE i.id = ?
		`, c.InstanceID).Scan(&state, &busy); err != nil {
			return fmt.Errorf("query command instance: %w", err)
		}
		if err := phonefleet.CheckRetry(c, phonefleet.InstanceState(state), busy); err != nil {
			return err
		}
		if c.State == phonefleet.JobStatePending {
			if _, err := tx.ExecContext(ctx, `UPDATE commands SET next_attempt_at = ?, deliveries = deliveries + 1 WHERE id = ? AND state = 'pending'`,
				formatTime(tx.now), c.ID); err != nil {
				return fmt.Errorf("make command due: %w", err)
			}
			return nil
		}
		if _, err := tx.ExecContext(ctx, `
			UPDATE commands
			SET state = 'pending', attempts = 0, deliveries = deliveries + 1, reported = 0, next_attempt_at = ?, done_at = NULL,
			    lease_owner = NULL, lease_expires_at = NULL
			WHERE id = ?
		`, formatTime(tx.wall), c.ID); err != nil {
			return fmt.Errorf("retry command: %w", err)
		}
		return nil
	})
}

// FindCommands lists commands ordered by created_at, instance ID, job ID. A Limit
// of 0 means no limit.
func (db *DB) FindCommands(ctx context.Context, filter phonefleet.CommandFilter) ([]*phonefleet.Command, error) {
	tx, err := db.beginTx(ctx, false)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()

	var where []string
	var args []any
	if v := filter.State; v != nil {
		where, args = append(where, "c.state = ?"), append(args, string(*v))
	}
	if v := filter.Type; v != nil {
		where, args = append(where, "c.type = ?"), append(args, string(*v))
	}
	if v := filter.TenantID; v != nil {
		where, args = append(where, "c.tenant_id = ?"), append(args, *v)
	}
	if v := filter.InstanceID; v != nil {
		where, args = append(where, "c.instance_id = ?"), append(args, *v)
	}
	return findCommands(ctx, tx, where, args, "c.created_at, c.instance_id, c.id", filter.Limit)
}

// findCommandByID returns the command; notFound (a code) if there is none.
func findCommandByID(ctx context.Context, tx *Tx, jobID, notFound string) (*phonefleet.Command, error) {
	cs, err := findCommands(ctx, tx, []string{"c.id = ?"}, []any{jobID}, "c.id", 1)
	if err != nil {
		return nil, err
	} else if len(cs) == 0 {
		return nil, phonefleet.Errorf(notFound, "job %s not found", jobID)
	}
	return cs[0], nil
}

// insertCommands writes new commands.
func insertCommands(ctx context.Context, tx *Tx, cs []*phonefleet.Command) error {
	if len(cs) == 0 {
		return nil
	}
	stmt, err := tx.PrepareContext(ctx, `
		INSERT INTO commands (id, type, instance_id, tenant_id, user_id, task_id, event_id, deliveries, reported, request_id, state,
		                      attempts, next_attempt_at, last_error, created_at, done_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
	`)
	if err != nil {
		return fmt.Errorf("prepare insert command: %w", err)
	}
	defer stmt.Close()
	for _, c := range cs {
		if _, err := stmt.ExecContext(ctx, c.ID, string(c.Type), c.InstanceID, c.TenantID, c.UserID, c.TaskID,
			c.EventID, max(c.Deliveries, 1), c.Reported, c.RequestID, string(c.State), c.Attempts, formatTime(c.NextAttemptAt), c.LastError,
			formatTime(c.CreatedAt), formatNullTime(c.DoneAt)); err != nil {
			return fmt.Errorf("insert command %s of %s: %w", c.ID, c.InstanceID, formatError(err))
		}
	}
	return nil
}

// findCommands returns the commands matching the conditions (alias c) in
// order, at most limit of them (0: all), with their tenant's name.
// orderArgs are the arguments of orderBy's placeholders.
func findCommands(ctx context.Context, tx *Tx, where []string, args []any, orderBy string, limit int, orderArgs ...any) ([]*phonefleet.Command, error) {
	cond := ""
	if len(where) > 0 {
		cond = "WHERE " + strings.Join(where, " AND ")
	}
	if limit <= 0 {
		limit = -1
	}
	args = append(append(args, orderArgs...), limit)
	rows, err := tx.QueryContext(ctx, `
		SELECT c.id, c.type, c.instance_id, c.tenant_id, t.name, c.user_id, c.task_id, c.event_id, c.deliveries, c.reported, c.request_id,
		       c.state, c.attempts, c.next_attempt_at, c.last_error, c.created_at, c.done_at
		FROM commands c
		JOIN tenants t ON t.id = c.tenant_id
		`+cond+`
		ORDER BY `+orderBy+`
		LIMIT ?
	`, args...)
	if err != nil {
		return nil, fmt.Errorf("query commands: %w", err)
	}
	defer rows.Close()

	out := []*phonefleet.Command{}
	for rows.Next() {
		var c phonefleet.Command
		var typ, state, next, createdAt string
		var doneAt sql.NullString
		if err := rows.Scan(&c.ID, &typ, &c.InstanceID, &c.TenantID, &c.TenantName, &c.UserID, &c.TaskID, &c.EventID,
			&c.Deliveries, &c.Reported, &c.RequestID, &state, &c.Attempts, &next, &c.LastError, &createdAt, &doneAt); err != nil {
			return nil, fmt.Errorf("scan command: %w", err)
		}
		c.Type, c.State = phonefleet.CommandType(typ), phonefleet.JobState(state)
		if c.NextAttemptAt, err = parseTime(next); err != nil {
			return nil, err
		} else if c.CreatedAt, err = parseTime(createdAt); err != nil {
			return nil, err
		} else if c.DoneAt, err = parseNullTime(doneAt); err != nil {
			return nil, err
		}
		out = append(out, &c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("query commands: %w", err)
	}
	return out, nil
}
