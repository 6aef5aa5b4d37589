package client

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/phonefleet/phonefleet"
)

// AdminPrefix is where the admin API lives.
const AdminPrefix = "/v1/phonefleet/admin"

// Admin calls the admin API of one server with an operator's token (from
// Login with domain phonefleet.OperatorDomain). Its methods are those of
// phonefleet.Admin, so the operator CLI runs the same code against a
// database or a server. Errors carry the server's code: KOOPHONE.API.1000
// for bad input, 1001 for a write with an operator-viewer token,
// PHONEFLEET.ADMIN.0001 (not found) and 0002 (conflict).
type Admin struct {
	*Client
}

// NewAdmin returns an admin client for endpoint with an operator's token.
func NewAdmin(endpoint, token string) *Admin { return &Admin{Client: New(endpoint, token)} }

func (a *Admin) get(ctx context.Context, path string, q url.Values, out any) error {
	_, err := a.do(ctx, call{method: http.MethodGet, path: AdminPrefix + path, query: q, retry: true}, out)
	return err
}

func (a *Admin) send(ctx context.Context, method, path string, body, out any) error {
	if body == nil && method == http.MethodPost {
		body = struct{}{}
	}
	_, err := a.do(ctx, call{method: method, path: AdminPrefix + path, body: body}, out)
	return err
}

func tenantQuery(tenant string) url.Values {
	if tenant == "" {
		return nil
	}
	return url.Values{"tenant": {tenant}}
}

// Tenants lists the tenants with their phones by state.
func (a *Admin) Tenants(ctx context.Context) ([]*phonefleet.TenantUsage, error) {
	var out []*phonefleet.TenantUsage
	return out, a.get(ctx, "/tenants", nil, &out)
}

// Tenant returns one tenant with its phones by state.
func (a *Admin) Tenant(ctx context.Context, name string) (*phonefleet.TenantUsage, error) {
	var out phonefleet.TenantUsage
	return &out, a.get(ctx, "/tenants/"+url.PathEscape(name), nil, &out)
}

// CreateTenant creates a tenant.
func (a *Admin) CreateTenant(ctx context.Context, name string, maxInstances int) (*phonefleet.Tenant, error) {
	var out phonefleet.Tenant
	return &out, a.send(ctx, http.MethodPost, "/tenants", map[string]any{"name": name, "max_instances": maxInstances}, &out)
}

// UpdateTenantQuota sets a tenant's instance quota.
func (a *Admin) UpdateTenantQuota(ctx context.Context, name string, maxInstances int) (*phonefleet.Tenant, error) {
	var out phonefleet.Tenant
	return &out, a.send(ctx, http.MethodPost, "/tenants/"+url.PathEscape(name)+"/quota", map[string]any{"max_instances": maxInstances}, &out)
}

// UpdateTenantPeriods sets a tenant's own lifecycle periods (a nil field
// is left as it is).
func (a *Admin) UpdateTenantPeriods(ctx context.Context, name string, u phonefleet.TenantPeriodsUpdate) (*phonefleet.Tenant, error) {
	body := map[string]string{}
	if u.Grace != nil {
		body["grace_period"] = u.Grace.String()
	}
	if u.Retention != nil {
		body["retention_period"] = u.Retention.String()
	}
	var out phonefleet.Tenant
	return &out, a.send(ctx, http.MethodPost, "/tenants/"+url.PathEscape(name)+"/periods", body, &out)
}

// SetTenantSuspended suspends or resumes a tenant.
func (a *Admin) SetTenantSuspended(ctx context.Context, name string, suspended bool) (*phonefleet.Tenant, error) {
	verb := "/resume"
	if suspended {
		verb = "/suspend"
	}
	var out phonefleet.Tenant
	return &out, a.send(ctx, http.MethodPost, "/tenants/"+url.PathEscape(name)+verb, nil, &out)
}

// DeleteTenant deletes a tenant that holds nothing.
func (a *Admin) DeleteTenant(ctx context.Context, name string) error {
	return a.send(ctx, http.MethodDelete, "/tenants/"+url.PathEscape(name), nil, nil)
}

