package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/phonefleet/phonefleet"
)

var _ phonefleet.LifecycleService = (*DB)(nil)

// SweepLifecycle applies up to limit due lifecycle transitions, one
// transaction per tenant with due work. Each transaction claims the tenant's
// due rows with FOR UPDATE SKIP LOCKED (the lock an unsubscribe or a command
// takes), so two nodes sweeping at once never take the same row and a row
// an API holds waits for the next sweep; it plans them with
// phonefleet.PlanSweep at the tenant's business time and moves each by a
// conditional update, with its command and audit event, before it commits.
func (db *DB) SweepLifecycle(ctx context.Context, def phonefleet.LifecyclePeriods, limit int) ([]phonefleet.LifecycleTransition, error) {
	if limit <= 0 {
		return nil, phonefleet.Errorf(phonefleet.EInvalid, "sweep limit must be positive")
	}
	tenants, err := db.FindTenants(ctx)
	if err != nil {
		return nil, err
	}
	if tenants, err = db.dueTenants(ctx, tenants, def); err != nil {
		return nil, err
	}
	var done []phonefleet.LifecycleTransition
	for _, t := range tenants {
		if len(done) >= limit {
			break
		}
		applied, err := db.sweepTenant(ctx, t, def, limit-len(done))
		if err != nil {
			return done, err
		}
		done = append(done, applied...)
	}
	return done, nil
}

// dueSlack is how far past its own estimate of each tenant's business time
// dueTenants looks: the estimate follows the server's clock as last
// measured, and a tenant picked too early only costs a transaction that
// finds nothing.
const dueSlack = time.Second

// dueTenants returns those of tenants that have an instance due for a step
// (with dueSlack), in one round trip that probes the due index once per
// tenant and phase, so a sweep opens a transaction only for the tenants with
// work, not for every tenant every second.
func (db *DB) dueTenants(ctx context.Context, tenants []*phonefleet.Tenant, def phonefleet.LifecyclePeriods) ([]*phonefleet.Tenant, error) {
	if len(tenants) == 0 {
		return nil, nil
	}
	ctx, cancel := db.readCtx(ctx)
	defer cancel()
	ids := make([]string, len(tenants))
	for i, t := range tenants {
		ids[i] = t.ID
	}
	offsets := map[string]phonefleet.ClockSpan{}
	if db.TestClock {
		rows, err := db.pool.Query(ctx, tenantClocksSQL, ids)
		if err != nil {
			return nil, fmt.Errorf("read test clocks: %w", err)
		}
		for rows.Next() {
			var id string
			var off phonefleet.ClockSpan
			if err := rows.Scan(&id, &off.Seconds, &off.Nanos); err != nil {
				rows.Close()
				return nil, fmt.Errorf("read test clocks: %w", err)
			}
			offsets[id] = off
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("read test clocks: %w", err)
		}
	}
	base := db.Clock().Add(dueSlack)
	var cutoffs [3][]time.Time
	for _, t := range tenants {
		now, p := offsets[t.ID].AddTo(base), t.Periods(def)
		for i, phase := range phonefleet.LifecyclePhases {
			cutoffs[i] = append(cutoffs[i], phonefleet.LifecycleCutoff(phase, p, now))
		}
	}
	probe := func(lifecycle, cutoff string) string {
		return `EXISTS (SELECT 1 FROM instances i
			WHERE i.tenant_id = u.tenant_id AND i.lifecycle = '` + lifecycle + `' AND i.state = 'running'
			  AND i.expires_at IS NOT NULL AND i.expires_at <= u.` + cutoff + `)`
	}
	rows, err := db.pool.Query(ctx, `
		SELECT u.tenant_id
		FROM unnest($1::text[], $2::timestamptz[], $3::timestamptz[], $4::timestamptz[]) AS u (tenant_id, active, expired, frozen)
		WHERE `+probe(phonefleet.LifecycleActive, "active")+` OR `+probe(phonefleet.LifecycleExpired, "expired")+
		` OR `+probe(phonefleet.LifecycleFrozen, "frozen"), ids, cutoffs[0], cutoffs[1], cutoffs[2])
	if err != nil {
		return nil, fmt.Errorf("find tenants with due instances: %w", err)
	}
	due, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("find tenants with due instances: %w", err)
	}
	isDue := make(map[string]bool, len(due))
	for _, id := range due {
		isDue[id] = true
	}
	out := make([]*phonefleet.Tenant, 0, len(due))
	for _, t := range tenants {
		if isDue[t.ID] {
			out = append(out, t)
		}
	}
	return out, nil
}

