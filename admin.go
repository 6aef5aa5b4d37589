package phonefleet

import (
	"context"
	"time"
)

// Admin is what operators do, on a store: the operator CLI runs it on a
// database it opens, and the admin API (/v1/phonefleet/admin/) on the
// server's. Tenants are named, as operators name them; "" as a tenant
// filter means every tenant. Errors: EInvalid naming the field at fault,
// ENotFound for an unknown tenant, user, token, SKU or job, EConflict for
// a name taken or a tenant that still holds instances.
type Admin struct {
	Store Store
	// Now is the clock tokens are issued by; default the store's shared
	// clock (the database server's on PostgreSQL), else time.Now.
	Now func() time.Time
}

func (a *Admin) now() time.Time {
	if a.Now != nil {
		return a.Now().UTC()
	} else if c, ok := a.Store.(interface{ Clock() time.Time }); ok {
		return c.Clock().UTC()
	}
	return time.Now().UTC()
}

// Tenants returns every tenant but the operator domain, with its phones by
// state.
func (a *Admin) Tenants(ctx context.Context) ([]*TenantUsage, error) {
	ts, err := a.Store.FindTenants(ctx)
	if err != nil {
		return nil, err
	}
	counts, err := a.Store.CountInstancesByState(ctx)
	if err != nil {
		return nil, err
	}
	money, err := a.Store.SumMonthMoney(ctx)
	if err != nil {
		return nil, err
	}
	month := MonthKey(a.now())
	out := make([]*TenantUsage, 0, len(ts))
	for _, t := range ts {
		if t.Name == OperatorDomain {
			continue
		}
		out = append(out, newTenantUsage(t, counts[t.ID], money[t.ID], month))
	}
	return out, nil
}

// newTenantUsage builds a tenant's usage; month is the month of a tenant
// with no money to show (the store's clock's).
func newTenantUsage(t *Tenant, counts map[InstanceState]int, m MonthMoney, month string) *TenantUsage {
	u := &TenantUsage{Tenant: t, Instances: map[InstanceState]int{InstanceStateRunning: 0, InstanceStateDeleting: 0, InstanceStateReleased: 0}, MonthMoney: m}
	for state, n := range counts {
		u.Instances[state] = n
	}
	if u.Month == "" {
		u.Month = month
	}
	u.Currency = Currency
	return u
}

// Tenant returns one tenant with its phones by state.
func (a *Admin) Tenant(ctx context.Context, name string) (*TenantUsage, error) {
	t, err := a.tenant(ctx, name)
	if err != nil {
		return nil, err
	}
	counts, err := a.Store.CountInstancesByState(ctx)
	if err != nil {
		return nil, err
	}
	money, err := a.Store.SumMonthMoney(ctx)
	if err != nil {
		return nil, err
	}
	return newTenantUsage(t, counts[t.ID], money[t.ID], MonthKey(a.now())), nil
}

// tenant finds a customer tenant by name: the operator domain is none.
func (a *Admin) tenant(ctx context.Context, name string) (*Tenant, error) {
	if name == OperatorDomain {
		return nil, Errorf(EInvalid, "tenant %q is the operators' domain, not a tenant", name)
	}
	return a.Store.FindTenantByName(ctx, name)
}

// tenantFilter resolves a tenant name filter to an ID filter.
func (a *Admin) tenantFilter(ctx context.Context, name string) (*string, error) {
	if name == "" {
		return nil, nil
	}
	t, err := a.Store.FindTenantByName(ctx, name)
	if err != nil {
		return nil, err
	}
	return &t.ID, nil
}

// CreateTenant creates a tenant with an instance quota.
func (a *Admin) CreateTenant(ctx context.Context, name string, maxInstances int) (*Tenant, error) {
	if err := ValidateTenantName(name); err != nil {
		return nil, err
	}
	t := &Tenant{Name: name, MaxInstances: maxInstances}
	if err := a.Store.CreateTenant(ctx, t); err != nil {
		return nil, err
	}
	return t, nil
}

// UpdateTenantQuota sets a tenant's instance quota.
func (a *Admin) UpdateTenantQuota(ctx context.Context, name string, maxInstances int) (*Tenant, error) {
	if _, err := a.tenant(ctx, name); err != nil {
		return nil, err
	}
	return a.Store.UpdateTenantQuota(ctx, name, maxInstances)
}

// UpdateTenantPeriods sets a tenant's own lifecycle periods.
func (a *Admin) UpdateTenantPeriods(ctx context.Context, name string, u TenantPeriodsUpdate) (*Tenant, error) {
	if err := u.Validate(); err != nil {
		return nil, err
	} else if _, err := a.tenant(ctx, name); err != nil {
		return nil, err
	}
	return a.Store.UpdateTenantPeriods(ctx, name, u)
}