// IssueToken issues a tenant token and returns its secret, shown once.
func (a *Admin) IssueToken(ctx context.Context, tenant, role, name string, ttl time.Duration) (string, *phonefleet.Token, error) {
	var out struct {
		*phonefleet.Token
		Secret string `json:"token"`
	}
	out.Token = &phonefleet.Token{}
	err := a.send(ctx, http.MethodPost, "/tokens", map[string]any{"tenant": tenant, "role": role, "name": name, "ttl": ttl.String()}, &out)
	return out.Secret, out.Token, err
}

// Tokens lists tokens, of one tenant or all ("").
func (a *Admin) Tokens(ctx context.Context, tenant string) ([]*phonefleet.Token, error) {
	var out []*phonefleet.Token
	return out, a.get(ctx, "/tokens", tenantQuery(tenant), &out)
}

// RevokeToken revokes a token by its ID (or whole).
func (a *Admin) RevokeToken(ctx context.Context, id string) error {
	return a.send(ctx, http.MethodPost, "/tokens/"+url.PathEscape(phonefleet.TokenID(id))+"/revoke", nil, nil)
}

// CreateUser creates a tenant's user, or an operator when tenant is
// phonefleet.OperatorDomain.
func (a *Admin) CreateUser(ctx context.Context, tenant, name, role, password string) (*phonefleet.User, error) {
	var out phonefleet.User
	if tenant == phonefleet.OperatorDomain {
		return &out, a.send(ctx, http.MethodPost, "/operators", map[string]any{"name": name, "role": role, "password": password}, &out)
	}
	return &out, a.send(ctx, http.MethodPost, "/users", map[string]any{"tenant": tenant, "name": name, "role": role, "password": password}, &out)
}

// Users lists the users of a tenant or of all (""), or the operators
// (phonefleet.OperatorDomain).
func (a *Admin) Users(ctx context.Context, tenant string) ([]*phonefleet.User, error) {
	var out []*phonefleet.User
	if tenant == phonefleet.OperatorDomain {
		return out, a.get(ctx, "/operators", nil, &out)
	}
	return out, a.get(ctx, "/users", tenantQuery(tenant), &out)
}

// UpdateUser disables a user or sets a password (nil leaves it).
func (a *Admin) UpdateUser(ctx context.Context, tenant, name string, disable bool, password *string) (*phonefleet.User, error) {
	body := map[string]any{}
	if disable {
		body["disabled"] = true
	}
	if password != nil {
		body["password"] = *password
	}
	path := "/users/" + url.PathEscape(tenant) + "/" + url.PathEscape(name)
	if tenant == phonefleet.OperatorDomain {
		path = "/operators/" + url.PathEscape(name)
	}
	var out phonefleet.User
	return &out, a.send(ctx, http.MethodPost, path, body, &out)
}

// CreateAccessKey creates an access key of a tenant's user; its Secret is
// shown once.
func (a *Admin) CreateAccessKey(ctx context.Context, tenant, user string) (*phonefleet.AccessKey, error) {
	var out struct {
		ID     string `json:"access_key_id"`
		Secret string `json:"secret_access_key"`
	}
	if err := a.send(ctx, http.MethodPost, "/accesskeys", map[string]any{"tenant": tenant, "user": user}, &out); err != nil {
		return nil, err
	}
	return &phonefleet.AccessKey{ID: out.ID, Secret: out.Secret, TenantName: tenant, UserName: user}, nil
}

// AccessKeys lists access keys, of one tenant or all ("").
func (a *Admin) AccessKeys(ctx context.Context, tenant string) ([]*phonefleet.AccessKey, error) {
	var out []*phonefleet.AccessKey
	return out, a.get(ctx, "/accesskeys", tenantQuery(tenant), &out)
}

// DeleteAccessKey removes an access key.
func (a *Admin) DeleteAccessKey(ctx context.Context, id string) error {
	return a.send(ctx, http.MethodDelete, "/accesskeys/"+url.PathEscape(id), nil, nil)
}

// SKUs returns the whole catalogue, retired SKUs included.
func (a *Admin) SKUs(ctx context.Context) ([]*phonefleet.SKU, error) {
	var out []*phonefleet.SKU
	return out, a.get(ctx, "/skus", nil, &out)
}

