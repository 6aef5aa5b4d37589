package http

import (
	"net/http"

	"github.com/phonefleet/phonefleet"
)

// Messages of the required x-request-id header.
const (
	msgRequestIDMissing = "missing request header 'x-request-id'."
	msgRequestIDInvalid = "x-request-id must be 1-64 characters of [A-Za-z0-9._-]"
	msgRequestIDTwice   = "x-request-id must be given at most once"
)

// auditedActions are the actions of the APIs that change something (or,
// for prepare, that KooPhone treats as a write): each call is audited,
// also when it is refused before reaching the store.
var auditedActions = map[string]bool{
	phonefleet.ActionInstanceCreate:   true,
	phonefleet.ActionInstanceDelete:   true,
	phonefleet.ActionInstanceAssign:   true,
	phonefleet.ActionInstanceUnassign: true,
	phonefleet.ActionInstanceReboot:   true,
	phonefleet.ActionInstanceReset:    true,
	phonefleet.ActionInstancePrepare:  true,

	// Deleting pay-per-use instances needs instanceDelete and is audited
	// under an action of its own.
	phonefleet.ActionInstanceDeletePayPerUse: true,
}

// authenticatedRequestID is authenticated for the APIs on which KooPhone
// requires the x-request-id header: a missing header is answered
// KOOPHONE.API.0002 right after authentication; one that is present but
// malformed is a bad parameter (KOOPHONE.API.1000), checked after the
// action.
func (s *Server) authenticatedRequestID(action string, h http.HandlerFunc) http.Handler {
	return s.authenticate(s.requireRequestIDHeader(action,
		s.rateLimit(s.requireAction(action, s.validRequestIDHeader(action, h)))))
}

// requireRequestIDHeader answers KOOPHONE.API.0002 when the request has no
// x-request-id header.
func (s *Server) requireRequestIDHeader(action string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Request-Id") == "" {
			s.refuse(w, r, action, phonefleet.Errorf(phonefleet.ENoRequestID, msgRequestIDMissing))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// validRequestIDHeader answers KOOPHONE.API.1000 naming x-request-id when
// the header is not 1–64 characters of [A-Za-z0-9._-] or is given twice.
func (s *Server) validRequestIDHeader(action string, next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if vs := r.Header.Values("X-Request-Id"); len(vs) > 1 {
			s.refuse(w, r, action, phonefleet.Errorf(phonefleet.EInvalid, msgRequestIDTwice))
			return
		} else if !validRequestID(vs[0]) {
			s.refuse(w, r, action, phonefleet.Errorf(phonefleet.EInvalid, msgRequestIDInvalid))
			return
		}
		next(w, r)
	}
}

// refuse answers err, auditing it first when action is a write.
func (s *Server) refuse(w http.ResponseWriter, r *http.Request, action string, err error) {
	if auditedActions[action] {
		s.auditFailure(r, action, nil, err)
	}
	Error(w, r, err)
}

// commandJob is one entry of cmd_jobs.
type commandJob struct {
	InstanceID string `json:"instance_id"`
	JobID      string `json:"job_id"`
}

// commandResponse is the data of unassign, reboot and batch-reset.
type commandResponse struct {
	TaskID  string       `json:"task_id"`
	CmdJobs []commandJob `json:"cmd_jobs"`
}

func newCommandResponse(p *phonefleet.CommandPlan) commandResponse {
	resp := commandResponse{TaskID: p.TaskID, CmdJobs: make([]commandJob, len(p.Commands))}
	for i, c := range p.Commands {
		resp.CmdJobs[i] = commandJob{InstanceID: c.InstanceID, JobID: c.ID}
	}
	return resp
}

// commandQuery checks the query of the command APIs: only x-request-id,
// which KooPhone documents as a query parameter on one API and some
// clients send everywhere, is known.
func commandQuery(r *http.Request) error {
	q, err := strictQuery(r)
	if err != nil {
		return err
	}
	for name := range q {
		if name != "x-request-id" {
			return phonefleet.Errorf(phonefleet.EInvalid, "query parameter %s is not known", name)
		}
	}
	return nil
}

