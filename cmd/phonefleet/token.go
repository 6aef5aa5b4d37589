package main

import (
	"context"
	"fmt"
	"time"

	"github.com/phonefleet/phonefleet"
)

const tokenUsage = `Usage:

	phonefleet token issue --tenant NAME [--role admin|viewer] [--ttl 24h] [--name LABEL]
	    prints the token, alone; it is shown only this once
	phonefleet token list [--tenant NAME]
	    prints one JSON object per token (never the secret)
	phonefleet token revoke TOKEN_ID
	    TOKEN_ID is the part of a token before its first ".", or the whole token
`

// newTokenCommand returns the token commands.
func newTokenCommand(env *Env) command {
	return newGroup(env, "token", tokenUsage,
		leaf{"issue", &TokenIssueCommand{Env: env}},
		leaf{"list", &TokenListCommand{Env: env}},
		leaf{"revoke", &TokenRevokeCommand{Env: env}},
	)
}

// TokenIssueCommand issues an API token.
type TokenIssueCommand struct{ *Env }

// Run issues the token and prints it, alone.
func (c *TokenIssueCommand) Run(ctx context.Context, args []string) error {
	var of operatorFlags
	var tenant, role, name string
	var ttl time.Duration
	fs := c.newOperatorFlagSet("token issue", "Usage: phonefleet token issue --tenant NAME [--role admin|viewer] [--ttl 24h] [--name LABEL]\n\nPrints the token, alone; it is shown only this once.\n", &of)
	fs.StringVar(&tenant, "tenant", "", "tenant name")
	fs.StringVar(&role, "role", phonefleet.RoleAdmin, "admin (every action) or viewer (the three queries)")
	fs.DurationVar(&ttl, "ttl", phonefleet.DefaultTokenTTL, "lifetime of the token")
	fs.StringVar(&name, "name", "", "a label for the token")
	if err := parseNoArgs(fs, args); err != nil {
		return err
	} else if tenant == "" {
		return usagef("--tenant is required")
	} else if ttl <= 0 {
		return usagef("--ttl must be positive")
	}
	if _, err := phonefleet.RoleActions(role); err != nil {
		return usagef("--role: %s", phonefleet.ErrorMessage(err))
	}
	ops, done, err := c.openOperator(&of, StoreOptions{})
	if err != nil {
		return err
	}
	defer done()
	secret, _, err := ops.IssueToken(ctx, tenant, role, name, ttl)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(c.Stdout, secret)
	return err
}

// TokenListCommand lists tokens.
type TokenListCommand struct{ *Env }

// Run prints one JSON object per token, never the secret.
func (c *TokenListCommand) Run(ctx context.Context, args []string) error {
	return runList(ctx, c.Env, args, "token list", "Usage: phonefleet token list [--tenant NAME]\n\nPrints one JSON object per token (never the secret).\n", "only this tenant's tokens",
		func(ctx context.Context, ops operatorAPI, tenant string) ([]*phonefleet.Token, error) {
			return ops.Tokens(ctx, tenant)
		})
}

// TokenRevokeCommand revokes a token.
type TokenRevokeCommand struct{ *Env }

// Run revokes the token given by its ID or whole.
func (c *TokenRevokeCommand) Run(ctx context.Context, args []string) error {
	return runOneID(ctx, c.Env, args, "token revoke", "Usage: phonefleet token revoke TOKEN_ID\n\nTOKEN_ID is the part of a token before its first \".\", or the whole token.\n", "usage: phonefleet token revoke TOKEN_ID",
		func(ctx context.Context, ops operatorAPI, id string) error {
			return ops.RevokeToken(ctx, id)
		})
}

// issueToken creates a token of tenant t with the role's actions and returns
// its secret (shown once) and the stored token.
func issueToken(ctx context.Context, store phonefleet.Store, t *phonefleet.Tenant, role, name string, ttl time.Duration) (string, *phonefleet.Token, error) {
	actions, err := phonefleet.RoleActions(role)
	if err != nil {
		return "", nil, err
	}
	secret, id := phonefleet.NewTokenSecret()
	now := time.Now().UTC()
	// On PostgreSQL, expiry is measured by the database server's clock.
	if c, ok := store.(interface{ Clock() time.Time }); ok {
		now = c.Clock()
	}
	tok := &phonefleet.Token{
		ID: id, TenantID: t.ID, TenantName: t.Name, Name: name, Actions: actions,
		Hash: phonefleet.HashToken(secret), CreatedAt: now, ExpiresAt: now.Add(ttl),
	}
	if err := store.CreateToken(ctx, tok); err != nil {
		return "", nil, err
	}
	return secret, tok, nil
}
