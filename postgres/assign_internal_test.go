package postgres

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/phonefleet/phonefleet"
)

// TestLockInstances_HoldsRows: assign, unassign and reboot lock the
// instances they plan on until they commit, so another transaction (another
// node's) cannot change them between the read and the write. Without the
// lock, an assign racing another one would find the binding changed under
// its plan and fail with an internal error instead of the business one.
func TestLockInstances_HoldsRows(t *testing.T) {
	db := openTxTestDB(t)
	acme := mustTenant(t, db, "acme")
	ctx := context.Background()
	pair := func(id string) []phonefleet.UserInstance {
		return []phonefleet.UserInstance{{UserID: "alice@x.io", InstanceID: id}}
	}
	assign := func(id string) error {
		_, err := db.Assign(ctx, &phonefleet.AssignRequest{TenantID: acme, RequestID: "r-assign", Pairs: pair(id)})
		return err
	}
	for _, tc := range []struct {
		name   string
		before func(id string) error // untimed set-up
		run    func(id string) error
		check  func(id string) error
	}{
		{name: "assign",
			run:   assign,
			check: func(id string) error { return wantAssignUser(db, acme, id, "alice@x.io") }},
		{name: "unassign",
			before: assign,
			run: func(id string) error {
				_, err := db.Unassign(ctx, &phonefleet.AssignRequest{TenantID: acme, RequestID: "r-unassign", Pairs: pair(id)})
				return err
			},
			check: func(id string) error { return wantAssignUser(db, acme, id, "") }},
		{name: "reboot",
			run: func(id string) error {
				_, err := db.StartCommands(ctx, &phonefleet.CommandRequest{TenantID: acme, RequestID: "r-reboot",
					Type: phonefleet.CommandReboot, InstanceIDs: []string{id}})
				return err
			},
			check: func(id string) error {
				in, err := findOneInstance(db, acme, id)
				if err == nil && in.Command != phonefleet.CommandReboot {
					err = fmt.Errorf("instance %s: command in flight %q, want reboot", id, in.Command)
				}
				return err
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id := mustBuy(t, db, acme, 1, true)[0]
			if tc.before != nil {
				if err := tc.before(id); err != nil {
					t.Fatalf("set-up: %v", err)
				}
			}
			locked, release := make(chan struct{}), make(chan struct{})
			var once sync.Once
			db.testHookLocked = func() { once.Do(func() { close(locked); <-release }) }
			defer func() { db.testHookLocked = nil }()

			done := make(chan error, 1)
			go func() { done <- tc.run(id) }()
			<-locked
			tx, err := db.pool.Begin(ctx)
			if err != nil {
				close(release)
				t.Fatal(err)
			}
			_, lockErr := tx.Exec(ctx, `SELECT id FROM instances WHERE id = $1 FOR NO KEY UPDATE NOWAIT`, id)
			tx.Rollback(ctx)
			close(release)
			if err := <-done; err != nil {
				t.Fatalf("%s: %v", tc.name, err)
			}
			if pgCode(lockErr) != "55P03" {
				t.Fatalf("locking the instance while %s held it: err=%v, want lock_not_available (55P03)", tc.name, lockErr)
			}
			if err := tc.check(id); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// wantAssignUser returns an error unless the tenant's instance is bound to
// user ("" for none).
func wantAssignUser(db *DB, tenantID, id, user string) error {
	in, err := findOneInstance(db, tenantID, id)
	if err == nil && in.AssignUser != user {
		err = fmt.Errorf("instance %s bound to %q, want %q", id, in.AssignUser, user)
	}
	return err
}

// findOneInstance returns the tenant's instance id.
func findOneInstance(db *DB, tenantID, id string) (*phonefleet.Instance, error) {
	list, _, err := db.FindInstances(context.Background(), phonefleet.InstanceFilter{TenantID: tenantID, ID: &id, Limit: 1})
	if err != nil {
		return nil, err
	} else if len(list) != 1 {
		return nil, fmt.Errorf("instance %s: found %d", id, len(list))
	}
	return list[0], nil
}
