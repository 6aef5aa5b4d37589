package storetest

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/phonefleet/phonefleet"
)

// testPasswordHash is one real hash shared by the suite: hashing is slow on
// purpose.
var testPasswordHash = sync.OnceValue(func() string { return phonefleet.HashPassword("correct horse") })

// mustCreateUser creates a user of the tenant with the role.
func mustCreateUser(t *testing.T, s phonefleet.Store, tenantID, name, role string) *phonefleet.User {
	t.Helper()
	u := &phonefleet.User{TenantID: tenantID, Name: name, Role: role, PasswordHash: testPasswordHash()}
	if err := s.CreateUser(t.Context(), u); err != nil {
		t.Fatalf("CreateUser(%q): %v", name, err)
	}
	return u
}

// mustCreateAccessKey creates an access key of the user.
func mustCreateAccessKey(t *testing.T, s phonefleet.Store, u *phonefleet.User) *phonefleet.AccessKey {
	t.Helper()
	id, secret := phonefleet.NewAccessKey()
	k := &phonefleet.AccessKey{ID: id, TenantID: u.TenantID, UserID: u.ID, Secret: secret}
	if err := s.CreateAccessKey(t.Context(), k); err != nil {
		t.Fatalf("CreateAccessKey: %v", err)
	}
	return k
}

