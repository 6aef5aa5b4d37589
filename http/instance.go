package http

import (
	"math"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/phonefleet/phonefleet"
)

// Batch-query limits and formats.
const (
	maxPageSize      = 1000
	maxNameFilterLen = 64
	queryTimeLayout  = "2006-01-02 15:04:05"
)

// dryRunResponse is the data of a dry-run unsubscribe.
type dryRunResponse struct {
	DryRun      bool             `json:"dryRun"`
	Currency    string           `json:"currency"`
	TotalRefund int64            `json:"totalRefund"`
	Instances   []dryRunInstance `json:"instances"`
}

type dryRunInstance struct {
	InstanceID     string `json:"instanceId"`
	PaidAmount     int64  `json:"paidAmount"`
	ConsumedAmount int64  `json:"consumedAmount"`
	HandlingFee    int64  `json:"handlingFee"`
	RefundAmount   int64  `json:"refundAmount"`
	Noop           bool   `json:"noop"`
}

// handleInstanceDelete unsubscribes instances: POST /v1/instances/delete,
// with ?dry_run=true to see the refunds without changing anything.
func (s *Server) handleInstanceDelete(w http.ResponseWriter, r *http.Request) {
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
		s.auditFailure(r, phonefleet.ActionInstanceDelete, ids, err)
		Error(w, r, err)
		return
	}

	p := phonefleet.PrincipalFromContext(r.Context())
	plan, err := s.Store.Unsubscribe(r.Context(), &phonefleet.UnsubscribeRequest{
		TenantID: p.TenantID, TokenID: p.TokenID, UserName: p.UserName, Actor: p.Actor(), ClientAddr: clientAddr(r), RequestID: phonefleet.RequestIDFromContext(r.Context()),
		InstanceIDs: ids, DryRun: dryRun,
	})
	if err != nil {
		s.auditFailure(r, phonefleet.ActionInstanceDelete, ids, err)
		Error(w, r, err)
		return
	}
	if dryRun {
		resp := dryRunResponse{DryRun: true, Currency: plan.Currency, TotalRefund: plan.TotalRefund, Instances: make([]dryRunInstance, len(plan.Items))}
		for i, it := range plan.Items {
			resp.Instances[i] = dryRunInstance{
				InstanceID: it.InstanceID, PaidAmount: it.Refund.Paid, ConsumedAmount: it.Refund.Consumed,
				HandlingFee: it.Refund.Fee, RefundAmount: it.Refund.Amount, Noop: it.Noop,
			}
		}
		writeData(w, r, resp)
		return
	}
	countUnsubscribe(plan)
	s.commandsWritten()
	writeData(w, r, nil)
}

// createResponse is the data of a purchase.
type createResponse struct {
	OrderID       string         `json:"orderId"`
	InstanceInfos []instanceInfo `json:"instanceInfos"`
}

type instanceInfo struct {
	InstanceID   string `json:"instanceId"`
	InstanceName string `json:"instanceName"`
}

// handleInstanceCreate buys instances: POST /v1/instances/create.
func (s *Server) handleInstanceCreate(w http.ResponseWriter, r *http.Request) {
	body, err := readJSONBody(r)
	var req *phonefleet.PurchaseRequest
	if err == nil {
		req, err = decodeCreateRequest(body)
	}
	if err != nil {
		s.auditFailure(r, phonefleet.ActionInstanceCreate, nil, err)
		Error(w, r, err)
		return
	}

	p := phonefleet.PrincipalFromContext(r.Context())
	req.TenantID, req.TokenID, req.UserName, req.RequestID = p.TenantID, p.TokenID, p.UserName, phonefleet.RequestIDFromContext(r.Context())
	req.ClientAddr, req.Actor = clientAddr(r), p.Actor()
	order, instances, err := s.Store.Purchase(r.Context(), req)
	if err != nil {
		s.auditFailure(r, phonefleet.ActionInstanceCreate, nil, err)
		Error(w, r, err)
		return
	}
	purchasesTotal.WithLabelValues(order.BillingMode.KooPhone()).Inc()
	purchasedInstancesTotal.WithLabelValues(order.BillingMode.KooPhone()).Add(float64(len(instances)))
	resp := createResponse{OrderID: order.ID, InstanceInfos: make([]instanceInfo, len(instances))}
	for i, in := range instances {
		resp.InstanceInfos[i] = instanceInfo{InstanceID: in.ID, InstanceName: in.Name}
	}
	writeData(w, r, resp)
}

// batchQueryResponse is the data of GET /v1/instances/batch-query; the
// reference nests the code and message in it.
type batchQueryResponse struct {
	Result     []instanceItem `json:"result"`
	PageNo     int            `json:"page_no"`
	PageSize   int            `json:"page_size"`
	TotalCount int            `json:"total_count"`
	Code       string         `json:"error_code"`
	Message    string         `json:"error_msg"`
}

