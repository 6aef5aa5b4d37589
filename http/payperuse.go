package http

import (
	"net/http"
	"net/url"

	"github.com/phonefleet/phonefleet"
)

// deletePayPerUseDryRun is the data of a dry-run deletion of pay-per-use
// instances.
type deletePayPerUseDryRun struct {
	DryRun    bool                     `json:"dryRun"`
	Instances []deletePayPerUseDryItem `json:"instances"`
}

type deletePayPerUseDryItem struct {
	InstanceID string `json:"instanceId"`
	Noop       bool   `json:"noop"`
}

// handleInstanceDeletePayPerUse deletes pay-per-use instances: POST
// /v1/phonefleet/instances/delete-pay-per-use, with the body of
// /v1/instances/delete, and ?dry_run=true to check without changing
// anything.
func (s *Server) handleInstanceDeletePayPerUse(w http.ResponseWriter, r *http.Request) {
	const action = phonefleet.ActionInstanceDeletePayPerUse
	body, err := readJSONBody(r)
	var ids []string
	if err == nil {
		ids, err = decodeDeleteRequest(body)
	}
	var dryRun bool
	if err == nil {
		var q url.Values
		if q, err = strictQuery(r); err == nil {
			dryRun, err = parseBoolParam(q, "dry_run")
		}
	}
	if err != nil {
		s.auditFailure(r, action, ids, err)
		Error(w, r, err)
		return
	}

	p := phonefleet.PrincipalFromContext(r.Context())
	plan, err := s.Store.DeletePayPerUse(r.Context(), &phonefleet.DeletePayPerUseRequest{
		TenantID: p.TenantID, TokenID: p.TokenID, UserName: p.UserName, Actor: p.Actor(), ClientAddr: clientAddr(r),
		RequestID: phonefleet.RequestIDFromContext(r.Context()), InstanceIDs: ids, DryRun: dryRun,
	})
	if err != nil {
		s.auditFailure(r, action, ids, err)
		Error(w, r, err)
		return
	}
	if dryRun {
		resp := deletePayPerUseDryRun{DryRun: true, Instances: make([]deletePayPerUseDryItem, len(plan.Items))}
		for i, it := range plan.Items {
			resp.Instances[i] = deletePayPerUseDryItem{InstanceID: it.InstanceID, Noop: it.Noop}
		}
		writeData(w, r, resp)
		return
	}
	payPerUseDeletedTotal.Add(float64(len(plan.Changes())))
	s.commandsWritten()
	writeData(w, r, nil)
}
