package main

import (
	"context"
	"fmt"
	"time"

	"github.com/phonefleet/phonefleet"
)

// TokenCommand issues, lists and revokes API tokens.
type TokenCommand struct{ *Env }

const tokenUsage = `Usage:

	phonefleet token issue --tenant NAME [--role admin|viewer] [--ttl 24h] [--name LABEL]
	    prints the token, alone; it is shown only this once
	phonefleet token list [--tenant NAME]
	    prints one JSON object per token (never the secret)
	phonefleet token revoke TOKEN_ID
	    TOKEN_ID is the part of a token before its first ".", or the whole token
`

// Run dispatches the token subcommands.
func (c *TokenCommand) Run(ctx context.Context, args []string) error {
	var dsn, tenant, role, name string
	var ttl time.Duration
	fs := c.newFlagSet("token", tokenUsage, &dsn)
	fs.StringVar(&tenant, "tenant", "", "tenant name")
	fs.StringVar(&role, "role", phonefleet.RoleAdmin, "admin (every action) or viewer (the three queries)")
	fs.DurationVar(&ttl, "ttl", phonefleet.DefaultTokenTTL, "lifetime of the token")
	fs.StringVar(&name, "name", "", "a label for the token")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) == 0 {
		return usagef("missing subcommand: issue, list or revoke")
	}
	switch {
	case pos[0] == "issue" && len(pos) == 1:
		if tenant == "" {
			return usagef("--tenant is required")
		} else if ttl <= 0 {
			return usagef("--ttl must be positive")
		}
		if _, err := phonefleet.RoleActions(role); err != nil {
			return usagef("%s", phonefleet.ErrorMessage(err))
		}
	case pos[0] == "list" && len(pos) == 1:
	case pos[0] == "revoke" && len(pos) == 2:
	default:
		return usagef("usage: phonefleet token issue|list|revoke (see -h)")
	}

	store, err := openStore(dsn, StoreOptions{})
	if err != nil {
		return err
	}
	defer store.Close()

	switch pos[0] {
	case "issue":
		t, err := findTenant(ctx, store, tenant)
		if err != nil {
			return err
		}
		secret, _, err := issueToken(ctx, store, t, role, name, ttl)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintln(c.Stdout, secret)
		return err
	case "list":
		var filter phonefleet.TokenFilter
		if filter.TenantID, err = tenantIDFilter(ctx, store, tenant); err != nil {
			return err
		}
		tokens, err := store.FindTokens(ctx, filter)
		if err != nil {
			return err
		}
		return writeJSONLines(c.Stdout, tokens)
	}
	return store.RevokeToken(ctx, phonefleet.TokenID(pos[1]))
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
	tok := &phonefleet.Token{
		ID: id, TenantID: t.ID, TenantName: t.Name, Name: name, Actions: actions,
		Hash: phonefleet.HashToken(secret), CreatedAt: now, ExpiresAt: now.Add(ttl),
	}
	if err := store.CreateToken(ctx, tok); err != nil {
		return "", nil, err
	}
	return secret, tok, nil
}
