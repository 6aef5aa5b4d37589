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

const jobColumns = `j.instance_id, j.tenant_id, t.name, j.event_id, j.request_id, j.state, j.attempts,
	j.next_attempt_at, j.last_error, j.created_at, j.done_at`

// ClaimReleaseJobs leases up to limit pending jobs that are due (next attempt
// at or before now, no live lease) to owner for lease, oldest due first.
// Rows another worker is claiming at the same moment are skipped (FOR UPDATE
// SKIP LOCKED), and a claimed row's live lease keeps it from every later
// claim, in this node or another, until the lease runs out.
func (db *DB) ClaimReleaseJobs(ctx context.Context, owner string, limit int, lease time.Duration) ([]*phonefleet.ReleaseJob, error) {
	if err := phonefleet.ValidateClaim(owner, limit, lease); err != nil {
		return nil, err
	}
	var jobs []*phonefleet.ReleaseJob
	err := db.withTx(ctx, "claim_release_jobs", nil, func(ctx context.Context, tx pgx.Tx, now time.Time) error {
		rows, err := tx.Query(ctx, `
			WITH due AS (
				SELECT instance_id FROM release_jobs
				WHERE state = 'pending' AND next_attempt_at <= $1
					AND (lease_expires_at IS NULL OR lease_expires_at <= $1)
				ORDER BY next_attempt_at, instance_id
				LIMIT $2
				FOR UPDATE SKIP LOCKED
			)
			UPDATE release_jobs j SET lease_owner = $3, lease_expires_at = $4
			FROM due, tenants t
			WHERE j.instance_id = due.instance_id AND t.id = j.tenant_id
			RETURNING `+jobColumns, now, limit, owner, now.Add(lease))
		if err != nil {
			return fmt.Errorf("claim release jobs: %w", err)
		}
		if jobs, err = pgx.CollectRows(rows, scanJob); err != nil {
			return fmt.Errorf("claim release jobs: %w", err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	slices.SortFunc(jobs, func(a, b *phonefleet.ReleaseJob) int {
		if c := a.NextAttemptAt.Compare(b.NextAttemptAt); c != 0 {
			return c
		}
		return strings.Compare(a.InstanceID, b.InstanceID)
	})
	return jobs, nil
}

// CompleteReleaseJob marks the job done and its instance released, once:
// completing a done job is a no-op. ENotFound if there is no such job. The
// delivery happened, so a worker whose lease ran out may still complete.
func (db *DB) CompleteReleaseJob(ctx context.Context, instanceID, owner string) error {
	return db.withTx(ctx, "complete_release_job", nil, func(ctx context.Context, tx pgx.Tx, now time.Time) error {
		state, err := lockJobState(ctx, tx, instanceID)
		if err != nil {
			return err
		} else if state == phonefleet.JobStateDone {
			return nil
		}
		if _, err := tx.Exec(ctx, `
			UPDATE release_jobs SET state = 'done', done_at = $2, lease_owner = NULL, lease_expires_at = NULL
			WHERE instance_id = $1`, instanceID, now); err != nil {
			return fmt.Errorf("complete release job: %w", err)
		}
		if _, err := tx.Exec(ctx, `
			UPDATE instances SET state = 'released', updated_at = $2
			WHERE id = $1 AND state = 'deleting'`, instanceID, now); err != nil {
			return fmt.Errorf("release instance: %w", err)
		}
		return nil
	})
}

// FailReleaseJob records a failed attempt of owner's lease: attempts+1, the
// last error, and pending until next or, when final, failed. A job whose
// lease owner changed or that is no longer pending is left alone. ENotFound
// if there is no such job.
func (db *DB) FailReleaseJob(ctx context.Context, instanceID, owner, lastError string, next time.Time, final bool) error {
	state := phonefleet.JobStatePending
	if final {
		state = phonefleet.JobStateFailed
	}
	return db.withTx(ctx, "fail_release_job", nil, func(ctx context.Context, tx pgx.Tx, now time.Time) error {
		if _, err := lockJobState(ctx, tx, instanceID); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `
			UPDATE release_jobs SET attempts = attempts + 1, last_error = $3, next_attempt_at = $4, state = $5,
				lease_owner = NULL, lease_expires_at = NULL
			WHERE instance_id = $1 AND lease_owner = $2 AND state = 'pending'`,
			instanceID, owner, lastError, next.UTC(), string(state)); err != nil {
			return fmt.Errorf("fail release job: %w", err)
		}
		return nil
	})
}

// RetryReleaseJob makes a failed job pending and due now with attempts
// reset. ENotFound if there is no such job, EInvalid if it is not failed.
func (db *DB) RetryReleaseJob(ctx context.Context, instanceID string) error {
	return db.withTx(ctx, "retry_release_job", nil, func(ctx context.Context, tx pgx.Tx, now time.Time) error {
		state, err := lockJobState(ctx, tx, instanceID)
		if err != nil {
			return err
		} else if state != phonefleet.JobStateFailed {
			return phonefleet.Errorf(phonefleet.EInvalid, "release job %q is %s, not failed", instanceID, state)
		}
		if _, err := tx.Exec(ctx, `
			UPDATE release_jobs SET state = 'pending', attempts = 0, next_attempt_at = $2,
				lease_owner = NULL, lease_expires_at = NULL
			WHERE instance_id = $1`, instanceID, now); err != nil {
			return fmt.Errorf("retry release job: %w", err)
		}
		return nil
	})
}

// FindReleaseJobs lists jobs ordered by created_at, then instance ID. A
// Limit of 0 means no limit.
func (db *DB) FindReleaseJobs(ctx context.Context, filter phonefleet.ReleaseJobFilter) ([]*phonefleet.ReleaseJob, error) {
	ctx, cancel := db.readCtx(ctx)
	defer cancel()
	var conds []string
	var args []any
	if filter.State != nil {
		args = append(args, string(*filter.State))
		conds = append(conds, fmt.Sprintf("j.state = $%d", len(args)))
	}
	if filter.TenantID != nil {
		args = append(args, *filter.TenantID)
		conds = append(conds, fmt.Sprintf("j.tenant_id = $%d", len(args)))
	}
	limit := ""
	if filter.Limit > 0 {
		args = append(args, filter.Limit)
		limit = fmt.Sprintf(" LIMIT $%d", len(args))
	}
	rows, err := db.pool.Query(ctx, `
		SELECT `+jobColumns+`
		FROM release_jobs j JOIN tenants t ON t.id = j.tenant_id
		`+whereClause(conds)+`
		ORDER BY j.created_at, j.instance_id`+limit, args...)
	if err != nil {
		return nil, fmt.Errorf("find release jobs: %w", err)
	}
	jobs, err := pgx.CollectRows(rows, scanJob)
	if err != nil {
		return nil, fmt.Errorf("find release jobs: %w", err)
	}
	return jobs, nil
}

// lockJobState locks the job's row and returns its state; ENotFound if none.
func lockJobState(ctx context.Context, tx pgx.Tx, instanceID string) (phonefleet.JobState, error) {
	var state string
	err := tx.QueryRow(ctx, `SELECT state FROM release_jobs WHERE instance_id = $1 FOR UPDATE`, instanceID).Scan(&state)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", phonefleet.Errorf(phonefleet.ENotFound, "release job %s not found", instanceID)
	} else if err != nil {
		return "", fmt.Errorf("lock release job: %w", err)
	}
	return phonefleet.JobState(state), nil
}

func scanJob(row pgx.CollectableRow) (*phonefleet.ReleaseJob, error) {
	var j phonefleet.ReleaseJob
	err := row.Scan(&j.InstanceID, &j.TenantID, &j.TenantName, &j.EventID, &j.RequestID, &j.State, &j.Attempts,
		&j.NextAttemptAt, &j.LastError, &j.CreatedAt, &j.DoneAt)
	return &j, err
}
