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
