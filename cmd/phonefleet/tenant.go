package main

import (
	"context"
	"fmt"

	"github.com/phonefleet/phonefleet"
)

const tenantUsage = `Usage:

	phonefleet tenant create NAME   prints the new tenant's ID
	phonefleet tenant list          prints one JSON object per tenant
`

// newTenantCommand returns the tenant commands.
func newTenantCommand(env *Env) command {
	return newGroup(env, "tenant", tenantUsage,
		leaf{"create", &TenantCreateCommand{Env: env}},
		leaf{"list", &TenantListCommand{Env: env}},
	)
}

// TenantCreateCommand creates a tenant.
type TenantCreateCommand struct{ *Env }

// Run creates the tenant and prints its ID.
func (c *TenantCreateCommand) Run(ctx context.Context, args []string) error {
	var dsn string
	fs := c.newFlagSet("tenant create", "Usage: phonefleet tenant create NAME\n\nCreates a tenant and prints its ID.\n", &dsn)
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	} else if len(pos) != 1 {
		return usagef("usage: phonefleet tenant create NAME")
	}
	store, err := openStore(dsn, StoreOptions{})
	if err != nil {
		return err
	}
	defer store.Close()

	t := &phonefleet.Tenant{Name: pos[0]}
	if err := store.CreateTenant(ctx, t); err != nil {
		return err
	}
	_, err = fmt.Fprintln(c.Stdout, t.ID)
	return err
}

// TenantListCommand lists tenants.
type TenantListCommand struct{ *Env }

// Run prints one JSON object per tenant.
func (c *TenantListCommand) Run(ctx context.Context, args []string) error {
	var dsn string
	fs := c.newFlagSet("tenant list", "Usage: phonefleet tenant list\n\nPrints one JSON object per tenant.\n", &dsn)
	if err := parseNoArgs(fs, args); err != nil {
		return err
	}
	store, err := openStore(dsn, StoreOptions{})
	if err != nil {
		return err
	}
	defer store.Close()

	tenants, err := store.FindTenants(ctx)
	if err != nil {
		return err
	}
	return writeJSONLines(c.Stdout, tenants)
}
