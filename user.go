package phonefleet

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"golang.org/x/crypto/argon2"
)

// User is a tenant's user who signs in with a password (POST /v3/auth/tokens)
// or an access key. Its role gives its tokens and keys their actions.
type User struct {
	ID           string    `json:"id"`
	TenantID     string    `json:"tenant_id"`
	TenantName   string    `json:"tenant"`
	Name         string    `json:"name"`
	Role         string    `json:"role"`
	PasswordHash string    `json:"-"`
	Disabled     bool      `json:"disabled"`
	CreatedAt    time.Time `json:"created_at"`
	UpdatedAt    time.Time `json:"updated_at"`
}

var userNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$`)

// ValidUserName reports whether name is 1–64 characters of
// [A-Za-z0-9._@-] starting with a letter or digit.
func ValidUserName(name string) bool { return userNameRE.MatchString(name) }

// Validate returns EInvalid naming the field that is wrong. A user of the
// operator domain (TenantName OperatorDomain) has an operator role; any
// other user a tenant role.
func (u *User) Validate() error {
	if u.TenantID == "" {
		return Errorf(EInvalid, "user tenant required")
	} else if !ValidUserName(u.Name) {
		return Errorf(EInvalid, "user name %q must be 1-64 characters of [A-Za-z0-9._@-], starting with a letter or digit", u.Name)
	} else if _, err := UserRoleActions(u.TenantName, u.Role); err != nil {
		return err
	} else if !strings.HasPrefix(u.PasswordHash, argonPrefix) {
		return Errorf(EInvalid, "user password hash must be an Argon2id hash")
	}
	return nil
}

// UserFilter selects users.
type UserFilter struct {
	TenantID *string
}

// UserUpdate changes a user; nil fields are left alone.
type UserUpdate struct {
	Disabled     *bool
	PasswordHash *string
}

// UserService manages tenant users.
type UserService interface {
	// CreateUser assigns u an ID and stores it. EConflict if the tenant
	// already has a user of that name.
	CreateUser(ctx context.Context, u *User) error
	// FindUser returns the user of the tenant named tenantName (the IAM
	// domain) with that name, disabled or not; ENotFound if either is
	// unknown.
	FindUser(ctx context.Context, tenantName, name string) (*User, error)
	// FindUsers lists users by tenant name, then user name.
	FindUsers(ctx context.Context, filter UserFilter) ([]*User, error)
	// UpdateUser applies upd to the user with that ID and, in the same
	// transaction, revokes every token issued to the user. ENotFound if
	// there is no such user.
	UpdateUser(ctx context.Context, id string, upd UserUpdate) (*User, error)
}

// Password rules.
const (
	MinPasswordLen = 8
	MaxPasswordLen = 128
)

// ValidatePassword returns EInvalid unless password is 8–128 bytes of
// valid UTF-8 without control characters.
func ValidatePassword(password string) error {
	if len(password) < MinPasswordLen || len(password) > MaxPasswordLen {
		return Errorf(EInvalid, "password must be %d-%d bytes", MinPasswordLen, MaxPasswordLen)
	} else if !utf8.ValidString(password) || strings.ContainsFunc(password, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return Errorf(EInvalid, "password must be valid UTF-8 without control characters")
	}
	return nil
}

// Argon2id parameters of every password hash: 19 MiB, two passes, one
// lane (OWASP's recommended minimum). A verification costs the same as a
// hash, so a server bounds how many run at once to bound memory.
const (
	argonTime    = 2
	argonMemory  = 19 * 1024 // KiB
	argonThreads = 1
	argonKeyLen  = 32
	argonSaltLen = 16
)

// PasswordHashMemory is the memory, in bytes, that one password hash or
// verification uses.
const PasswordHashMemory = argonMemory * 1024

var argonPrefix = fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$", argon2.Version, argonMemory, argonTime, argonThreads)

// HashPassword returns the Argon2id hash of password in the PHC string
// format, with a fresh random salt.
func HashPassword(password string) string {
	salt := make([]byte, argonSaltLen)
	rand.Read(salt)
	key := argon2.IDKey([]byte(password), salt, argonTime, argonMemory, argonThreads, argonKeyLen)
	return argonPrefix + base64.RawStdEncoding.EncodeToString(salt) + "$" + base64.RawStdEncoding.EncodeToString(key)
}

// VerifyPassword reports whether password matches encoded, a hash made by
// HashPassword. It does the same Argon2id work whatever the outcome, even
// for a malformed hash, and compares in constant time.
func VerifyPassword(encoded, password string) bool {
	salt, want, ok := parsePasswordHash(encoded)
	if !ok {
		// Same work as a real check, so a broken row is no timing oracle.
		salt, want = make([]byte, argonSaltLen), make([]byte, argonKeyLen)
	}
	got := argon2.IDKey([]byte(password), salt, argonTime, argonMemory, argonThreads, argonKeyLen)
	return subtle.ConstantTimeCompare(got, want) == 1 && ok
}

// parsePasswordHash splits a hash of HashPassword's parameters into its
// salt and key.
func parsePasswordHash(encoded string) (salt, key []byte, ok bool) {
	rest, found := strings.CutPrefix(encoded, argonPrefix)
	if !found {
		return nil, nil, false
	}
	s, k, found := strings.Cut(rest, "$")
	if !found {
		return nil, nil, false
	}
	salt, err1 := base64.RawStdEncoding.DecodeString(s)
	key, err2 := base64.RawStdEncoding.DecodeString(k)
	if err1 != nil || err2 != nil || len(salt) != argonSaltLen || len(key) != argonKeyLen {
		return nil, nil, false
	}
	return salt, key, true
}

var dummyPasswordHash = sync.OnceValue(func() string { return HashPassword(rand.Text()) })

// DummyPasswordHash returns a hash, made once per process with the same
// parameters as every real one, that no password matches in practice. A
// sign-in for an unknown user is checked against it, so that it costs the
// same as a wrong password.
func DummyPasswordHash() string { return dummyPasswordHash() }
