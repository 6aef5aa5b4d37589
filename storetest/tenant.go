package storetest

import (
	"bytes"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

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

func testSKU(t *testing.T, open Opener) {
	t.Run("DefaultCatalogue", func(t *testing.T) {
		s, _ := mustOpen(t, open)
		got, err := s.FindSKUs(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		want := phonefleet.DefaultSKUs()
		slices.SortFunc(want, func(a, b *phonefleet.SKU) int { return strings.Compare(a.ID, b.ID) })
		if len(got) != len(want) {
			t.Fatalf("len(SKUs)=%d, want %d", len(got), len(want))
		}
		for i := range want {
			if !reflect.DeepEqual(got[i], want[i]) {
				t.Fatalf("SKU[%d]=%+v, want %+v", i, got[i], want[i])
			}
		}
	})

	t.Run("Create", func(t *testing.T) {
		s, _ := mustOpen(t, open)
		sku := newSKU("kp.test.1u2g")
		if err := s.CreateSKU(t.Context(), sku); err != nil {
			t.Fatal(err)
		}
		got, err := s.FindSKUs(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		i := slices.IndexFunc(got, func(x *phonefleet.SKU) bool { return x.ID == sku.ID })
		if i < 0 {
			t.Fatalf("SKU %s not found after CreateSKU", sku.ID)
		} else if !reflect.DeepEqual(got[i], sku) {
			t.Fatalf("SKU=%+v, want %+v", got[i], sku)
		}
		if !slices.IsSortedFunc(got, func(a, b *phonefleet.SKU) int { return strings.Compare(a.ID, b.ID) }) {
			t.Fatal("SKUs not ordered by ID")
		}

		// A purchase can use the new SKU at its prices.
		tn := mustCreateTenant(t, s, "acme")
		req := monthlyRequest(tn.ID, 1)
		req.InstanceSKUID, req.RegionID, req.BandSize = sku.ID, "eu-west-1", 10
		if ins := mustPurchase(t, s, req); ins[0].PaidAmount != sku.MonthPrice || ins[0].SKUSpec != sku.SpecDesc {
			t.Fatalf("PaidAmount, SKUSpec=%d, %q, want %d, %q", ins[0].PaidAmount, ins[0].SKUSpec, sku.MonthPrice, sku.SpecDesc)
		}
	})

	t.Run("ErrConflict", func(t *testing.T) {
		s, _ := mustOpen(t, open)
		wantCode(t, s.CreateSKU(t.Context(), newSKU("kp.pro.2u4g")), phonefleet.EConflict)
	})

	t.Run("ErrInvalid", func(t *testing.T) {
		s, _ := mustOpen(t, open)
		sku := newSKU("kp.test.free")
		sku.MonthPrice = 0
		wantCode(t, s.CreateSKU(t.Context(), sku), phonefleet.EInvalid)
		got, err := s.FindSKUs(t.Context())
		if err != nil {
			t.Fatal(err)
		} else if len(got) != len(phonefleet.DefaultSKUs()) {
			t.Fatalf("len(SKUs)=%d after invalid CreateSKU, want %d", len(got), len(phonefleet.DefaultSKUs()))
		}
	})
}

// newSKU returns a valid SKU with sorted regions and band sizes.
func newSKU(id string) *phonefleet.SKU {
	return &phonefleet.SKU{
		ID: id, Type: phonefleet.SKUTypeEnterprise, Name: "Test edition",
		CalcSpec: "1 vCPU|2 GB", StorageSpec: "16 GB", MaxResolution: "480p",
		SpecDesc:  "Test edition | 1 vCPU | 2 GB | 16 GB storage | Maximum resolution: 480p",
		BandSizes: []int{5, 10}, Regions: []string{"eu-west-1", "us-east-1"},
		MonthPrice: 990, YearPrice: 9900, HourPrice: 2, Currency: phonefleet.Currency,
	}
}
