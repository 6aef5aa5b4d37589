package http

import (
	"bufio"
	"cmp"
	"context"
	"encoding/csv"
	"encoding/json"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"time"
	"unicode/utf8"

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
	if action == phonefleet.ActionInstanceDelete || action == phonefleet.ActionInstanceDeletePayPerUse {
		// A refused preview is still a preview; a malformed or repeated
		// flag is not.
		e.DryRun = slices.Equal(r.URL.Query()["dry_run"], []string{"true"})
	}
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

// auditItem is one entry of GET /v1/phonefleet/audit, and one line of its
// JSON-lines export.
type auditItem struct {
	ID          int64    `json:"id"`
	At          string   `json:"at"`
	Actor       string   `json:"actor"`
	User        string   `json:"user"`
	ClientAddr  string   `json:"client_addr"`
	DryRun      bool     `json:"dry_run"`
	Action      string   `json:"action"`
	RequestID   string   `json:"request_id"`
	InstanceIDs []string `json:"instance_ids"`
	ErrorCode   string   `json:"error_code"`
	Detail      string   `json:"detail"`
}

func newAuditItem(e *phonefleet.AuditEvent) auditItem {
	ids := e.InstanceIDs
	if ids == nil {
		ids = []string{}
	}
	return auditItem{
		ID: e.ID, At: e.At.UTC().Format(time.RFC3339Nano), Actor: e.Actor, User: e.UserName, ClientAddr: e.ClientAddr,
		DryRun: e.DryRun, Action: e.Action, RequestID: e.RequestID, InstanceIDs: ids, ErrorCode: e.ErrorCode, Detail: e.Detail,
	}
}

// auditPage is the data of GET /v1/phonefleet/audit: a page like the other
// lists, and the before_id of the next page when this one is full.
type auditPage struct {
	Result       []auditItem `json:"result"`
	PageNo       int         `json:"page_no"`
	PageSize     int         `json:"page_size"`
	TotalCount   int         `json:"total_count"`
	NextBeforeID int64       `json:"next_before_id,omitempty"`
}

// auditParams are the query parameters of GET /v1/phonefleet/audit.
var auditParams = append(slices.Clone(pageParams), "action", "instance_id", "actor", "since", "until", "before_id", "format")

// Export formats of GET /v1/phonefleet/audit's format parameter.
const (
	auditFormatJSON  = "json"  // the envelope, one page (the default)
	auditFormatJSONL = "jsonl" // every matching event, one JSON object a line
	auditFormatCSV   = "csv"   // every matching event, CSV with a header row
)

// auditExportBatch is how many events an export reads at a time: an
// export holds one batch in memory, however long the trail.
const auditExportBatch = 500

// parseAuditQuery checks the query of an audit list: the page, the filters
// and the format. A bad value is EInvalid naming the parameter.
func parseAuditQuery(q url.Values) (f phonefleet.AuditFilter, pageNo, pageSize int, format string, err error) {
	if pageNo, pageSize, err = parsePageValues(q); err != nil {
		return f, 0, 0, "", err
	}
	for _, t := range []struct {
		name string
		dst  **string
	}{{"action", &f.Action}, {"instance_id", &f.InstanceID}, {"actor", &f.Actor}} {
		if !q.Has(t.name) {
			continue
		}
		v := q.Get(t.name)
		if v == "" || len(v) > phonefleet.AuditFilterMaxLen || !utf8.ValidString(v) {
			return f, 0, 0, "", phonefleet.Errorf(phonefleet.EInvalid, "%s must be 1-%d bytes of UTF-8", t.name, phonefleet.AuditFilterMaxLen)
		}
		*t.dst = &v
	}
	for _, t := range []struct {
		name string
		dst  **time.Time
	}{{"since", &f.Since}, {"until", &f.Until}} {
		if !q.Has(t.name) {
			continue
		}
		v, perr := time.Parse(time.RFC3339Nano, q.Get(t.name))
		if perr != nil {
			return f, 0, 0, "", phonefleet.Errorf(phonefleet.EInvalid, "%s must be an RFC 3339 time such as 2026-12-01T00:00:00Z", t.name)
		}
		v = v.UTC()
		*t.dst = &v
	}
	if f.Since != nil && f.Until != nil && !f.Since.Before(*f.Until) {
		return f, 0, 0, "", phonefleet.Errorf(phonefleet.EInvalid, "since must be before until")
	}
	if q.Has("before_id") {
		id, perr := strconv.ParseInt(q.Get("before_id"), 10, 64)
		if perr != nil || id < 1 {
			return f, 0, 0, "", phonefleet.Errorf(phonefleet.EInvalid, "before_id must be a positive integer (the next_before_id of the previous page)")
		}
		f.BeforeID = id
	}
	format = auditFormatJSON
	if q.Has("format") {
		switch format = q.Get("format"); format {
		case auditFormatJSON, auditFormatJSONL, auditFormatCSV:
		default:
			return f, 0, 0, "", phonefleet.Errorf(phonefleet.EInvalid, "format must be json, jsonl or csv")
		}
	}
	return f, pageNo, pageSize, format, nil
}

// handleAudit lists the caller's tenant's audit trail, newest first: GET
// /v1/phonefleet/audit?page_no=1&page_size=10, filtered by action,
// instance_id, actor, since and until; before_id pages by key. With
// format=jsonl or csv it exports every matching event instead of a page.
func (s *Server) handleAudit(w http.ResponseWriter, r *http.Request) {
	q, err := strictQuery(r)
	var filter phonefleet.AuditFilter
	var pageNo, pageSize int
	var format string
	if err == nil {
		filter, pageNo, pageSize, format, err = parseAuditQuery(q)
	}
	if err != nil {
		Error(w, r, err)
		return
	}
	p := phonefleet.PrincipalFromContext(r.Context())
	filter.TenantID = &p.TenantID
	if format != auditFormatJSON {
		s.exportAudit(w, r, filter, format)
		return
	}

	total, err := s.Store.CountAuditEvents(r.Context(), filter)
	if err != nil {
		Error(w, r, err)
		return
	}
	// Past 2^31 events every page is empty; the cap keeps the offset from
	// overflowing.
	filter.Limit, filter.Offset = pageSize, math.MaxInt32
	if pageNo-1 <= math.MaxInt32/pageSize {
		filter.Offset = (pageNo - 1) * pageSize
	}
	events, err := s.Store.FindAuditEvents(r.Context(), filter)
	if err != nil {
		Error(w, r, err)
		return
	}
	resp := auditPage{Result: make([]auditItem, 0, len(events)), PageNo: pageNo, PageSize: pageSize, TotalCount: total}
	for _, e := range events {
		resp.Result = append(resp.Result, newAuditItem(e))
	}
	if len(events) == pageSize {
		resp.NextBeforeID = events[len(events)-1].ID
	}
	writeData(w, r, resp)
}

// exportAudit streams every event matching filter, newest first, as JSON
// lines or CSV, reading auditExportBatch events at a time by key. Each
// batch has the request's timeout of its own, so a long trail is not cut
// by one deadline. A failure after the first byte cannot be answered with
// an error body: it is logged and the response aborted, so the client sees
// a broken transfer rather than a short file.
func (s *Server) exportAudit(w http.ResponseWriter, r *http.Request, filter phonefleet.AuditFilter, format string) {
	timeout := s.RequestTimeout
	if timeout <= 0 {
		timeout = DefaultRequestTimeout
	}
	// The first batch is read before any byte is written, so that a failing
	// store still gets the usual error answer.
	filter.Offset, filter.Limit = 0, auditExportBatch
	events, err := s.Store.FindAuditEvents(r.Context(), filter)
	if err != nil {
		Error(w, r, err)
		return
	}

	h := w.Header()
	if format == auditFormatCSV {
		h.Set("Content-Type", "text/csv; charset=utf-8")
		h.Set("Content-Disposition", `attachment; filename="audit.csv"`)
	} else {
		h.Set("Content-Type", "application/x-ndjson")
		h.Set("Content-Disposition", `attachment; filename="audit.jsonl"`)
	}
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	bw := bufio.NewWriterSize(w, 32<<10)
	cw := csv.NewWriter(bw)
	enc := json.NewEncoder(bw)
	enc.SetEscapeHTML(false)
	if format == auditFormatCSV {
		cw.Write(phonefleet.AuditCSVHeader)
	}
	base := context.WithoutCancel(r.Context())
	for {
		for _, e := range events {
			if format == auditFormatCSV {
				err = cw.Write(e.CSVRecord())
			} else {
				err = enc.Encode(newAuditItem(e))
			}
			if err != nil {
				break
			}
		}
		if format == auditFormatCSV {
			cw.Flush()
			err = cmp.Or(err, cw.Error())
		}
		if err == nil {
			err = bw.Flush()
		}
		if err == nil && len(events) == auditExportBatch {
			// Each batch gets a fresh write deadline and read timeout; a
			// client that went away fails the next write.
			rc.SetWriteDeadline(time.Now().Add(timeout))
			filter.BeforeID = events[len(events)-1].ID
			ctx, cancel := context.WithTimeout(base, timeout)
			events, err = s.Store.FindAuditEvents(ctx, filter)
			cancel()
			if err == nil {
				continue
			}
		}
		break
	}
	if err != nil {
		loggerFrom(r.Context()).Error("export audit",
			"request_id", phonefleet.RequestIDFromContext(r.Context()), "error", err.Error())
		panic(http.ErrAbortHandler)
	}
}
