package http

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"runtime"
	"strings"

	"github.com/phonefleet/phonefleet"
)

// IAM (Keystone) shapes of POST /v3/auth/tokens, GET /v3/projects and
// GET /v3/auth/domains, so that a client configured with an IAM endpoint
// works unchanged.

// iamTimeLayout is IAM's time format: ISO 8601, UTC, microseconds.
const iamTimeLayout = "2006-01-02T15:04:05.000000Z"

// Messages of the IAM error body.
const (
	msgIAMWrongPassword = "The username or password is wrong."
	msgIAMUserLocked    = "The account is locked for 5 minutes after too many failed attempts; try again later."
	msgIAMAddressLocked = "Too many failed sign-ins from this address; try again later."
	msgIAMInternal      = "Internal service error."
)

// maxIAMPasswordLen bounds the password of a request; longer is a bad
// request, never a hash of megabytes.
const maxIAMPasswordLen = 1024

// iamTokenRequest is the decoded password body of POST /v3/auth/tokens.
type iamTokenRequest struct {
	Domain   string // password.user.domain.name: the tenant
	User     string
	Password string
	// Scope: a project by name (a region) or ID, possibly with its
	// domain, or the domain by name or ID.
	ProjectName       string
	ProjectID         string
	ProjectDomainName string
	ProjectDomainID   string
	DomainScope       bool
	ScopeDomainName   string
	ScopeDomainID     string
}

// iamErrorResponse is the Keystone error body.
type iamErrorResponse struct {
	Error iamError `json:"error"`
}

type iamError struct {
	Code    int    `json:"code"`
	Title   string `json:"title"`
	Message string `json:"message"`
}

// writeIAMError writes the Keystone error body with status.
func writeIAMError(w http.ResponseWriter, r *http.Request, status int, msg string) {
	errorsTotal.WithLabelValues("IAM." + http.StatusText(status)).Inc()
	writeJSON(w, r, status, iamErrorResponse{Error: iamError{Code: status, Title: http.StatusText(status), Message: msg}})
}

// iamFail answers err in the Keystone shape: EInvalid as 400 (413 for an
// oversized body) with its message, anything else as a logged 500.
func iamFail(w http.ResponseWriter, r *http.Request, err error) {
	if phonefleet.ErrorCode(err) == phonefleet.EInvalid {
		status := http.StatusBadRequest
		var se *statusError
		if errors.As(err, &se) {
			status = se.status
		}
		writeIAMError(w, r, status, phonefleet.ErrorMessage(err))
		return
	}
	loggerFrom(r.Context()).Error("internal error",
		"request_id", phonefleet.RequestIDFromContext(r.Context()),
		"method", r.Method, "path", r.URL.Path, "error", err.Error())
	writeIAMError(w, r, http.StatusInternalServerError, msgIAMInternal)
}

type iamTokenResponse struct {
	Token iamToken `json:"token"`
}

type iamToken struct {
	ExpiresAt string        `json:"expires_at"`
	IssuedAt  string        `json:"issued_at"`
	Methods   []string      `json:"methods"`
	Project   iamProjectRef `json:"project"`
	Domain    *iamDomainRef `json:"domain,omitempty"` // only for a domain-scoped token
	Roles     []iamRole     `json:"roles"`
	User      iamUserRef    `json:"user"`
	Catalog   *[]iamService `json:"catalog,omitempty"`
}

type iamDomainRef struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

type iamProjectRef struct {
	ID     string       `json:"id"`
	Name   string       `json:"name"`
	Domain iamDomainRef `json:"domain"`
}

type iamRole struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

type iamUserRef struct {
	ID     string       `json:"id"`
	Name   string       `json:"name"`
	Domain iamDomainRef `json:"domain"`
}

type iamService struct {
	ID        string        `json:"id"`
	Name      string        `json:"name"`
	Type      string        `json:"type"`
	Endpoints []iamEndpoint `json:"endpoints"`
}

type iamEndpoint struct {
	ID        string `json:"id"`
	Interface string `json:"interface"`
	Region    string `json:"region"`
	RegionID  string `json:"region_id"`
	URL       string `json:"url"`
}

