package main

import (
	"context"
	"flag"
	"fmt"

	"github.com/phonefleet/phonefleet"
)

const tenantUsage = `Usage:

	phonefleet tenant create NAME [--max-instances N]   prints the new tenant's ID
	phonefleet tenant update NAME [--max-instances N] [--grace-period D] [--retention-period D]
	                                                    sets the tenant's quota and lifecycle periods
	phonefleet tenant list                              prints one JSON object per tenant
	phonefleet tenant suspend NAME                      refuses every API of the tenant (KOOPHONE.API.1004)
	phonefleet tenant resume NAME                       ends a suspension
	phonefleet tenant delete NAME                       deletes a tenant that holds no instance

--max-instances is the most instances the tenant may hold that are not
released (0: unlimited). A new tenant gets 10000 unless told otherwise.
A suspended tenant's phones keep running; its API calls all answer
KOOPHONE.API.1004 "Services not subscribed." until it is resumed.
--grace-period and --retention-period (Go durations such as 168h) replace
the deployment's (serve --grace-period, --retention-period) for the
tenant's yearly/monthly instances: how long an expired one keeps working,
then how long a frozen one is kept before it is released.
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

// TenantUpdateCommand changes a tenant's instance quota and lifecycle
// periods.
type TenantUpdateCommand struct{ *Env }

const tenantUpdateUsage = `Usage: phonefleet tenant update NAME [--max-instances N] [--grace-period D] [--retention-period D]

Sets the tenant's instance quota (0: unlimited) and its own lifecycle
periods, and prints the tenant. At least one flag is required.
`

// Run checks every flag given, then sets the quota and the periods, and
// prints the tenant as one JSON object.
func (c *TenantUpdateCommand) Run(ctx context.Context, args []string) error {
	var of operatorFlags
	fs := c.newOperatorFlagSet("tenant update", tenantUpdateUsage, &of)
	maxInstances := fs.Int("max-instances", -1, "instance quota: the most instances the tenant may hold that are not released (0: unlimited)")
	grace := fs.Duration("grace-period", 0, "how long the tenant's expired yearly/monthly instances keep working before they are frozen")
	retention := fs.Duration("retention-period", 0, "how long the tenant's frozen instances are kept before they are released")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	} else if len(pos) != 1 {
		return usagef("usage: phonefleet tenant update NAME [--max-instances N] [--grace-period D] [--retention-period D]")
	}
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	delete(given, "db")
	delete(given, "endpoint")
	var periods phonefleet.TenantPeriodsUpdate
	if given["grace-period"] {
		periods.Grace = grace
	}
	if given["retention-period"] {
		periods.Retention = retention
	}
	switch {
	case len(given) == 0:
		return usagef("one of --max-instances, --grace-period or --retention-period is required")
	case given["max-instances"] && phonefleet.ValidateMaxInstances(*maxInstances) != nil:
		return usagef("--max-instances: %s", phonefleet.ErrorMessage(phonefleet.ValidateMaxInstances(*maxInstances)))
	case given["grace-period"] && phonefleet.ValidateLifecyclePeriod("--grace-period", *grace) != nil:
		return usagef("%s", phonefleet.ErrorMessage(phonefleet.ValidateLifecyclePeriod("--grace-period", *grace)))
	case given["retention-period"] && phonefleet.ValidateLifecyclePeriod("--retention-period", *retention) != nil:
		return usagef("%s", phonefleet.ErrorMessage(phonefleet.ValidateLifecyclePeriod("--retention-period", *retention)))
	}
	ops, done, err := c.openOperator(&of, StoreOptions{})
	if err != nil {
		return err
	}
	defer done()

	var t *phonefleet.Tenant
	if given["max-instances"] {
		if t, err = ops.UpdateTenantQuota(ctx, pos[0], *maxInstances); err != nil {
			return err
		}
	}
	if periods.Grace != nil || periods.Retention != nil {
		if t, err = ops.UpdateTenantPeriods(ctx, pos[0], periods); err != nil {
			return err
		}
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
