package phonefleet_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/phonefleet/phonefleet"
)

func TestToken_Check(t *testing.T) {
	expires := MustTime(t, "2024-03-01T12:00:00Z")
	revoked := MustTime(t, "2024-02-01T00:00:00Z")
	for _, tt := range []struct {
		name    string
		expires time.Time
		revoked *time.Time
		now     time.Time
		msg     string // "" for valid
	}{
		{"OK", expires, nil, expires.Add(-time.Hour), ""},
		{"OK/NanosecondBeforeExpiry", expires, nil, expires.Add(-time.Nanosecond), ""},
		{"ErrRevoked", expires, &revoked, expires.Add(-time.Hour),
			"Incorrect IAM authentication information: token is invalid"},
		// Revocation wins over expiry.
		{"ErrRevokedAndExpired", expires, &revoked, expires.Add(time.Hour),
			"Incorrect IAM authentication information: token is invalid"},
		{"ErrExpiredAtExpiry", expires, nil, expires,
			"Incorrect IAM authentication information: token expires, expires_at: 2024-03-01T12:00:00Z"},
		{"ErrExpiredLater", expires, nil, expires.Add(48 * time.Hour),
			"Incorrect IAM authentication information: token expires, expires_at: 2024-03-01T12:00:00Z"},
		// expires_at is written in UTC whatever the zone of the stored time.
		{"ErrExpiredOtherZone", expires.In(time.FixedZone("X", 9*3600)), nil, expires.Add(time.Second),
			"Incorrect IAM authentication information: token expires, expires_at: 2024-03-01T12:00:00Z"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tok := &phonefleet.Token{ID: "tk1", TenantID: "t1", ExpiresAt: tt.expires, RevokedAt: tt.revoked}
			err := tok.Check(tt.now)
			if tt.msg == "" {
				if err != nil {
					t.Fatalf("err=%v, want nil", err)
				}
				return
			}
			if got := phonefleet.ErrorCode(err); got != phonefleet.EUnauthorized {
				t.Fatalf("ErrorCode=%q, want %q", got, phonefleet.EUnauthorized)
			}
			if got := phonefleet.ErrorMessage(err); got != tt.msg {
				t.Fatalf("ErrorMessage=%q, want %q", got, tt.msg)
			}
		})
	}
}

func TestRoleActions(t *testing.T) {
	for _, tt := range []struct {
		role string
		want []string
	}{
		{"admin", []string{"instanceCreate", "instanceDelete", "queryInstanceSku", "queryInstanceBatch", "queryBatchShowInstance",
			"instanceAssign", "instanceUnassign", "instanceReboot", "instanceReset", "instancePrepare"}},
		{"viewer", []string{"queryInstanceSku", "queryInstanceBatch", "queryBatchShowInstance"}},
	} {
		t.Run(tt.role, func(t *testing.T) {
			got, err := phonefleet.RoleActions(tt.role)
			if err != nil {
				t.Fatal(err)
			}
			got = slices.Sorted(slices.Values(got))
			want := slices.Sorted(slices.Values(tt.want))
			if !slices.Equal(got, want) {
				t.Fatalf("RoleActions(%q)=%v, want %v", tt.role, got, want)
			}
		})
	}
	for _, role := range []string{"", "Admin", "root", "viewer "} {
		t.Run("Err/"+role, func(t *testing.T) {
			got, err := phonefleet.RoleActions(role)
			if code := phonefleet.ErrorCode(err); code != phonefleet.EInvalid || got != nil {
				t.Fatalf("RoleActions(%q)=%v, %q, want nil, %q", role, got, code, phonefleet.EInvalid)
			}
		})
	}
	t.Run("FreshSlice", func(t *testing.T) {
		a, _ := phonefleet.RoleActions("viewer")
		a[0] = "instanceDelete"
		b, _ := phonefleet.RoleActions("viewer")
		if slices.Contains(b, "instanceDelete") {
			t.Fatalf("RoleActions(viewer)=%v after a caller changed an earlier result", b)
		}
	})
}