// SetTenantSuspended suspends or resumes a tenant.
func (a *Admin) SetTenantSuspended(ctx context.Context, name string, suspended bool) (*Tenant, error) {
	if _, err := a.tenant(ctx, name); err != nil {
		return nil, err
	}
	return a.Store.SetTenantSuspended(ctx, name, suspended)
}

// DeleteTenant deletes a tenant that holds no instance that is not
// released.
func (a *Admin) DeleteTenant(ctx context.Context, name string) error {
	if _, err := a.tenant(ctx, name); err != nil {
		return err
	}
	return a.Store.DeleteTenant(ctx, name)
}

// IssueToken creates a token of a tenant with a role's actions and returns
// its secret (shown once) and the stored token.
func (a *Admin) IssueToken(ctx context.Context, tenant, role, name string, ttl time.Duration) (string, *Token, error) {
	actions, err := RoleActions(role)
	if err != nil {
		return "", nil, err
	} else if ttl <= 0 {
		return "", nil, Errorf(EInvalid, "ttl must be positive")
	}
	t, err := a.tenant(ctx, tenant)
	if err != nil {
		return "", nil, err
	}
	secret, id := NewTokenSecret()
	now := a.now()
	tok := &Token{
		ID: id, TenantID: t.ID, TenantName: t.Name, Name: name, Actions: actions,
		Hash: HashToken(secret), CreatedAt: now, ExpiresAt: now.Add(ttl),
	}
	if err := a.Store.CreateToken(ctx, tok); err != nil {
		return "", nil, err
	}
	return secret, tok, nil
}

// Tokens lists tokens, of one tenant or all.
func (a *Admin) Tokens(ctx context.Context, tenant string) ([]*Token, error) {
	id, err := a.tenantFilter(ctx, tenant)
	if err != nil {
		return nil, err
	}
	return a.Store.FindTokens(ctx, TokenFilter{TenantID: id})
}

// RevokeToken revokes a token given by its ID or whole.
func (a *Admin) RevokeToken(ctx context.Context, id string) error {
	return a.Store.RevokeToken(ctx, TokenID(id))
}

// CreateUser creates a user of a tenant, or of the operator domain when
// tenant is OperatorDomain, with a role of that domain and a password.
func (a *Admin) CreateUser(ctx context.Context, tenant, name, role, password string) (*User, error) {
	if !ValidUserName(name) {
		return nil, Errorf(EInvalid, "name must be 1-64 characters of [A-Za-z0-9._@-], starting with a letter or digit")
	} else if _, err := UserRoleActions(tenant, role); err != nil {
		return nil, err
	} else if err := ValidatePassword(password); err != nil {
		return nil, err
	}
	t, err := a.Store.FindTenantByName(ctx, tenant)
	if ErrorCode(err) == ENotFound && tenant == OperatorDomain {
		// The operator domain comes into being with its first operator.
		t = &Tenant{Name: OperatorDomain}
		if err = a.Store.CreateTenant(ctx, t); ErrorCode(err) == EConflict {
			t, err = a.Store.FindTenantByName(ctx, tenant)
		}
	}
	if err != nil {
		return nil, err
	}
	u := &User{TenantID: t.ID, TenantName: t.Name, Name: name, Role: role, PasswordHash: HashPassword(password)}
	if tenant == OperatorDomain {
		u.Role = OperatorStoredRole(role)
	}
	if err := a.Store.CreateUser(ctx, u); err != nil {
		return nil, err
	}
	showRole(u)
	return u, nil
}

// showRole shows an operator's stored role as the operator role it is.
func showRole(u *User) {
	if u.TenantName == OperatorDomain {
		u.Role = OperatorRole(u.Role)
	}
}

// Users lists the users of one tenant, or of the operator domain, or
// ("") of every tenant (operators are not tenant users).
func (a *Admin) Users(ctx context.Context, tenant string) ([]*User, error) {
	id, err := a.tenantFilter(ctx, tenant)
	if err != nil {
		return nil, err
	}
	us, err := a.Store.FindUsers(ctx, UserFilter{TenantID: id})
	if err != nil {
		return nil, err
	}
	out := make([]*User, 0, len(us))
	for _, u := range us {
		if tenant == "" && u.TenantName == OperatorDomain {
			continue
		}
		showRole(u)
		out = append(out, u)
	}
	return out, nil
}