// sweepTenant applies up to limit due transitions of one tenant in one
// transaction.
func (db *DB) sweepTenant(ctx context.Context, t *phonefleet.Tenant, def phonefleet.LifecyclePeriods, limit int) ([]phonefleet.LifecycleTransition, error) {
	var applied []phonefleet.LifecycleTransition
	err := db.withTx(db.onTenantClock(ctx, t.ID), "sweep_lifecycle", nil, func(ctx context.Context, tx pgx.Tx, now time.Time) error {
		applied = applied[:0]
		// The periods as they are now, not as the tenant list saw them.
		var grace, retention *int64
		if err := tx.QueryRow(ctx, `SELECT grace_period_ns, retention_period_ns FROM tenants WHERE id = $1`, t.ID).Scan(&grace, &retention); err != nil {
			return fmt.Errorf("read tenant periods: %w", err)
		}
		p := (&phonefleet.Tenant{GracePeriod: nsPeriod(grace), RetentionPeriod: nsPeriod(retention)}).Periods(def)
		var ids []string
		for _, phase := range phonefleet.LifecyclePhases {
			_, lifecycle := phonefleet.StoredState(phase)
			rows, err := tx.Query(ctx, `
				SELECT id FROM instances
				WHERE tenant_id = $1 AND lifecycle = $2 AND state = 'running' AND expires_at IS NOT NULL AND expires_at <= $3
				ORDER BY expires_at, id
				LIMIT $4
				FOR UPDATE SKIP LOCKED`, t.ID, lifecycle, phonefleet.LifecycleCutoff(phase, p, now), limit)
			if err != nil {
				return fmt.Errorf("claim due instances: %w", err)
			}
			claimed, err := pgx.CollectRows(rows, pgx.RowTo[string])
			if err != nil {
				return fmt.Errorf("claim due instances: %w", err)
			}
			ids = append(ids, claimed...)
		}
		if len(ids) == 0 {
			return nil
		}
		// Read after locking, in a new statement: it sees the commands of
		// the transactions the claim may have followed.
		found, err := db.lockInstances(ctx, tx, t.ID, ids, false)
		if err != nil {
			return err
		}
		candidates := make([]*phonefleet.Instance, 0, len(found))
		for _, in := range found {
			candidates = append(candidates, in)
		}
		wall, err := db.wallNow(ctx, tx, now)
		if err != nil {
			return err
		}
		plan := phonefleet.PlanSweep(candidates, p, now, wall, limit)
		for i := range plan {
			ok, err := applyTransition(ctx, tx, &plan[i], now, wall)
			if err != nil {
				return err
			} else if ok {
				applied = append(applied, plan[i])
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return applied, nil
}

// applyTransition moves the instance from tr.From to tr.To if it is still
// in tr.From, cancels the command tr replaces, and writes tr's command
// (scheduled on wall time) and its audit event at the tenant's business
// time now. ok is false when the instance was no longer in tr.From: nothing
// is written.
func applyTransition(ctx context.Context, tx pgx.Tx, tr *phonefleet.LifecycleTransition, now, wall time.Time) (ok bool, err error) {
	fromState, fromLifecycle := phonefleet.StoredState(tr.From)
	toState, toLifecycle := phonefleet.StoredState(tr.To)
	if tr.To == phonefleet.InstanceStateDeleting {
		toLifecycle = fromLifecycle // the phase it was released from stays on record
	}
	tag, err := tx.Exec(ctx, `
		UPDATE instances SET state = $1, lifecycle = $2, updated_at = $3,
		       assign_user = CASE WHEN $1 = 'deleting' THEN '' ELSE assign_user END
		WHERE id = $4 AND tenant_id = $5 AND state = $6 AND lifecycle = $7`,
		toState, toLifecycle, now, tr.InstanceID, tr.TenantID, fromState, fromLifecycle)
	if err != nil {
		return false, fmt.Errorf("update instance %s: %w", tr.InstanceID, err)
	} else if tag.RowsAffected() == 0 {
		return false, nil
	}
	b := &pgx.Batch{}
	if tr.CancelJobID != "" {
		b.Queue(`UPDATE commands SET state = 'canceled', done_at = $2, lease_owner = NULL, lease_expires_at = NULL
			WHERE id = $1 AND state IN ('pending', 'accepted')`, tr.CancelJobID, wall)
	}
	if tr.Cmd != nil {
		queueInsertCommands(b, []*phonefleet.Command{tr.Cmd})
	}
	queueAuditEvent(b, phonefleet.LifecycleAuditEvent(tr, now))
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return false, fmt.Errorf("write transition of %s: %w", tr.InstanceID, err)
	}
	return true, nil
}

// nsPeriod is the period of a nullable nanoseconds column.
func nsPeriod(ns *int64) *phonefleet.Period {
	if ns == nil {
		return nil
	}
	p := phonefleet.Period(*ns)
	return &p
}
