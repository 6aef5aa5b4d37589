package main

import (
	"context"
	"fmt"
	"time"

	"github.com/phonefleet/phonefleet"
	"github.com/phonefleet/phonefleet/client"
)

// LoginCommand signs a tenant user in with IAM and stores the token.
type LoginCommand struct{ *Env }

const loginUsage = `Usage: phonefleet login --endpoint URL --domain TENANT --user NAME --password-stdin
       phonefleet login --operator --endpoint URL --user NAME --password-stdin

Asks the server for an IAM token with the user's password (read from stdin,
never from a flag) and stores the token as the login of that endpoint in
$XDG_CONFIG_HOME/phonefleet/login.json (or ~/.config/phonefleet/login.json),
readable by you only, beside the logins of other endpoints. The instances
commands then use it: the latest login by default, or the login of the
endpoint named by --endpoint (env PHONEFLEET_ENDPOINT). A stored token is
never sent to another endpoint.

With --operator it signs an operator in (domain phonefleet-operators) and
stores an operator login, apart from tenant logins: the operator commands
(tenant, token, user, sku, jobs, audit, ...) given no --db then act through
that server's admin API.

Example:

	printf '%s\n' "$PASSWORD" | phonefleet login --endpoint http://127.0.0.1:8080 --domain acme --user alice --password-stdin
`

// Run parses the flags, logs in and stores the login.
func (c *LoginCommand) Run(ctx context.Context, args []string) error {
	if err := refuseDB(args); err != nil {
		return err
	}
	var rf remoteFlags
	var domain, user string
	var passwordStdin, operator bool
	fs := c.newRemoteFlagSet("login", loginUsage, &rf)
	fs.BoolVar(&operator, "operator", false, "sign an operator in (domain phonefleet-operators) and store an operator login")
	fs.StringVar(&domain, "domain", "", "the tenant's name (IAM domain)")
	fs.StringVar(&user, "user", "", "the user's name")
	fs.BoolVar(&passwordStdin, "password-stdin", false, "read the password from stdin (the only way; accepted for clarity)")
	if err := parseNoArgs(fs, args); err != nil {
		return err
	}
	endpoint := rf.endpoint
	if endpoint == "" {
		endpoint = c.Getenv("PHONEFLEET_ENDPOINT")
	}
	switch {
	case endpoint == "":
		return usagef("--endpoint is required (or env PHONEFLEET_ENDPOINT)")
	case endpointErr(endpoint) != nil:
		return usagef("--endpoint %s", endpointErr(endpoint))
	case operator && domain != "" && domain != phonefleet.OperatorDomain:
		return usagef("--domain is not a flag of login --operator: operators sign in to %s", phonefleet.OperatorDomain)
	case operator:
		domain = phonefleet.OperatorDomain
	case domain == "":
		return usagef("--domain is required")
	case user == "":
		return usagef("--user is required")
	case rf.token != "":
		return usagef("--token is not a flag of login: login gets a token")
	}
	password, err := readPassword(c.Stdin)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	tok, err := client.Login(ctx, nil, endpoint, domain, user, password)
	if err != nil {
		return err
	}
	save := c.saveLogin
	if operator {
		save = c.saveOperatorLogin
	}
	path, err := save(&loginConfig{Endpoint: endpoint, Token: tok.Token, Domain: domain, User: user, ExpiresAt: tok.ExpiresAt})
	if err != nil {
		return fmt.Errorf("store the login: %w", err)
	}
	fmt.Fprintf(c.Stderr, "logged in as %s of %s at %s until %s; saved in %s\n", user, domain, endpoint, tok.ExpiresAt.Format(time.RFC3339), path)
	return nil
}

// endpointErr says what is wrong with s as the endpoint of a login; nil
// when nothing is.
func endpointErr(s string) error {
	_, err := normalizeEndpoint(s)
	return err
}