func testUser(t *testing.T, open Opener) {
	t.Run("OK", func(t *testing.T) {
		s, clk := mustOpen(t, open)
		acme := mustCreateTenant(t, s, "acme")
		globex := mustCreateTenant(t, s, "globex")
		alice := mustCreateUser(t, s, acme.ID, "alice", phonefleet.RoleAdmin)
		mustCreateUser(t, s, acme.ID, "bob", phonefleet.RoleViewer)
		mustCreateUser(t, s, globex.ID, "alice", phonefleet.RoleViewer)
		if alice.ID == "" || !alice.CreatedAt.Equal(clk.Now()) {
			t.Fatalf("created user=%+v, want an ID and CreatedAt=%v", alice, clk.Now())
		}

		got, err := s.FindUser(t.Context(), "acme", "alice")
		if err != nil {
			t.Fatal(err)
		}
		if got.ID != alice.ID || got.TenantName != "acme" || got.Role != phonefleet.RoleAdmin || got.Disabled ||
			got.PasswordHash != testPasswordHash() || !got.UpdatedAt.Equal(clk.Now()) {
			t.Fatalf("FindUser=%+v, want %+v", got, alice)
		}
		if !phonefleet.VerifyPassword(got.PasswordHash, "correct horse") {
			t.Fatal("the stored hash does not verify its password")
		}
		if got, err := s.FindUser(t.Context(), "globex", "alice"); err != nil || got.Role != phonefleet.RoleViewer {
			t.Fatalf("FindUser(globex, alice)=%+v, %v: want the other tenant's viewer", got, err)
		}

		all, err := s.FindUsers(t.Context(), phonefleet.UserFilter{})
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, u := range all {
			names = append(names, u.TenantName+"/"+u.Name)
		}
		if want := "[acme/alice acme/bob globex/alice]"; fmt.Sprint(names) != want {
			t.Fatalf("FindUsers=%v, want %s", names, want)
		}
		if some, err := s.FindUsers(t.Context(), phonefleet.UserFilter{TenantID: &globex.ID}); err != nil || len(some) != 1 {
			t.Fatalf("FindUsers(globex)=%d users, %v; want 1", len(some), err)
		}
	})

	t.Run("ErrConflict", func(t *testing.T) {
		s, _ := mustOpen(t, open)
		tn := mustCreateTenant(t, s, "acme")
		mustCreateUser(t, s, tn.ID, "alice", phonefleet.RoleAdmin)
		err := s.CreateUser(t.Context(), &phonefleet.User{TenantID: tn.ID, Name: "alice", Role: phonefleet.RoleViewer, PasswordHash: testPasswordHash()})
		wantCode(t, err, phonefleet.EConflict)
	})

	t.Run("ErrInvalid", func(t *testing.T) {
		s, _ := mustOpen(t, open)
		tn := mustCreateTenant(t, s, "acme")
		for _, u := range []*phonefleet.User{
			{TenantID: tn.ID, Name: "", Role: phonefleet.RoleAdmin, PasswordHash: testPasswordHash()},
			{TenantID: tn.ID, Name: "a b", Role: phonefleet.RoleAdmin, PasswordHash: testPasswordHash()},
			{TenantID: tn.ID, Name: "alice", Role: "root", PasswordHash: testPasswordHash()},
			{TenantID: tn.ID, Name: "alice", Role: phonefleet.RoleAdmin, PasswordHash: "plain"},
		} {
			wantCode(t, s.CreateUser(t.Context(), u), phonefleet.EInvalid)
		}
		if us, err := s.FindUsers(t.Context(), phonefleet.UserFilter{}); err != nil || len(us) != 0 {
			t.Fatalf("FindUsers=%d, %v; want none stored", len(us), err)
		}
	})

	t.Run("ErrNotFound", func(t *testing.T) {
		s, _ := mustOpen(t, open)
		tn := mustCreateTenant(t, s, "acme")
		mustCreateUser(t, s, tn.ID, "alice", phonefleet.RoleAdmin)
		_, err := s.FindUser(t.Context(), "acme", "bob")
		wantCode(t, err, phonefleet.ENotFound)
		_, err = s.FindUser(t.Context(), "globex", "alice")
		wantCode(t, err, phonefleet.ENotFound)
		_, err = s.UpdateUser(t.Context(), "usnosuch", phonefleet.UserUpdate{})
		wantCode(t, err, phonefleet.ENotFound)
	})

	// Disabling a user or changing the password revokes the user's tokens,
	// and only the user's.
	t.Run("UpdateRevokesTokens", func(t *testing.T) {
		for _, tc := range []struct {
			name string
			upd  phonefleet.UserUpdate
		}{
			{"Disable", phonefleet.UserUpdate{Disabled: ptr(true)}},
			{"Passwd", phonefleet.UserUpdate{PasswordHash: ptr(phonefleet.HashPassword("new password"))}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				s, clk := mustOpen(t, open)
				tn := mustCreateTenant(t, s, "acme")
				alice := mustCreateUser(t, s, tn.ID, "alice", phonefleet.RoleAdmin)
				bob := mustCreateUser(t, s, tn.ID, "bob", phonefleet.RoleAdmin)
				mine, mySecret := newToken(tn.ID, "iam", clk.Now(), time.Hour)
				mine.UserID = alice.ID
				theirs, theirSecret := newToken(tn.ID, "iam", clk.Now(), time.Hour)
				theirs.UserID = bob.ID
				_, opSecret := mustCreateToken(t, s, tn.ID, "operator", clk.Now())
				for _, tk := range []*phonefleet.Token{mine, theirs} {
					if err := s.CreateToken(t.Context(), tk); err != nil {
						t.Fatal(err)
					}
				}
				if got, err := s.FindTokenByHash(t.Context(), phonefleet.HashToken(mySecret)); err != nil || got.UserID != alice.ID || got.UserName != "alice" {
					t.Fatalf("FindTokenByHash=%+v, %v; want alice's token with her name", got, err)
				}

				clk.Add(time.Minute)
				u, err := s.UpdateUser(t.Context(), alice.ID, tc.upd)
				if err != nil {
					t.Fatal(err)
				}
				if tc.upd.Disabled != nil && !u.Disabled || tc.upd.PasswordHash != nil && u.PasswordHash != *tc.upd.PasswordHash {
					t.Fatalf("UpdateUser=%+v, want %+v applied", u, tc.upd)
				}
				if got, _ := s.FindUser(t.Context(), "acme", "alice"); got.Disabled != u.Disabled || got.PasswordHash != u.PasswordHash || !got.UpdatedAt.Equal(clk.Now()) {
					t.Fatalf("stored user=%+v, want %+v", got, u)
				}
				if got, _ := s.FindTokenByHash(t.Context(), phonefleet.HashToken(mySecret)); got.RevokedAt == nil || !got.RevokedAt.Equal(clk.Now()) {
					t.Fatalf("alice's token RevokedAt=%v, want %v", got.RevokedAt, clk.Now())
				}
				for _, secret := range []string{theirSecret, opSecret} {
					if got, _ := s.FindTokenByHash(t.Context(), phonefleet.HashToken(secret)); got.RevokedAt != nil {
						t.Fatalf("token %s of someone else revoked", got.ID)
					}
				}
			})
		}
	})
}

