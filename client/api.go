package client

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
)

// DryRun is the refund preview of an unsubscribe, in minor units.
type DryRun struct {
	DryRun      bool             `json:"dryRun"`
	Currency    string           `json:"currency"`
	TotalRefund int64            `json:"totalRefund"`
	Instances   []DryRunInstance `json:"instances"`
}

// DryRunInstance is one instance of a DryRun.
type DryRunInstance struct {
	InstanceID     string `json:"instanceId"`
	PaidAmount     int64  `json:"paidAmount"`
	ConsumedAmount int64  `json:"consumedAmount"`
	HandlingFee    int64  `json:"handlingFee"`
	RefundAmount   int64  `json:"refundAmount"`
	Noop           bool   `json:"noop"`
}

type instanceIDList struct {
	InstanceIDList []string `json:"instanceIdList"`
}

// Unsubscribe unsubscribes instances (POST /v1/instances/delete). Retried
// when safe: a repeated unsubscribe is a no-op.
func (cl *Client) Unsubscribe(ctx context.Context, ids []string) error {
	_, err := cl.do(ctx, call{method: http.MethodPost, path: "/v1/instances/delete", body: instanceIDList{ids}, retry: true}, nil)
	return err
}

// UnsubscribeDryRun returns the refunds unsubscribing ids would give,
// changing nothing.
func (cl *Client) UnsubscribeDryRun(ctx context.Context, ids []string) (*DryRun, error) {
	var out DryRun
	_, err := cl.do(ctx, call{method: http.MethodPost, path: "/v1/instances/delete", query: url.Values{"dry_run": {"true"}}, body: instanceIDList{ids}, retry: true}, &out)
	return &out, err
}

// DeletePayPerUseDryRun is the preview of a deletion of pay-per-use
// instances: each instance in request order and whether it is a no-op
// (already deleting or released).
type DeletePayPerUseDryRun struct {
	DryRun    bool                    `json:"dryRun"`
	Instances []DeletePayPerUseDryRow `json:"instances"`
}

// DeletePayPerUseDryRow is one instance of a DeletePayPerUseDryRun.
type DeletePayPerUseDryRow struct {
	InstanceID string `json:"instanceId"`
	Noop       bool   `json:"noop"`
}

// DeletePayPerUse deletes pay-per-use instances (POST
// /v1/phonefleet/instances/delete-pay-per-use): their charges stop and the
// data plane releases them; nothing is refunded. Retried when safe: a
// repeated deletion is a no-op.
func (cl *Client) DeletePayPerUse(ctx context.Context, ids []string) error {
	_, err := cl.do(ctx, call{method: http.MethodPost, path: "/v1/phonefleet/instances/delete-pay-per-use", body: instanceIDList{ids}, retry: true}, nil)
	return err
}

// DeletePayPerUseDryRun checks a deletion of pay-per-use instances and
// says which would be no-ops, changing nothing.
func (cl *Client) DeletePayPerUseDryRun(ctx context.Context, ids []string) (*DeletePayPerUseDryRun, error) {
	var out DeletePayPerUseDryRun
	_, err := cl.do(ctx, call{method: http.MethodPost, path: "/v1/phonefleet/instances/delete-pay-per-use",
		query: url.Values{"dry_run": {"true"}}, body: instanceIDList{ids}, retry: true}, &out)
	return &out, err
}

// ChargeParam is how a purchase is paid.
type ChargeParam struct {
	ChargingMode int  `json:"chargingMode"`         // 1 yearly/monthly, 0 pay-per-use
	PeriodType   int  `json:"periodType,omitempty"` // 2 month, 3 year
	PeriodNum    int  `json:"periodNum,omitempty"`
	IsAutoPay    bool `json:"isAutoPay"`
	IsAutoRenew  bool `json:"isAutoRenew"`
}

