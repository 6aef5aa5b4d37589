package http

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/phonefleet/phonefleet"
)

// AdminPrefix is where the admin API lives. Only operators (users of the
// operator domain, phonefleet.OperatorDomain) reach it: a request without
// valid credentials is 401 APIGW.0301 as everywhere, and one with a
// tenant's token or key is 404 APIGW.0101, as if the API did not exist.
// operator-viewer tokens may read; writes need operator-admin (1001
// otherwise). Every write, refused or done, is audited under the operator
// domain with the operator's name as the user.
const AdminPrefix = "/v1/phonefleet/admin"

// Audit actions of the admin API.
const (
	auditAdminTenantCreate   = "admin.tenantCreate"
	auditAdminTenantQuota    = "admin.tenantQuota"
	auditAdminTenantPeriods  = "admin.tenantPeriods"
	auditAdminTenantSuspend  = "admin.tenantSuspend"
	auditAdminTenantResume   = "admin.tenantResume"
	auditAdminTenantDelete   = "admin.tenantDelete"
	auditAdminTokenIssue     = "admin.tokenIssue"
	auditAdminTokenRevoke    = "admin.tokenRevoke"
	auditAdminUserCreate     = "admin.userCreate"
	auditAdminUserUpdate     = "admin.userUpdate"
	auditAdminAccessKeyNew   = "admin.accessKeyCreate"
	auditAdminAccessKeyDel   = "admin.accessKeyDelete"
	auditAdminSKUCreate      = "admin.skuCreate"
	auditAdminSKUPrice       = "admin.skuPrice"
	auditAdminSKURetire      = "admin.skuRetire"
	auditAdminJobRetry       = "admin.jobRetry"
	auditAdminOperatorCreate = "admin.operatorCreate"
	auditAdminOperatorUpdate = "admin.operatorUpdate"
)

// adminRoutes registers the admin API.
func (s *Server) adminRoutes() {
	tenantQ := []string{"tenant"}
	s.admin("GET /tenants", "", names{}, s.handleAdminTenants)
	s.admin("POST /tenants", auditAdminTenantCreate, names{Body: []string{"name", "max_instances"}}, s.handleAdminTenantCreate)
	s.admin("GET /tenants/{name}", "", names{}, s.handleAdminTenant)
	s.admin("POST /tenants/{name}/quota", auditAdminTenantQuota, names{Body: []string{"max_instances"}}, s.handleAdminTenantQuota)
	s.admin("POST /tenants/{name}/periods", auditAdminTenantPeriods, names{Body: []string{"grace_period", "retention_period"}}, s.handleAdminTenantPeriods)
	s.admin("POST /tenants/{name}/suspend", auditAdminTenantSuspend, names{}, s.handleAdminTenantSuspend(true))
	s.admin("POST /tenants/{name}/resume", auditAdminTenantResume, names{}, s.handleAdminTenantSuspend(false))
	s.admin("DELETE /tenants/{name}", auditAdminTenantDelete, names{}, s.handleAdminTenantDelete)

	s.admin("GET /tokens", "", names{Query: tenantQ}, s.handleAdminTokens)
	s.admin("POST /tokens", auditAdminTokenIssue, names{Body: []string{"tenant", "role", "ttl", "name"}}, s.handleAdminTokenIssue)
	s.admin("POST /tokens/{id}/revoke", auditAdminTokenRevoke, names{}, s.handleAdminTokenRevoke)

	s.admin("GET /users", "", names{Query: tenantQ}, s.handleAdminUsers)
	s.admin("POST /users", auditAdminUserCreate, names{Body: []string{"tenant", "name", "role", "password"}}, s.handleAdminUserCreate)
	s.admin("POST /users/{tenant}/{name}", auditAdminUserUpdate, names{Body: []string{"disabled", "password"}}, s.handleAdminUserUpdate)

	s.admin("GET /operators", "", names{}, s.handleAdminOperators)
	s.admin("POST /operators", auditAdminOperatorCreate, names{Body: []string{"name", "role", "password"}}, s.handleAdminOperatorCreate)
	s.admin("POST /operators/{name}", auditAdminOperatorUpdate, names{Body: []string{"disabled", "password"}}, s.handleAdminOperatorUpdate)

	s.admin("GET /accesskeys", "", names{Query: tenantQ}, s.handleAdminAccessKeys)
	s.admin("POST /accesskeys", auditAdminAccessKeyNew, names{Body: []string{"tenant", "user"}}, s.handleAdminAccessKeyCreate)
	s.admin("DELETE /accesskeys/{id}", auditAdminAccessKeyDel, names{}, s.handleAdminAccessKeyDelete)

	s.admin("GET /skus", "", names{}, s.handleAdminSKUs)
	s.admin("POST /skus", auditAdminSKUCreate, names{Body: skuMembers}, s.handleAdminSKUCreate)
	s.admin("POST /skus/{id}/prices", auditAdminSKUPrice, names{Body: []string{"region", "month_price", "year_price", "hour_price"}}, s.handleAdminSKUPrice)
	s.admin("POST /skus/{id}/retire", auditAdminSKURetire, names{}, s.handleAdminSKURetire)

	s.admin("GET /jobs", "", names{Query: []string{"tenant", "state", "type", "instance_id", "limit"}}, s.handleAdminJobs)
	s.admin("POST /jobs/{id}/retry", auditAdminJobRetry, names{}, s.handleAdminJobRetry)

	s.admin("GET /audit", "", names{Query: []string{"tenant", "limit", "action", "instance_id", "actor", "since", "until", "before_id"}}, s.handleAdminAudit)
	s.admin("GET /refunds", "", names{Query: tenantQ}, s.handleAdminRefunds)

	// Only with serve --test-clock; 404 otherwise, as for the tenants'.
	s.admin("GET /clocks/{tenant}", "", names{}, s.handleAdminClockGet)
	s.admin("POST /clocks/{tenant}", phonefleet.AuditActionClockMove, names{Body: []string{"advance", "now"}}, s.handleAdminClockSet)
}

