package main

import (
	"context"
	"flag"
	"fmt"
	"time"

	"github.com/phonefleet/phonefleet"
	"github.com/phonefleet/phonefleet/client"
)

// operatorAPI is what the operator commands do. phonefleet.Admin does it on
// a database the command opens; client.Admin through a server's admin API,
// with an operator's stored login.
type operatorAPI interface {
	Tenants(ctx context.Context) ([]*phonefleet.TenantUsage, error)
	CreateTenant(ctx context.Context, name string, maxInstances int) (*phonefleet.Tenant, error)
	UpdateTenantQuota(ctx context.Context, name string, maxInstances int) (*phonefleet.Tenant, error)
	UpdateTenantPeriods(ctx context.Context, name string, u phonefleet.TenantPeriodsUpdate) (*phonefleet.Tenant, error)
	SetTenantSuspended(ctx context.Context, name string, suspended bool) (*phonefleet.Tenant, error)
	DeleteTenant(ctx context.Context, name string) error
	IssueToken(ctx context.Context, tenant, role, name string, ttl time.Duration) (string, *phonefleet.Token, error)
	Tokens(ctx context.Context, tenant string) ([]*phonefleet.Token, error)
	RevokeToken(ctx context.Context, id string) error
	CreateUser(ctx context.Context, tenant, name, role, password string) (*phonefleet.User, error)
	Users(ctx context.Context, tenant string) ([]*phonefleet.User, error)
	UpdateUser(ctx context.Context, tenant, name string, disable bool, password *string) (*phonefleet.User, error)
	CreateAccessKey(ctx context.Context, tenant, user string) (*phonefleet.AccessKey, error)
	AccessKeys(ctx context.Context, tenant string) ([]*phonefleet.AccessKey, error)
	DeleteAccessKey(ctx context.Context, id string) error
	SKUs(ctx context.Context) ([]*phonefleet.SKU, error)
	CreateSKU(ctx context.Context, s *phonefleet.SKU) error
	SetSKUPrice(ctx context.Context, id string, p phonefleet.RegionPrice) (*phonefleet.SKU, error)
	RetireSKU(ctx context.Context, id string) (*phonefleet.SKU, error)
	Jobs(ctx context.Context, f phonefleet.JobFilter) ([]*phonefleet.Command, error)
	RetryJob(ctx context.Context, id string) error
	Audit(ctx context.Context, tenant string, f phonefleet.AuditFilter) ([]*phonefleet.AuditEvent, error)
	Refunds(ctx context.Context, tenant string) ([]*phonefleet.Refund, error)
}

var (
	_ operatorAPI = (*phonefleet.Admin)(nil)
	_ operatorAPI = (*client.Admin)(nil)
)

// operatorFlags are the flags that say where an operator command acts:
// --db, or --endpoint with a stored operator login.
type operatorFlags struct {
	fs       *flagSet
	dsn      string
	endpoint string
}

// newOperatorFlagSet returns the flags of an operator command: --db and
// --endpoint.
func (e *Env) newOperatorFlagSet(name, usageText string, of *operatorFlags) *flagSet {
	fs := e.newFlagSet(name, usageText+operatorWhere, &of.dsn)
	fs.StringVar(&of.endpoint, "endpoint", "", "server URL of a stored operator login (phonefleet login --operator); env PHONEFLEET_ENDPOINT")
	of.fs = fs
	return fs
}

// operatorWhere is the end of every operator command's usage.
const operatorWhere = `
Where it acts: with --db (or env PHONEFLEET_DB) on that database; else,
when there is a stored operator login (phonefleet login --operator) for
--endpoint (env PHONEFLEET_ENDPOINT) or, without one, the latest operator
login, through that server's admin API; else on the database file
phonefleet.db.
`

// openOperator returns where the command acts, by the rule of
// operatorWhere, and a function that releases it. opts are the store's
// options when it is a database.
func (e *Env) openOperator(of *operatorFlags, opts StoreOptions) (operatorAPI, func(), error) {
	dbGiven := e.Getenv("PHONEFLEET_DB") != ""
	of.fs.Visit(func(f *flag.Flag) { dbGiven = dbGiven || f.Name == "db" })
	if !dbGiven {
		endpoint := of.endpoint
		if endpoint == "" {
			endpoint = e.Getenv("PHONEFLEET_ENDPOINT")
		}
		l, err := e.operatorLogin(endpoint)
		if err != nil {
			return nil, nil, err
		}
		if l != nil {
			return client.NewAdmin(l.Endpoint, l.Token), func() {}, nil
		}
	}
	store, err := openStore(of.dsn, opts)
	if err != nil {
		return nil, nil, err
	}
	return &phonefleet.Admin{Store: store}, func() { store.Close() }, nil
}

