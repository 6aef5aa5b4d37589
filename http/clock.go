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

// clockRequest is the decoded body of POST /v1/_test/clock: exactly one of
// Advance and Now.
type clockRequest struct {
	Advance *time.Duration
	Now     *time.Time
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

// handleClockGet answers GET /v1/_test/clock with the business time.
func (s *Server) handleClockGet(w http.ResponseWriter, r *http.Request) {
	if q, err := strictQuery(r); err != nil || len(q) > 0 {
		if err == nil {
			err = knownParams(q)
		}
		Error(w, r, err)
		return
	}
	now, err := s.TestClock.BusinessNow(r.Context())
	if err != nil {
		Error(w, r, err)
		return
	}
	writeData(w, r, clockResponse{Now: now.UTC().Format(time.RFC3339Nano)})
}

// handleClockSet answers POST /v1/_test/clock: {"advance": "121h"} moves
// business time forward by a duration, {"now": "<RFC 3339>"} to a time that
// is not in its past.
func (s *Server) handleClockSet(w http.ResponseWriter, r *http.Request) {
	q, err := strictQuery(r)
	if err == nil {
		err = knownParams(q)
	}
	var body []byte
	if err == nil {
		body, err = readJSONBody(r)
	}
	var req *clockRequest
	if err == nil {
		req, err = decodeClockRequest(body)
	}
	if err != nil {
		Error(w, r, err)
		return
	}
	target := req.Now
	if req.Advance != nil {
		cur, err := s.TestClock.BusinessNow(r.Context())
		if err != nil {
			Error(w, r, err)
			return
		}
		t := cur.Add(*req.Advance)
		target = &t
	}
	now, err := s.TestClock.SetBusinessNow(r.Context(), *target)
	if err != nil {
		Error(w, r, err)
		return
	}
	s.logger().Warn("test clock moved", "request_id", phonefleet.RequestIDFromContext(r.Context()), "now", now.UTC().Format(time.RFC3339Nano))
	writeData(w, r, clockResponse{Now: now.UTC().Format(time.RFC3339Nano)})
}

// maxClockAdvance bounds one advance: far enough for any billing test,
// short of overflowing a time.
const maxClockAdvance = 100 * 365 * 24 * time.Hour

// decodeClockRequest decodes {"advance": "<Go duration>"} or {"now":
// "<RFC 3339>"}; exactly one must be given. Errors are EInvalid naming the
// field.
func decodeClockRequest(body []byte) (*clockRequest, error) {
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
		d, err := time.ParseDuration(advance)
		if err != nil {
			return nil, phonefleet.Errorf(phonefleet.EInvalid, "advance must be a duration such as \"121h\" or \"30m\"")
		} else if d < 0 {
			return nil, phonefleet.Errorf(phonefleet.EInvalid, "advance must not be negative: the test clock never goes back")
		} else if d > maxClockAdvance {
			return nil, phonefleet.Errorf(phonefleet.EInvalid, "advance must be at most %s", maxClockAdvance)
		}
		return &clockRequest{Advance: &d}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, now)
	if err != nil {
		return nil, phonefleet.Errorf(phonefleet.EInvalid, "now must be an RFC 3339 time such as \"2027-01-01T00:00:00Z\"")
	} else if t.Year() > 9000 || t.Year() < 2000 {
		return nil, phonefleet.Errorf(phonefleet.EInvalid, "now must be a year from 2000 to 9000")
	}
	return &clockRequest{Now: &t}, nil
}
