package phonefleet

import "context"

type contextKey int

const (
	principalContextKey contextKey = iota + 1
	requestIDContextKey
)

// Principal is the authenticated caller of a request: the tenant, the
// token or access key it came with, the tenant user behind it (none for an
// operator-issued token) and the actions it may take.
type Principal struct {
	TenantID    string
	TenantName  string
	TokenID     string
	TokenName   string // the token's name; "" for an access key
	AccessKeyID string
	UserID      string
	UserName    string
	Actions     []string
}

// Actor returns who the principal is, for the audit trail: the user's
// name, else the token's name, else the access key's ID; ActorSystem for a
// nil principal (a worker, the store's own work).
func (p *Principal) Actor() string {
	switch {
	case p == nil:
		return ActorSystem
	case p.UserName != "":
		return p.UserName
	case p.TokenName != "":
		return p.TokenName
	case p.AccessKeyID != "":
		return p.AccessKeyID
	case p.TokenID != "":
		return p.TokenID
	}
	return ActorSystem
}

// Can reports whether the principal's token carries the action.
func (p *Principal) Can(action string) bool {
	for _, a := range p.Actions {
		if a == action {
			return true
		}
	}
	return false
}

// NewContextWithPrincipal returns a copy of ctx carrying the principal.
func NewContextWithPrincipal(ctx context.Context, p *Principal) context.Context {
	return context.WithValue(ctx, principalContextKey, p)
}

// PrincipalFromContext returns the principal of ctx, or nil for a system
// caller (the CLI, a worker).
func PrincipalFromContext(ctx context.Context) *Principal {
	p, _ := ctx.Value(principalContextKey).(*Principal)
	return p
}

// NewContextWithRequestID returns a copy of ctx carrying the request ID.
func NewContextWithRequestID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, requestIDContextKey, id)
}

// RequestIDFromContext returns the request ID of ctx, or "".
func RequestIDFromContext(ctx context.Context) string {
	id, _ := ctx.Value(requestIDContextKey).(string)
	return id
}