// newAssignRequest decodes the body of assign and unassign.
func newAssignRequest(r *http.Request) (*phonefleet.AssignRequest, []string, error) {
	body, err := readJSONBody(r)
	if err != nil {
		return nil, nil, err
	}
	pairs, err := decodeUserInstances(body)
	ids := make([]string, len(pairs))
	for i, p := range pairs {
		ids[i] = p.InstanceID
	}
	if err == nil {
		err = commandQuery(r)
	}
	if err != nil {
		return nil, ids, err
	}
	p := phonefleet.PrincipalFromContext(r.Context())
	return &phonefleet.AssignRequest{
		TenantID: p.TenantID, TokenID: p.TokenID, UserName: p.UserName, Actor: p.Actor(), ClientAddr: clientAddr(r), RequestID: phonefleet.RequestIDFromContext(r.Context()), Pairs: pairs,
	}, ids, nil
}

// handleInstanceAssign binds instances to end users: POST /v1/instances/assign.
func (s *Server) handleInstanceAssign(w http.ResponseWriter, r *http.Request) {
	req, ids, err := newAssignRequest(r)
	if err != nil {
		s.auditFailure(r, phonefleet.ActionInstanceAssign, ids, err)
		Error(w, r, err)
		return
	}
	if _, err := s.Store.Assign(r.Context(), req); err != nil {
		s.auditFailure(r, phonefleet.ActionInstanceAssign, ids, err)
		Error(w, r, err)
		return
	}
	writeData(w, r, nil)
}

// handleInstanceUnassign removes bindings and wipes the users' data:
// POST /v1/instances/unassign.
func (s *Server) handleInstanceUnassign(w http.ResponseWriter, r *http.Request) {
	req, ids, err := newAssignRequest(r)
	if err != nil {
		s.auditFailure(r, phonefleet.ActionInstanceUnassign, ids, err)
		Error(w, r, err)
		return
	}
	plan, err := s.Store.Unassign(r.Context(), req)
	if err != nil {
		s.auditFailure(r, phonefleet.ActionInstanceUnassign, ids, err)
		Error(w, r, err)
		return
	}
	s.commandsWritten()
	writeData(w, r, newCommandResponse(plan))
}

// handleInstanceReboot reboots instances: POST /v1/instances/reboot.
func (s *Server) handleInstanceReboot(w http.ResponseWriter, r *http.Request) {
	s.startCommands(w, r, phonefleet.CommandReboot, phonefleet.ActionInstanceReboot)
}

// handleInstanceReset resets instances: POST /v1/instances/batch-reset.
func (s *Server) handleInstanceReset(w http.ResponseWriter, r *http.Request) {
	s.startCommands(w, r, phonefleet.CommandReset, phonefleet.ActionInstanceReset)
}

// startCommands decodes {"instance_ids": [...]} and starts one command of
// type t per instance.
func (s *Server) startCommands(w http.ResponseWriter, r *http.Request, t phonefleet.CommandType, action string) {
	body, err := readJSONBody(r)
	var ids []string
	if err == nil {
		ids, err = decodeInstanceIDsRequest(body)
	}
	if err == nil {
		err = commandQuery(r)
	}
	if err != nil {
		s.auditFailure(r, action, ids, err)
		Error(w, r, err)
		return
	}
	p := phonefleet.PrincipalFromContext(r.Context())
	plan, err := s.Store.StartCommands(r.Context(), &phonefleet.CommandRequest{
		TenantID: p.TenantID, TokenID: p.TokenID, UserName: p.UserName, Actor: p.Actor(), ClientAddr: clientAddr(r), RequestID: phonefleet.RequestIDFromContext(r.Context()),
		Type: t, InstanceIDs: ids,
	})
	if err != nil {
		s.auditFailure(r, action, ids, err)
		Error(w, r, err)
		return
	}
	s.commandsWritten()
	writeData(w, r, newCommandResponse(plan))
}

