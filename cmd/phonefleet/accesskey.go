package main

import (
	"context"
	"encoding/json"

	"github.com/phonefleet/phonefleet"
)

const accessKeyUsage = `Usage:

	phonefleet accesskey create --tenant NAME --user USER
	    prints {"access_key_id": "...", "secret_access_key": "..."}; the
	    secret is shown only this once. The key acts with the user's role.
	phonefleet accesskey list [--tenant NAME]
	    prints one JSON object per key (never the secret)
	phonefleet accesskey delete ACCESS_KEY_ID
`

// newAccessKeyCommand returns the accesskey commands: access keys (AK/SK)
// of tenant users, for clients that sign requests as Huawei Cloud's SDKs do.
func newAccessKeyCommand(env *Env) command {
	return newGroup(env, "accesskey", accessKeyUsage,
		leaf{"create", &AccessKeyCreateCommand{Env: env}},
		leaf{"list", &AccessKeyListCommand{Env: env}},
		leaf{"delete", &AccessKeyDeleteCommand{Env: env}},
	)
}

// AccessKeyCreateCommand creates an access key of a user.
type AccessKeyCreateCommand struct{ *Env }

// Run creates the key and prints its ID and secret as one JSON line.
func (c *AccessKeyCreateCommand) Run(ctx context.Context, args []string) error {
	var of operatorFlags
	var tenant, user string
	fs := c.newOperatorFlagSet("accesskey create", "Usage: phonefleet accesskey create --tenant NAME --user USER\n\nPrints {\"access_key_id\": ..., \"secret_access_key\": ...}; the secret is shown only this once.\n", &of)
	fs.StringVar(&tenant, "tenant", "", "tenant name")
	fs.StringVar(&user, "user", "", "the user the key acts as (with the user's role)")
	if err := parseNoArgs(fs, args); err != nil {
		return err
	} else if tenant == "" || user == "" {
		return usagef("--tenant and --user are required")
	}
	ops, done, err := c.openOperator(&of, StoreOptions{})
	if err != nil {
		return err
	}
	defer done()
	k, err := ops.CreateAccessKey(ctx, tenant, user)
	if err != nil {
		return err
	}
	return json.NewEncoder(c.Stdout).Encode(map[string]string{"access_key_id": k.ID, "secret_access_key": k.Secret})
}

// AccessKeyListCommand lists access keys.
type AccessKeyListCommand struct{ *Env }

// Run prints one JSON object per key, never the secret.
func (c *AccessKeyListCommand) Run(ctx context.Context, args []string) error {
	return runList(ctx, c.Env, args, "accesskey list", "Usage: phonefleet accesskey list [--tenant NAME]\n\nPrints one JSON object per key (never the secret).\n", "only this tenant's keys",
		func(ctx context.Context, ops operatorAPI, tenant string) ([]*phonefleet.AccessKey, error) {
			return ops.AccessKeys(ctx, tenant)
		})
}

// AccessKeyDeleteCommand deletes an access key.
type AccessKeyDeleteCommand struct{ *Env }

// Run deletes the key; signatures made with it fail from then on.
func (c *AccessKeyDeleteCommand) Run(ctx context.Context, args []string) error {
	return runOneID(ctx, c.Env, args, "accesskey delete", "Usage: phonefleet accesskey delete ACCESS_KEY_ID\n", "usage: phonefleet accesskey delete ACCESS_KEY_ID",
		func(ctx context.Context, ops operatorAPI, id string) error {
			return ops.DeleteAccessKey(ctx, id)
		})
}
