package http

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/phonefleet/phonefleet"
)

// suspensions caches the IDs of the suspended tenants for TokenCacheTTL,
// so that checking a request's tenant costs one query per node and period,
// not one per request. A suspension made through this node's admin API
// takes effect on it at once; on other nodes within TokenCacheTTL.
type suspensions struct {
	mu      sync.Mutex
	ids     []string
	expires time.Time
}

// checkSuspended answers KOOPHONE.API.1004 when the tenant is suspended.
func (s *Server) checkSuspended(ctx context.Context, tenantID string) error {
	ids, err := s.suspendedIDs(ctx)
	if err != nil {
		return err
	}
	if _, found := slices.BinarySearch(ids, tenantID); found {
		return phonefleet.Errorf(phonefleet.ESuspended, phonefleet.MsgSuspended)
	}
	return nil
}

// suspendedIDs returns the sorted IDs of the suspended tenants, through
// the cache.
func (s *Server) suspendedIDs(ctx context.Context) ([]string, error) {
	now := s.Now()
	c := &s.suspended
	c.mu.Lock()
	if s.TokenCacheTTL > 0 && now.Before(c.expires) {
		ids := c.ids
		c.mu.Unlock()
		return ids, nil
	}
	c.mu.Unlock()
	ids, err := s.Store.SuspendedTenantIDs(ctx)
	if err != nil {
		return nil, err
	}
	slices.Sort(ids)
	c.mu.Lock()
	c.ids, c.expires = ids, now.Add(s.TokenCacheTTL)
	c.mu.Unlock()
	return ids, nil
}

// forgetSuspensions makes the next request read the suspended tenants
// again.
func (s *Server) forgetSuspensions() {
	s.suspended.mu.Lock()
	s.suspended.expires = time.Time{}
	s.suspended.mu.Unlock()
}