// operatorLogin returns the stored operator login of endpoint, or the
// latest one when endpoint is ""; nil when there is none. An endpoint
// given without a login of its own is an error: a token never goes to a
// server it was not issued by.
func (e *Env) operatorLogin(endpoint string) (*loginConfig, error) {
	if _, err := e.configPath(); err != nil && endpoint == "" {
		return nil, nil // no home, so no stored login: the database it is
	}
	logins, err := e.loadLogins()
	if err != nil {
		return nil, err
	}
	if endpoint == "" {
		return logins.Operators[logins.CurrentOperator], nil
	}
	key, err := normalizeEndpoint(endpoint)
	if err != nil {
		return nil, usagef("--endpoint (or PHONEFLEET_ENDPOINT) %s", err)
	}
	l := logins.Operators[key]
	if l == nil {
		return nil, usagef("no operator login at %s: run phonefleet login --operator --endpoint %s --user NAME --password-stdin, or give --db", key, key)
	}
	return l, nil
}

const operatorUsage = `Usage:

	phonefleet operator create NAME [--role operator-admin|operator-viewer] [--password-stdin]
	phonefleet operator list
	phonefleet operator disable NAME
	phonefleet operator passwd NAME

Operators are the users of the built-in domain phonefleet-operators. They
sign in with POST /v3/auth/tokens (domain phonefleet-operators), or with
phonefleet login --operator, and use the admin API: operator-admin may do
everything, operator-viewer only read. Passwords are read from stdin.
`

// newOperatorCommand returns the operator commands.
func newOperatorCommand(env *Env) command {
	return newGroup(env, "operator", operatorUsage,
		leaf{"create", &OperatorCreateCommand{Env: env}},
		leaf{"list", &OperatorListCommand{Env: env}},
		leaf{"disable", &OperatorUpdateCommand{Env: env, disable: true}},
		leaf{"passwd", &OperatorUpdateCommand{Env: env}},
	)
}

// OperatorCreateCommand creates an operator.
type OperatorCreateCommand struct{ *Env }

// Run creates the operator and prints its ID.
func (c *OperatorCreateCommand) Run(ctx context.Context, args []string) error {
	var of operatorFlags
	var role string
	var passwordStdin bool
	fs := c.newOperatorFlagSet("operator create", "Usage: phonefleet operator create NAME [--role operator-admin|operator-viewer] [--password-stdin]\n\nReads the password from stdin (one line, 8-128 bytes); prints the operator's ID.\n", &of)
	fs.StringVar(&role, "role", phonefleet.RoleOperatorAdmin, "operator-admin (everything) or operator-viewer (reads only)")
	fs.BoolVar(&passwordStdin, "password-stdin", false, "read the password from stdin (the only way; accepted for clarity)")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	} else if len(pos) != 1 {
		return usagef("usage: phonefleet operator create NAME [--role operator-admin|operator-viewer]")
	} else if !phonefleet.ValidUserName(pos[0]) {
		return usagef("NAME must be 1-64 characters of [A-Za-z0-9._@-], starting with a letter or digit")
	} else if _, err := phonefleet.OperatorRoleActions(role); err != nil {
		return usagef("--role: %s", phonefleet.ErrorMessage(err))
	}
	pw, err := readPassword(c.Stdin)
	if err != nil {
		return err
	}
	// The first operator is made on a fresh database, like its first tenant.
	ops, done, err := c.openOperator(&of, StoreOptions{Create: true})
	if err != nil {
		return err
	}
	defer done()
	u, err := ops.CreateUser(ctx, phonefleet.OperatorDomain, pos[0], role, pw)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(c.Stdout, u.ID)
	return err
}

// OperatorListCommand lists operators.
type OperatorListCommand struct{ *Env }

// Run prints one JSON object per operator.
func (c *OperatorListCommand) Run(ctx context.Context, args []string) error {
	var of operatorFlags
	fs := c.newOperatorFlagSet("operator list", "Usage: phonefleet operator list\n\nPrints one JSON object per operator (never the password hash).\n", &of)
	if err := parseNoArgs(fs, args); err != nil {
		return err
	}
	ops, done, err := c.openOperator(&of, StoreOptions{})
	if err != nil {
		return err
	}
	defer done()
	us, err := ops.Users(ctx, phonefleet.OperatorDomain)
	if phonefleet.ErrorCode(err) == phonefleet.ENotFound {
		us, err = nil, nil // no operator yet
	}
	if err != nil {
		return err
	}
	return writeJSONLines(c.Stdout, us)
}

// OperatorUpdateCommand disables an operator or sets a new password from
// stdin; either ends the operator's tokens.
type OperatorUpdateCommand struct {
	*Env
	disable bool
}

// Run applies the change.
func (c *OperatorUpdateCommand) Run(ctx context.Context, args []string) error {
	name, usage := "operator passwd", "Usage: phonefleet operator passwd NAME\n\nReads the new password from stdin; the operator's tokens stop working.\n"
	if c.disable {
		name, usage = "operator disable", "Usage: phonefleet operator disable NAME\n\nThe operator can no longer sign in; its tokens stop working.\n"
	}
	var of operatorFlags
	fs := c.newOperatorFlagSet(name, usage, &of)
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	} else if len(pos) != 1 {
		return usagef("usage: phonefleet %s NAME", name)
	}
	var pw *string
	if !c.disable {
		p, err := readPassword(c.Stdin)
		if err != nil {
			return err
		}
		pw = &p
	}
	ops, done, err := c.openOperator(&of, StoreOptions{})
	if err != nil {
		return err
	}
	defer done()
	_, err = ops.UpdateUser(ctx, phonefleet.OperatorDomain, pos[0], c.disable, pw)
	return err
}
