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
	AccessKeyID string
	UserID      string
	UserName    string
	Actions     []string
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
