package main

import (
	"context"
	"flag"
	"fmt"

	"github.com/phonefleet/phonefleet"
)

const tenantUsage = `Usage:

	phonefleet tenant create NAME [--max-instances N]   prints the new tenant's ID
	phonefleet tenant update NAME --max-instances N     sets the tenant's instance quota
	phonefleet tenant list                              prints one JSON object per tenant

--max-instances is the most instances the tenant may hold that are not
released (0: unlimited). A new tenant gets 10000 unless told otherwise.
`

// newTenantCommand returns the tenant commands.
func newTenantCommand(env *Env) command {
	return newGroup(env, "tenant", tenantUsage,
		leaf{"create", &TenantCreateCommand{Env: env}},
		leaf{"update", &TenantUpdateCommand{Env: env}},
		leaf{"list", &TenantListCommand{Env: env}},
	)
}

// TenantCreateCommand creates a tenant.
type TenantCreateCommand struct{ *Env }

// Run creates the tenant and prints its ID.
func (c *TenantCreateCommand) Run(ctx context.Context, args []string) error {
	var dsn string
	fs := c.newFlagSet("tenant create", "Usage: phonefleet tenant create NAME [--max-instances N]\n\nCreates a tenant and prints its ID. Creates the database if it does not exist.\n", &dsn)
	maxInstances := fs.Int("max-instances", phonefleet.DefaultMaxInstances, "instance quota: the most instances the tenant may hold that are not released (0: unlimited)")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	} else if len(pos) != 1 {
		return usagef("usage: phonefleet tenant create NAME [--max-instances N]")
	} else if err := phonefleet.ValidateMaxInstances(*maxInstances); err != nil {
		return usagef("--max-instances: %s", phonefleet.ErrorMessage(err))
	}
	// The natural first command: it may create the database.
	store, err := openStore(dsn, StoreOptions{Create: true})
	if err != nil {
		return err
	}
	defer store.Close()

	t := &phonefleet.Tenant{Name: pos[0], MaxInstances: *maxInstances}
	if err := store.CreateTenant(ctx, t); err != nil {
		return err
	}
	_, err = fmt.Fprintln(c.Stdout, t.ID)
	return err
}

// TenantUpdateCommand changes a tenant's instance quota.
type TenantUpdateCommand struct{ *Env }

// Run sets the quota and prints the tenant as one JSON object.
func (c *TenantUpdateCommand) Run(ctx context.Context, args []string) error {
	var dsn string
	fs := c.newFlagSet("tenant update", "Usage: phonefleet tenant update NAME --max-instances N\n\nSets the tenant's instance quota (0: unlimited) and prints the tenant.\n", &dsn)
	maxInstances := fs.Int("max-instances", -1, "instance quota: the most instances the tenant may hold that are not released (0: unlimited); required")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	} else if len(pos) != 1 {
		return usagef("usage: phonefleet tenant update NAME --max-instances N")
	}
	given := false
	fs.Visit(func(f *flag.Flag) { given = given || f.Name == "max-instances" })
	if !given {
		return usagef("--max-instances is required")
	} else if err := phonefleet.ValidateMaxInstances(*maxInstances); err != nil {
		return usagef("--max-instances: %s", phonefleet.ErrorMessage(err))
	}
	store, err := openStore(dsn, StoreOptions{})
	if err != nil {
		return err
	}
	defer store.Close()

	t, err := store.UpdateTenantQuota(ctx, pos[0], *maxInstances)
	if err != nil {
		return err
	}
	return writeJSONLines(c.Stdout, []*phonefleet.Tenant{t})
}

// TenantListCommand lists tenants.
type TenantListCommand struct{ *Env }

// Run prints one JSON object per tenant.
func (c *TenantListCommand) Run(ctx context.Context, args []string) error {
	return runList(ctx, c.Env, args, "tenant list", "Usage: phonefleet tenant list\n\nPrints one JSON object per tenant.\n", "",
		func(ctx context.Context, store phonefleet.Store, _ *string) ([]*phonefleet.Tenant, error) {
			return store.FindTenants(ctx)
		})
}
