package phonefleet

import (
	"cmp"
	"context"
	"slices"
)

// Snapshot is the whole content of a store, for moving an installation from
// one backend to another (phonefleet copy). Command leases are not part
// of it: they are only meaningful to the workers of the old store.
type Snapshot struct {
	Tenants     []*Tenant
	Users       []*User      // with PasswordHash
	AccessKeys  []*AccessKey // with Secret
	Tokens      []*Token     // with Hash
	SKUs        []*SKU
	Orders      []*Order
	Instances   []*Instance
	Refunds     []*Refund // with TenantID
	Commands    []*Command
	AuditEvents []*AuditEvent // oldest first, with TenantID and TokenID
}

// SnapshotService exports and imports whole stores. Both stores implement it;
// it is separate from Store so that test doubles need not.
type SnapshotService interface {
	// Export reads every row in one read transaction.
	Export(ctx context.Context) (*Snapshot, error)
	// Import writes s in one transaction into a store that has no tenants
	// yet (EConflict otherwise). The catalogue of s replaces the store's
	// default one. Audit events keep their order.
	Import(ctx context.Context, s *Snapshot) error
}

// Validate returns EInvalid if s or one of its rows is nil.
func (s *Snapshot) Validate() error {
	if s == nil {
		return Errorf(EInvalid, "snapshot required")
	}
	for _, c := range []struct {
		what   string
		hasNil bool
	}{
		{"tenant", slices.Contains(s.Tenants, nil)},
		{"user", slices.Contains(s.Users, nil)},
		{"access key", slices.Contains(s.AccessKeys, nil)},
		{"token", slices.Contains(s.Tokens, nil)},
		{"sku", slices.Contains(s.SKUs, nil)},
		{"order", slices.Contains(s.Orders, nil)},
		{"instance", slices.Contains(s.Instances, nil)},
		{"refund", slices.Contains(s.Refunds, nil)},
		{"command", slices.Contains(s.Commands, nil)},
		{"audit event", slices.Contains(s.AuditEvents, nil)},
	} {
		if c.hasNil {
			return Errorf(EInvalid, "snapshot has a nil %s", c.what)
		}
	}
	return nil
}

// Sort puts the rows of s in the order every store exports them: by ID
// compared as bytes, refunds by instance ID. Audit events
// keep their order (oldest first). Nil lists become empty, so two stores'
// exports of the same content are equal.
func (s *Snapshot) Sort() {
	s.Tenants = sortedByID(s.Tenants, func(t *Tenant) string { return t.ID })
	s.Users = sortedByID(s.Users, func(u *User) string { return u.ID })
	s.AccessKeys = sortedByID(s.AccessKeys, func(k *AccessKey) string { return k.ID })
	s.Tokens = sortedByID(s.Tokens, func(t *Token) string { return t.ID })
	s.SKUs = sortedByID(s.SKUs, func(k *SKU) string { return k.ID })
	s.Orders = sortedByID(s.Orders, func(o *Order) string { return o.ID })
	s.Instances = sortedByID(s.Instances, func(in *Instance) string { return in.ID })
	s.Refunds = sortedByID(s.Refunds, func(r *Refund) string { return r.InstanceID })
	s.Commands = sortedByID(s.Commands, func(c *Command) string { return c.ID })
	if s.AuditEvents == nil {
		s.AuditEvents = []*AuditEvent{}
	}
}

// sortedByID sorts rows by the byte order of id and returns them, never nil.
func sortedByID[T any](rows []T, id func(T) string) []T {
	if rows == nil {
		return []T{}
	}
	slices.SortFunc(rows, func(a, b T) int { return cmp.Compare(id(a), id(b)) })
	return rows
}

// SnapshotBatchRows is the most rows of one table that a batch of a
// streamed snapshot holds.
const SnapshotBatchRows = 1000