func TestTokenID(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"tkabc123.c2VjcmV0", "tkabc123"},
		{"tkabc123", "tkabc123"},
		{"a.b.c", "a"},
		{".secret", ""},
		{"", ""},
	} {
		t.Run(tt.in, func(t *testing.T) {
			if got := phonefleet.TokenID(tt.in); got != tt.want {
				t.Fatalf("TokenID(%q)=%q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestNewTokenSecret(t *testing.T) {
	re := regexp.MustCompile(`^(tk[a-z0-9]{10})\.([A-Za-z0-9_-]{43})$`)
	tokens, ids := map[string]bool{}, map[string]bool{}
	for range 1000 {
		tok, id := phonefleet.NewTokenSecret()
		m := re.FindStringSubmatch(tok)
		if m == nil {
			t.Fatalf("token %q, want tk + 10 of [a-z0-9] + . + 43 base64url characters", tok)
		}
		if m[1] != id || phonefleet.TokenID(tok) != id {
			t.Fatalf("id=%q, TokenID=%q, want the token's prefix %q", id, phonefleet.TokenID(tok), m[1])
		}
		if b, err := base64.RawURLEncoding.DecodeString(m[2]); err != nil || len(b) != 32 {
			t.Fatalf("secret %q decodes to %d bytes (%v), want 32", m[2], len(b), err)
		}
		if tokens[tok] || ids[id] {
			t.Fatalf("NewTokenSecret repeated %q", tok)
		}
		tokens[tok], ids[id] = true, true
	}
}

func TestHashToken(t *testing.T) {
	tok, _ := phonefleet.NewTokenSecret()
	want := sha256.Sum256([]byte(tok))
	if got := phonefleet.HashToken(tok); !bytes.Equal(got, want[:]) {
		t.Fatalf("HashToken=%x, want %x", got, want)
	}
	if bytes.Equal(phonefleet.HashToken("a"), phonefleet.HashToken("b")) {
		t.Fatal("HashToken(a) == HashToken(b)")
	}
}

func TestToken_Validate(t *testing.T) {
	created := MustTime(t, "2024-03-01T00:00:00Z")
	valid := func() *phonefleet.Token {
		return &phonefleet.Token{ID: "tk1", TenantID: "t1", Name: "ci", Actions: []string{"instanceDelete"},
			Hash: phonefleet.HashToken("x"), CreatedAt: created, ExpiresAt: created.Add(24 * time.Hour)}
	}
	for _, tt := range []struct {
		name string
		edit func(tok *phonefleet.Token)
		ok   bool
		word string
	}{
		{"OK", func(tok *phonefleet.Token) {}, true, ""},
		{"OK/Name64", func(tok *phonefleet.Token) { tok.Name = strings.Repeat("n", 64) }, true, ""},
		{"ErrTenant", func(tok *phonefleet.Token) { tok.TenantID = "" }, false, "tenant"},
		{"ErrName65", func(tok *phonefleet.Token) { tok.Name = strings.Repeat("n", 65) }, false, "name"},
		{"ErrActions", func(tok *phonefleet.Token) { tok.Actions = nil }, false, "actions"},
		{"ErrHash", func(tok *phonefleet.Token) { tok.Hash = []byte("short") }, false, "hash"},
		{"ErrTTLZero", func(tok *phonefleet.Token) { tok.ExpiresAt = created }, false, "ttl"},
		{"ErrTTLNegative", func(tok *phonefleet.Token) { tok.ExpiresAt = created.Add(-time.Second) }, false, "ttl"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tok := valid()
			tt.edit(tok)
			err := tok.Validate()
			if tt.ok {
				if err != nil {
					t.Fatalf("err=%v, want nil", err)
				}
				return
			}
			if code := phonefleet.ErrorCode(err); code != phonefleet.EInvalid {
				t.Fatalf("ErrorCode=%q, want %q", code, phonefleet.EInvalid)
			}
			if msg := phonefleet.ErrorMessage(err); !NamesField(msg, tt.word) {
				t.Fatalf("ErrorMessage=%q, want it to name %q", msg, tt.word)
			}
		})
	}
}

func TestToken_String(t *testing.T) {
	tok := &phonefleet.Token{ID: "tkabc", TenantID: "t1", Hash: phonefleet.HashToken("secret")}
	if got, want := tok.String(), "token tkabc (tenant t1)"; got != want {
		t.Fatalf("String()=%q, want %q", got, want)
	}
}