type instanceItem struct {
	InstanceID    string  `json:"instance_id"`
	InstanceName  string  `json:"instance_name"`
	Region        string  `json:"region"`
	InstanceSKU   string  `json:"instance_sku"`
	FrozenStatus  int     `json:"frozen_status"`
	ExpireStatus  int     `json:"expire_status"`
	RunningStatus int     `json:"running_status"`
	AssignStatus  int     `json:"assign_status"`
	AssignUser    string  `json:"assign_user"`
	BillingMode   string  `json:"billing_mode"`
	State         string  `json:"state"`
	CreatedAt     string  `json:"created_at"`
	ExpiresAt     *string `json:"expires_at"`
}

// handleInstanceBatchQuery lists the tenant's instances a page at a time:
// GET /v1/instances/batch-query.
func (s *Server) handleInstanceBatchQuery(w http.ResponseWriter, r *http.Request) {
	p := phonefleet.PrincipalFromContext(r.Context())
	q, err := strictQuery(r)
	if err != nil {
		Error(w, r, err)
		return
	}
	filter, pageNo, pageSize, err := parseBatchQuery(q)
	if err != nil {
		Error(w, r, err)
		return
	}
	filter.TenantID = p.TenantID
	instances, total, err := s.Store.FindInstances(r.Context(), filter)
	if err != nil {
		Error(w, r, err)
		return
	}

	resp := batchQueryResponse{
		Result: make([]instanceItem, len(instances)), PageNo: pageNo, PageSize: pageSize, TotalCount: total,
		Code: phonefleet.ECodeOK, Message: "OK",
	}
	for i, in := range instances {
		item := instanceItem{
			InstanceID: in.ID, InstanceName: in.Name, Region: in.RegionID, InstanceSKU: in.SKUSpec,
			RunningStatus: in.Status().RunningStatus(), FrozenStatus: in.Status().FrozenStatus(),
			ExpireStatus: in.Status().ExpireStatus(), AssignUser: in.AssignUser,
			BillingMode: in.BillingMode.KooPhone(), State: string(in.State),
			CreatedAt: in.CreatedAt.UTC().Format(time.RFC3339),
		}
		if in.AssignUser != "" {
			item.AssignStatus = 1
		}
		if in.ExpiresAt != nil {
			t := in.ExpiresAt.UTC().Format(time.RFC3339)
			item.ExpiresAt = &t
		}
		resp.Result[i] = item
	}
	writeData(w, r, resp)
}

// parseBatchQuery checks the query of GET /v1/instances/batch-query and
// returns the filter (without the tenant) and the page asked for.
func parseBatchQuery(q url.Values) (filter phonefleet.InstanceFilter, pageNo, pageSize int, err error) {
	pageNo, err = strconv.Atoi(q.Get("page_no"))
	if err != nil || pageNo < 1 {
		return filter, 0, 0, phonefleet.Errorf(phonefleet.EInvalid, "page_no must be an integer of at least 1")
	}
	pageSize, err = strconv.Atoi(q.Get("page_size"))
	if err != nil || pageSize < 1 || pageSize > maxPageSize {
		return filter, 0, 0, phonefleet.Errorf(phonefleet.EInvalid, "page_size must be an integer from 1 to %d", maxPageSize)
	}
	// Past 2^31 rows every page is empty; the cap keeps the offset from
	// overflowing.
	filter.Limit, filter.Offset = pageSize, math.MaxInt32
	if pageNo-1 <= math.MaxInt32/pageSize {
		filter.Offset = (pageNo - 1) * pageSize
	}

	if id := q.Get("instance_id"); id != "" {
		if !phonefleet.ValidInstanceID(id) {
			return filter, 0, 0, phonefleet.Errorf(phonefleet.EInvalid, "instance_id must be 1-32 characters of [A-Za-z0-9_-]")
		}
		filter.ID = &id
	}
	if name := q.Get("instance_name"); name != "" {
		if len(name) > maxNameFilterLen {
			return filter, 0, 0, phonefleet.Errorf(phonefleet.EInvalid, "instance_name must be at most %d characters", maxNameFilterLen)
		}
		filter.Name = &name
	}
	if q.Has("assign_user") {
		user := q.Get("assign_user")
		if !phonefleet.ValidUserID(user) {
			return filter, 0, 0, phonefleet.Errorf(phonefleet.EInvalid, "assign_user must be 1-32 characters of [A-Za-z0-9_.@-]")
		}
		filter.AssignUser = &user
	}
	for _, f := range []struct {
		name string
		dst  **time.Time
	}{{"query_start_time", &filter.CreatedFrom}, {"query_end_time", &filter.CreatedTo}} {
		v := q.Get(f.name)
		if v == "" {
			continue
		}
		t, err := time.ParseInLocation(queryTimeLayout, v, time.UTC)
		if err != nil {
			return filter, 0, 0, phonefleet.Errorf(phonefleet.EInvalid, "%s must be a UTC time formatted as yyyy-MM-dd HH:mm:ss", f.name)
		}
		*f.dst = &t
	}
	if filter.CreatedFrom != nil && filter.CreatedTo != nil && filter.CreatedTo.Before(*filter.CreatedFrom) {
		return filter, 0, 0, phonefleet.Errorf(phonefleet.EInvalid, "query_end_time must not be before query_start_time")
	}
	if filter.CreatedTo != nil {
		// The end is inclusive to the second: 12:00:00 takes in 12:00:00.5.
		end := filter.CreatedTo.Add(time.Second - time.Nanosecond)
		filter.CreatedTo = &end
	}
	if filter.IncludeReleased, err = parseBoolParam(q, "include_released"); err != nil {
		return filter, 0, 0, err
	}
	if err := parseBatchQueryExtensions(q, &filter); err != nil {
		return filter, 0, 0, err
	}
	return filter, pageNo, pageSize, nil
}