// SnapshotStreamer moves a whole store in batches of bounded size, so that
// copying an installation takes memory that does not grow with it. Both
// stores implement it.
type SnapshotStreamer interface {
	// ExportBatches reads every row in one read transaction and passes
	// them to fn in batches: a batch holds at most SnapshotBatchRows rows
	// of one table; tables come parents first (tenants, users, access
	// keys, tokens, SKUs, orders, instances, refunds, commands, audit
	// events) and rows in the order Export gives them. An error of fn
	// stops the export and is returned.
	ExportBatches(ctx context.Context, fn func(batch *Snapshot) error) error
	// BeginImport checks first that the store has no tenants (EConflict
	// otherwise) and starts the one transaction of an import. Nothing it
	// writes is visible before Commit; Rollback, an error or the process
	// dying leave the store as it was.
	BeginImport(ctx context.Context) (SnapshotImport, error)
}

// SnapshotImport is an import under way; see SnapshotStreamer.
type SnapshotImport interface {
	// Write adds the rows of batch, which come in ExportBatches's order:
	// the SKUs replace the store's default catalogue, audit events get new
	// IDs in the order they arrive. batch is not modified.
	Write(ctx context.Context, batch *Snapshot) error
	// Commit makes the import visible at once.
	Commit(ctx context.Context) error
	// Rollback abandons the import; after Commit it does nothing.
	Rollback() error
}

// Append adds the rows of b to s.
func (s *Snapshot) Append(b *Snapshot) {
	s.Tenants = append(s.Tenants, b.Tenants...)
	s.Users = append(s.Users, b.Users...)
	s.AccessKeys = append(s.AccessKeys, b.AccessKeys...)
	s.Tokens = append(s.Tokens, b.Tokens...)
	s.SKUs = append(s.SKUs, b.SKUs...)
	s.Orders = append(s.Orders, b.Orders...)
	s.Instances = append(s.Instances, b.Instances...)
	s.Refunds = append(s.Refunds, b.Refunds...)
	s.Commands = append(s.Commands, b.Commands...)
	s.AuditEvents = append(s.AuditEvents, b.AuditEvents...)
}

// Rows returns how many rows s holds.
func (s *Snapshot) Rows() int {
	return len(s.Tenants) + len(s.Users) + len(s.AccessKeys) + len(s.Tokens) + len(s.SKUs) + len(s.Orders) +
		len(s.Instances) + len(s.Refunds) + len(s.Commands) + len(s.AuditEvents)
}

// SnapshotBatcher collects the rows of one table as they are read and passes
// them to fn in batches of at most SnapshotBatchRows, each put into a fresh
// Snapshot by set. Stores use it to stream a table from a cursor.
type SnapshotBatcher[T any] struct {
	set   func(s *Snapshot, rows []T)
	fn    func(*Snapshot) error
	batch []T
}

// NewSnapshotBatcher returns a batcher that hands full batches to fn.
func NewSnapshotBatcher[T any](set func(s *Snapshot, rows []T), fn func(*Snapshot) error) *SnapshotBatcher[T] {
	return &SnapshotBatcher[T]{set: set, fn: fn, batch: make([]T, 0, SnapshotBatchRows)}
}

// Add adds one row, passing the batch on once it is full.
func (b *SnapshotBatcher[T]) Add(v T) error {
	if b.batch = append(b.batch, v); len(b.batch) < SnapshotBatchRows {
		return nil
	}
	return b.Flush()
}

// Flush passes on the rows added since the last batch, if any.
func (b *SnapshotBatcher[T]) Flush() error {
	if len(b.batch) == 0 {
		return nil
	}
	s := &Snapshot{}
	b.set(s, b.batch)
	b.batch = make([]T, 0, SnapshotBatchRows)
	return b.fn(s)
}

// EmitBatches passes rows to fn in batches of at most SnapshotBatchRows, each
// put into a fresh Snapshot by set. Stores use it to stream a table.
func EmitBatches[T any](rows []T, set func(s *Snapshot, rows []T), fn func(*Snapshot) error) error {
	for len(rows) > 0 {
		n := min(len(rows), SnapshotBatchRows)
		b := &Snapshot{}
		set(b, rows[:n:n])
		if err := fn(b); err != nil {
			return err
		}
		rows = rows[n:]
	}
	return nil
}