// CreateSKU adds a SKU.
func (a *Admin) CreateSKU(ctx context.Context, s *phonefleet.SKU) error {
	return a.send(ctx, http.MethodPost, "/skus", map[string]any{
		"id": s.ID, "type": s.Type, "name": s.Name, "calc_spec": s.CalcSpec, "storage_spec": s.StorageSpec,
		"spec_desc": s.SpecDesc, "max_resolution": s.MaxResolution, "band_sizes": s.BandSizes, "regions": s.Regions,
		"month_price": s.MonthPrice, "year_price": s.YearPrice, "hour_price": s.HourPrice, "currency": s.Currency,
	}, nil)
}

// SetSKUPrice sets a SKU's prices in one of its regions.
func (a *Admin) SetSKUPrice(ctx context.Context, id string, p phonefleet.RegionPrice) (*phonefleet.SKU, error) {
	var out phonefleet.SKU
	return &out, a.send(ctx, http.MethodPost, "/skus/"+url.PathEscape(id)+"/prices", p, &out)
}

// RetireSKU stops selling a SKU.
func (a *Admin) RetireSKU(ctx context.Context, id string) (*phonefleet.SKU, error) {
	var out phonefleet.SKU
	return &out, a.send(ctx, http.MethodPost, "/skus/"+url.PathEscape(id)+"/retire", nil, &out)
}

// Jobs lists data-plane commands.
func (a *Admin) Jobs(ctx context.Context, f phonefleet.JobFilter) ([]*phonefleet.Command, error) {
	q := tenantQuery(f.Tenant)
	if q == nil {
		q = url.Values{}
	}
	if f.State != nil {
		q.Set("state", string(*f.State))
	}
	if f.Type != nil {
		q.Set("type", string(*f.Type))
	}
	if f.InstanceID != nil {
		q.Set("instance_id", *f.InstanceID)
	}
	if f.Limit > 0 {
		q.Set("limit", strconv.Itoa(f.Limit))
	}
	var out []*phonefleet.Command
	return out, a.get(ctx, "/jobs", q, &out)
}

// RetryJob makes a failed job pending again.
func (a *Admin) RetryJob(ctx context.Context, id string) error {
	return a.send(ctx, http.MethodPost, "/jobs/"+url.PathEscape(id)+"/retry", nil, nil)
}

// Audit returns audit events newest first, of one tenant or all (""),
// filtered and paged by f (its TenantID is ignored: tenant names it).
func (a *Admin) Audit(ctx context.Context, tenant string, f phonefleet.AuditFilter) ([]*phonefleet.AuditEvent, error) {
	q := url.Values{}
	if tenant != "" {
		q.Set("tenant", tenant)
	}
	for name, v := range map[string]*string{"action": f.Action, "instance_id": f.InstanceID, "actor": f.Actor} {
		if v != nil {
			q.Set(name, *v)
		}
	}
	for name, t := range map[string]*time.Time{"since": f.Since, "until": f.Until} {
		if t != nil {
			q.Set(name, t.UTC().Format(time.RFC3339Nano))
		}
	}
	if f.BeforeID > 0 {
		q.Set("before_id", strconv.FormatInt(f.BeforeID, 10))
	}
	if f.Limit > 0 {
		q.Set("limit", strconv.Itoa(f.Limit))
	}
	var out []*phonefleet.AuditEvent
	return out, a.get(ctx, "/audit", q, &out)
}

// Clock returns a tenant's business time (a server with --test-clock).
func (a *Admin) Clock(ctx context.Context, tenant string) (time.Time, error) {
	var out struct{ Now time.Time }
	err := a.get(ctx, "/clocks/"+url.PathEscape(tenant), nil, &out)
	return out.Now, err
}

// MoveClock moves a tenant's business time: to now when it is not nil,
// else forward by advance (a duration such as "121h"). It returns the new
// business time; the server audits the move.
func (a *Admin) MoveClock(ctx context.Context, tenant string, now *time.Time, advance string) (time.Time, error) {
	body := map[string]string{"advance": advance}
	if now != nil {
		body = map[string]string{"now": now.UTC().Format(time.RFC3339Nano)}
	}
	var out struct{ Now time.Time }
	err := a.send(ctx, http.MethodPost, "/clocks/"+url.PathEscape(tenant), body, &out)
	return out.Now, err
}

// Refunds lists refunds, of one tenant or all ("").
func (a *Admin) Refunds(ctx context.Context, tenant string) ([]*phonefleet.Refund, error) {
	var out []*phonefleet.Refund
	return out, a.get(ctx, "/refunds", tenantQuery(tenant), &out)
}
