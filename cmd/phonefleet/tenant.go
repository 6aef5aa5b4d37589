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

--max-instances is the most instances the tenant may hold that are not
released (0: unlimited). A new tenant gets 10000 unless told otherwise.
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
	var dsn string
	fs := c.newFlagSet("tenant update", tenantUpdateUsage, &dsn)
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
	fs.Visit(func(f *flag.Flag) { given[f.Name] = f.Name != "db" })
	delete(given, "db")
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
	store, err := openStore(dsn, StoreOptions{})
	if err != nil {
		return err
	}
	defer store.Close()

	var t *phonefleet.Tenant
	if given["max-instances"] {
		if t, err = store.UpdateTenantQuota(ctx, pos[0], *maxInstances); err != nil {
			return err
		}
	}
	if periods.Grace != nil || periods.Retention != nil {
		if t, err = store.UpdateTenantPeriods(ctx, pos[0], periods); err != nil {
			return err
		}
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