// skuMembers are the body members of POST /v1/phonefleet/admin/skus.
var skuMembers = []string{"id", "type", "name", "calc_spec", "storage_spec", "spec_desc", "max_resolution",
	"band_sizes", "regions", "month_price", "year_price", "hour_price", "currency"}

// admin registers an admin route: "METHOD /path" under AdminPrefix. audit
// is the action a write is audited under ("" for a read, which any
// operator may make; a write needs phonefleet:admin:write).
func (s *Server) admin(route, audit string, n names, h http.HandlerFunc) {
	method, path, _ := strings.Cut(route, " ")
	n.Audit = audit
	inner := s.checkNames(n, h)
	action := phonefleet.ActionAdminRead
	if audit != "" {
		action = phonefleet.ActionAdminWrite
	}
	s.mux.Handle(method+" "+AdminPrefix+path, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, err := s.principal(r)
		if err != nil {
			Error(w, r, err)
			return
		}
		if !p.IsOperator() {
			Error(w, r, phonefleet.Errorf(phonefleet.ENoSuchAPI, "No API found for %s %s", r.Method, r.URL.Path))
			return
		}
		r = r.WithContext(phonefleet.NewContextWithPrincipal(r.Context(), p))
		if !p.Can(action) {
			err := phonefleet.Errorf(phonefleet.EForbidden, "the token lacks the action %s (operator-admin only)", action)
			if audit != "" {
				s.auditFailure(r, audit, nil, err)
			}
			Error(w, r, err)
			return
		}
		inner.ServeHTTP(w, r)
	}))
}

// adminOps returns the operations on the server's store.
func (s *Server) adminOps() *phonefleet.Admin {
	return &phonefleet.Admin{Store: s.Store, Now: s.sharedNow}
}

// adminError answers err from an admin operation: ENotFound and EConflict,
// which the tenant API never sends, become PHONEFLEET.ADMIN.0001 (404) and
// PHONEFLEET.ADMIN.0002 (409). A write's failure is audited.
func (s *Server) adminError(w http.ResponseWriter, r *http.Request, audit string, err error) {
	switch phonefleet.ErrorCode(err) {
	case phonefleet.ENotFound:
		err = phonefleet.Errorf(phonefleet.EAdminNotFound, "%s", phonefleet.ErrorMessage(err))
	case phonefleet.EConflict:
		err = phonefleet.Errorf(phonefleet.EAdminConflict, "%s", phonefleet.ErrorMessage(err))
	}
	if audit != "" {
		s.auditFailure(r, audit, nil, err)
	}
	Error(w, r, err)
}

// adminDone audits a write that succeeded (detail says what it did) and
// answers v.
func (s *Server) adminDone(w http.ResponseWriter, r *http.Request, audit, detail string, v any) {
	ctx := r.Context()
	p := phonefleet.PrincipalFromContext(ctx)
	e := &phonefleet.AuditEvent{
		TenantID: p.TenantID, TenantName: p.TenantName, TokenID: p.TokenID, UserName: p.UserName, Actor: p.Actor(),
		ClientAddr: clientAddr(r), Action: audit, RequestID: phonefleet.RequestIDFromContext(ctx),
		InstanceIDs: []string{}, ErrorCode: phonefleet.ECodeOK, Detail: detail,
	}
	if err := s.Store.CreateAuditEvent(context.WithoutCancel(ctx), e); err != nil {
		auditUnwrittenTotal.Inc()
		loggerFrom(ctx).Error("write audit event", "request_id", e.RequestID, "action", audit, "detail", detail, "error", err.Error())
	}
	writeData(w, r, v)
}

