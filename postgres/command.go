package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/phonefleet/phonefleet"
)

// msgReportTimeout is the last error of an accepted command whose report
// did not come in time.
const msgReportTimeout = "the data plane did not report the outcome in time"

const commandColumns = `c.id, c.type, c.instance_id, c.tenant_id, t.name, c.user_id, c.task_id, c.event_id, c.deliveries, c.reported, c.request_id,
	c.state, c.attempts, c.next_attempt_at, c.last_error, c.created_at, c.done_at`

// commandCopyColumns are the columns commandCopyRow returns values for.
var commandCopyColumns = []string{"id", "type", "instance_id", "tenant_id", "user_id", "task_id", "event_id", "deliveries", "reported", "request_id",
	"state", "attempts", "next_attempt_at", "last_error", "created_at", "done_at"}

func commandCopyRow(c *phonefleet.Command) []any {
	return []any{c.ID, string(c.Type), c.InstanceID, c.TenantID, c.UserID, c.TaskID, c.EventID, max(c.Deliveries, 1), c.Reported, c.RequestID,
		string(c.State), c.Attempts, c.NextAttemptAt, c.LastError, c.CreatedAt, c.DoneAt}
}

// queueInsertCommands queues one multi-row insert of new commands.
func queueInsertCommands(b *pgx.Batch, cs []*phonefleet.Command) {
	ids, types, instances, tenants, users, tasks, events, requests, states := []string{}, []string{}, []string{}, []string{}, []string{}, []string{}, []string{}, []string{}, []string{}
	var next, created []time.Time
	for _, c := range cs {
		ids, types, instances, tenants = append(ids, c.ID), append(types, string(c.Type)), append(instances, c.InstanceID), append(tenants, c.TenantID)
		users, tasks, events, requests = append(users, c.UserID), append(tasks, c.TaskID), append(events, c.EventID), append(requests, c.RequestID)
		states, next, created = append(states, string(c.State)), append(next, c.NextAttemptAt), append(created, c.CreatedAt)
	}
	b.Queue(`
		INSERT INTO commands (id, type, instance_id, tenant_id, user_id, task_id, event_id, request_id, state,
			attempts, next_attempt_at, created_at)
		SELECT u.id, u.type, u.instance_id, u.tenant_id, u.user_id, u.task_id, u.event_id, u.request_id, u.state,
			0, u.next_attempt_at, u.created_at
		FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[],
			$9::text[], $10::timestamptz[], $11::timestamptz[])
			AS u (id, type, instance_id, tenant_id, user_id, task_id, event_id, request_id, state, next_attempt_at, created_at)`,
		ids, types, instances, tenants, users, tasks, events, requests, states, next, created)
}

