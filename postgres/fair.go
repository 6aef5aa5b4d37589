package postgres

import (
	"context"
	"sync"

	"github.com/phonefleet/phonefleet"
)

// tenantShares bounds how many pool connections the requests of one tenant
// may hold at once: half the pool, at least one. A tenant whose requests
// all wait on locked rows (or run slow statements) then leaves the other
// half to the other tenants, whose requests keep their latency. Background
// work (the command worker, operator commands) carries no tenant and is not
// bounded here.
type tenantShares struct {
	mu    sync.Mutex
	slots map[string]*tenantSlot
}

type tenantSlot struct {
	ch    chan struct{}
	users int // holders and waiters, so an idle tenant's entry can go
}

// acquire takes one of the tenant's slots, waiting within ctx, and returns
// its release. The tenant is the request's principal: it is the unit of
// fairness, not a business input, so it is read from ctx here only.
func (db *DB) acquireTenantSlot(ctx context.Context) (func(), error) {
	p := phonefleet.PrincipalFromContext(ctx)
	if p == nil || p.TenantID == "" {
		return func() {}, nil
	}
	share := max(1, int(db.MaxConns)/2)
	s := &db.shares
	s.mu.Lock()
	if s.slots == nil {
		s.slots = map[string]*tenantSlot{}
	}
	slot := s.slots[p.TenantID]
	if slot == nil {
		slot = &tenantSlot{ch: make(chan struct{}, share)}
		s.slots[p.TenantID] = slot
	}
	slot.users++
	s.mu.Unlock()

	leave := func() {
		s.mu.Lock()
		if slot.users--; slot.users == 0 {
			delete(s.slots, p.TenantID)
		}
		s.mu.Unlock()
	}
	select {
	case slot.ch <- struct{}{}:
		return func() { <-slot.ch; leave() }, nil
	case <-ctx.Done():
		leave()
		return nil, ctx.Err()
	}
}