// adminBody is a decoded JSON object body of the admin API.
type adminBody map[string]json.RawMessage

// decodeAdminBody decodes the request's body, a JSON object.
func decodeAdminBody(r *http.Request) (adminBody, error) {
	body, err := readJSONBody(r)
	if err != nil {
		return nil, err
	}
	return decodeAdminObject(body)
}

// decodeAdminObject decodes a JSON object; every admin body is one.
func decodeAdminObject(body []byte) (adminBody, error) {
	obj, err := decodeObject(body)
	if err != nil {
		return nil, err
	}
	return adminBody(obj), nil
}

// str sets *dst to the string member name; required says whether it may
// be absent or empty.
func (b adminBody) str(name string, required bool, dst *string) error {
	if err := decodeString(b[name], name, dst); err != nil {
		return err
	} else if required && *dst == "" {
		return phonefleet.Errorf(phonefleet.EInvalid, "%s is required", name)
	}
	return phonefleet.CheckText(name, *dst)
}

// int sets *dst to the integer member name; required says whether it may
// be absent.
func (b adminBody) int(name string, required bool, dst *int) error {
	if required && isNull(b[name]) {
		return phonefleet.Errorf(phonefleet.EInvalid, "%s is required", name)
	}
	return decodeInt(b[name], name, dst)
}

// money sets *dst to the integer member name, minor units; required.
func (b adminBody) money(name string, dst *int64) error {
	var n int
	if err := b.int(name, true, &n); err != nil {
		return err
	} else if n <= 0 {
		return phonefleet.Errorf(phonefleet.EInvalid, "%s must be positive minor units", name)
	}
	*dst = int64(n)
	return nil
}

// flag sets *dst to the boolean member name.
func (b adminBody) flag(name string, dst *bool) error {
	v := b[name]
	if isNull(v) {
		return nil
	}
	if string(v) != "true" && string(v) != "false" {
		return phonefleet.Errorf(phonefleet.EInvalid, "%s must be true or false", name)
	}
	*dst = string(v) == "true"
	return nil
}

// strings sets *dst to the array of strings member name.
func (b adminBody) strings(name string, dst *[]string) error {
	v := b[name]
	if isNull(v) {
		return nil
	}
	if v[0] != '[' || json.Unmarshal(v, dst) != nil {
		return phonefleet.Errorf(phonefleet.EInvalid, "%s must be an array of strings", name)
	}
	for _, s := range *dst {
		if err := phonefleet.CheckText(name, s); err != nil {
			return err
		}
	}
	return nil
}

// queryLimit parses the limit query parameter: absent is 0 (no limit).
func queryLimit(r *http.Request) (int, error) {
	v := r.URL.Query().Get("limit")
	if v == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 || n > 1000000 {
		return 0, phonefleet.Errorf(phonefleet.EInvalid, "limit must be an integer 0-1000000")
	}
	return n, nil
}

func (s *Server) handleAdminTenants(w http.ResponseWriter, r *http.Request) {
	ts, err := s.adminOps().Tenants(r.Context())
	if err != nil {
		s.adminError(w, r, "", err)
		return
	}
	writeData(w, r, ts)
}

func (s *Server) handleAdminTenant(w http.ResponseWriter, r *http.Request) {
	t, err := s.adminOps().Tenant(r.Context(), r.PathValue("name"))
	if err != nil {
		s.adminError(w, r, "", err)
		return
	}
	writeData(w, r, t)
}

// adminTenantCreateRequest is the body of POST /tenants.
type adminTenantCreateRequest struct {
	Name         string
	MaxInstances int
}

func decodeAdminTenantCreate(body []byte) (*adminTenantCreateRequest, error) {
	b, err := decodeAdminObject(body)
	if err != nil {
		return nil, err
	}
	req := &adminTenantCreateRequest{MaxInstances: phonefleet.DefaultMaxInstances}
	if err := b.str("name", true, &req.Name); err != nil {
		return nil, err
	} else if err := b.int("max_instances", false, &req.MaxInstances); err != nil {
		return nil, err
	} else if err := phonefleet.ValidateTenantName(req.Name); err != nil {
		return nil, err
	} else if err := phonefleet.ValidateMaxInstances(req.MaxInstances); err != nil {
		return nil, err
	}
	return req, nil
}

