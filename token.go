package phonefleet

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"strings"
	"time"
)

// IAM actions a token may carry (the koophone:cloudphoneResource: prefix is
// omitted). Each API needs exactly one.
const (
	ActionInstanceCreate         = "instanceCreate"
	ActionInstanceDelete         = "instanceDelete"
	ActionQueryInstanceSku       = "queryInstanceSku"
	ActionQueryInstanceBatch     = "queryInstanceBatch"
	ActionQueryBatchShowInstance = "queryBatchShowInstance"
	ActionInstanceAssign         = "instanceAssign"
	ActionInstanceUnassign       = "instanceUnassign"
	ActionInstanceReboot         = "instanceReboot"
	ActionInstanceReset          = "instanceReset"
	ActionInstancePrepare        = "instancePrepare"
)

// Token roles: presets of actions.
const (
	RoleAdmin  = "admin"
	RoleViewer = "viewer"
)

// DefaultTokenTTL is how long an issued token lives unless told otherwise,
// the lifetime of a KooPhone IAM token.
const DefaultTokenTTL = 24 * time.Hour

// RoleActions returns the actions of a role preset, or EInvalid.
func RoleActions(role string) ([]string, error) {
	switch role {
	case RoleAdmin:
		return []string{ActionInstanceCreate, ActionInstanceDelete, ActionQueryInstanceSku, ActionQueryInstanceBatch, ActionQueryBatchShowInstance,
			ActionInstanceAssign, ActionInstanceUnassign, ActionInstanceReboot, ActionInstanceReset, ActionInstancePrepare}, nil
	case RoleViewer:
		return []string{ActionQueryInstanceSku, ActionQueryInstanceBatch, ActionQueryBatchShowInstance}, nil
	}
	return nil, Errorf(EInvalid, "role %q must be %q or %q", role, RoleAdmin, RoleViewer)
}

// Token is an API credential of a tenant. Only the SHA-256 of its secret is
// stored; the secret is shown once, when it is issued.
type Token struct {
	ID         string     `json:"id"`
	TenantID   string     `json:"tenant_id"`
	TenantName string     `json:"tenant"`
	UserID     string     `json:"user_id,omitempty"` // the tenant user it was issued to; "" for an operator's token
	UserName   string     `json:"user,omitempty"`
	Name       string     `json:"name"`
	Actions    []string   `json:"actions"`
	Hash       []byte     `json:"-"`
	CreatedAt  time.Time  `json:"created_at"`
	ExpiresAt  time.Time  `json:"expires_at"`
	RevokedAt  *time.Time `json:"revoked_at,omitempty"`
}

// NewTokenSecret returns a fresh token string of the form "<id>.<secret>"
// (32 random bytes, base64url) and its ID. The ID lets operators revoke a
// token without knowing its secret.
func NewTokenSecret() (token, id string) {
	b := make([]byte, 32)
	rand.Read(b)
	id = "tk" + NewID(10)
	return id + "." + base64.RawURLEncoding.EncodeToString(b), id
}

// HashToken returns the SHA-256 of a token string, the only form stored.
func HashToken(token string) []byte {
	h := sha256.Sum256([]byte(token))
	return h[:]
}

// TokenID returns the ID part of a token string, or s itself when it has no
// secret part (it is already an ID).
func TokenID(s string) string {
	id, _, _ := strings.Cut(s, ".")
	return id
}

// Check returns EUnauthorized, with the API Gateway's message, if the token is
// revoked or expired at now.
func (t *Token) Check(now time.Time) error {
	if t.RevokedAt != nil {
		return Errorf(EUnauthorized, "Incorrect IAM authentication information: token is invalid")
	}
	if !now.Before(t.ExpiresAt) {
		return Errorf(EUnauthorized, "Incorrect IAM authentication information: token expires, expires_at: %s", t.ExpiresAt.UTC().Format(time.RFC3339))
	}
	return nil
}

// Validate checks the token's fields before it is stored.
func (t *Token) Validate() error {
	if t.TenantID == "" {
		return Errorf(EInvalid, "token tenant required")
	} else if len(t.Name) > 64 {
		return Errorf(EInvalid, "token name must be at most 64 characters")
	} else if len(t.Actions) == 0 {
		return Errorf(EInvalid, "token actions required")
	} else if len(t.Hash) != sha256.Size {
		return Errorf(EInvalid, "token hash must be a SHA-256")
	} else if !t.ExpiresAt.After(t.CreatedAt) {
		return Errorf(EInvalid, "token ttl must be positive")
	}
	return nil
}

// String returns a short description for logs; never the secret.
func (t *Token) String() string { return fmt.Sprintf("token %s (tenant %s)", t.ID, t.TenantID) }

// TokenFilter selects tokens.
type TokenFilter struct {
	TenantID *string
}

// TokenService manages API tokens.
type TokenService interface {
	// CreateToken stores t (ID, TenantID, Hash, Actions, CreatedAt, ExpiresAt set by the caller).
	CreateToken(ctx context.Context, t *Token) error
	// FindTokenByHash returns the token with that hash, revoked or expired
	// ones included, with TenantName (and UserName for a user's token)
	// filled in; ENotFound if none.
	FindTokenByHash(ctx context.Context, hash []byte) (*Token, error)
	// FindTokens lists tokens, newest first.
	FindTokens(ctx context.Context, filter TokenFilter) ([]*Token, error)
	// RevokeToken marks the token revoked; ENotFound if there is no such ID.
	// Revoking a revoked token is a no-op.
	RevokeToken(ctx context.Context, id string) error
}