// handleIAMTokenCreate answers POST /v3/auth/tokens: a tenant user's
// password for a 24-hour token in X-Subject-Token. The request needs no
// other credentials (an Authorization header is ignored). A wrong tenant,
// user or password, a disabled user and a scope outside the user's tenant
// all get the same 401 after the same hashing work; five failures in a row
// for one name lock it for 5 minutes, and failures are limited per client
// address too. An attempt counts against both limits while its password is
// checked, so simultaneous attempts get no more checks than the limits.
func (s *Server) handleIAMTokenCreate(w http.ResponseWriter, r *http.Request) {
	q, err := strictQuery(r)
	if err == nil {
		err = knownParams(q, "nocatalog")
	}
	var body []byte
	if err == nil {
		body, err = readJSONBody(r)
	}
	var req *iamTokenRequest
	if err == nil {
		req, err = decodeIAMTokenRequest(body)
	}
	if err != nil {
		iamFail(w, r, err)
		return
	}

	// Reserve the attempt against the address and the name before the
	// password is checked, so that simultaneous guesses cannot all be
	// checked before the first failure is counted.
	res, msg := s.reserveSignIn(clientAddr(r), req.Domain+"\x00"+req.User, s.Now())
	if res == nil {
		writeIAMError(w, r, http.StatusTooManyRequests, msg)
		return
	}
	// Whatever goes wrong (an internal error, a panic), the reservation
	// ends.
	defer res.abandon()

	u, ok, err := s.checkPassword(r.Context(), req)
	if err != nil {
		iamFail(w, r, err)
		return
	}
	if !ok {
		res.fail()
		writeIAMError(w, r, http.StatusUnauthorized, msgIAMWrongPassword)
		return
	}
	res.succeed()

	actions, err := phonefleet.UserRoleActions(u.TenantName, u.Role)
	role := u.Role
	if u.TenantName == phonefleet.OperatorDomain {
		role = phonefleet.OperatorRole(role)
	}
	if err != nil {
		iamFail(w, r, err)
		return
	}
	secret, id := phonefleet.NewTokenSecret()
	issued := s.sharedNow().UTC()
	tok := &phonefleet.Token{
		ID: id, TenantID: u.TenantID, TenantName: u.TenantName, UserID: u.ID, UserName: u.Name, Name: "iam",
		Actions: actions, Hash: phonefleet.HashToken(secret), CreatedAt: issued, ExpiresAt: issued.Add(phonefleet.DefaultTokenTTL),
	}
	if err := s.Store.CreateToken(r.Context(), tok); err != nil {
		iamFail(w, r, err)
		return
	}

	domain := iamDomainRef{ID: u.TenantID, Name: u.TenantName}
	project := iamProjectRef{ID: u.TenantID, Name: req.ProjectName, Domain: domain}
	if project.Name == "" {
		project.Name = u.TenantName
	}
	resp := iamTokenResponse{Token: iamToken{
		ExpiresAt: tok.ExpiresAt.Format(iamTimeLayout), IssuedAt: tok.CreatedAt.Format(iamTimeLayout),
		Methods: []string{"password"}, Project: project,
		Roles: []iamRole{{ID: role, Name: role}},
		User:  iamUserRef{ID: u.ID, Name: u.Name, Domain: domain},
	}}
	if req.DomainScope {
		resp.Token.Domain = &domain
	}
	if q.Get("nocatalog") == "" {
		catalog := []iamService{{
			ID: "koophone", Name: "koophone", Type: "koophone",
			Endpoints: []iamEndpoint{{ID: "koophone-public", Interface: "public", Region: project.Name, RegionID: project.Name, URL: baseURL(r)}},
		}}
		resp.Token.Catalog = &catalog
	}
	w.Header().Set("X-Subject-Token", secret)
	writeJSON(w, r, http.StatusCreated, resp)
}

// checkPassword finds the user and checks the password and the scope, with
// exactly one Argon2id verification whatever the outcome: an unknown tenant
// or user is checked against the dummy hash, and a disabled user's password
// or a refused scope's is still checked. Verifications run at most
// passwordSlots at a time, which bounds their memory.
func (s *Server) checkPassword(ctx context.Context, req *iamTokenRequest) (*phonefleet.User, bool, error) {
	u, err := s.Store.FindUser(ctx, req.Domain, req.User)
	hash := phonefleet.DummyPasswordHash()
	if phonefleet.ErrorCode(err) == phonefleet.ENotFound {
		u = nil
	} else if err != nil {
		return nil, false, err
	} else {
		hash = u.PasswordHash
	}

	select {
	case s.passwordSlots <- struct{}{}:
	case <-ctx.Done():
		return nil, false, ctx.Err()
	}
	passwordChecksTotal.Inc()
	ok := s.verifyPassword(hash, req.Password)
	<-s.passwordSlots
	return u, ok && u != nil && !u.Disabled && req.scopeAllows(u), nil
}

