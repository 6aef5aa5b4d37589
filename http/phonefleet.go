package http

import (
	"net/http"
	"net/url"
	"slices"
	"time"

	"github.com/phonefleet/phonefleet"
)

// refundItem is one entry of GET /v1/phonefleet/refunds.
type refundItem struct {
	InstanceID string `json:"instance_id"`
	OrderID    string `json:"order_id"`
	Paid       int64  `json:"paid"`
	Consumed   int64  `json:"consumed"`
	Fee        int64  `json:"fee"`
	Amount     int64  `json:"amount"`
	Currency   string `json:"currency"`
	RequestID  string `json:"request_id"`
	CreatedAt  string `json:"created_at"`
}

// auditItem is one entry of GET /v1/phonefleet/audit.
type auditItem struct {
	At          string   `json:"at"`
	Action      string   `json:"action"`
	RequestID   string   `json:"request_id"`
	ClientAddr  string   `json:"client_addr"`
	InstanceIDs []string `json:"instance_ids"`
	ErrorCode   string   `json:"error_code"`
	Detail      string   `json:"detail"`
}

// pageResponse is the data of the phonefleet list endpoints, paged like
// batch-query.
type pageResponse[T any] struct {
	Result     []T `json:"result"`
	PageNo     int `json:"page_no"`
	PageSize   int `json:"page_size"`
	TotalCount int `json:"total_count"`
}

// pageParams are the only query parameters of the phonefleet list
// endpoints.
var pageParams = []string{"page_no", "page_size"}

// parsePage checks page_no and page_size (checkNames has refused any other
// name).
func parsePage(r *http.Request) (pageNo, pageSize int, err error) {
	var q url.Values
	if q, err = strictQuery(r); err != nil {
		return 0, 0, err
	}
	_, pageNo, pageSize, err = parseBatchQuery(url.Values{"page_no": {q.Get("page_no")}, "page_size": {q.Get("page_size")}})
	return pageNo, pageSize, err
}

// page returns the page pageNo of items, pageSize long.
func page[T any](items []T, pageNo, pageSize int) []T {
	if pageNo-1 > len(items)/pageSize {
		return []T{}
	}
	from := (pageNo - 1) * pageSize
	if from >= len(items) {
		return []T{}
	}
	return items[from:min(from+pageSize, len(items))]
}

// handleRefunds lists the caller's tenant's refunds, newest first: GET
// /v1/phonefleet/refunds?page_no=1&page_size=10.
func (s *Server) handleRefunds(w http.ResponseWriter, r *http.Request) {
	pageNo, pageSize, err := parsePage(r)
	if err != nil {
		Error(w, r, err)
		return
	}
	p := phonefleet.PrincipalFromContext(r.Context())
	refunds, err := s.Store.FindRefunds(r.Context(), phonefleet.RefundFilter{TenantID: &p.TenantID})
	if err != nil {
		Error(w, r, err)
		return
	}
	slices.Reverse(refunds) // the store lists oldest first
	items := make([]refundItem, 0, pageSize)
	for _, f := range page(refunds, pageNo, pageSize) {
		items = append(items, refundItem{
			InstanceID: f.InstanceID, OrderID: f.OrderID, Paid: f.Paid, Consumed: f.Consumed, Fee: f.Fee,
			Amount: f.Amount, Currency: f.Currency, RequestID: f.RequestID,
			CreatedAt: f.CreatedAt.UTC().Format(time.RFC3339),
		})
	}
	writeData(w, r, pageResponse[refundItem]{Result: items, PageNo: pageNo, PageSize: pageSize, TotalCount: len(refunds)})
}

// handleAudit lists the caller's tenant's audit trail, newest first: GET
// /v1/phonefleet/audit?page_no=1&page_size=10.
func (s *Server) handleAudit(w http.ResponseWriter, r *http.Request) {
	pageNo, pageSize, err := parsePage(r)
	if err != nil {
		Error(w, r, err)
		return
	}
	p := phonefleet.PrincipalFromContext(r.Context())
	events, err := s.Store.FindAuditEvents(r.Context(), phonefleet.AuditFilter{TenantID: &p.TenantID})
	if err != nil {
		Error(w, r, err)
		return
	}
	items := make([]auditItem, 0, pageSize)
	for _, e := range page(events, pageNo, pageSize) {
		ids := e.InstanceIDs
		if ids == nil {
			ids = []string{}
		}
		items = append(items, auditItem{
			At: e.At.UTC().Format(time.RFC3339Nano), Action: e.Action, RequestID: e.RequestID, ClientAddr: e.ClientAddr,
			InstanceIDs: ids, ErrorCode: e.ErrorCode, Detail: e.Detail,
		})
	}
	writeData(w, r, pageResponse[auditItem]{Result: items, PageNo: pageNo, PageSize: pageSize, TotalCount: len(events)})
}
