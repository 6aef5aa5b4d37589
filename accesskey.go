package phonefleet

import (
	"context"
	"crypto/rand"
	"strings"
	"time"
)

// AccessKey is a user's AK/SK pair: requests signed with the secret
// (SDK-HMAC-SHA256) act as the user, with the user's role. The secret must
// be kept as it is to check signatures; it is shown once, when created.
type AccessKey struct {
	ID           string    `json:"access_key_id"` // the AK
	TenantID     string    `json:"tenant_id"`
	TenantName   string    `json:"tenant"`
	UserID       string    `json:"user_id"`
	UserName     string    `json:"user"`
	UserRole     string    `json:"-"` // filled in by the store from the user
	UserDisabled bool      `json:"-"` // likewise; a disabled user's keys are refused
	Secret       string    `json:"-"`
	CreatedAt    time.Time `json:"created_at"`
}

// accessKeyAlphabet is what AKs and SKs are made of (as Huawei Cloud's are).
const accessKeyAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"

// NewAccessKey returns a fresh AK (20 characters) and SK (40 characters).
func NewAccessKey() (id, secret string) {
	return randomString(20, accessKeyAlphabet), randomString(40, accessKeyAlphabet+"abcdefghijklmnopqrstuvwxyz")
}

func randomString(n int, alphabet string) string {
	b := make([]byte, n)
	rand.Read(b)
	var sb strings.Builder
	for _, c := range b {
		// 256 is not a multiple of the alphabet sizes; the bias is
		// negligible for keys of this length and keeps this simple.
		sb.WriteByte(alphabet[int(c)%len(alphabet)])
	}
	return sb.String()
}

// Validate returns EInvalid naming the field that is wrong.
func (k *AccessKey) Validate() error {
	if k.TenantID == "" || k.UserID == "" {
		return Errorf(EInvalid, "access key tenant and user required")
	} else if len(k.ID) < 8 || len(k.ID) > 64 || strings.Trim(k.ID, accessKeyAlphabet) != "" {
		return Errorf(EInvalid, "access key ID must be 8-64 characters of [A-Z0-9]")
	} else if len(k.Secret) < 20 {
		return Errorf(EInvalid, "access key secret must be at least 20 characters")
	}
	return nil
}

// AccessKeyFilter selects access keys.
type AccessKeyFilter struct {
	TenantID *string
}

// AccessKeyService manages access keys.
type AccessKeyService interface {
	// CreateAccessKey stores k as the caller built it. EConflict if the ID
	// is taken.
	CreateAccessKey(ctx context.Context, k *AccessKey) error
	// FindAccessKey returns the key with that ID, with its secret and its
	// user's name, role and disabled flag; ENotFound if none.
	FindAccessKey(ctx context.Context, id string) (*AccessKey, error)
	// FindAccessKeys lists keys (secrets included; callers must not show
	// them) by tenant name, user name and ID.
	FindAccessKeys(ctx context.Context, filter AccessKeyFilter) ([]*AccessKey, error)
	// DeleteAccessKey removes the key; ENotFound if there is no such ID.
	DeleteAccessKey(ctx context.Context, id string) error
}
