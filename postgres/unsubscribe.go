package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/phonefleet/phonefleet"
)

// Unsubscribe applies PlanUnsubscribe in one transaction. It locks the
// tenant's named instances in ID order (so overlapping batches queue behind
// each other instead of deadlocking), plans on the locked rows, and writes
// the states, refunds, release commands (cancelling any command in flight)
// and audit event. A batch that waited on another sees the other's
// committed states and treats those instances as no-ops. On error nothing
// changes (the caller audits the failure).
//
// Concurrent unsubscribes of a node share transactions (see coalescer):
// one that finds none of its rows locked by another transaction commits
// with the others queued at the same time; one that does, or whose shared
// transaction fails, runs in a transaction of its own, which waits for the
// locks. Either way its outcome is the same.
// Errors: ENotOwned, EPayPerUse, EInternal.
func (db *DB) Unsubscribe(ctx context.Context, req *phonefleet.UnsubscribeRequest) (*phonefleet.UnsubscribePlan, error) {
	// One deadline for the unsubscribe and its failure audit event.
	ctx, cancel := db.opContext(ctx)
	defer cancel()
	opCtx, opCancel := txContext(ctx)
	defer opCancel()
	op := &unsubscribeOp{req: req}
	if !db.testNoCoalesce {
		if settled, err := db.unsubscribes.run(db, ctx, opCtx, op); settled {
			return op.plan, err
		}
	}
	// Alone, it may wait for row locks: within its tenant's share.
	release, err := db.acquireTenantSlot(opCtx)
	if err != nil {
		return nil, fmt.Errorf("wait for the tenant's share of the pool: %w", err)
	}
	defer release()
	err = db.retryTx(ctx, opCtx, "unsubscribe", unsubscribeGuard, auditCommitted(&op.event), op.tried, func(ctx context.Context) error {
		return db.unsubscribeTx(ctx, []*unsubscribeOp{op}, true)
	})
	if err != nil {
		return nil, err
	}
	return op.plan, nil
}

// unsubscribeGuard: the refund and release-job keys are the last guard.
// Should they ever fire, the retry sees the instances as unsubscribed and
// plans no-ops.
func unsubscribeGuard(err error) bool {
	return isUniqueViolation(err, "refunds_pkey", "commands_pkey", "commands_release_idx", "commands_in_flight_idx")
}

// unsubscribeOp is one Unsubscribe, run alone or in a group.
type unsubscribeOp struct {
	req *phonefleet.UnsubscribeRequest

	// What its last transaction decided (unsubscribeTx resets them).
	plan  *phonefleet.UnsubscribePlan
	event *phonefleet.AuditEvent // the audit event written with the plan
	err   error                  // its own error: the plan's, or an unknown outcome
	alone bool                   // not settled by its group: it runs alone
	tried int                    // attempts its group made: 1 if it failed in a way a retry may fix

	// For the coalescer.
	txDeadline, deadline time.Time     // of its transactions, of the whole operation
	done                 chan struct{} // closed once its group answered
	taken, withdrawn     bool          // guarded by coalescer.mu
}

// The statements of an unsubscribe transaction.
const (
	// The rows each op would change, as (tenant, ID) pairs, locked in ID
	// order. A group skips rows another transaction holds: their ops run
	// alone, and wait there. A group also share-locks, without waiting
	// (groupKeysSQL), the tenant and order rows its refunds and commands
	// refer to, which their foreign keys would otherwise wait for.
	lockInstancesSQL = `
		SELECT i.id FROM instances i
		JOIN unnest($1::text[], $2::text[]) AS r (tenant_id, id) ON i.id = r.id AND i.tenant_id = r.tenant_id
		JOIN tenants t ON t.id = i.tenant_id
		JOIN orders o ON o.id = i.order_id
		ORDER BY i.id FOR UPDATE OF i`
	groupKeysSQL = ` SKIP LOCKED FOR KEY SHARE OF t, o SKIP LOCKED`
	// A group waits for no lock: its writes give up after 50 ms on any
	// lock beyond those it took, so the group fails and its unsubscribes
	// run alone, each within its tenant's share of the pool.
	groupLockTimeoutSQL = `SET LOCAL lock_timeout = '50ms'`
	// Every named instance, whatever its tenant: PlanUnsubscribe answers a
	// foreign ID as it answers a missing one.
	readInstancesSQL = `SELECT ` + instanceColumns + ` FROM ` + instanceTables + ` WHERE i.id = ANY($1)`
	// The transaction's time (with the test clock on, the ops' tenants'
	// offsets follow in the same batch: tenantClocksSQL).
	txTimeSQL = `SELECT transaction_timestamp()`
)

