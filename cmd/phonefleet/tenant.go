package main

import (
	"context"
	"fmt"

	"github.com/phonefleet/phonefleet"
)

// TenantCommand creates and lists tenants.
type TenantCommand struct{ *Env }

const tenantUsage = `Usage:

	phonefleet tenant create NAME   prints the new tenant's ID
	phonefleet tenant list          prints one JSON object per tenant
`

// Run dispatches "tenant create" and "tenant list".
func (c *TenantCommand) Run(ctx context.Context, args []string) error {
	var dsn string
	fs := c.newFlagSet("tenant", tenantUsage, &dsn)
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) == 0 {
		return usagef("missing subcommand: create or list")
	}
	switch pos[0] {
	case "create":
		if len(pos) != 2 {
			return usagef("usage: phonefleet tenant create NAME")
		}
	case "list":
		if len(pos) != 1 {
			return usagef("usage: phonefleet tenant list")
		}
	default:
		return usagef("unknown subcommand %q: create or list", pos[0])
	}

	store, err := openStore(dsn, StoreOptions{})
	if err != nil {
		return err
	}
	defer store.Close()

	if pos[0] == "create" {
		t := &phonefleet.Tenant{Name: pos[1]}
		if err := store.CreateTenant(ctx, t); err != nil {
			return err
		}
		_, err = fmt.Fprintln(c.Stdout, t.ID)
		return err
	}
	tenants, err := store.FindTenants(ctx)
	if err != nil {
		return err
	}
	return writeJSONLines(c.Stdout, tenants)
}
