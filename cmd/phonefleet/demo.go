package main

import (
	"context"
	"fmt"
	"io"

	"github.com/phonefleet/phonefleet"
)

// runDemo makes sure a "demo" tenant with instances exists, then prints an
// admin token and a curl that unsubscribes one of its running monthly
// instances (buying one if none is left).
func runDemo(ctx context.Context, store phonefleet.Store, baseURL string, out io.Writer) error {
	t, err := store.FindTenantByName(ctx, "demo")
	if phonefleet.ErrorCode(err) == phonefleet.ENotFound {
		t = &phonefleet.Tenant{Name: "demo", MaxInstances: phonefleet.DefaultMaxInstances}
		if err := store.CreateTenant(ctx, t); err != nil {
			return err
		}
		if _, _, err := demoPurchase(ctx, store, t, 2, phonefleet.ChargingModePrepaid); err != nil {
			return err
		}
		if _, _, err := demoPurchase(ctx, store, t, 1, phonefleet.ChargingModePayPerUse); err != nil {
			return err
		}
	} else if err != nil {
		return err
	}

	instances, _, err := store.FindInstances(ctx, phonefleet.InstanceFilter{TenantID: t.ID, Limit: 1000})
	if err != nil {
		return err
	}
	var target string
	for _, in := range instances {
		if in.State == phonefleet.InstanceStateRunning && in.BillingMode.Prepaid() {
			target = in.ID
			break
		}
	}
	if target == "" {
		_, bought, err := demoPurchase(ctx, store, t, 1, phonefleet.ChargingModePrepaid)
		if err != nil {
			return err
		}
		target = bought[0].ID
	}

	secret, _, err := issueToken(ctx, store, t, phonefleet.RoleAdmin, "demo", phonefleet.DefaultTokenTTL)
	if err != nil {
		return err
	}
	password, err := demoUser(ctx, store, t)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(out, "demo tenant %q is ready; admin token (valid 24h):\n%s\n\nunsubscribe instance %s:\ncurl -sS -X POST '%s/v1/instances/delete' -H 'Content-Type: application/json' -H 'X-Auth-Token: %s' -d '{\"instanceIdList\":[\"%s\"]}'\n",
		t.Name, secret, target, baseURL, secret, target)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(out, "\nadmin user %q of tenant %q, password (new on every --demo run):\n%s\n\nsign in from the command line:\nprintf '%%s\\n' '%s' | phonefleet login --endpoint '%s' --domain %s --user %s --password-stdin\n\nor in the console: %s/console/\n",
		demoUserName, t.Name, password, password, baseURL, t.Name, demoUserName, baseURL)
	return err
}

// demoUserName is the admin user that --demo keeps for the demo tenant.
const demoUserName = "demo"

// demoUser gives the demo tenant's admin user "demo" a fresh random
// password (creating or re-enabling the user), and returns it. The user's
// earlier tokens end with the old password.
func demoUser(ctx context.Context, store phonefleet.Store, t *phonefleet.Tenant) (string, error) {
	password := phonefleet.NewID(20)
	hash := phonefleet.HashPassword(password)
	u, err := store.FindUser(ctx, t.Name, demoUserName)
	if phonefleet.ErrorCode(err) == phonefleet.ENotFound {
		u = &phonefleet.User{TenantID: t.ID, Name: demoUserName, Role: phonefleet.RoleAdmin, PasswordHash: hash}
		return password, store.CreateUser(ctx, u)
	} else if err != nil {
		return "", err
	}
	enabled := false
	_, err = store.UpdateUser(ctx, u.ID, phonefleet.UserUpdate{PasswordHash: &hash, Disabled: &enabled})
	return password, err
}

// demoPurchase buys count kp.pro.2u4g instances in cn-north-4 for the demo
// tenant: monthly (one month) or pay-per-use.
func demoPurchase(ctx context.Context, store phonefleet.Store, t *phonefleet.Tenant, count, mode int) (*phonefleet.Order, []*phonefleet.Instance, error) {
	req := &phonefleet.PurchaseRequest{
		TenantID: t.ID, RequestID: "demo-" + phonefleet.NewID(12), OS: "AOSP11",
		InstanceSKUID: "kp.pro.2u4g", BandSKUID: phonefleet.BandSKUID, RegionID: "cn-north-4",
		NamePrefix: "demo", BandSize: 2, Count: count, ChargingMode: mode,
	}
	if mode == phonefleet.ChargingModePrepaid {
		req.PeriodType, req.PeriodNum = phonefleet.PeriodTypeMonth, 1
	}
	if err := req.Validate(); err != nil {
		return nil, nil, err
	}
	return store.Purchase(ctx, req)
}
