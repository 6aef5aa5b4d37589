package storetest

import (
	"strings"
	"testing"

	"github.com/phonefleet/phonefleet"
)

func testTenant(t *testing.T, open Opener) {
	t.Run("OK", func(t *testing.T) {
		s, clk := mustOpen(t, open)
		tn := mustCreateTenant(t, s, "acme")
		if tn.ID == "" {
			t.Fatal("ID not set")
		} else if !tn.CreatedAt.Equal(clk.Now()) {
			t.Fatalf("CreatedAt=%v, want %v", tn.CreatedAt, clk.Now())
		}
		got, err := s.FindTenantByName(t.Context(), "acme")
		if err != nil {
			t.Fatal(err)
		} else if got.ID != tn.ID || got.Name != "acme" || !got.CreatedAt.Equal(tn.CreatedAt) {
			t.Fatalf("FindTenantByName=%+v, want %+v", got, tn)
		}
	})

	t.Run("List", func(t *testing.T) {
		s, _ := mustOpen(t, open)
		for _, name := range []string{"zeta", "alpha", "mid"} {
			mustCreateTenant(t, s, name)
		}
		ts, err := s.FindTenants(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, tn := range ts {
			names = append(names, tn.Name)
		}
		wantIDs(t, "names", names, []string{"alpha", "mid", "zeta"})
	})

	t.Run("ErrConflict", func(t *testing.T) {
		s, _ := mustOpen(t, open)
		mustCreateTenant(t, s, "acme")
		err := s.CreateTenant(t.Context(), &phonefleet.Tenant{Name: "acme"})
		wantCode(t, err, phonefleet.EConflict)
		if !strings.Contains(phonefleet.ErrorMessage(err), "acme") {
			t.Fatalf("message %q does not name the tenant", phonefleet.ErrorMessage(err))
		}
	})

	t.Run("ErrInvalid", func(t *testing.T) {
		s, _ := mustOpen(t, open)
		wantCode(t, s.CreateTenant(t.Context(), &phonefleet.Tenant{Name: "no spaces"}), phonefleet.EInvalid)
		if ts, err := s.FindTenants(t.Context()); err != nil {
			t.Fatal(err)
		} else if len(ts) != 0 {
			t.Fatalf("tenants=%d, want 0", len(ts))
		}
	})

	t.Run("ErrNotFound", func(t *testing.T) {
		s, _ := mustOpen(t, open)
		_, err := s.FindTenantByName(t.Context(), "nobody")
		wantCode(t, err, phonefleet.ENotFound)
	})
}
