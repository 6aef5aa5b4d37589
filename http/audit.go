package http

import (
	"context"
	"net/http"
	"time"

	"github.com/phonefleet/phonefleet"
)

// auditWriteTimeout bounds writing one failure audit event when the
// request has no earlier deadline.
const auditWriteTimeout = 5 * time.Second

// auditFailure is the one path by which a failed mutating call (action) is
// audited, wherever it failed: decoding, the token's permissions, or the
// store, whose operations write only their successes. ids are the instance
// IDs the request named, as far as they were read. The event is built by
// phonefleet.FailureAuditEvent and handed to the store's AuditFailure with
// the error, within the request's deadline even if the client has gone.
// A failure to write it is logged with the request ID (the log line is
// then the record) and counted; the PostgreSQL store never fails here, it
// writes such events later.
func (s *Server) auditFailure(r *http.Request, action string, ids []string, err error) {
	ctx := r.Context()
	e := phonefleet.FailureAuditEvent(action, phonefleet.PrincipalFromContext(ctx), phonefleet.RequestIDFromContext(ctx), ids, err, time.Time{})
	e.ClientAddr = clientAddr(r)
	// At is left zero: the store stamps the event with its business time.
	ctx, cancel := context.WithTimeout(ctx, auditWriteTimeout)
	defer cancel()
	if werr := s.Store.AuditFailure(ctx, e, err); werr != nil {
		auditUnwrittenTotal.Inc()
		loggerFrom(r.Context()).Error("write audit event",
			"request_id", e.RequestID, "tenant_id", e.TenantID, "action", action, "error_code", e.ErrorCode,
			"detail", e.Detail, "error", werr.Error())
	}
}