// parseBatchQueryExtensions reads phonefleet's own batch-query parameters:
// the filters state, billing_mode and region, and sort (assign_user is read
// with KooPhone's filters).
func parseBatchQueryExtensions(q url.Values, filter *phonefleet.InstanceFilter) error {
	if q.Has("state") {
		st := phonefleet.InstanceState(q.Get("state"))
		if !st.Valid() {
			return phonefleet.Errorf(phonefleet.EInvalid, "state must be running, expired, frozen, deleting or released")
		}
		filter.State = &st
	}
	if q.Has("billing_mode") {
		var prepaid bool
		switch q.Get("billing_mode") {
		case "prePaid":
			prepaid = true
		case "postPaid":
		default:
			return phonefleet.Errorf(phonefleet.EInvalid, "billing_mode must be prePaid or postPaid")
		}
		filter.Prepaid = &prepaid
	}
	if q.Has("region") {
		region := q.Get("region")
		if region == "" || len(region) > phonefleet.MaxCatalogueIDLen {
			return phonefleet.Errorf(phonefleet.EInvalid, "region must be 1-%d characters", phonefleet.MaxCatalogueIDLen)
		}
		filter.RegionID = &region
	}
	if q.Has("sort") {
		switch q.Get("sort") {
		case "created_at":
		case "-created_at":
			filter.Descending = true
		default:
			return phonefleet.Errorf(phonefleet.EInvalid, "sort must be created_at or -created_at")
		}
	}
	return nil
}

// statusResult is one entry of the data of batch-query-status.
type statusResult struct {
	InstanceID string `json:"instance_id"`
	Status     int    `json:"status"`
}

// handleInstanceBatchQueryStatus reports the status of instances: POST
// /v1/instances/batch-query-status. An ID that is not the tenant's, or is
// released, is status 0, like an ID that does not exist.
func (s *Server) handleInstanceBatchQueryStatus(w http.ResponseWriter, r *http.Request) {
	body, err := readJSONBody(r)
	var ids []string
	if err == nil {
		ids, err = decodeBatchQueryStatusRequest(body)
	}
	if err != nil {
		Error(w, r, err)
		return
	}

	p := phonefleet.PrincipalFromContext(r.Context())
	states, err := s.Store.FindInstanceStatuses(r.Context(), p.TenantID, ids)
	if err != nil {
		Error(w, r, err)
		return
	}
	results := make([]statusResult, len(ids))
	for i, id := range ids {
		results[i] = statusResult{InstanceID: id, Status: phonefleet.StatusUnknown}
		if st, ok := states[id]; ok {
			results[i].Status = st.RunningStatus()
		}
	}
	writeData(w, r, batchQueryStatusResponse{StatusResults: results})
}

// batchQueryStatusResponse is the data of POST
// /v1/instances/batch-query-status.
type batchQueryStatusResponse struct {
	StatusResults []statusResult `json:"status_results"`
}

// strictQuery parses the request's query string: a malformed query or a
// parameter given more than once (which value would count?) is
// KOOPHONE.API.1000.
func strictQuery(r *http.Request) (url.Values, error) {
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return nil, phonefleet.Errorf(phonefleet.EInvalid, "query string is malformed")
	}
	for name, vs := range q {
		if len(vs) > 1 {
			return nil, phonefleet.Errorf(phonefleet.EInvalid, "%s must be given at most once", name)
		}
	}
	return q, nil
}

// parseBoolParam returns the query parameter name as a bool: absent is
// false, otherwise it must be "true" or "false".
func parseBoolParam(q url.Values, name string) (bool, error) {
	if !q.Has(name) {
		return false, nil
	}
	switch q.Get(name) {
	case "true":
		return true, nil
	case "false":
		return false, nil
	}
	return false, phonefleet.Errorf(phonefleet.EInvalid, "%s must be true or false", name)
}
