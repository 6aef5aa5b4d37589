package phonefleet

import (
	"fmt"
	"sort"
)

// ConsistencyCheck checks the invariants that hold between the rows of a
// whole store, as its snapshot streams by (SnapshotStreamer.ExportBatches
// passes each batch to Add): one refund and one release per unsubscribed
// instance, at most one command in flight per instance, quota counters
// that match the instances, and no row naming a tenant, order or instance
// that does not exist. phonefleet restore runs it on a backup before
// putting it in place, and phonefleet check on any store. It keeps a few
// bytes per tenant, order, instance and command, never audit events.
type ConsistencyCheck struct {
	tenants   map[string]int // ID → HeldInstances
	orders    map[string]bool
	instances map[string]InstanceState
	instTen   map[string]string // instance ID → tenant ID
	refunds   map[string]int
	releases  map[string][]JobState
	inFlight  map[string]int
	problems  []string
}

// NewConsistencyCheck returns an empty check.
func NewConsistencyCheck() *ConsistencyCheck {
	return &ConsistencyCheck{
		tenants: map[string]int{}, orders: map[string]bool{}, instances: map[string]InstanceState{},
		instTen: map[string]string{}, refunds: map[string]int{}, releases: map[string][]JobState{}, inFlight: map[string]int{},
	}
}

// maxProblems bounds what a check reports: a store broken everywhere says
// so in its first lines.
const maxProblems = 100

func (c *ConsistencyCheck) addProblem(format string, args ...any) {
	if len(c.problems) < maxProblems {
		c.problems = append(c.problems, fmt.Sprintf(format, args...))
	} else if len(c.problems) == maxProblems {
		c.problems = append(c.problems, "more problems not listed")
	}
}

// Add takes in one batch of the snapshot. Batches come parents first, as
// ExportBatches sends them.
func (c *ConsistencyCheck) Add(b *Snapshot) error {
	for _, t := range b.Tenants {
		c.tenants[t.ID] = t.HeldInstances
	}
	for _, o := range b.Orders {
		c.orders[o.ID] = true
		if _, ok := c.tenants[o.TenantID]; !ok {
			c.addProblem("order %s names tenant %s, which does not exist", o.ID, o.TenantID)
		}
	}
	for _, in := range b.Instances {
		if _, dup := c.instances[in.ID]; dup {
			c.addProblem("instance %s appears twice", in.ID)
		}
		c.instances[in.ID], c.instTen[in.ID] = in.State, in.TenantID
		if _, ok := c.tenants[in.TenantID]; !ok {
			c.addProblem("instance %s names tenant %s, which does not exist", in.ID, in.TenantID)
		}
		if !c.orders[in.OrderID] {
			c.addProblem("instance %s names order %s, which does not exist", in.ID, in.OrderID)
		}
	}
	for _, r := range b.Refunds {
		c.refunds[r.InstanceID]++
		if _, ok := c.instances[r.InstanceID]; !ok {
			c.addProblem("refund of instance %s, which does not exist", r.InstanceID)
		}
	}
	for _, cmd := range b.Commands {
		if _, ok := c.instances[cmd.InstanceID]; !ok {
			c.addProblem("job %s names instance %s, which does not exist", cmd.ID, cmd.InstanceID)
		}
		if cmd.State.InFlight() {
			c.inFlight[cmd.InstanceID]++
		}
		if cmd.Type == CommandRelease {
			c.releases[cmd.InstanceID] = append(c.releases[cmd.InstanceID], cmd.State)
		}
	}
	return nil
}

// Problems returns what the rows seen so far break, one sentence each,
// sorted; none means the store is consistent. Call it after the last
// batch.
func (c *ConsistencyCheck) Problems() []string {
	base := c.problems
	defer func() { c.problems = base }()
	held := map[string]int{}
	for id, state := range c.instances {
		if state != InstanceStateReleased {
			held[c.instTen[id]]++
		}
		unsub := state == InstanceStateDeleting || state == InstanceStateReleased
		switch n := c.refunds[id]; {
		case unsub && n != 1:
			c.addProblem("instance %s is %s with %d refunds, want 1", id, state, n)
		case !unsub && n != 0:
			c.addProblem("instance %s is %s with %d refunds, want 0", id, state, n)
		}
		if n := c.inFlight[id]; n > 1 {
			c.addProblem("instance %s has %d jobs in flight, want at most 1", id, n)
		} else if n == 1 && state == InstanceStateReleased {
			c.addProblem("instance %s is released with a job in flight", id)
		}
		rel := c.releases[id]
		switch {
		case len(rel) > 1:
			c.addProblem("instance %s has %d release jobs, want at most 1", id, len(rel))
		case state == InstanceStateRunning && len(rel) != 0:
			c.addProblem("instance %s is running with a release job", id)
		case state == InstanceStateDeleting && (len(rel) != 1 || rel[0] == JobStateDone || rel[0] == JobStateCanceled):
			// A deleting instance waits for its release, or for an
			// operator to retry it.
			c.addProblem("instance %s is deleting without a release job in flight or failed", id)
		case state == InstanceStateReleased && len(rel) == 1 && rel[0] != JobStateDone:
			// Job retention may have removed the done release of a
			// released instance; a kept one must be done.
			c.addProblem("instance %s is released but its release job is %s", id, rel[0])
		}
	}
	for id, want := range c.tenants {
		if held[id] != want {
			c.addProblem("tenant %s counts %d held instances, but holds %d", id, want, held[id])
		}
	}
	out := append([]string(nil), c.problems...)
	sort.Strings(out)
	return out
}
