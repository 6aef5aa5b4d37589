package storetest

import (
	"bytes"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/phonefleet/phonefleet"
)

// newToken returns a token of the tenant created at now, not yet stored,
// and its secret.
func newToken(tenantID, name string, now time.Time, ttl time.Duration) (*phonefleet.Token, string) {
	secret, id := phonefleet.NewTokenSecret()
	actions, _ := phonefleet.RoleActions(phonefleet.RoleAdmin)
	return &phonefleet.Token{
		ID: id, TenantID: tenantID, Name: name, Actions: actions, Hash: phonefleet.HashToken(secret),
		CreatedAt: now, ExpiresAt: now.Add(ttl),
	}, secret
}

func mustCreateToken(t *testing.T, s phonefleet.Store, tenantID, name string, now time.Time) (*phonefleet.Token, string) {
	t.Helper()
	tk, secret := newToken(tenantID, name, now, phonefleet.DefaultTokenTTL)
	if err := s.CreateToken(t.Context(), tk); err != nil {
		t.Fatalf("CreateToken: %v", err)
	}
	return tk, secret
}

func testToken(t *testing.T, open Opener) {
	t.Run("OK", func(t *testing.T) {
		s, clk := mustOpen(t, open)
		tn := mustCreateTenant(t, s, "acme")
		tk, secret := mustCreateToken(t, s, tn.ID, "ci", clk.Now())

		got, err := s.FindTokenByHash(t.Context(), phonefleet.HashToken(secret))
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case got.ID != tk.ID || got.TenantID != tn.ID || got.Name != "ci":
			t.Fatalf("token=%+v, want %+v", got, tk)
		case got.TenantName != "acme":
			t.Fatalf("TenantName=%q, want acme", got.TenantName)
		case !slices.Equal(got.Actions, tk.Actions):
			t.Fatalf("Actions=%v, want %v", got.Actions, tk.Actions)
		case !bytes.Equal(got.Hash, tk.Hash):
			t.Fatalf("Hash=%x, want %x", got.Hash, tk.Hash)
		case !got.CreatedAt.Equal(tk.CreatedAt) || !got.ExpiresAt.Equal(tk.ExpiresAt):
			t.Fatalf("CreatedAt, ExpiresAt=%v, %v, want %v, %v", got.CreatedAt, got.ExpiresAt, tk.CreatedAt, tk.ExpiresAt)
		case got.RevokedAt != nil:
			t.Fatalf("RevokedAt=%v, want nil", got.RevokedAt)
		}
		// The stored expiry is the one the gateway check uses.
		if err := got.Check(clk.Now()); err != nil {
			t.Fatalf("Check(now)=%v, want nil", err)
		}
		wantCode(t, got.Check(tk.ExpiresAt), phonefleet.EUnauthorized)
	})

	t.Run("ErrNotFound", func(t *testing.T) {
		s, _ := mustOpen(t, open)
		_, err := s.FindTokenByHash(t.Context(), phonefleet.HashToken("tkunknown.secret"))
		wantCode(t, err, phonefleet.ENotFound)
	})

	t.Run("ErrInvalid", func(t *testing.T) {
		s, clk := mustOpen(t, open)
		tn := mustCreateTenant(t, s, "acme")
		tk, _ := newToken(tn.ID, "ci", clk.Now(), time.Hour)
		tk.Actions = nil
		wantCode(t, s.CreateToken(t.Context(), tk), phonefleet.EInvalid)
	})

	t.Run("ErrConflict", func(t *testing.T) {
		s, clk := mustOpen(t, open)
		tn := mustCreateTenant(t, s, "acme")
		tk, _ := mustCreateToken(t, s, tn.ID, "ci", clk.Now())
		again, _ := newToken(tn.ID, "copy", clk.Now(), time.Hour)
		again.Hash = tk.Hash
		wantCode(t, s.CreateToken(t.Context(), again), phonefleet.EConflict)
	})

	// A taken ID is a unique violation of the primary key: the same code.
	t.Run("ErrConflictID", func(t *testing.T) {
		s, clk := mustOpen(t, open)
		tn := mustCreateTenant(t, s, "acme")
		tk, _ := mustCreateToken(t, s, tn.ID, "ci", clk.Now())
		again, _ := newToken(tn.ID, "copy", clk.Now(), time.Hour)
		again.ID = tk.ID
		err := s.CreateToken(t.Context(), again)
		wantCode(t, err, phonefleet.EConflict)
		if msg := phonefleet.ErrorMessage(err); !strings.Contains(msg, tk.ID) {
			t.Fatalf("message %q does not name token %s", msg, tk.ID)
		}
	})

	// A token of a tenant that does not exist violates a foreign key: every
	// store answers not-found naming the tenant, and stores nothing.
	t.Run("ErrTenantNotFound", func(t *testing.T) {
		s, clk := mustOpen(t, open)
		tk, _ := newToken("tnnosuchtenant", "ci", clk.Now(), time.Hour)
		err := s.CreateToken(t.Context(), tk)
		wantCode(t, err, phonefleet.ENotFound)
		if msg := phonefleet.ErrorMessage(err); !strings.Contains(msg, "tnnosuchtenant") {
			t.Fatalf("message %q does not name the tenant", msg)
		}
		if ts, err := s.FindTokens(t.Context(), phonefleet.TokenFilter{}); err != nil {
			t.Fatal(err)
		} else if len(ts) != 0 {
			t.Fatalf("tokens=%d after a failed CreateToken, want 0", len(ts))
		}
	})

	t.Run("Revoke", func(t *testing.T) {
		s, clk := mustOpen(t, open)
		tn := mustCreateTenant(t, s, "acme")
		tk, secret := mustCreateToken(t, s, tn.ID, "ci", clk.Now())
		clk.Add(time.Minute)
		revokedAt := clk.Now()
		if err := s.RevokeToken(t.Context(), tk.ID); err != nil {
			t.Fatal(err)
		}
		got, err := s.FindTokenByHash(t.Context(), phonefleet.HashToken(secret))
		if err != nil {
			t.Fatal(err)
		} else if got.RevokedAt == nil || !got.RevokedAt.Equal(revokedAt) {
			t.Fatalf("RevokedAt=%s, want %v", fmtTime(got.RevokedAt), revokedAt)
		}
		wantCode(t, got.Check(clk.Now()), phonefleet.EUnauthorized)

		// Revoking again is a no-op: the first revocation time stays.
		clk.Add(time.Minute)
		if err := s.RevokeToken(t.Context(), tk.ID); err != nil {
			t.Fatalf("second RevokeToken: %v", err)
		}
		if got, err := s.FindTokenByHash(t.Context(), phonefleet.HashToken(secret)); err != nil {
			t.Fatal(err)
		} else if got.RevokedAt == nil || !got.RevokedAt.Equal(revokedAt) {
			t.Fatalf("RevokedAt=%s after second revoke, want %v", fmtTime(got.RevokedAt), revokedAt)
		}
	})

	t.Run("RevokeErrNotFound", func(t *testing.T) {
		s, _ := mustOpen(t, open)
		wantCode(t, s.RevokeToken(t.Context(), "tknosuchtoken"), phonefleet.ENotFound)
	})

	t.Run("List", func(t *testing.T) {
		s, clk := mustOpen(t, open)
		a, b := mustCreateTenant(t, s, "a"), mustCreateTenant(t, s, "b")
		t1, _ := mustCreateToken(t, s, a.ID, "first", clk.Now())
		clk.Add(time.Second)
		t2, _ := mustCreateToken(t, s, b.ID, "second", clk.Now())
		clk.Add(time.Second)
		t3, _ := mustCreateToken(t, s, a.ID, "third", clk.Now())

		all, err := s.FindTokens(t.Context(), phonefleet.TokenFilter{})
		if err != nil {
			t.Fatal(err)
		}
		wantIDs(t, "tokens newest first", tokenIDs(all), []string{t3.ID, t2.ID, t1.ID})

		onlyA, err := s.FindTokens(t.Context(), phonefleet.TokenFilter{TenantID: &a.ID})
		if err != nil {
			t.Fatal(err)
		}
		wantIDs(t, "tenant a tokens", tokenIDs(onlyA), []string{t3.ID, t1.ID})
		if onlyA[0].TenantName != "a" {
			t.Fatalf("TenantName=%q, want a", onlyA[0].TenantName)
		}
	})
}

func tokenIDs(ts []*phonefleet.Token) []string {
	out := make([]string, len(ts))
	for i, tk := range ts {
		out[i] = tk.ID
	}
	return out
}