// unsubscribeTx runs ops in one transaction, in three round trips: BEGIN,
// the time (and, with the test clock on, the offsets of the ops' tenants'
// clocks), the lock and the read pipelined; the writes of every plan;
// COMMIT. Each op plans on its own tenant's business time.
//
// With wait (a single op, run alone), it waits for the locks of its rows;
// the plan's error is returned and rolls back. Without (a group), an op
// that needs a row another transaction holds is marked alone and left out,
// and an op whose plan fails records its error and writes nothing; the
// returned error is then the transaction's, and means that none of ops
// committed, or (an *ambiguousCommitError) that it cannot be known yet.
//
// Row locks are taken in ID order whatever the tenant, so two nodes'
// transactions never wait for each other in a cycle on instances. The read
// that plans is a statement of its own after the lock: under READ
// COMMITTED it sees everything committed by the transactions the lock
// waited for.
func (db *DB) unsubscribeTx(ctx context.Context, ops []*unsubscribeOp, wait bool) (err error) {
	c, err := db.pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer c.Release()
	conn := c.Conn()
	defer func() {
		if err == nil {
			return
		}
		var amb *ambiguousCommitError
		if connectionLost(err) && !errors.As(err, &amb) {
			dropConn(conn)
		}
		if conn.PgConn().TxStatus() != 'I' {
			// As pgx's Tx.Rollback: a connection that cannot roll back
			// is closed, never returned to the pool in a transaction.
			if _, rerr := conn.Exec(context.Background(), "ROLLBACK"); rerr != nil {
				conn.Close(context.Background())
			}
		}
	}()

	var lockTenants, lockIDs, readIDs, tenants []string
	for _, op := range ops {
		op.plan, op.event, op.err, op.alone = nil, nil, nil, false
		readIDs = append(readIDs, op.req.InstanceIDs...)
		tenants = append(tenants, op.req.TenantID)
		if op.req.DryRun {
			continue // plans without locks and changes nothing
		}
		for _, id := range op.req.InstanceIDs {
			lockTenants, lockIDs = append(lockTenants, op.req.TenantID), append(lockIDs, id)
		}
	}

	var base time.Time
	offsets := make(map[string]phonefleet.ClockSpan)
	locked := make(map[string]bool, len(lockIDs))
	found := make(map[string]*phonefleet.Instance, len(readIDs))
	b := &pgx.Batch{}
	b.Queue(`BEGIN`)
	b.Queue(txTimeSQL)
	if db.TestClock {
		b.Queue(tenantClocksSQL, tenants)
	}
	if len(lockIDs) > 0 {
		lock := lockInstancesSQL
		if !wait {
			// A group serves every tenant's unsubscribes: one tenant's
			// locked rows must not make it wait.
			lock += groupKeysSQL
		}
		b.Queue(lock, lockTenants, lockIDs)
	}
	if !wait {
		b.Queue(groupLockTimeoutSQL)
	}
	b.Queue(readInstancesSQL, readIDs)
	br := conn.SendBatch(ctx, b)
	if err := readLockBatch(br, db.TestClock, !wait, len(lockIDs) > 0, &base, offsets, locked, found); err != nil {
		br.Close()
		return err
	}
	if err := br.Close(); err != nil {
		return fmt.Errorf("lock instances: %w", err)
	}
	if hook := db.testHookLocked; hook != nil {
		hook()
	}
	wall := db.txTime(base)

	var w unsubscribeWrites
	for _, op := range ops {
		if !wait && !op.req.DryRun && !holdsRows(op.req, found, locked) {
			op.alone = true
			continue
		}
		now := offsets[op.req.TenantID].AddTo(wall) // the tenant's business time
		p, err := phonefleet.PlanUnsubscribe(op.req, found, now)
		if err != nil {
			if wait {
				return err
			}
			op.err = err
			continue
		}
		op.plan, op.event = p, phonefleet.UnsubscribeAuditEvent(op.req, p, now)
		w.add(op.req, p, op.event, wall)
	}
	if len(w.events) == 0 {
		_, err := conn.Exec(ctx, "ROLLBACK") // nothing to write
		return err
	}
	xid, err := w.write(ctx, conn, wall)
	if err != nil {
		return err
	}

	if err := commitUnsent(ctx, conn); err != nil {
		return err
	}
	start := time.Now()
	tag, err := conn.Exec(ctx, "COMMIT")
	commitDuration.Observe(time.Since(start).Seconds())
	switch {
	case err != nil && connectionLost(err):
		dropConn(conn)
		return &ambiguousCommitError{xid: xid, err: err}
	case err != nil:
		return fmt.Errorf("commit: %w", err)
	case tag.String() == "ROLLBACK":
		return fmt.Errorf("commit: %w", pgx.ErrTxCommitRollback)
	}
	return nil
}