// UpdateUser disables a user or sets a new password (nil leaves it);
// either ends the user's tokens.
func (a *Admin) UpdateUser(ctx context.Context, tenant, name string, disable bool, password *string) (*User, error) {
	var upd UserUpdate
	if disable {
		upd.Disabled = &disable
	}
	if password != nil {
		if err := ValidatePassword(*password); err != nil {
			return nil, err
		}
		h := HashPassword(*password)
		upd.PasswordHash = &h
	}
	if upd.Disabled == nil && upd.PasswordHash == nil {
		return nil, Errorf(EInvalid, "nothing to change: disable or a password required")
	}
	u, err := a.Store.FindUser(ctx, tenant, name)
	if err != nil {
		return nil, err
	}
	if u, err = a.Store.UpdateUser(ctx, u.ID, upd); err != nil {
		return nil, err
	}
	showRole(u)
	return u, nil
}

// CreateAccessKey creates an access key of a tenant's user and returns its
// ID and secret (shown once).
func (a *Admin) CreateAccessKey(ctx context.Context, tenant, user string) (*AccessKey, error) {
	if _, err := a.tenant(ctx, tenant); err != nil {
		return nil, err
	}
	u, err := a.Store.FindUser(ctx, tenant, user)
	if err != nil {
		return nil, err
	}
	id, secret := NewAccessKey()
	k := &AccessKey{ID: id, TenantID: u.TenantID, TenantName: tenant, UserID: u.ID, UserName: u.Name, Secret: secret}
	if err := a.Store.CreateAccessKey(ctx, k); err != nil {
		return nil, err
	}
	return k, nil
}

// AccessKeys lists access keys (never their secrets), of one tenant or all.
func (a *Admin) AccessKeys(ctx context.Context, tenant string) ([]*AccessKey, error) {
	id, err := a.tenantFilter(ctx, tenant)
	if err != nil {
		return nil, err
	}
	return a.Store.FindAccessKeys(ctx, AccessKeyFilter{TenantID: id})
}

// DeleteAccessKey removes an access key.
func (a *Admin) DeleteAccessKey(ctx context.Context, id string) error {
	return a.Store.DeleteAccessKey(ctx, id)
}

// SKUs returns the whole catalogue, retired SKUs included.
func (a *Admin) SKUs(ctx context.Context) ([]*SKU, error) { return a.Store.FindSKUs(ctx) }

// CreateSKU adds a SKU to the catalogue.
func (a *Admin) CreateSKU(ctx context.Context, s *SKU) error { return a.Store.CreateSKU(ctx, s) }

// SetSKUPrice sets a SKU's prices in one of its regions.
func (a *Admin) SetSKUPrice(ctx context.Context, id string, p RegionPrice) (*SKU, error) {
	return a.Store.SetSKUPrice(ctx, id, p)
}

// RetireSKU stops selling a SKU.
func (a *Admin) RetireSKU(ctx context.Context, id string) (*SKU, error) {
	return a.Store.RetireSKU(ctx, id)
}

// JobFilter selects jobs for operators: a tenant by name.
type JobFilter struct {
	State      *JobState
	Type       *CommandType
	Tenant     string
	InstanceID *string
	Limit      int
}

// Jobs lists data-plane commands.
func (a *Admin) Jobs(ctx context.Context, f JobFilter) ([]*Command, error) {
	id, err := a.tenantFilter(ctx, f.Tenant)
	if err != nil {
		return nil, err
	}
	return a.Store.FindCommands(ctx, CommandFilter{State: f.State, Type: f.Type, TenantID: id, InstanceID: f.InstanceID, Limit: f.Limit})
}

// RetryJob makes a failed job pending again (by job ID, or an instance's
// latest failed job).
func (a *Admin) RetryJob(ctx context.Context, id string) error { return a.Store.RetryCommand(ctx, id) }

// Audit returns audit events newest first, of one tenant or all (""),
// filtered and paged by f (its TenantID is set from tenant); a Limit of 0
// is no limit.
func (a *Admin) Audit(ctx context.Context, tenant string, f AuditFilter) ([]*AuditEvent, error) {
	id, err := a.tenantFilter(ctx, tenant)
	if err != nil {
		return nil, err
	} else if f.Limit < 0 {
		return nil, Errorf(EInvalid, "limit must not be negative")
	}
	f.TenantID = id
	return a.Store.FindAuditEvents(ctx, f)
}

// Refunds lists refunds, of one tenant or all.
func (a *Admin) Refunds(ctx context.Context, tenant string) ([]*Refund, error) {
	id, err := a.tenantFilter(ctx, tenant)
	if err != nil {
		return nil, err
	}
	return a.Store.FindRefunds(ctx, RefundFilter{TenantID: id})
}
