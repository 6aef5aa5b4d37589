package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/phonefleet/phonefleet"
)

const userUsage = `Usage:

	phonefleet user create --tenant NAME --name USER [--role admin|viewer] [--password-stdin]
	    reads the password from stdin (one line, 8-128 bytes); prints the user's ID
	phonefleet user list [--tenant NAME]
	    prints one JSON object per user (never the password hash)
	phonefleet user disable --tenant NAME USER
	    the user can no longer sign in; its tokens stop working within the
	    server's token cache TTL, and its access keys at once
	phonefleet user passwd --tenant NAME USER [--password-stdin]
	    reads the new password from stdin; ends the user's tokens likewise

Passwords are only ever read from stdin, never from a flag or the environment:

	printf '%s\n' "$PASSWORD" | phonefleet user create --tenant acme --name alice --password-stdin
`

// newUserCommand returns the user commands: tenant users sign in with
// POST /v3/auth/tokens or sign requests with an access key.
func newUserCommand(env *Env) command {
	return newGroup(env, "user", userUsage,
		leaf{"create", &UserCreateCommand{Env: env}},
		leaf{"list", &UserListCommand{Env: env}},
		leaf{"disable", &UserUpdateCommand{Env: env, disable: true}},
		leaf{"passwd", &UserUpdateCommand{Env: env}},
	)
}

// UserCreateCommand creates a tenant user with a password from stdin.
type UserCreateCommand struct{ *Env }

// Run creates the user and prints its ID.
func (c *UserCreateCommand) Run(ctx context.Context, args []string) error {
	var of operatorFlags
	var tenant, name, role string
	var passwordStdin bool
	fs := c.newOperatorFlagSet("user create", "Usage: phonefleet user create --tenant NAME --name USER [--role admin|viewer] [--password-stdin]\n\nReads the password from stdin (one line, 8-128 bytes); prints the user's ID.\n", &of)
	fs.StringVar(&tenant, "tenant", "", "tenant name")
	fs.StringVar(&name, "name", "", "user name")
	fs.StringVar(&role, "role", phonefleet.RoleAdmin, "admin (every action) or viewer (the three queries)")
	fs.BoolVar(&passwordStdin, "password-stdin", false, "read the password from stdin (the only way; accepted for clarity)")
	if err := parseNoArgs(fs, args); err != nil {
		return err
	} else if tenant == "" || name == "" {
		return usagef("--tenant and --name are required")
	} else if !phonefleet.ValidUserName(name) {
		return usagef("--name must be 1-64 characters of [A-Za-z0-9._@-], starting with a letter or digit")
	} else if _, err := phonefleet.RoleActions(role); err != nil {
		return usagef("--role: %s", phonefleet.ErrorMessage(err))
	}
	// Read the password before touching the database, so that a bad one
	// changes nothing.
	pw, err := readPassword(c.Stdin)
	if err != nil {
		return err
	}
	if tenant == phonefleet.OperatorDomain {
		return usagef("--tenant %s is the operators' domain: use phonefleet operator create", tenant)
	}
	ops, done, err := c.openOperator(&of, StoreOptions{})
	if err != nil {
		return err
	}
	defer done()
	u, err := ops.CreateUser(ctx, tenant, name, role, pw)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(c.Stdout, u.ID)
	return err
}

// UserListCommand lists tenant users.
type UserListCommand struct{ *Env }

// Run prints one JSON object per user.
func (c *UserListCommand) Run(ctx context.Context, args []string) error {
	return runList(ctx, c.Env, args, "user list", "Usage: phonefleet user list [--tenant NAME]\n\nPrints one JSON object per user (never the password hash).\n", "only this tenant's users",
		func(ctx context.Context, ops operatorAPI, tenant string) ([]*phonefleet.User, error) {
			return ops.Users(ctx, tenant)
		})
}

// UserUpdateCommand disables a user, or sets a new password from stdin.
// Either ends the user's tokens.
type UserUpdateCommand struct {
	*Env
	disable bool
}

// Run applies the change.
func (c *UserUpdateCommand) Run(ctx context.Context, args []string) error {
	var of operatorFlags
	var tenant string
	var passwordStdin bool
	name, help := "user passwd", "Usage: phonefleet user passwd --tenant NAME USER [--password-stdin]\n\nReads the new password from stdin; the user's tokens stop working.\n"
	if c.disable {
		name, help = "user disable", "Usage: phonefleet user disable --tenant NAME USER\n\nThe user can no longer sign in; its tokens and access keys stop working.\n"
	}
	fs := c.newOperatorFlagSet(name, help, &of)
	fs.StringVar(&tenant, "tenant", "", "tenant name")
	if !c.disable {
		fs.BoolVar(&passwordStdin, "password-stdin", false, "read the password from stdin (the only way; accepted for clarity)")
	}
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	} else if len(pos) != 1 {
		return usagef("usage: phonefleet %s --tenant NAME USER", name)
	} else if tenant == "" {
		return usagef("--tenant is required")
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
	_, err = ops.UpdateUser(ctx, tenant, pos[0], c.disable, pw)
	return err
}

// maxPasswordInput bounds what is read from stdin for a password.
const maxPasswordInput = 4096

// readPassword reads one line from r (a final newline is dropped) and
// checks it with phonefleet.ValidatePassword.
func readPassword(r io.Reader) (string, error) {
	if r == nil {
		return "", usagef("the password must come on stdin")
	}
	buf, err := io.ReadAll(io.LimitReader(r, maxPasswordInput+1))
	if err != nil {
		return "", fmt.Errorf("read password from stdin: %w", err)
	} else if len(buf) > maxPasswordInput {
		return "", errors.New("password on stdin is too long")
	}
	pw := strings.TrimSuffix(strings.TrimSuffix(string(buf), "\n"), "\r")
	if pw == "" {
		return "", usagef("the password must come on stdin (none was given)")
	} else if strings.ContainsAny(pw, "\r\n") {
		return "", usagef("the password on stdin must be one line")
	}
	if err := phonefleet.ValidatePassword(pw); err != nil {
		return "", err
	}
	return pw, nil
}