// readLockBatch reads the answers of the first batch of unsubscribeTx; with
// clocks, the tenants' offsets into offsets; for a group, the answer of
// its lock timeout.
func readLockBatch(br pgx.BatchResults, clocks, group, lock bool, base *time.Time, offsets map[string]phonefleet.ClockSpan, locked map[string]bool, found map[string]*phonefleet.Instance) error {
	if _, err := br.Exec(); err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	if err := br.QueryRow().Scan(base); err != nil {
		return fmt.Errorf("transaction time: %w", err)
	}
	if clocks {
		rows, _ := br.Query()
		var tenant string
		var off phonefleet.ClockSpan
		_, err := pgx.ForEachRow(rows, []any{&tenant, &off.Seconds, &off.Nanos}, func() error {
			offsets[tenant] = off
			return nil
		})
		if err != nil {
			return fmt.Errorf("read test clocks: %w", err)
		}
	}
	if lock {
		rows, _ := br.Query()
		ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return fmt.Errorf("lock instances: %w", err)
		}
		for _, id := range ids {
			locked[id] = true
		}
	}
	if group {
		if _, err := br.Exec(); err != nil {
			return fmt.Errorf("lock timeout: %w", err)
		}
	}
	rows, _ := br.Query()
	list, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (*phonefleet.Instance, error) {
		var in phonefleet.Instance
		return &in, row.Scan(instanceDest(&in)...)
	})
	if err != nil {
		return fmt.Errorf("read instances: %w", err)
	}
	for _, in := range list {
		found[in.ID] = in
	}
	return nil
}

// txTime is the wall time of a transaction that began at base (Now when a
// test set it): what wallNow returns, and what businessNow returns for an
// operation of no tenant.
func (db *DB) txTime(base time.Time) time.Time {
	if db.Now != nil {
		base = db.Now().Truncate(time.Microsecond)
	} else {
		db.noteTxTime(base)
	}
	return base.UTC()
}

// holdsRows reports whether every instance of req's tenant among those it
// names is locked by this transaction (missing and foreign IDs need no
// lock: the plan refuses them).
func holdsRows(req *phonefleet.UnsubscribeRequest, found map[string]*phonefleet.Instance, locked map[string]bool) bool {
	for _, id := range req.InstanceIDs {
		if in := found[id]; in != nil && in.TenantID == req.TenantID && !locked[id] {
			return false
		}
	}
	return true
}

// unsubscribeWrites are the rows the plans of one transaction write.
type unsubscribeWrites struct {
	ids, orders, currencies, tenants, requests []string
	paid, consumed, fee, amount                []int64
	createdAt                                  []time.Time
	cancel                                     []string // commands in flight
	releases                                   []*phonefleet.Command
	events                                     []*phonefleet.AuditEvent
}

