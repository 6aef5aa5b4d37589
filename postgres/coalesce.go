package postgres

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"sync"
	"time"
)

// maxGroupIDs bounds the instance IDs one shared unsubscribe transaction
// names (the first unsubscribe queued is taken whatever its size).
const maxGroupIDs = 512

// coalescer runs a node's concurrent unsubscribes in shared transactions:
// each waits in a queue, and a few runner goroutines each take what is
// queued (up to maxGroupIDs IDs) and run it as one transaction
// (unsubscribeTx without waiting for locks): one lock statement, one read,
// one statement per table written, one commit, whatever the count. A
// transaction costs the server far more than the rows it changes, so under
// load a node does many times the unsubscribes per second; alone in the
// queue, an unsubscribe runs at once in a group of one.
//
// Runners never wait for a lock: an unsubscribe that names a row another
// transaction holds (another node's, or an assignment's), or whose tenant
// or order row is held (its refunds' foreign keys would wait for it), runs
// alone on its caller's goroutine, as without the coalescer, and waits
// there, within its tenant's share of the pool (acquireTenantSlot); any
// other lock fails the group within a short lock_timeout. So a
// tenant whose requests wait on locked rows holds at most that share, and
// the runners keep serving everyone else. Queued unsubscribes hold no
// slot: the runners' connections are no tenant's, a group is bounded
// (maxGroupIDs), and groups take tenants round robin (take), so one
// tenant's flood delays another's unsubscribe by one group; a tenant's
// slot would bound its unsubscribes in flight, and so its groups' sizes, to
// half the pool.
//
// Two unsubscribes naming the same instance never share a transaction (the
// second must see the first's writes, which one read could not): the second
// waits for the next one. A shared transaction that fails settles nothing:
// each of its unsubscribes then runs alone, so one at fault fails alone.
type coalescer struct {
	mu      sync.Mutex
	queue   []*unsubscribeOp
	runners int // goroutines running groups
}

// maxRunners is how many groups a node runs at once: an eighth of its
// pool (two of the default 16), the rest left for everything else. Fewer
// runners make bigger groups: with 64 clients unsubscribing one ID each,
// two runners commit groups of about 14.
func (db *DB) maxRunners() int {
	if db.testRunners > 0 {
		return db.testRunners
	}
	return max(1, int(db.MaxConns)/8)
}

// run queues op and waits for its group. It returns settled false when op
// must run alone (op.alone). If opCtx ends while op is still queued, op is
// withdrawn and run returns opCtx's error; once taken, op's group runs to
// the end, within the earliest deadline of its members.
func (q *coalescer) run(db *DB, ctx, opCtx context.Context, op *unsubscribeOp) (settled bool, err error) {
	if err := opCtx.Err(); err != nil {
		return true, fmt.Errorf("wait for a shared transaction: %w", err)
	}
	op.done = make(chan struct{})
	op.deadline, _ = ctx.Deadline()
	op.txDeadline, _ = opCtx.Deadline()
	q.mu.Lock()
	q.queue = append(q.queue, op)
	queued := len(q.queue)
	start := q.runners < db.maxRunners()
	if start {
		q.runners++
	}
	q.mu.Unlock()
	if hook := db.testHookQueued; hook != nil {
		hook(queued)
	}
	if start {
		go q.runGroups(db)
	}

	select {
	case <-op.done:
	case <-opCtx.Done():
		q.mu.Lock()
		taken := op.taken
		op.withdrawn = !taken
		q.mu.Unlock()
		if !taken {
			return true, fmt.Errorf("wait for a shared transaction: %w", opCtx.Err())
		}
		<-op.done
	}
	if op.alone {
		return false, nil
	}
	return true, op.err
}

// runGroups runs groups until the queue is empty.
func (q *coalescer) runGroups(db *DB) {
	for {
		if hook := db.testHookTake; hook != nil {
			hook()
		}
		group := q.take()
		if group == nil {
			return
		}
		db.runGroup(group)
	}
}

