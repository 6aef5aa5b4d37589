package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/phonefleet/phonefleet"
)

// ClaimReleaseJobs leases up to limit pending jobs that are due (next
// attempt at or before now, no live lease) to owner until now+lease, oldest
// due first, with TenantName filled in. The claim is one write operation,
// so two claimers, in this process or another, never get the same job.
func (db *DB) ClaimReleaseJobs(ctx context.Context, owner string, limit int, lease time.Duration) ([]*phonefleet.ReleaseJob, error) {
	if err := phonefleet.ValidateClaim(owner, limit, lease); err != nil {
		return nil, err
	}
	var jobs []*phonefleet.ReleaseJob
	err := db.write(ctx, func(ctx context.Context, tx *Tx) error {
		now := formatTime(tx.now)
		var err error
		jobs, err = findReleaseJobs(ctx, tx, []string{
			"j.state = 'pending'",
			"j.next_attempt_at <= ?",
			"(j.lease_expires_at IS NULL OR j.lease_expires_at <= ?)",
		}, []any{now, now}, "j.next_attempt_at, j.instance_id", limit)
		if err != nil || len(jobs) == 0 {
			return err
		}

		ids := make([]any, len(jobs))
		for i, j := range jobs {
			ids[i] = j.InstanceID
		}
		if _, err := tx.ExecContext(ctx, `
			UPDATE release_jobs SET lease_owner = ?, lease_expires_at = ?
			WHERE instance_id IN (`+placeholders(len(ids))+`)
		`, append([]any{owner, formatTime(tx.now.Add(lease))}, ids...)...); err != nil {
			return fmt.Errorf("lease release jobs: %w", err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return jobs, nil
}

// CompleteReleaseJob marks the job done and its instance released (only
// from deleting). Completing a done job is a no-op. The owner is not
// checked: a delivery that succeeded is done even if its lease ran out
// meanwhile. ENotFound if there is no such job.
func (db *DB) CompleteReleaseJob(ctx context.Context, instanceID, owner string) error {
	return db.write(ctx, func(ctx context.Context, tx *Tx) error {
		state, err := findReleaseJobState(ctx, tx, instanceID)
		if err != nil {
			return err
		} else if state == phonefleet.JobStateDone {
			return nil
		}

		now := formatTime(tx.now)
		if _, err := tx.ExecContext(ctx, `
			UPDATE release_jobs SET state = 'done', done_at = ?, lease_owner = NULL, lease_expires_at = NULL
			WHERE instance_id = ?
		`, now, instanceID); err != nil {
			return fmt.Errorf("complete release job: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `
			UPDATE instances SET state = 'released', updated_at = ?
			WHERE id = ? AND state = 'deleting'
		`, now, instanceID); err != nil {
			return fmt.Errorf("release instance: %w", err)
		}
		return nil
	})
}

// FailReleaseJob records a failed attempt of owner's lease: attempts+1, the
// last error, the lease cleared, and either pending until next or, when
// final, failed. A job leased to someone else or no longer pending is left
// alone. ENotFound if there is no such job.
func (db *DB) FailReleaseJob(ctx context.Context, instanceID, owner, lastError string, next time.Time, final bool) error {
	state := phonefleet.JobStatePending
	if final {
		state = phonefleet.JobStateFailed
	}
	return db.write(ctx, func(ctx context.Context, tx *Tx) error {
		if _, err := findReleaseJobState(ctx, tx, instanceID); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `
			UPDATE release_jobs
			SET attempts = attempts + 1, last_error = ?, next_attempt_at = ?, state = ?,
			    lease_owner = NULL, lease_expires_at = NULL
			WHERE instance_id = ? AND lease_owner = ? AND state = 'pending'
		`, lastError, formatTime(next), string(state), instanceID, owner); err != nil {
			return fmt.Errorf("fail release job: %w", err)
		}
		return nil
	})
}

// RetryReleaseJob makes a failed job pending and due now with attempts
// reset; its last error stays for reference. ENotFound if there is no such
// job, EInvalid if it is not failed.
func (db *DB) RetryReleaseJob(ctx context.Context, instanceID string) error {
	return db.write(ctx, func(ctx context.Context, tx *Tx) error {
		state, err := findReleaseJobState(ctx, tx, instanceID)
		if err != nil {
			return err
		} else if state != phonefleet.JobStateFailed {
			return phonefleet.Errorf(phonefleet.EInvalid, "release job %s is %s, not failed", instanceID, state)
		}
		if _, err := tx.ExecContext(ctx, `
			UPDATE release_jobs
			SET state = 'pending', attempts = 0, next_attempt_at = ?, lease_owner = NULL, lease_expires_at = NULL
			WHERE instance_id = ?
		`, formatTime(tx.now), instanceID); err != nil {
			return fmt.Errorf("retry release job: %w", err)
		}
		return nil
	})
}

// FindReleaseJobs lists jobs ordered by created_at, then instance ID. A
// Limit of 0 means no limit.
func (db *DB) FindReleaseJobs(ctx context.Context, filter phonefleet.ReleaseJobFilter) ([]*phonefleet.ReleaseJob, error) {
	tx, err := db.beginTx(ctx, false)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()

	var where []string
	var args []any
	if v := filter.State; v != nil {
		where, args = append(where, "j.state = ?"), append(args, string(*v))
	}
	if v := filter.TenantID; v != nil {
		where, args = append(where, "j.tenant_id = ?"), append(args, *v)
	}
	return findReleaseJobs(ctx, tx, where, args, "j.created_at, j.instance_id", filter.Limit)
}

// findReleaseJobState returns the state of the job; ENotFound if none.
func findReleaseJobState(ctx context.Context, tx *Tx, instanceID string) (phonefleet.JobState, error) {
	var state string
	if err := tx.QueryRowContext(ctx, `
		SELECT state FROM release_jobs WHERE instance_id = ?
	`, instanceID).Scan(&state); errNoRows(err) {
		return "", phonefleet.Errorf(phonefleet.ENotFound, "release job %s not found", instanceID)
	} else if err != nil {
		return "", fmt.Errorf("query release job: %w", err)
	}
	return phonefleet.JobState(state), nil
}

// findReleaseJobs returns the jobs matching the conditions (alias j) in
// order, at most limit of them (0: all), with their tenant's name.
func findReleaseJobs(ctx context.Context, tx *Tx, where []string, args []any, orderBy string, limit int) ([]*phonefleet.ReleaseJob, error) {
	cond := ""
	if len(where) > 0 {
		cond = "WHERE " + strings.Join(where, " AND ")
	}
	if limit <= 0 {
		limit = -1
	}
	rows, err := tx.QueryContext(ctx, `
		SELECT j.instance_id, j.tenant_id, t.name, j.event_id, j.request_id, j.state, j.attempts,
		       j.next_attempt_at, j.last_error, j.created_at, j.done_at
		FROM release_jobs j
		JOIN tenants t ON t.id = j.tenant_id
		`+cond+`
		ORDER BY `+orderBy+`
		LIMIT ?
	`, append(args, limit)...)
	if err != nil {
		return nil, fmt.Errorf("query release jobs: %w", err)
	}
	defer rows.Close()

	out := []*phonefleet.ReleaseJob{}
	for rows.Next() {
		var j phonefleet.ReleaseJob
		var state, next, createdAt string
		var doneAt sql.NullString
		if err := rows.Scan(&j.InstanceID, &j.TenantID, &j.TenantName, &j.EventID, &j.RequestID, &state,
			&j.Attempts, &next, &j.LastError, &createdAt, &doneAt); err != nil {
			return nil, fmt.Errorf("scan release job: %w", err)
		}
		j.State = phonefleet.JobState(state)
		if j.NextAttemptAt, err = parseTime(next); err != nil {
			return nil, err
		} else if j.CreatedAt, err = parseTime(createdAt); err != nil {
			return nil, err
		} else if j.DoneAt, err = parseNullTime(doneAt); err != nil {
			return nil, err
		}
		out = append(out, &j)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("query release jobs: %w", err)
	}
	return out, nil
}