// ClaimCommands fails the accepted commands whose report is overdue, then
// leases up to limit pending commands that are due (next attempt at or
// before now, no live lease) to owner for lease, oldest due first. Rows
// another worker is claiming at the same moment are skipped (FOR UPDATE
// SKIP LOCKED), and a claimed row's live lease keeps it from every later
// claim, in this node or another, until the lease runs out.
func (db *DB) ClaimCommands(ctx context.Context, owner string, limit int, lease time.Duration) ([]*phonefleet.Command, error) {
	if err := phonefleet.ValidateClaim(owner, limit, lease); err != nil {
		return nil, err
	}
	var cmds []*phonefleet.Command
	err := db.withTx(ctx, "claim_commands", nil, func(ctx context.Context, tx pgx.Tx, now time.Time) error {
		// Delivery timing keeps wall time, whatever the test clock says.
		wall, err := db.wallNow(ctx, tx, now)
		if err != nil {
			return err
		}
		now = wall
		if _, err := tx.Exec(ctx, `
			UPDATE commands SET state = 'failed', last_error = $2, done_at = $1, lease_owner = NULL, lease_expires_at = NULL
			WHERE id IN (
				SELECT id FROM commands WHERE state = 'accepted' AND next_attempt_at <= $1
				FOR UPDATE SKIP LOCKED)`, now, msgReportTimeout); err != nil {
			return fmt.Errorf("time out commands: %w", err)
		}
		rows, err := tx.Query(ctx, `
			WITH due AS (
				SELECT id FROM commands
				WHERE state = 'pending' AND next_attempt_at <= $1
					AND (lease_expires_at IS NULL OR lease_expires_at <= $1)
				ORDER BY next_attempt_at, instance_id, id
				LIMIT $2
				FOR UPDATE SKIP LOCKED
			)
			UPDATE commands c SET lease_owner = $3, lease_expires_at = $4
			FROM due, tenants t
			WHERE c.id = due.id AND t.id = c.tenant_id
			RETURNING `+commandColumns, now, limit, owner, now.Add(lease))
		if err != nil {
			return fmt.Errorf("claim commands: %w", err)
		}
		if cmds, err = pgx.CollectRows(rows, scanCommand); err != nil {
			return fmt.Errorf("claim commands: %w", err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	slices.SortFunc(cmds, func(a, b *phonefleet.Command) int {
		if c := a.NextAttemptAt.Compare(b.NextAttemptAt); c != 0 {
			return c
		} else if c := strings.Compare(a.InstanceID, b.InstanceID); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return cmds, nil
}

// CompleteCommand marks an in-flight command done; a release also moves its
// instance from deleting to released. A command no longer in flight is left
// alone. ENotFound if there is no such command. The delivery happened, so a
// worker whose lease ran out may still complete.
func (db *DB) CompleteCommand(ctx context.Context, jobID, owner string) error {
	return db.withTx(ctx, "complete_command", nil, func(ctx context.Context, tx pgx.Tx, now time.Time) error {
		// Delivery timing keeps wall time, whatever the test clock says.
		wall, err := db.wallNow(ctx, tx, now)
		if err != nil {
			return err
		}
		now = wall
		c, err := lockCommand(ctx, tx, jobID, phonefleet.ENotFound)
		if err != nil || !c.State.InFlight() {
			return err
		}
		return completeCommand(ctx, tx, c, now, false)
	})
}

// completeCommand marks c done, by the data plane's report if reported,
// clears its last error and applies its effect.
func completeCommand(ctx context.Context, tx pgx.Tx, c *phonefleet.Command, now time.Time, reported bool) error {
	if _, err := tx.Exec(ctx, `
		UPDATE commands SET state = 'done', done_at = $2, last_error = '', reported = $3, lease_owner = NULL, lease_expires_at = NULL
		WHERE id = $1`, c.ID, now, reported); err != nil {
		return fmt.Errorf("complete command: %w", err)
	}
	if c.Type == phonefleet.CommandRelease {
		var tenantID string
		err := tx.QueryRow(ctx, `
			UPDATE instances SET state = 'released', assign_user = '', updated_at = $2
			WHERE id = $1 AND state = 'deleting'
			RETURNING tenant_id`, c.InstanceID, now).Scan(&tenantID)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		} else if err != nil {
			return fmt.Errorf("release instance: %w", err)
		}
		if _, err := tx.Exec(ctx, `UPDATE tenants SET held_instances = held_instances - 1 WHERE id = $1`, tenantID); err != nil {
			return fmt.Errorf("release held instance: %w", err)
		}
	}
	return nil
}

// AcceptCommand records that the data plane took owner's delivery: the
// command becomes accepted, waiting for a report until deadline. A command
// leased to someone else or no longer pending is left alone. ENotFound if
// there is no such command.
func (db *DB) AcceptCommand(ctx context.Context, jobID, owner string, deadline time.Time) error {
	return db.withTx(ctx, "accept_command", nil, func(ctx context.Context, tx pgx.Tx, _ time.Time) error {
		if _, err := lockCommand(ctx, tx, jobID, phonefleet.ENotFound); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `
			UPDATE commands SET state = 'accepted', attempts = attempts + 1, next_attempt_at = $3,
				lease_owner = NULL, lease_expires_at = NULL
			WHERE id = $1 AND lease_owner = $2 AND state = 'pending'`, jobID, owner, deadline.UTC()); err != nil {
			return fmt.Errorf("accept command: %w", err)
		}
		return nil
	})
}

// FailCommand records a failed attempt of owner's lease: attempts+1, the
// last error, and pending until next or, when final, failed. A command
// whose lease owner changed or that is no longer pending is left alone.
// ENotFound if there is no such command.
func (db *DB) FailCommand(ctx context.Context, jobID, owner, lastError string, next time.Time, final bool) error {
	state := phonefleet.JobStatePending
	if final {
		state = phonefleet.JobStateFailed
	}
	return db.withTx(ctx, "fail_command", nil, func(ctx context.Context, tx pgx.Tx, now time.Time) error {
		// Delivery timing keeps wall time, whatever the test clock says.
		wall, err := db.wallNow(ctx, tx, now)
		if err != nil {
			return err
		}
		now = wall
		if _, err := lockCommand(ctx, tx, jobID, phonefleet.ENotFound); err != nil {
			return err
		}
		var doneAt *time.Time
		if final {
			doneAt = &now
		}
		if _, err := tx.Exec(ctx, `
			UPDATE commands SET attempts = attempts + 1, last_error = $3, next_attempt_at = $4, state = $5, done_at = $6,
				lease_owner = NULL, lease_expires_at = NULL
			WHERE id = $1 AND lease_owner = $2 AND state = 'pending'`,
			jobID, owner, lastError, next.UTC(), string(state), doneAt); err != nil {
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
	return db.withTx(ctx, "report_command", nil, func(ctx context.Context, tx pgx.Tx, now time.Time) error {
		// Delivery timing keeps wall time, whatever the test clock says.
		wall, err := db.wallNow(ctx, tx, now)
		if err != nil {
			return err
		}
		now = wall
		c, err := lockCommand(ctx, tx, jobID, phonefleet.EJobNotFound)
		if err != nil {
			return err
		}
		if apply, err := phonefleet.PlanReport(c, r); err != nil || !apply {
			return err
		}
		if r.State == phonefleet.JobStateDone {
			return completeCommand(ctx, tx, c, now, true)
		}
		if _, err := tx.Exec(ctx, `
			UPDATE commands SET state = 'failed', last_error = $2, done_at = $3, reported = true, lease_owner = NULL, lease_expires_at = NULL
			WHERE id = $1`, c.ID, r.Error, now); err != nil {
			return fmt.Errorf("fail command: %w", err)
		}
		return nil
	})
}

// RetryCommand makes a failed command pending and due now with attempts
// reset, as a new delivery (deliveries+1). id is a job ID or an instance ID (that instance's latest failed
// command, else its latest command). ENotFound if there is no such command, EInvalid if it is not
// failed or its instance cannot take it.
func (db *DB) RetryCommand(ctx context.Context, id string) error {
	return db.withTx(ctx, "retry_command", nil, func(ctx context.Context, tx pgx.Tx, now time.Time) error {
		// Delivery timing keeps wall time, whatever the test clock says.
		wall, err := db.wallNow(ctx, tx, now)
		if err != nil {
			return err
		}
		now = wall
		// Lock the instance first, as every request that writes commands
		// does, so the in-flight check below cannot race one of them.
		var instanceID string
		err = tx.QueryRow(ctx, `
			SELECT instance_id FROM commands WHERE id = $1 OR instance_id = $1 LIMIT 1`, id).Scan(&instanceID)
		if errors.Is(err, pgx.ErrNoRows) {
			return phonefleet.Errorf(phonefleet.ENotFound, "no job %s (nor an instance %s with jobs)", id, id)
		} else if err != nil {
			return fmt.Errorf("find command: %w", err)
		}
		var state string
		if err := tx.QueryRow(ctx, `SELECT `+stateColumn+` FROM instances i WHERE i.id = $1 FOR UPDATE`, instanceID).Scan(&state); err != nil {
			return fmt.Errorf("lock instance: %w", err)
		}
		rows, err := tx.Query(ctx, `SELECT `+commandColumns+` FROM commands c JOIN tenants t ON t.id = c.tenant_id
			WHERE c.id = $1 OR c.instance_id = $1
			ORDER BY c.id = $1 DESC, c.state = 'failed' DESC, c.created_at DESC, c.id DESC LIMIT 1`, id)
		if err != nil {
			return fmt.Errorf("find command: %w", err)
		}
		c, err := pgx.CollectExactlyOneRow(rows, scanCommand)
		if err != nil {
			return fmt.Errorf("find command: %w", err)
		}
		var busy string
		if err := tx.QueryRow(ctx, `
			SELECT COALESCE((SELECT id FROM commands WHERE instance_id = $1 AND state IN ('pending', 'accepted')), '')`,
			c.InstanceID).Scan(&busy); err != nil {
			return fmt.Errorf("find command in flight: %w", err)
		}
		if err := phonefleet.CheckRetry(c, phonefleet.InstanceState(state), busy); err != nil {
			return err
		}
		if c.State == phonefleet.JobStatePending {
			if _, err := tx.Exec(ctx, `UPDATE commands SET next_attempt_at = $2, deliveries = deliveries + 1 WHERE id = $1 AND state = 'pending'`, c.ID, now); err != nil {
				return fmt.Errorf("make command due: %w", err)
			}
			return nil
		}
		if _, err := tx.Exec(ctx, `
			UPDATE commands SET state = 'pending', attempts = 0, deliveries = deliveries + 1, reported = false, next_attempt_at = $2,
				done_at = NULL, lease_owner = NULL, lease_expires_at = NULL
			WHERE id = $1`, c.ID, now); err != nil {
			return fmt.Errorf("retry command: %w", err)
		}
		return nil
	})
}

// FindCommands lists commands ordered by created_at, instance ID, job ID. A Limit
// of 0 means no limit.
func (db *DB) FindCommands(ctx context.Context, filter phonefleet.CommandFilter) ([]*phonefleet.Command, error) {
	var conds []string
	var args []any
	add := func(cond string, v any) {
		args = append(args, v)
		conds = append(conds, fmt.Sprintf(cond, len(args)))
	}
	if filter.State != nil {
		add("c.state = $%d", string(*filter.State))
	}
	if filter.Type != nil {
		add("c.type = $%d", string(*filter.Type))
	}
	if filter.TenantID != nil {
		add("c.tenant_id = $%d", *filter.TenantID)
	}
	if filter.InstanceID != nil {
		add("c.instance_id = $%d", *filter.InstanceID)
	}
	limit := ""
	if filter.Limit > 0 {
		args = append(args, filter.Limit)
		limit = fmt.Sprintf(" LIMIT $%d", len(args))
	}
	var cmds []*phonefleet.Command
	err := db.read(ctx, func(ctx context.Context) error {
		rows, err := db.pool.Query(ctx, `
			SELECT `+commandColumns+`
			FROM commands c JOIN tenants t ON t.id = c.tenant_id
			`+whereClause(conds)+`
			ORDER BY c.created_at, c.instance_id, c.id`+limit, args...)
		if err == nil {
			cmds, err = pgx.CollectRows(rows, scanCommand)
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("find commands: %w", err)
	}
	return cmds, nil
}

// lockCommand locks the command's row and returns it; notFound (a code) if
// there is none.
func lockCommand(ctx context.Context, tx pgx.Tx, jobID, notFound string) (*phonefleet.Command, error) {
	rows, err := tx.Query(ctx, `SELECT `+commandColumns+` FROM commands c JOIN tenants t ON t.id = c.tenant_id
		WHERE c.id = $1 FOR UPDATE OF c`, jobID)
	if err != nil {
		return nil, fmt.Errorf("lock command: %w", err)
	}
	c, err := pgx.CollectExactlyOneRow(rows, scanCommand)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, phonefleet.Errorf(notFound, "job %s not found", jobID)
	} else if err != nil {
		return nil, fmt.Errorf("lock command: %w", err)
	}
	return c, nil
}

func scanCommand(row pgx.CollectableRow) (*phonefleet.Command, error) {
	var c phonefleet.Command
	err := row.Scan(commandDest(&c)...)
	return &c, err
}

// commandDest is where the columns of commandColumns scan into.
func commandDest(c *phonefleet.Command) []any {
	return []any{&c.ID, &c.Type, &c.InstanceID, &c.TenantID, &c.TenantName, &c.UserID, &c.TaskID, &c.EventID,
		&c.Deliveries, &c.Reported, &c.RequestID, &c.State, &c.Attempts, &c.NextAttemptAt, &c.LastError, &c.CreatedAt, &c.DoneAt}
}