// handleInstancePrepare reports whether instances are ready to stream for
// a user: POST /v1/instances/prepare. Nothing changes.
func (s *Server) handleInstancePrepare(w http.ResponseWriter, r *http.Request) {
	body, err := readJSONBody(r)
	var req *phonefleet.PrepareRequest
	if err == nil {
		req, err = decodePrepareRequest(body)
	}
	if err == nil {
		err = commandQuery(r)
	}
	if err != nil {
		var ids []string
		if req != nil {
			ids = req.InstanceIDs
		}
		s.auditFailure(r, phonefleet.ActionInstancePrepare, ids, err)
		Error(w, r, err)
		return
	}
	p := phonefleet.PrincipalFromContext(r.Context())
	req.TenantID, req.TokenID, req.UserName, req.RequestID = p.TenantID, p.TokenID, p.UserName, phonefleet.RequestIDFromContext(r.Context())
	req.ClientAddr, req.Actor = clientAddr(r), p.Actor()
	statuses, err := s.Store.Prepare(r.Context(), req)
	if err != nil {
		s.auditFailure(r, phonefleet.ActionInstancePrepare, req.InstanceIDs, err)
		Error(w, r, err)
		return
	}
	writeData(w, r, prepareResponse{StatusList: statuses})
}

// prepareResponse is the data of POST /v1/instances/prepare.
type prepareResponse struct {
	StatusList []phonefleet.PrepareStatus `json:"status_list"`
}

// commandsWritten wakes the command worker, if any.
func (s *Server) commandsWritten() {
	if s.OnCommand != nil {
		s.OnCommand()
	}
}

// msgReportReplayed answers a report whose signature was accepted before.
const msgReportReplayed = "X-Phonefleet-Signature was already accepted: a report is sent once (sign it again to repeat it)"

// handleJobReport takes the data plane's report on a command it accepted:
// POST /v1/phonefleet/dataplane/jobs/{job_id}, signed with the webhook
// secret like the webhook itself (phonefleet.VerifySignature over the time,
// method, path and body); no tenant token. A signature more than 5 minutes
// away from the server's time, made for another path (another job), or
// accepted before (on any node) is PHONEFLEET.JOB.0003.
func (s *Server) handleJobReport(w http.ResponseWriter, r *http.Request) {
	jobID := r.PathValue("job_id")
	body, err := readJSONBody(r)
	if err != nil {
		Error(w, r, err)
		return
	}
	sig, err := phonefleet.VerifySignature([]byte(s.WebhookSecret), r.Header.Get(phonefleet.SignatureHeader),
		r.Method, r.URL.EscapedPath(), body, s.Now())
	if err != nil {
		Error(w, r, phonefleet.Errorf(phonefleet.EBadSignature, "%s", err.Error()))
		return
	}
	if fresh, err := s.rememberSignature(r.Context(), sig.ReplayKey(), sig.Until()); err != nil {
		Error(w, r, err)
		return
	} else if !fresh {
		Error(w, r, phonefleet.Errorf(phonefleet.EBadSignature, msgReportReplayed))
		return
	}
	rep, err := decodeReport(body)
	if err == nil {
		err = commandQuery(r)
	}
	if err != nil {
		Error(w, r, err)
		return
	}
	if !validJobID(jobID) {
		Error(w, r, phonefleet.Errorf(phonefleet.EJobNotFound, "job %s not found", jobID))
		return
	}
	if err := s.Store.ReportCommand(r.Context(), jobID, rep); err != nil {
		Error(w, r, err)
		return
	}
	s.commandsWritten()
	writeData(w, r, nil)
}

// validJobID reports whether id could be a job ID: 1–64 characters of
// [A-Za-z0-9_-].
func validJobID(id string) bool {
	if len(id) < 1 || len(id) > 64 {
		return false
	}
	for i := 0; i < len(id); i++ {
		switch c := id[i]; {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '_', c == '-':
		default:
			return false
		}
	}
	return true
}