func (s *Server) handleAdminTenantCreate(w http.ResponseWriter, r *http.Request) {
	body, err := readJSONBody(r)
	var req *adminTenantCreateRequest
	if err == nil {
		req, err = decodeAdminTenantCreate(body)
	}
	var t *phonefleet.Tenant
	if err == nil {
		t, err = s.adminOps().CreateTenant(r.Context(), req.Name, req.MaxInstances)
	}
	if err != nil {
		s.adminError(w, r, auditAdminTenantCreate, err)
		return
	}
	s.adminDone(w, r, auditAdminTenantCreate, fmt.Sprintf("tenant %s created (%s), max_instances %d", t.Name, t.ID, t.MaxInstances), t)
}

func (s *Server) handleAdminTenantQuota(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	b, err := decodeAdminBody(r)
	n := -1
	if err == nil {
		err = b.int("max_instances", true, &n)
	}
	if err == nil {
		err = phonefleet.ValidateMaxInstances(n)
	}
	var t *phonefleet.Tenant
	if err == nil {
		t, err = s.adminOps().UpdateTenantQuota(r.Context(), name, n)
	}
	if err != nil {
		s.adminError(w, r, auditAdminTenantQuota, err)
		return
	}
	s.adminDone(w, r, auditAdminTenantQuota, fmt.Sprintf("tenant %s max_instances %d", name, n), t)
}

// handleAdminTenantPeriods sets a tenant's own lifecycle periods:
// {"grace_period": "168h", "retention_period": "360h"}, either or both, Go
// durations from 0 to phonefleet.MaxLifecyclePeriod.
func (s *Server) handleAdminTenantPeriods(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	b, err := decodeAdminBody(r)
	var u phonefleet.TenantPeriodsUpdate
	for _, f := range []struct {
		name string
		dst  **time.Duration
	}{{"grace_period", &u.Grace}, {"retention_period", &u.Retention}} {
		var v string
		if err == nil {
			err = b.str(f.name, false, &v)
		}
		if err == nil && v != "" {
			d, perr := time.ParseDuration(v)
			if perr != nil {
				err = phonefleet.Errorf(phonefleet.EInvalid, "%s must be a duration such as \"360h\"", f.name)
			} else if err = phonefleet.ValidateLifecyclePeriod(f.name, d); err == nil {
				*f.dst = &d
			}
		}
	}
	if err == nil && u.Grace == nil && u.Retention == nil {
		err = phonefleet.Errorf(phonefleet.EInvalid, "grace_period or retention_period is required")
	}
	var t *phonefleet.Tenant
	if err == nil {
		t, err = s.adminOps().UpdateTenantPeriods(r.Context(), name, u)
	}
	if err != nil {
		s.adminError(w, r, auditAdminTenantPeriods, err)
		return
	}
	s.adminDone(w, r, auditAdminTenantPeriods, fmt.Sprintf("tenant %s periods %s", name, periodsDetail(u)), t)
}

// periodsDetail says which periods u sets, for the audit trail.
func periodsDetail(u phonefleet.TenantPeriodsUpdate) string {
	var parts []string
	if u.Grace != nil {
		parts = append(parts, "grace_period "+u.Grace.String())
	}
	if u.Retention != nil {
		parts = append(parts, "retention_period "+u.Retention.String())
	}
	return strings.Join(parts, ", ")
}

func (s *Server) handleAdminTenantSuspend(suspend bool) http.HandlerFunc {
	audit, verb := auditAdminTenantResume, "resumed"
	if suspend {
		audit, verb = auditAdminTenantSuspend, "suspended"
	}
	return func(w http.ResponseWriter, r *http.Request) {
		name := r.PathValue("name")
		t, err := s.adminOps().SetTenantSuspended(r.Context(), name, suspend)
		if err != nil {
			s.adminError(w, r, audit, err)
			return
		}
		s.forgetSuspensions()
		s.adminDone(w, r, audit, fmt.Sprintf("tenant %s %s", name, verb), t)
	}
}

func (s *Server) handleAdminTenantDelete(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	if err := s.adminOps().DeleteTenant(r.Context(), name); err != nil {
		s.adminError(w, r, auditAdminTenantDelete, err)
		return
	}
	s.adminDone(w, r, auditAdminTenantDelete, fmt.Sprintf("tenant %s deleted", name), nil)
}

func (s *Server) handleAdminTokens(w http.ResponseWriter, r *http.Request) {
	ts, err := s.adminOps().Tokens(r.Context(), r.URL.Query().Get("tenant"))
	if err != nil {
		s.adminError(w, r, "", err)
		return
	}
	writeData(w, r, ts)
}

// AdminIssuedToken is the data of POST /tokens: the token, whose secret
// (Token) is shown only this once.
type AdminIssuedToken struct {
	*phonefleet.Token
	Secret string `json:"token"`
}

// adminTokenRequest is the body of POST /tokens.
type adminTokenRequest struct {
	Tenant, Role, Name string
	TTL                time.Duration
}