// take removes and returns the next group: queued unsubscribes that name
// no instance another of the group names, up to maxGroupIDs IDs, taken
// round robin across tenants (each tenant's oldest, then each one's second,
// and so on, tenants in the order of their oldest). So a tenant that fills
// the queue delays another tenant's unsubscribe by at most one group, not
// by the length of the queue. Those left out stay queued, in order. With
// none queued, the runner stops (under the same lock as enqueuing, so an
// unsubscribe queued meanwhile starts a new one).
func (q *coalescer) take() []*unsubscribeOp {
	q.mu.Lock()
	defer q.mu.Unlock()
	var tenants []string
	byTenant := make(map[string][]*unsubscribeOp)
	for _, op := range q.queue {
		if op.withdrawn {
			continue
		}
		t := op.req.TenantID
		if _, ok := byTenant[t]; !ok {
			tenants = append(tenants, t)
		}
		byTenant[t] = append(byTenant[t], op)
	}
	var group []*unsubscribeOp
	named := make(map[string]bool)
	for round, more := 0, true; more && len(named) < maxGroupIDs; round++ {
		more = false
		for _, t := range tenants {
			ops := byTenant[t]
			if round >= len(ops) {
				continue
			}
			more = true
			op := ops[round]
			fits := len(group) == 0 || len(named)+len(op.req.InstanceIDs) <= maxGroupIDs
			for _, id := range op.req.InstanceIDs {
				fits = fits && !named[id]
			}
			if !fits {
				continue
			}
			op.taken = true
			group = append(group, op)
			for _, id := range op.req.InstanceIDs {
				named[id] = true
			}
		}
	}
	kept := q.queue[:0]
	for _, op := range q.queue {
		if !op.taken && !op.withdrawn {
			kept = append(kept, op)
		}
	}
	clear(q.queue[len(kept):])
	q.queue = kept
	if len(group) == 0 {
		q.runners--
	}
	return group
}

// runGroup runs group in one transaction and settles its members: each
// gets its plan or its own error, or is marked alone (its rows were held
// by another transaction, or the transaction failed). A commit whose
// answer is lost is read back (every member's audit event commits with the
// group's, so one tells); when that cannot be known, each member that
// would have written reports an unknown outcome with its own check.
func (db *DB) runGroup(group []*unsubscribeOp) {
	defer func() {
		if r := recover(); r != nil {
			db.log.Error("unsubscribe group panicked; its unsubscribes run alone", "panic", r, "stack", string(debug.Stack()))
			for _, op := range group {
				op.alone = true
			}
		}
		for _, op := range group {
			close(op.done)
		}
	}()
	txDeadline, deadline := group[0].txDeadline, group[0].deadline
	for _, op := range group[1:] {
		txDeadline, deadline = minTime(txDeadline, op.txDeadline), minTime(deadline, op.deadline)
	}
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	txCtx, txCancel := context.WithDeadline(ctx, txDeadline)
	defer txCancel()

	err := db.unsubscribeTx(txCtx, group, false)
	db.noteError(err)
	var amb *ambiguousCommitError
	if errors.As(err, &amb) {
		var first *unsubscribeOp
		for _, op := range group {
			if op.event != nil {
				first = op
				break
			}
		}
		err = db.resolveCommit(ctx, "unsubscribe", auditCommitted(&first.event), amb)
		var unknown *unknownOutcomeError
		if errors.As(err, &unknown) {
			for _, op := range group {
				if op.event != nil {
					op.plan, op.err = nil, &unknownOutcomeError{check: auditCommitted(&op.event), xid: unknown.xid, err: unknown.err}
				}
			}
			return
		}
	}
	if err == nil {
		if hook := db.testHookGroup; hook != nil {
			settled := 0
			for _, op := range group {
				if !op.alone {
					settled++
				}
			}
			hook(settled)
		}
		return
	}
	db.log.Warn("shared unsubscribe transaction failed; its unsubscribes run alone", "unsubscribes", len(group), "error", err)
	tried := 0
	if isRetryable(err) || unsubscribeGuard(err) {
		tried = 1 // the attempt counts against each one's MaxAttempts
	}
	for _, op := range group {
		op.alone, op.tried, op.plan, op.event, op.err = true, tried, nil, nil, nil
	}
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}
