package http

import (
	"net/http"
	"net/url"
	"slices"
	"strconv"
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

// defaultListPageSize is the page_size of a phonefleet list that gives
// none.
const defaultListPageSize = 10

// parsePage checks page_no and page_size (checkNames has refused any other
// name). Either may be left out: page_no is then 1 and page_size 10.
func parsePage(r *http.Request) (pageNo, pageSize int, err error) {
	var q url.Values
	if q, err = strictQuery(r); err != nil {
		return 0, 0, err
	}
	return parsePageValues(q)
}

// parsePageValues checks the page_no and page_size of q, defaulting absent
// ones to 1 and 10.
func parsePageValues(q url.Values) (pageNo, pageSize int, err error) {
	pq := url.Values{"page_no": {"1"}, "page_size": {strconv.Itoa(defaultListPageSize)}}
	for _, name := range pageParams {
		if q.Has(name) {
			pq.Set(name, q.Get(name))
		}
	}
	_, pageNo, pageSize, err = parseBatchQuery(pq)
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