func decodeAdminToken(body []byte) (*adminTokenRequest, error) {
	b, err := decodeAdminObject(body)
	if err != nil {
		return nil, err
	}
	req := &adminTokenRequest{Role: phonefleet.RoleAdmin, TTL: phonefleet.DefaultTokenTTL}
	var ttl string
	if err := b.str("tenant", true, &req.Tenant); err != nil {
		return nil, err
	} else if err := b.str("role", false, &req.Role); err != nil {
		return nil, err
	} else if err := b.str("name", false, &req.Name); err != nil {
		return nil, err
	} else if err := b.str("ttl", false, &ttl); err != nil {
		return nil, err
	}
	if req.Role == "" {
		req.Role = phonefleet.RoleAdmin
	}
	if _, err := phonefleet.RoleActions(req.Role); err != nil {
		return nil, err
	} else if len(req.Name) > 64 {
		return nil, phonefleet.Errorf(phonefleet.EInvalid, "name must be at most 64 characters")
	}
	if ttl != "" {
		d, err := time.ParseDuration(ttl)
		if err != nil || d <= 0 || d > 10*365*24*time.Hour {
			return nil, phonefleet.Errorf(phonefleet.EInvalid, "ttl must be a positive Go duration of at most 10 years, such as \"24h\"")
		}
		req.TTL = d
	}
	return req, nil
}

func (s *Server) handleAdminTokenIssue(w http.ResponseWriter, r *http.Request) {
	body, err := readJSONBody(r)
	var req *adminTokenRequest
	if err == nil {
		req, err = decodeAdminToken(body)
	}
	var secret string
	var tok *phonefleet.Token
	if err == nil {
		secret, tok, err = s.adminOps().IssueToken(r.Context(), req.Tenant, req.Role, req.Name, req.TTL)
	}
	if err != nil {
		s.adminError(w, r, auditAdminTokenIssue, err)
		return
	}
	s.adminDone(w, r, auditAdminTokenIssue, fmt.Sprintf("token %s issued to tenant %s, role %s, until %s", tok.ID, tok.TenantName, req.Role, tok.ExpiresAt.Format(time.RFC3339)),
		AdminIssuedToken{Token: tok, Secret: secret})
}

func (s *Server) handleAdminTokenRevoke(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if err := s.adminOps().RevokeToken(r.Context(), id); err != nil {
		s.adminError(w, r, auditAdminTokenRevoke, err)
		return
	}
	s.adminDone(w, r, auditAdminTokenRevoke, fmt.Sprintf("token %s revoked", phonefleet.TokenID(id)), nil)
}

func (s *Server) handleAdminUsers(w http.ResponseWriter, r *http.Request) {
	tenant := r.URL.Query().Get("tenant")
	if tenant == phonefleet.OperatorDomain {
		s.adminError(w, r, "", phonefleet.Errorf(phonefleet.EInvalid, "tenant %q is the operators' domain: see /operators", tenant))
		return
	}
	us, err := s.adminOps().Users(r.Context(), tenant)
	if err != nil {
		s.adminError(w, r, "", err)
		return
	}
	writeData(w, r, us)
}

// adminUserRequest is the body of POST /users and POST /operators.
type adminUserRequest struct {
	Tenant, Name, Role, Password string
}

// decodeAdminUser decodes a user (operator: the operator domain's) to
// create.
func decodeAdminUser(body []byte, operator bool) (*adminUserRequest, error) {
	b, err := decodeAdminObject(body)
	if err != nil {
		return nil, err
	}
	req := &adminUserRequest{Role: phonefleet.RoleAdmin}
	if operator {
		req.Tenant, req.Role = phonefleet.OperatorDomain, phonefleet.RoleOperatorAdmin
	} else if err := b.str("tenant", true, &req.Tenant); err != nil {
		return nil, err
	} else if req.Tenant == phonefleet.OperatorDomain {
		return nil, phonefleet.Errorf(phonefleet.EInvalid, "tenant %q is the operators' domain: see /operators", req.Tenant)
	}
	if err := b.str("name", true, &req.Name); err != nil {
		return nil, err
	} else if err := b.str("role", false, &req.Role); err != nil {
		return nil, err
	} else if err := decodeString(b["password"], "password", &req.Password); err != nil {
		return nil, err
	} else if !phonefleet.ValidUserName(req.Name) {
		return nil, phonefleet.Errorf(phonefleet.EInvalid, "name must be 1-64 characters of [A-Za-z0-9._@-], starting with a letter or digit")
	} else if _, err := phonefleet.UserRoleActions(req.Tenant, req.Role); err != nil {
		return nil, err
	} else if err := phonefleet.ValidatePassword(req.Password); err != nil {
		return nil, err
	}
	return req, nil
}

