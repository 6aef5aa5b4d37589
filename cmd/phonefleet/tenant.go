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
	phonefleet tenant suspend NAME                      refuses every API of the tenant (KOOPHONE.API.1004)
	phonefleet tenant resume NAME                       ends a suspension
	phonefleet tenant delete NAME                       deletes a tenant that holds no instance

--max-instances is the most instances the tenant may hold that are not
released (0: unlimited). A new tenant gets 10000 unless told otherwise.
A suspended tenant's phones keep running; its API calls all answer
KOOPHONE.API.1004 "Services not subscribed." until it is resumed.
`

// newTenantCommand returns the tenant commands.
func newTenantCommand(env *Env) command {
	return newGroup(env, "tenant", tenantUsage,
		leaf{"create", &TenantCreateCommand{Env: env}},
		leaf{"update", &TenantUpdateCommand{Env: env}},
		leaf{"list", &TenantListCommand{Env: env}},
		leaf{"suspend", &TenantSuspendCommand{Env: env, suspend: true}},
		leaf{"resume", &TenantSuspendCommand{Env: env}},
		leaf{"delete", &TenantDeleteCommand{Env: env}},
	)
}

// TenantCreateCommand creates a tenant.
type TenantCreateCommand struct{ *Env }

// Run creates the tenant and prints its ID.
func (c *TenantCreateCommand) Run(ctx context.Context, args []string) error {
	var of operatorFlags
	fs := c.newOperatorFlagSet("tenant create", "Usage: phonefleet tenant create NAME [--max-instances N]\n\nCreates a tenant and prints its ID. Creates the database if it does not exist.\n", &of)
	maxInstances := fs.Int("max-instances", phonefleet.DefaultMaxInstances, "instance quota: the most instances the tenant may hold that are not released (0: unlimited)")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	} else if len(pos) != 1 {
		return usagef("usage: phonefleet tenant create NAME [--max-instances N]")
	} else if err := phonefleet.ValidateMaxInstances(*maxInstances); err != nil {
		return usagef("--max-instances: %s", phonefleet.ErrorMessage(err))
	} else if err := phonefleet.ValidateTenantName(pos[0]); err != nil {
		return err
	}
	// The natural first command: it may create the database.
	ops, done, err := c.openOperator(&of, StoreOptions{Create: true})
	if err != nil {
		return err
	}
	defer done()
	t, err := ops.CreateTenant(ctx, pos[0], *maxInstances)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(c.Stdout, t.ID)
	return err
}

// TenantUpdateCommand changes a tenant's instance quota.
type TenantUpdateCommand struct{ *Env }

// Run sets the quota and prints the tenant as one JSON object.
func (c *TenantUpdateCommand) Run(ctx context.Context, args []string) error {
	var of operatorFlags
	fs := c.newOperatorFlagSet("tenant update", "Usage: phonefleet tenant update NAME --max-instances N\n\nSets the tenant's instance quota (0: unlimited) and prints the tenant.\n", &of)
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
	ops, done, err := c.openOperator(&of, StoreOptions{})
	if err != nil {
		return err
	}
	defer done()
	t, err := ops.UpdateTenantQuota(ctx, pos[0], *maxInstances)
	if err != nil {
		return err
	}
	return writeJSONLines(c.Stdout, []*phonefleet.Tenant{t})
}

// TenantListCommand lists tenants.
type TenantListCommand struct{ *Env }

// Run prints one JSON object per tenant, with its instances by state.
func (c *TenantListCommand) Run(ctx context.Context, args []string) error {
	return runList(ctx, c.Env, args, "tenant list", "Usage: phonefleet tenant list\n\nPrints one JSON object per tenant, with \"instances\": its instances by state.\n", "",
		func(ctx context.Context, ops operatorAPI, _ string) ([]*phonefleet.TenantUsage, error) {
			return ops.Tenants(ctx)
		})
}

// TenantSuspendCommand suspends or resumes a tenant.
type TenantSuspendCommand struct {
	*Env
	suspend bool
}

// Run suspends or resumes the tenant and prints it as one JSON object.
func (c *TenantSuspendCommand) Run(ctx context.Context, args []string) error {
	name, usage := "tenant resume", "Usage: phonefleet tenant resume NAME\n\nEnds the tenant's suspension and prints the tenant.\n"
	if c.suspend {
		name, usage = "tenant suspend", "Usage: phonefleet tenant suspend NAME\n\nEvery API of the tenant answers KOOPHONE.API.1004 \"Services not subscribed.\"\n(within the token cache TTL on every node) while its phones keep running;\nprints the tenant.\n"
	}
	var t *phonefleet.Tenant
	err := runOneID(ctx, c.Env, args, name, usage, "usage: phonefleet "+name+" NAME",
		func(ctx context.Context, ops operatorAPI, tenant string) (err error) {
			t, err = ops.SetTenantSuspended(ctx, tenant, c.suspend)
			return err
		})
	if err != nil || t == nil {
		return err
	}
	return writeJSONLines(c.Stdout, []*phonefleet.Tenant{t})
}

// TenantDeleteCommand deletes a tenant that holds nothing.
type TenantDeleteCommand struct{ *Env }

// Run deletes the tenant.
func (c *TenantDeleteCommand) Run(ctx context.Context, args []string) error {
	return runOneID(ctx, c.Env, args, "tenant delete", "Usage: phonefleet tenant delete NAME\n\nDeletes the tenant with its users, keys, tokens and the records of its\nreleased instances; refused while it holds an instance that is not released.\nIts audit events stay.\n", "usage: phonefleet tenant delete NAME",
		func(ctx context.Context, ops operatorAPI, tenant string) error {
			return ops.DeleteTenant(ctx, tenant)
		})
}