// scopeAllows reports whether the scope asked for is the user's own
// tenant: a domain named by the tenant's name or ID, a project (a region)
// with no domain or the tenant's, or the project ID the tenant's ID (as
// GET /v3/projects answers). Keystone refuses a scope the user has no role
// in; the token is always of the user's tenant.
func (req *iamTokenRequest) scopeAllows(u *phonefleet.User) bool {
	own := func(name, id string) bool {
		return (name == "" || name == u.TenantName) && (id == "" || id == u.TenantID)
	}
	return own(req.ScopeDomainName, req.ScopeDomainID) && own(req.ProjectDomainName, req.ProjectDomainID) && own("", req.ProjectID)
}

// defaultPasswordSlots is how many password verifications run at once:
// the cores, and at most 8 (8 × 19 MiB of Argon2id memory).
func defaultPasswordSlots() int { return min(max(runtime.NumCPU(), 1), 8) }

// baseURL is the scheme and host the client used to reach the server.
func baseURL(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

// knownParams returns EInvalid naming the first query parameter that is not
// one of names.
func knownParams(q url.Values, names ...string) error {
	for k := range q {
		found := false
		for _, n := range names {
			found = found || k == n
		}
		if !found {
			return phonefleet.Errorf(phonefleet.EInvalid, "unknown query parameter %q", k)
		}
	}
	return nil
}

// decodeIAMTokenRequest decodes the IAM password body:
//
//	{"auth": {"identity": {"methods": ["password"], "password": {"user":
//	  {"name": "...", "password": "...", "domain": {"name": "<tenant>"}}}},
//	  "scope": {"project": {"name": "<region>"}} or {"domain": {...}}}}
//
// Errors are EInvalid naming the field. A member whose name differs from a
// known one only by case, "_" or "-" is refused as a likely misspelling;
// other unknown members are ignored.
func decodeIAMTokenRequest(body []byte) (*iamTokenRequest, error) {
	root, err := decodeObject(body)
	if err != nil {
		return nil, err
	}
	auth, err := iamObject(root, "auth", "auth", true, "identity", "scope")
	if err != nil {
		return nil, err
	}
	identity, err := iamObject(auth, "identity", "auth.identity", true, "methods", "password")
	if err != nil {
		return nil, err
	}
	var methods []string
	if v := identity["methods"]; isNull(v) {
		return nil, phonefleet.Errorf(phonefleet.EInvalid, "auth.identity.methods is required")
	} else if v[0] != '[' || json.Unmarshal(v, &methods) != nil {
		return nil, phonefleet.Errorf(phonefleet.EInvalid, "auth.identity.methods must be an array of strings")
	} else if len(methods) != 1 || methods[0] != "password" {
		return nil, phonefleet.Errorf(phonefleet.EInvalid, `auth.identity.methods must be ["password"]`)
	}
	password, err := iamObject(identity, "password", "auth.identity.password", true, "user")
	if err != nil {
		return nil, err
	}
	user, err := iamObject(password, "user", "auth.identity.password.user", true, "name", "password", "domain")
	if err != nil {
		return nil, err
	}
	domain, err := iamObject(user, "domain", "auth.identity.password.user.domain", true, "name")
	if err != nil {
		return nil, err
	}
	req := &iamTokenRequest{}
	for _, f := range []struct {
		obj   map[string]json.RawMessage
		name  string
		field string
		dst   *string
		max   int
	}{
		{user, "name", "auth.identity.password.user.name", &req.User, 64},
		{user, "password", "auth.identity.password.user.password", &req.Password, maxIAMPasswordLen},
		{domain, "name", "auth.identity.password.user.domain.name", &req.Domain, 64},
	} {
		if err := iamString(f.obj, f.name, f.field, f.dst, f.max, true); err != nil {
			return nil, err
		}
	}

	scope, err := iamObject(auth, "scope", "auth.scope", false, "project", "domain")
	if err != nil || scope == nil {
		return req, err
	}
	project, err := iamObject(scope, "project", "auth.scope.project", false, "name", "id", "domain")
	if err != nil {
		return nil, err
	}
	scopeDomain, err := iamObject(scope, "domain", "auth.scope.domain", false, "name", "id")
	if err != nil {
		return nil, err
	}
	switch {
	case project != nil && scopeDomain != nil:
		return nil, phonefleet.Errorf(phonefleet.EInvalid, "auth.scope must name a project or a domain, not both")
	case project != nil:
		if err := iamString(project, "name", "auth.scope.project.name", &req.ProjectName, 64, false); err != nil {
			return nil, err
		} else if err := iamString(project, "id", "auth.scope.project.id", &req.ProjectID, 64, false); err != nil {
			return nil, err
		} else if req.ProjectName == "" && req.ProjectID == "" {
			return nil, phonefleet.Errorf(phonefleet.EInvalid, "auth.scope.project needs a name or an id")
		}
		projectDomain, err := iamObject(project, "domain", "auth.scope.project.domain", false, "name", "id")
		if err != nil {
			return nil, err
		} else if err := iamString(projectDomain, "name", "auth.scope.project.domain.name", &req.ProjectDomainName, 64, false); err != nil {
			return nil, err
		} else if err := iamString(projectDomain, "id", "auth.scope.project.domain.id", &req.ProjectDomainID, 64, false); err != nil {
			return nil, err
		}
	case scopeDomain != nil:
		if err := iamString(scopeDomain, "name", "auth.scope.domain.name", &req.ScopeDomainName, 64, false); err != nil {
			return nil, err
		} else if err := iamString(scopeDomain, "id", "auth.scope.domain.id", &req.ScopeDomainID, 64, false); err != nil {
			return nil, err
		}
		req.DomainScope = true
	}
	return req, nil
}

// iamObject returns the member name of obj as an object (nil if absent and
// not required), after refusing members of obj that misspell one of its
// known names. field is the member's path for errors.
func iamObject(obj map[string]json.RawMessage, name, field string, required bool, known ...string) (map[string]json.RawMessage, error) {
	v := obj[name]
	if isNull(v) {
		if required {
			return nil, phonefleet.Errorf(phonefleet.EInvalid, "%s is required", field)
		}
		return nil, nil
	}
	members, ok, dup := objectMembers(v)
	if !ok {
		return nil, phonefleet.Errorf(phonefleet.EInvalid, "%s must be an object", field)
	} else if dup != "" {
		return nil, phonefleet.Errorf(phonefleet.EInvalid, "%s has member %q more than once", field, dup)
	}
	if err := checkNearNames(members, field+": ", known...); err != nil {
		return nil, err
	}
	return members, nil
}

// iamString sets *dst to the string member name of obj: at most max bytes
// of valid UTF-8 without control characters, non-empty if required.
func iamString(obj map[string]json.RawMessage, name, field string, dst *string, max int, required bool) error {
	v := obj[name]
	if isNull(v) {
		if required {
			return phonefleet.Errorf(phonefleet.EInvalid, "%s is required", field)
		}
		return nil
	}
	if v[0] != '"' || json.Unmarshal(v, dst) != nil {
		return phonefleet.Errorf(phonefleet.EInvalid, "%s must be a string", field)
	}
	if required && *dst == "" {
		return phonefleet.Errorf(phonefleet.EInvalid, "%s is required", field)
	} else if len(*dst) > max {
		return phonefleet.Errorf(phonefleet.EInvalid, "%s must be at most %d bytes", field, max)
	} else if strings.ContainsFunc(*dst, func(r rune) bool { return r < 0x20 || r == 0x7f || r == '\uFFFD' }) {
		return phonefleet.Errorf(phonefleet.EInvalid, "%s must be valid UTF-8 without control characters", field)
	}
	return nil
}

type iamProjectsResponse struct {
	Projects []iamProject `json:"projects"`
}

type iamProject struct {
	ID       string `json:"id"`
	Name     string `json:"name"`
	DomainID string `json:"domain_id"`
	Enabled  bool   `json:"enabled"`
}

type iamDomainsResponse struct {
	Domains []iamDomain `json:"domains"`
}

type iamDomain struct {
	ID      string `json:"id"`
	Name    string `json:"name"`
	Enabled bool   `json:"enabled"`
}

// handleIAMProjects answers GET /v3/projects?name=<region>, which Huawei's
// SDKs call to learn a project ID: the caller's tenant, named as asked.
func (s *Server) handleIAMProjects(w http.ResponseWriter, r *http.Request) {
	q, err := strictQuery(r)
	if err == nil {
		err = knownParams(q, "name", "domain_id", "enabled", "parent_id", "is_domain", "page", "per_page")
	}
	if err != nil {
		iamFail(w, r, err)
		return
	}
	p := phonefleet.PrincipalFromContext(r.Context())
	name := q.Get("name")
	if name == "" {
		name = p.TenantName
	}
	writeJSON(w, r, http.StatusOK, iamProjectsResponse{Projects: []iamProject{{ID: p.TenantID, Name: name, DomainID: p.TenantID, Enabled: true}}})
}

// handleIAMDomains answers GET /v3/auth/domains, which Huawei's SDKs call
// to learn a domain ID: the caller's tenant.
func (s *Server) handleIAMDomains(w http.ResponseWriter, r *http.Request) {
	if q, err := strictQuery(r); err != nil || len(q) > 0 {
		if err == nil {
			err = knownParams(q)
		}
		iamFail(w, r, err)
		return
	}
	p := phonefleet.PrincipalFromContext(r.Context())
	writeJSON(w, r, http.StatusOK, iamDomainsResponse{Domains: []iamDomain{{ID: p.TenantID, Name: p.TenantName, Enabled: true}}})
}