func (s *Server) createUser(w http.ResponseWriter, r *http.Request, audit string, operator bool) {
	body, err := readJSONBody(r)
	var req *adminUserRequest
	if err == nil {
		req, err = decodeAdminUser(body, operator)
	}
	var u *phonefleet.User
	if err == nil {
		u, err = s.adminOps().CreateUser(r.Context(), req.Tenant, req.Name, req.Role, req.Password)
	}
	if err != nil {
		s.adminError(w, r, audit, err)
		return
	}
	s.adminDone(w, r, audit, fmt.Sprintf("user %s of %s created, role %s", u.Name, req.Tenant, u.Role), u)
}

func (s *Server) handleAdminUserCreate(w http.ResponseWriter, r *http.Request) {
	s.createUser(w, r, auditAdminUserCreate, false)
}

func (s *Server) handleAdminOperatorCreate(w http.ResponseWriter, r *http.Request) {
	s.createUser(w, r, auditAdminOperatorCreate, true)
}

// adminUserUpdate is the body of POST /users/{tenant}/{name}: disable the
// user, or set a password.
type adminUserUpdate struct {
	Disabled bool
	Password *string
}

func decodeAdminUserUpdate(body []byte) (*adminUserUpdate, error) {
	b, err := decodeAdminObject(body)
	if err != nil {
		return nil, err
	}
	req := &adminUserUpdate{}
	if err := b.flag("disabled", &req.Disabled); err != nil {
		return nil, err
	}
	if !isNull(b["password"]) {
		var pw string
		if err := decodeString(b["password"], "password", &pw); err != nil {
			return nil, err
		} else if err := phonefleet.ValidatePassword(pw); err != nil {
			return nil, err
		}
		req.Password = &pw
	}
	if !req.Disabled && req.Password == nil {
		return nil, phonefleet.Errorf(phonefleet.EInvalid, "disabled (true) or password required")
	}
	return req, nil
}

func (s *Server) updateUser(w http.ResponseWriter, r *http.Request, audit, tenant, name string) {
	body, err := readJSONBody(r)
	var req *adminUserUpdate
	if err == nil {
		req, err = decodeAdminUserUpdate(body)
	}
	var u *phonefleet.User
	if err == nil {
		u, err = s.adminOps().UpdateUser(r.Context(), tenant, name, req.Disabled, req.Password)
	}
	if err != nil {
		s.adminError(w, r, audit, err)
		return
	}
	what := "password changed"
	if req.Disabled {
		what = "disabled"
	}
	s.adminDone(w, r, audit, fmt.Sprintf("user %s of %s %s", name, tenant, what), u)
}

func (s *Server) handleAdminUserUpdate(w http.ResponseWriter, r *http.Request) {
	tenant := r.PathValue("tenant")
	if tenant == phonefleet.OperatorDomain {
		s.adminError(w, r, auditAdminUserUpdate, phonefleet.Errorf(phonefleet.EInvalid, "tenant %q is the operators' domain: see /operators", tenant))
		return
	}
	s.updateUser(w, r, auditAdminUserUpdate, tenant, r.PathValue("name"))
}

func (s *Server) handleAdminOperatorUpdate(w http.ResponseWriter, r *http.Request) {
	s.updateUser(w, r, auditAdminOperatorUpdate, phonefleet.OperatorDomain, r.PathValue("name"))
}

func (s *Server) handleAdminOperators(w http.ResponseWriter, r *http.Request) {
	us, err := s.adminOps().Users(r.Context(), phonefleet.OperatorDomain)
	if phonefleet.ErrorCode(err) == phonefleet.ENotFound {
		us, err = []*phonefleet.User{}, nil // no operator yet
	}
	if err != nil {
		s.adminError(w, r, "", err)
		return
	}
	writeData(w, r, us)
}

func (s *Server) handleAdminAccessKeys(w http.ResponseWriter, r *http.Request) {
	ks, err := s.adminOps().AccessKeys(r.Context(), r.URL.Query().Get("tenant"))
	if err != nil {
		s.adminError(w, r, "", err)
		return
	}
	writeData(w, r, ks)
}

// AdminAccessKey is the data of POST /accesskeys: the secret is shown only
// this once.
type AdminAccessKey struct {
	ID     string `json:"access_key_id"`
	Secret string `json:"secret_access_key"`
}

func (s *Server) handleAdminAccessKeyCreate(w http.ResponseWriter, r *http.Request) {
	b, err := decodeAdminBody(r)
	var tenant, user string
	if err == nil {
		err = b.str("tenant", true, &tenant)
	}
	if err == nil {
		err = b.str("user", true, &user)
	}
	var k *phonefleet.AccessKey
	if err == nil {
		k, err = s.adminOps().CreateAccessKey(r.Context(), tenant, user)
	}
	if err != nil {
		s.adminError(w, r, auditAdminAccessKeyNew, err)
		return
	}
	s.adminDone(w, r, auditAdminAccessKeyNew, fmt.Sprintf("access key %s created for user %s of %s", k.ID, user, tenant), AdminAccessKey{ID: k.ID, Secret: k.Secret})
}