// CreateRequest is a purchase.
type CreateRequest struct {
	OS                 string      `json:"os"`
	InstanceSKUID      string      `json:"instanceSkuId"`
	BandSKUID          string      `json:"bandSkuId"`
	RegionID           string      `json:"regionId"`
	InstanceNamePrefix string      `json:"instanceNamePrefix"`
	BandSize           int         `json:"bandSize"`
	Count              int         `json:"count"`
	ChargeParam        ChargeParam `json:"chargeParam"`
}

// CreateResult is the order a purchase made.
type CreateResult struct {
	OrderID       string         `json:"orderId"`
	InstanceInfos []InstanceInfo `json:"instanceInfos"`
}

// InstanceInfo names one bought instance.
type InstanceInfo struct {
	InstanceID   string `json:"instanceId"`
	InstanceName string `json:"instanceName"`
}

// Create buys instances (POST /v1/instances/create). Every attempt carries
// the same X-Request-Id (requestID, or a random one when empty), so a retry
// buys nothing twice.
func (cl *Client) Create(ctx context.Context, req CreateRequest, requestID string) (*CreateResult, error) {
	var out CreateResult
	c := call{method: http.MethodPost, path: "/v1/instances/create", body: req, retry: true}
	if requestID != "" {
		c.header = map[string]string{"X-Request-Id": requestID}
	}
	_, err := cl.do(ctx, c, &out)
	return &out, err
}

// Catalogue is the answer of GET /v1/instances/sku.
type Catalogue struct {
	BandInfo struct {
		CBCSKUID string `json:"cbcSkuId"`
	} `json:"bandInfo"`
	SKUSpecResponseList []RegionSKUs `json:"skuSpecResponseList"`
}

// RegionSKUs is the SKUs one region offers.
type RegionSKUs struct {
	RegionID     string `json:"regionId"`
	SKUResponses []SKU  `json:"skuResponses"`
}

// SKU is one catalogue entry; prices in minor units.
type SKU struct {
	Type          string `json:"type"`
	CBCSKUID      string `json:"cbcSkuId"`
	Name          string `json:"name"`
	CalcSpec      string `json:"calcSpec"`
	StorageSpec   string `json:"storageSpec"`
	SpecDesc      string `json:"specDesc"`
	BandSize      string `json:"bandSize"`
	ChargeMode    int    `json:"chargeMode"`
	MaxResolution string `json:"maxResolution"`
	MonthPrice    int64  `json:"monthPrice"`
	YearPrice     int64  `json:"yearPrice"`
	HourPrice     int64  `json:"hourPrice"`
	Currency      string `json:"currency"`
}

// SKUs returns the catalogue.
func (cl *Client) SKUs(ctx context.Context) (*Catalogue, error) {
	var out Catalogue
	_, err := cl.do(ctx, call{method: http.MethodGet, path: "/v1/instances/sku", query: url.Values{"type": {"0"}}, retry: true}, &out)
	return &out, err
}

// Query selects instances for BatchQuery; zero fields are left out.
type Query struct {
	PageNo, PageSize int // 0: 1 and 10
	InstanceID       string
	InstanceName     string
	QueryStartTime   string // 2006-01-02 15:04:05, UTC
	QueryEndTime     string
	IncludeReleased  bool
	// phonefleet extensions
	State       string // running, deleting, released
	BillingMode string // prePaid, postPaid
	Region      string
	AssignUser  string
	Sort        string // created_at or -created_at
}

// Values returns q as query parameters.
func (q Query) Values() url.Values {
	v := url.Values{}
	no := q.PageNo
	if no == 0 {
		no = 1
	}
	v.Set("page_no", strconv.Itoa(no))
	size := q.PageSize
	if size == 0 {
		size = 10
	}
	v.Set("page_size", strconv.Itoa(size))
	for name, val := range map[string]string{
		"instance_id": q.InstanceID, "instance_name": q.InstanceName, "query_start_time": q.QueryStartTime,
		"query_end_time": q.QueryEndTime, "state": q.State, "billing_mode": q.BillingMode, "region": q.Region,
		"assign_user": q.AssignUser, "sort": q.Sort,
	} {
		if val != "" {
			v.Set(name, val)
		}
	}
	if q.IncludeReleased {
		v.Set("include_released", "true")
	}
	return v
}