func testAccessKey(t *testing.T, open Opener) {
	t.Run("OK", func(t *testing.T) {
		s, clk := mustOpen(t, open)
		acme := mustCreateTenant(t, s, "acme")
		globex := mustCreateTenant(t, s, "globex")
		alice := mustCreateUser(t, s, acme.ID, "alice", phonefleet.RoleViewer)
		k := mustCreateAccessKey(t, s, alice)
		mustCreateAccessKey(t, s, mustCreateUser(t, s, globex.ID, "carol", phonefleet.RoleAdmin))

		got, err := s.FindAccessKey(t.Context(), k.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Secret != k.Secret || got.TenantName != "acme" || got.UserName != "alice" || got.UserRole != phonefleet.RoleViewer ||
			got.UserDisabled || !got.CreatedAt.Equal(clk.Now()) {
			t.Fatalf("FindAccessKey=%+v, want %+v of alice (viewer)", got, k)
		}
		if ks, err := s.FindAccessKeys(t.Context(), phonefleet.AccessKeyFilter{}); err != nil || len(ks) != 2 || ks[0].TenantName != "acme" {
			t.Fatalf("FindAccessKeys=%v, %v; want acme's then globex's", ks, err)
		}
		if ks, err := s.FindAccessKeys(t.Context(), phonefleet.AccessKeyFilter{TenantID: &globex.ID}); err != nil || len(ks) != 1 || ks[0].UserName != "carol" {
			t.Fatalf("FindAccessKeys(globex)=%v, %v; want carol's", ks, err)
		}

		// A disabled user's key says so.
		if _, err := s.UpdateUser(t.Context(), alice.ID, phonefleet.UserUpdate{Disabled: ptr(true)}); err != nil {
			t.Fatal(err)
		}
		if got, err := s.FindAccessKey(t.Context(), k.ID); err != nil || !got.UserDisabled {
			t.Fatalf("FindAccessKey after disable=%+v, %v; want UserDisabled", got, err)
		}

		if err := s.DeleteAccessKey(t.Context(), k.ID); err != nil {
			t.Fatal(err)
		}
		_, err = s.FindAccessKey(t.Context(), k.ID)
		wantCode(t, err, phonefleet.ENotFound)
		wantCode(t, s.DeleteAccessKey(t.Context(), k.ID), phonefleet.ENotFound)
	})

	t.Run("ErrNotFound", func(t *testing.T) {
		s, _ := mustOpen(t, open)
		acme := mustCreateTenant(t, s, "acme")
		globex := mustCreateTenant(t, s, "globex")
		carol := mustCreateUser(t, s, globex.ID, "carol", phonefleet.RoleAdmin)
		id, secret := phonefleet.NewAccessKey()
		// A user of another tenant.
		err := s.CreateAccessKey(t.Context(), &phonefleet.AccessKey{ID: id, TenantID: acme.ID, UserID: carol.ID, Secret: secret})
		wantCode(t, err, phonefleet.ENotFound)
		_, err = s.FindAccessKey(t.Context(), id)
		wantCode(t, err, phonefleet.ENotFound)
	})

	t.Run("ErrConflict", func(t *testing.T) {
		s, _ := mustOpen(t, open)
		tn := mustCreateTenant(t, s, "acme")
		u := mustCreateUser(t, s, tn.ID, "alice", phonefleet.RoleAdmin)
		k := mustCreateAccessKey(t, s, u)
		err := s.CreateAccessKey(t.Context(), &phonefleet.AccessKey{ID: k.ID, TenantID: tn.ID, UserID: u.ID, Secret: "another-secret-of-20-chars"})
		wantCode(t, err, phonefleet.EConflict)
		if got, _ := s.FindAccessKey(t.Context(), k.ID); got.Secret != k.Secret {
			t.Fatal("a conflicting create replaced the secret")
		}
	})
}