func (s *Server) handleAdminAccessKeyDelete(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if err := s.adminOps().DeleteAccessKey(r.Context(), id); err != nil {
		s.adminError(w, r, auditAdminAccessKeyDel, err)
		return
	}
	s.adminDone(w, r, auditAdminAccessKeyDel, fmt.Sprintf("access key %s deleted", id), nil)
}

func (s *Server) handleAdminSKUs(w http.ResponseWriter, r *http.Request) {
	skus, err := s.adminOps().SKUs(r.Context())
	if err != nil {
		s.adminError(w, r, "", err)
		return
	}
	writeData(w, r, skus)
}

// decodeAdminSKU decodes a SKU to add; the domain validates it.
func decodeAdminSKU(body []byte) (*phonefleet.SKU, error) {
	b, err := decodeAdminObject(body)
	if err != nil {
		return nil, err
	}
	sku := &phonefleet.SKU{Currency: phonefleet.Currency}
	for _, f := range []struct {
		name string
		dst  *string
	}{{"id", &sku.ID}, {"type", &sku.Type}, {"name", &sku.Name}, {"calc_spec", &sku.CalcSpec}, {"storage_spec", &sku.StorageSpec},
		{"spec_desc", &sku.SpecDesc}, {"max_resolution", &sku.MaxResolution}, {"currency", &sku.Currency}} {
		if err := b.str(f.name, false, f.dst); err != nil {
			return nil, err
		}
	}
	if err := b.strings("regions", &sku.Regions); err != nil {
		return nil, err
	}
	if v := b["band_sizes"]; !isNull(v) {
		var sizes []int
		if v[0] != '[' || json.Unmarshal(v, &sizes) != nil {
			return nil, phonefleet.Errorf(phonefleet.EInvalid, "band_sizes must be an array of integers")
		}
		sku.BandSizes = sizes
	}
	for _, f := range []struct {
		name string
		dst  *int64
	}{{"month_price", &sku.MonthPrice}, {"year_price", &sku.YearPrice}, {"hour_price", &sku.HourPrice}} {
		if err := b.money(f.name, f.dst); err != nil {
			return nil, err
		}
	}
	if err := sku.Validate(); err != nil {
		return nil, err
	}
	return sku, nil
}

func (s *Server) handleAdminSKUCreate(w http.ResponseWriter, r *http.Request) {
	body, err := readJSONBody(r)
	var sku *phonefleet.SKU
	if err == nil {
		sku, err = decodeAdminSKU(body)
	}
	if err == nil {
		err = s.adminOps().CreateSKU(r.Context(), sku)
	}
	if err != nil {
		s.adminError(w, r, auditAdminSKUCreate, err)
		return
	}
	s.adminDone(w, r, auditAdminSKUCreate, fmt.Sprintf("sku %s added in %v", sku.ID, sku.Regions), sku)
}

func decodeAdminPrice(body []byte) (*phonefleet.RegionPrice, error) {
	b, err := decodeAdminObject(body)
	if err != nil {
		return nil, err
	}
	p := &phonefleet.RegionPrice{}
	if err := b.str("region", true, &p.Region); err != nil {
		return nil, err
	} else if err := b.money("month_price", &p.MonthPrice); err != nil {
		return nil, err
	} else if err := b.money("year_price", &p.YearPrice); err != nil {
		return nil, err
	} else if err := b.money("hour_price", &p.HourPrice); err != nil {
		return nil, err
	} else if err := p.Validate(); err != nil {
		return nil, err
	}
	return p, nil
}

func (s *Server) handleAdminSKUPrice(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	body, err := readJSONBody(r)
	var p *phonefleet.RegionPrice
	if err == nil {
		p, err = decodeAdminPrice(body)
	}
	var sku *phonefleet.SKU
	if err == nil {
		sku, err = s.adminOps().SetSKUPrice(r.Context(), id, *p)
	}
	if err != nil {
		s.adminError(w, r, auditAdminSKUPrice, err)
		return
	}
	s.adminDone(w, r, auditAdminSKUPrice, fmt.Sprintf("sku %s in %s: month %s, year %s, hour %s", id, p.Region,
		phonefleet.FormatMoney(p.MonthPrice, sku.Currency), phonefleet.FormatMoney(p.YearPrice, sku.Currency), phonefleet.FormatMoney(p.HourPrice, sku.Currency)), sku)
}

func (s *Server) handleAdminSKURetire(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	sku, err := s.adminOps().RetireSKU(r.Context(), id)
	if err != nil {
		s.adminError(w, r, auditAdminSKURetire, err)
		return
	}
	s.adminDone(w, r, auditAdminSKURetire, fmt.Sprintf("sku %s retired", id), sku)
}