// InstancePage is one page of BatchQuery.
type InstancePage struct {
	Result     []Instance `json:"result"`
	PageNo     int        `json:"page_no"`
	PageSize   int        `json:"page_size"`
	TotalCount int        `json:"total_count"`
}

// Instance is one cloud phone as batch-query lists it.
type Instance struct {
	InstanceID    string  `json:"instance_id"`
	InstanceName  string  `json:"instance_name"`
	Region        string  `json:"region"`
	InstanceSKU   string  `json:"instance_sku"`
	FrozenStatus  int     `json:"frozen_status"`  // 1 frozen
	ExpireStatus  int     `json:"expire_status"`  // 1 expired or frozen
	RunningStatus int     `json:"running_status"` // 1 stopped (frozen), 2 running, 3 going offline, 4 starting
	AssignStatus  int     `json:"assign_status"`
	AssignUser    string  `json:"assign_user"`
	BillingMode   string  `json:"billing_mode"` // prePaid or postPaid
	State         string  `json:"state"`        // running, expired, frozen, deleting, released
	CreatedAt     string  `json:"created_at"`
	ExpiresAt     *string `json:"expires_at"`
}

// BatchQuery lists instances a page at a time (GET
// /v1/instances/batch-query).
func (cl *Client) BatchQuery(ctx context.Context, q Query) (*InstancePage, error) {
	var out InstancePage
	_, err := cl.do(ctx, call{method: http.MethodGet, path: "/v1/instances/batch-query", query: q.Values(), retry: true}, &out)
	return &out, err
}

// InstanceStatus is one answer of BatchQueryStatus: 2 running, 3 going
// offline, 4 starting, 0 unknown.
type InstanceStatus struct {
	InstanceID string `json:"instance_id"`
	Status     int    `json:"status"`
}

// BatchQueryStatus returns the status of each of ids (POST
// /v1/instances/batch-query-status).
func (cl *Client) BatchQueryStatus(ctx context.Context, ids []string) ([]InstanceStatus, error) {
	var out struct {
		StatusResults []InstanceStatus `json:"status_results"`
	}
	_, err := cl.do(ctx, call{method: http.MethodPost, path: "/v1/instances/batch-query-status", body: map[string][]string{"instance_ids": ids}, retry: true}, &out)
	return out.StatusResults, err
}

// UserInstance binds an end user to an instance.
type UserInstance struct {
	UserID     string `json:"user_id"`
	InstanceID string `json:"instance_id"`
}

// CommandResult is the answer of the calls that start data-plane commands.
type CommandResult struct {
	TaskID  string       `json:"task_id"`
	CmdJobs []CommandJob `json:"cmd_jobs"`
}

// CommandJob is one command a call started.
type CommandJob struct {
	InstanceID string `json:"instance_id"`
	JobID      string `json:"job_id"`
}

// Assign binds instances to end users (POST /v1/instances/assign). Retried
// when safe: assigning to the same user again is a no-op.
func (cl *Client) Assign(ctx context.Context, pairs []UserInstance) error {
	_, err := cl.do(ctx, call{method: http.MethodPost, path: "/v1/instances/assign", body: map[string][]UserInstance{"user_instances": pairs}, retry: true}, nil)
	return err
}

// Unassign removes bindings and wipes the users' data (POST
// /v1/instances/unassign). Never retried.
func (cl *Client) Unassign(ctx context.Context, pairs []UserInstance) (*CommandResult, error) {
	var out CommandResult
	_, err := cl.do(ctx, call{method: http.MethodPost, path: "/v1/instances/unassign", body: map[string][]UserInstance{"user_instances": pairs}}, &out)
	return &out, err
}

