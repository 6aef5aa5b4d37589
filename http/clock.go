package http

import (
	"net/http"
	"time"

	"github.com/phonefleet/phonefleet"
)

// testClockPath is where the test clock is served.
const testClockPath = "/v1/_test/clock"

// clockResponse is the data of GET and POST /v1/_test/clock.
type clockResponse struct {
	Now string `json:"now"`
}

// testClock wraps a test clock route: 404 APIGW.0101 (as for any unknown
// path) unless the server has a TestClock, then an admin's token or key.
func (s *Server) testClock(h http.HandlerFunc) http.Handler {
	admin := s.authenticate(s.rateLimit(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := phonefleet.PrincipalFromContext(r.Context())
		actions, _ := phonefleet.RoleActions(phonefleet.RoleAdmin)
		for _, a := range actions {
			if !p.Can(a) {
				Error(w, r, phonefleet.Errorf(phonefleet.EForbidden, "the test clock needs an admin token (the token lacks koophone:cloudphoneResource:%s)", a))
				return
			}
		}
		h(w, r)
	})))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.TestClock == nil {
			Error(w, r, phonefleet.Errorf(phonefleet.ENoSuchAPI, "No API found for %s %s", r.Method, r.URL.Path))
			return
		}
		admin.ServeHTTP(w, r)
	})
}

// handleClockGet answers GET /v1/_test/clock with the caller's tenant's
// business time.
func (s *Server) handleClockGet(w http.ResponseWriter, r *http.Request) {
	if q, err := strictQuery(r); err != nil || len(q) > 0 {
		if err == nil {
			err = knownParams(q)
		}
		Error(w, r, err)
		return
	}
	p := phonefleet.PrincipalFromContext(r.Context())
	now, err := s.TestClock.BusinessNow(r.Context(), p.TenantID)
	if err != nil {
		Error(w, r, err)
		return
	}
	writeData(w, r, clockResponse{Now: now.UTC().Format(time.RFC3339Nano)})
}

// handleClockSet answers POST /v1/_test/clock: {"advance": "121h"} moves
// the caller's tenant's business time forward by a duration, {"now":
// "<RFC 3339>"} to a time that is not in its past. The store audits the
// move; a refused one is audited here.
func (s *Server) handleClockSet(w http.ResponseWriter, r *http.Request) {
	q, err := strictQuery(r)
	if err == nil {
		err = knownParams(q)
	}
	var plan *phonefleet.ClockPlan
	if err == nil {
		plan, err = s.moveClock(r, phonefleet.PrincipalFromContext(r.Context()).TenantID)
	}
	if err != nil {
		s.auditFailure(r, phonefleet.AuditActionClockMove, nil, err)
		Error(w, r, err)
		return
	}
	writeData(w, r, clockResponse{Now: plan.New.Format(time.RFC3339Nano)})
}

// moveClock moves tenantID's test clock as r's body says ({"advance"} or
// {"now"}), on behalf of r's caller (a tenant's admin or an operator), logs
// the move and wakes what waits for business time (the lifecycle sweep).
// The store audits the move; a refusal is the caller's to audit.
func (s *Server) moveClock(r *http.Request, tenantID string) (*phonefleet.ClockPlan, error) {
	body, err := readJSONBody(r)
	if err != nil {
		return nil, err
	}
	m, err := decodeClockRequest(body)
	if err != nil {
		return nil, err
	}
	ctx := r.Context()
	p := phonefleet.PrincipalFromContext(ctx)
	m.TenantID, m.TokenID, m.UserName, m.RequestID = tenantID, p.TokenID, p.UserName, phonefleet.RequestIDFromContext(ctx)
	m.ClientAddr, m.Actor = clientAddr(r), p.Actor()
	plan, err := s.TestClock.MoveClock(ctx, m)
	if err != nil {
		return nil, err
	}
	s.logger().Warn("test clock moved", "request_id", m.RequestID, "tenant_id", m.TenantID, "by", m.Actor,
		"from", plan.Old.Format(time.RFC3339Nano), "now", plan.New.Format(time.RFC3339Nano))
	if s.OnClockMove != nil {
		s.OnClockMove()
	}
	return plan, nil
}

// decodeClockRequest decodes {"advance": "<Go duration>"} or {"now":
// "<RFC 3339>"}; exactly one must be given. Errors are EInvalid naming the
// field. The store checks the move against the tenant's clock
// (phonefleet.PlanClockOffset).
func decodeClockRequest(body []byte) (*phonefleet.ClockMove, error) {
	obj, err := decodeObject(body)
	if err != nil {
		return nil, err
	}
	if err := checkNearNames(obj, "", "advance", "now"); err != nil {
		return nil, err
	}
	var advance, now string
	if err := decodeString(obj["advance"], "advance", &advance); err != nil {
		return nil, err
	} else if err := decodeString(obj["now"], "now", &now); err != nil {
		return nil, err
	}
	switch {
	case isNull(obj["advance"]) == isNull(obj["now"]):
		return nil, phonefleet.Errorf(phonefleet.EInvalid, "give exactly one of advance (a duration such as \"121h\") and now (an RFC 3339 time)")
	case !isNull(obj["advance"]):
		d, err := phonefleet.ParseClockAdvance(advance)
		if err != nil {
			return nil, err
		}
		return &phonefleet.ClockMove{Advance: &d}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, now)
	if err != nil {
		return nil, phonefleet.Errorf(phonefleet.EInvalid, "now must be an RFC 3339 time such as \"2027-01-01T00:00:00Z\"")
	} else if t.UTC().After(phonefleet.MaxBusinessTime) {
		return nil, phonefleet.Errorf(phonefleet.EInvalid, "now must be at most %s: business time ends with year 9999", phonefleet.MaxBusinessTime.Format(time.RFC3339Nano))
	}
	return &phonefleet.ClockMove{Now: &t}, nil
}