func (s *Server) handleAdminJobs(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f := phonefleet.JobFilter{Tenant: q.Get("tenant")}
	var err error
	if v := q.Get("state"); v != "" {
		st := phonefleet.JobState(v)
		if !st.Valid() {
			err = phonefleet.Errorf(phonefleet.EInvalid, "state %q is not a job state", v)
		}
		f.State = &st
	}
	if v := q.Get("type"); v != "" && err == nil {
		t := phonefleet.CommandType(v)
		if !t.Valid() {
			err = phonefleet.Errorf(phonefleet.EInvalid, "type %q is not a job type", v)
		}
		f.Type = &t
	}
	if v := q.Get("instance_id"); v != "" {
		f.InstanceID = &v
	}
	if err == nil {
		f.Limit, err = queryLimit(r)
	}
	var jobs []*phonefleet.Command
	if err == nil {
		jobs, err = s.adminOps().Jobs(r.Context(), f)
	}
	if err != nil {
		s.adminError(w, r, "", err)
		return
	}
	writeData(w, r, jobs)
}

func (s *Server) handleAdminJobRetry(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if err := s.adminOps().RetryJob(r.Context(), id); err != nil {
		s.adminError(w, r, auditAdminJobRetry, err)
		return
	}
	if s.OnCommand != nil {
		s.OnCommand()
	}
	s.adminDone(w, r, auditAdminJobRetry, fmt.Sprintf("job %s retried", id), nil)
}

func (s *Server) handleAdminAudit(w http.ResponseWriter, r *http.Request) {
	limit, err := queryLimit(r)
	var filter phonefleet.AuditFilter
	if err == nil {
		filter, _, _, _, err = parseAuditQuery(r.URL.Query())
	}
	var events []*phonefleet.AuditEvent
	if err == nil {
		filter.Limit = limit
		events, err = s.adminOps().Audit(r.Context(), r.URL.Query().Get("tenant"), filter)
	}
	if err != nil {
		s.adminError(w, r, "", err)
		return
	}
	writeData(w, r, events)
}

func (s *Server) handleAdminRefunds(w http.ResponseWriter, r *http.Request) {
	refunds, err := s.adminOps().Refunds(r.Context(), r.URL.Query().Get("tenant"))
	if err != nil {
		s.adminError(w, r, "", err)
		return
	}
	writeData(w, r, refunds)
}

// adminClockTenant returns the tenant of a clock route, or answers: 404
// APIGW.0101 without a test clock, 404 PHONEFLEET.ADMIN.0001 for an
// unknown tenant.
func (s *Server) adminClockTenant(w http.ResponseWriter, r *http.Request, audit string) (*phonefleet.Tenant, bool) {
	if s.TestClock == nil {
		Error(w, r, phonefleet.Errorf(phonefleet.ENoSuchAPI, "No API found for %s %s", r.Method, r.URL.Path))
		return nil, false
	}
	name := r.PathValue("tenant")
	if name == phonefleet.OperatorDomain {
		s.adminError(w, r, audit, phonefleet.Errorf(phonefleet.EInvalid, "tenant %q is the operators' domain, not a tenant", name))
		return nil, false
	}
	t, err := s.Store.FindTenantByName(r.Context(), name)
	if err != nil {
		s.adminError(w, r, audit, err)
		return nil, false
	}
	return t, true
}

// adminClock is the data of the admin clock routes.
type adminClock struct {
	Tenant string `json:"tenant"`
	Now    string `json:"now"`
}

func (s *Server) handleAdminClockGet(w http.ResponseWriter, r *http.Request) {
	t, ok := s.adminClockTenant(w, r, "")
	if !ok {
		return
	}
	now, err := s.TestClock.BusinessNow(r.Context(), t.ID)
	if err != nil {
		s.adminError(w, r, "", err)
		return
	}
	writeData(w, r, adminClock{Tenant: t.Name, Now: now.UTC().Format(time.RFC3339Nano)})
}

// handleAdminClockSet moves a tenant's test clock as POST /v1/_test/clock
// does for the caller's own tenant; the store audits the move under the
// tenant, with the operator as the user.
func (s *Server) handleAdminClockSet(w http.ResponseWriter, r *http.Request) {
	t, ok := s.adminClockTenant(w, r, phonefleet.AuditActionClockMove)
	if !ok {
		return
	}
	plan, err := s.moveClock(r, t.ID)
	if err != nil {
		s.adminError(w, r, phonefleet.AuditActionClockMove, err)
		return
	}
	writeData(w, r, adminClock{Tenant: t.Name, Now: plan.New.Format(time.RFC3339Nano)})
}