// add records what plan decided for req, and its audit event: a dry run
// writes only the event.
func (w *unsubscribeWrites) add(req *phonefleet.UnsubscribeRequest, plan *phonefleet.UnsubscribePlan, event *phonefleet.AuditEvent, wall time.Time) {
	w.events = append(w.events, event)
	if req.DryRun {
		return
	}
	for _, it := range plan.Changes() {
		r := it.Refund
		w.ids, w.orders, w.currencies = append(w.ids, it.InstanceID), append(w.orders, r.OrderID), append(w.currencies, r.Currency)
		w.tenants, w.requests = append(w.tenants, r.TenantID), append(w.requests, r.RequestID)
		w.paid, w.consumed, w.fee, w.amount = append(w.paid, r.Paid), append(w.consumed, r.Consumed), append(w.fee, r.Fee), append(w.amount, r.Amount)
		w.createdAt = append(w.createdAt, r.CreatedAt)
		// Release commands are scheduled on wall time.
		w.releases = append(w.releases, phonefleet.NewReleaseCommand(it.InstanceID, req.TenantID, req.RequestID, wall))
		if it.CancelJobID != "" {
			w.cancel = append(w.cancel, it.CancelJobID)
		}
	}
}

// write writes the changes (instances to deleting, one refund and one
// release job each, commands in flight cancelled) and the audit events as
// one pipelined batch: a single round trip whatever the count. The
// instances are locked by the transaction and were verified to belong to
// the tenants that unsubscribe them. An instance's updated_at is its
// refund's time, its tenant's business time; cancellations are at wall
// time. It returns the transaction's ID, read in the same round trip, by
// which a lost commit answer is read back.
func (w *unsubscribeWrites) write(ctx context.Context, conn *pgx.Conn, wall time.Time) (xid uint64, err error) {
	b := &pgx.Batch{}
	n := len(w.ids)
	if n > 0 {
		b.Queue(`
			UPDATE instances i SET state = 'deleting', assign_user = '', updated_at = u.at
			FROM unnest($1::text[], $2::timestamptz[]) AS u (id, at)
			WHERE i.id = u.id AND i.state = 'running'`, w.ids, w.createdAt)
		if len(w.cancel) > 0 {
			// Unsubscribing wins: the command in flight is cancelled
			// before the release takes its place.
			b.Queue(`
				UPDATE commands SET state = 'canceled', done_at = $2, lease_owner = NULL, lease_expires_at = NULL
				WHERE id = ANY($1) AND state IN ('pending', 'accepted')`, w.cancel, wall)
		}
		b.Queue(`
			INSERT INTO refunds (instance_id, tenant_id, order_id, paid, consumed, fee, amount, currency, request_id, created_at)
			SELECT u.id, u.tenant_id, u.order_id, u.paid, u.consumed, u.fee, u.amount, u.currency, u.request_id, u.created_at
			FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::bigint[], $6::bigint[], $7::bigint[], $8::text[], $9::text[], $10::timestamptz[])
				AS u (id, tenant_id, order_id, paid, consumed, fee, amount, currency, request_id, created_at)`,
			w.ids, w.tenants, w.orders, w.paid, w.consumed, w.fee, w.amount, w.currencies, w.requests, w.createdAt)
		queueInsertCommands(b, w.releases)
	}
	queueAuditEvents(b, w.events)
	b.Queue(currentXIDSQL).QueryRow(func(row pgx.Row) error { return row.Scan(&xid) })

	br := conn.SendBatch(ctx, b)
	defer br.Close()
	if n > 0 {
		tag, err := br.Exec()
		if err != nil {
			return 0, fmt.Errorf("update instances: %w", err)
		} else if tag.RowsAffected() != int64(n) {
			// The rows are locked, so this cannot happen unless a rule changed.
			return 0, fmt.Errorf("update instances: %d of %d were running", tag.RowsAffected(), n)
		}
		if len(w.cancel) > 0 {
			if _, err := br.Exec(); err != nil {
				return 0, fmt.Errorf("cancel commands: %w", err)
			}
		}
		if _, err := br.Exec(); err != nil {
			return 0, fmt.Errorf("insert refunds: %w", err)
		}
		if _, err := br.Exec(); err != nil {
			return 0, fmt.Errorf("insert release commands: %w", err)
		}
	}
	// Close runs the callbacks of the audit insert, which sets the events'
	// IDs, and of the transaction ID.
	if err := br.Close(); err != nil {
		return 0, fmt.Errorf("insert audit event: %w", err)
	}
	return xid, nil
}