// Reboot restarts instances (POST /v1/instances/reboot). Never retried.
func (cl *Client) Reboot(ctx context.Context, ids []string) (*CommandResult, error) {
	var out CommandResult
	_, err := cl.do(ctx, call{method: http.MethodPost, path: "/v1/instances/reboot", body: map[string][]string{"instance_ids": ids}}, &out)
	return &out, err
}

// Reset wipes and restarts instances (POST /v1/instances/batch-reset).
// Never retried.
func (cl *Client) Reset(ctx context.Context, ids []string) (*CommandResult, error) {
	var out CommandResult
	_, err := cl.do(ctx, call{method: http.MethodPost, path: "/v1/instances/batch-reset", body: map[string][]string{"instance_ids": ids}}, &out)
	return &out, err
}

// PrepareStatus is one answer of Prepare: 0 ready, 2 to be assigned, 4
// resetting, 5 restarting, 6 offline.
type PrepareStatus struct {
	InstanceID string `json:"instance_id"`
	Status     int    `json:"status"`
}

// Prepare tells whether instances are ready for a user (POST
// /v1/instances/prepare); nothing changes.
func (cl *Client) Prepare(ctx context.Context, userID string, ids []string) ([]PrepareStatus, error) {
	var out struct {
		StatusList []PrepareStatus `json:"status_list"`
	}
	_, err := cl.do(ctx, call{method: http.MethodPost, path: "/v1/instances/prepare", body: map[string]any{"user_id": userID, "instance_ids": ids}, retry: true}, &out)
	return out.StatusList, err
}

// Page is one page of a phonefleet list.
type Page[T any] struct {
	Result     []T `json:"result"`
	PageNo     int `json:"page_no"`
	PageSize   int `json:"page_size"`
	TotalCount int `json:"total_count"`
}

// Refund is one refund, in minor units.
type Refund struct {
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

// AuditEvent is one call in the tenant's audit trail.
type AuditEvent struct {
	ID          int64    `json:"id"`
	At          string   `json:"at"`
	Actor       string   `json:"actor"` // who acted: the user, else the token's name, else the access key ID; "system" for background work
	User        string   `json:"user"`
	ClientAddr  string   `json:"client_addr"` // the caller's IP address as the server saw it
	DryRun      bool     `json:"dry_run"`     // a preview (an unsubscribe with dry_run=true)
	Action      string   `json:"action"`
	RequestID   string   `json:"request_id"`
	InstanceIDs []string `json:"instance_ids"`
	ErrorCode   string   `json:"error_code"`
	Detail      string   `json:"detail"`
}

// pageQuery returns the paging parameters; zero means page 1 of 10.
func pageQuery(pageNo, pageSize int) url.Values {
	return Query{PageNo: pageNo, PageSize: pageSize}.Values()
}

// Refunds lists the tenant's refunds, newest first (GET
// /v1/phonefleet/refunds).
func (cl *Client) Refunds(ctx context.Context, pageNo, pageSize int) (*Page[Refund], error) {
	var out Page[Refund]
	_, err := cl.do(ctx, call{method: http.MethodGet, path: "/v1/phonefleet/refunds", query: pageQuery(pageNo, pageSize), retry: true}, &out)
	return &out, err
}

// Audit lists the tenant's audit trail, newest first (GET
// /v1/phonefleet/audit).
func (cl *Client) Audit(ctx context.Context, pageNo, pageSize int) (*Page[AuditEvent], error) {
	var out Page[AuditEvent]
	_, err := cl.do(ctx, call{method: http.MethodGet, path: "/v1/phonefleet/audit", query: pageQuery(pageNo, pageSize), retry: true}, &out)
	return &out, err
}

// Health reports whether the server answers GET /healthz.
func (cl *Client) Health(ctx context.Context) error {
	_, err := cl.do(ctx, call{method: http.MethodGet, path: "/healthz", noToken: true}, nil)
	return err
}

// Ready reports whether the server can serve writes (GET /readyz).
func (cl *Client) Ready(ctx context.Context) error {
	_, err := cl.do(ctx, call{method: http.MethodGet, path: "/readyz", noToken: true}, nil)
	return err
}
