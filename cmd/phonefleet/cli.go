package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/phonefleet/phonefleet"
)

const usage = `phonefleet is a self-hosted control plane for cloud-phone fleets that speaks the KooPhone Open API.

Usage:

	phonefleet <command> [arguments]

Commands:

	serve      run the API server (and the data-plane command worker)
	migrate    create or upgrade the database; --status lists the migrations
	tenant     create, list, suspend, resume and delete tenants
	token      issue, list and revoke API tokens
	user       create, list, disable tenant users and change their passwords
	accesskey  create, list and delete access keys (AK/SK) of tenant users
	sku        list and add catalogue SKUs, price them per region, retire them
	audit      print the audit trail
	refunds    print refunds
	jobs       list data-plane commands (jobs) and retry failed ones
	clock      show or move a tenant's test clock (business time)
	copy       copy an installation to another store (SQLite to PostgreSQL)
	backup     copy a live SQLite database to a file, consistently
	restore    put a backup in place of a SQLite database not in use
	check      check a store's rows against each other (refunds, jobs, quotas)
	bench      measure the server against a static handler on this machine
	version    print the version, commit, build time and Go version (also --version)
	operator   create, list, disable operators and change their passwords

Tenant commands (they talk to a server, not to a database):

	login      sign a tenant user (or, with --operator, an operator) in and store the token
	instances  list, buy, unsubscribe, delete-pay-per-use, status, assign, reboot, reset

Every operator command takes --db (a file path or a postgres:// URL; default
phonefleet.db, env PHONEFLEET_DB); after "phonefleet login --operator" the
operator commands given no --db go through that server's admin API instead.
Tenant commands take --endpoint and --token, or use the stored login. Run
"phonefleet <command> -h" for its flags.
`

// Run runs the command line args with the given output streams and no
// input, and returns the process exit code: 0 on success, 1 on a failure, 2
// on a usage error.
func Run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return RunIO(ctx, args, nil, stdout, stderr)
}

// RunIO is Run with stdin, where passwords are read from (nil: none).
func RunIO(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	env := &Env{Stdin: stdin, Stdout: stdout, Stderr: stderr, Getenv: os.Getenv}
	args = hoistGlobalFlags(args)
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "-h", "--help", "help":
		fmt.Fprint(stdout, usage)
		return 0
	case "--version", "-version":
		args[0] = "version"
	}
	cmd, ok := commands(env)[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "phonefleet: unknown command %q\n\n%s", args[0], usage)
		return 2
	}

	err := cmd.Run(ctx, args[1:])
	var uerr *usageError
	var cerrs ConfigErrors
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, &uerr):
		fmt.Fprintf(stderr, "phonefleet %s: %s\n", args[0], uerr.msg)
		return 2
	case errors.As(err, &cerrs):
		fmt.Fprintf(stderr, "phonefleet %s: %s\n", args[0], cerrs)
		return 2
	case phonefleet.ErrorCode(err) != phonefleet.EInternal:
		fmt.Fprintf(stderr, "phonefleet %s: %s\n", args[0], phonefleet.ErrorMessage(err))
		return 1
	default:
		fmt.Fprintf(stderr, "phonefleet %s: %s\n", args[0], err)
		return 1
	}
}

// command is one command of the CLI: a leaf such as "token issue", or a
// group that dispatches to its leaves.
type command interface {
	Run(ctx context.Context, args []string) error
}

// commands returns the top-level commands by name. A new command is a new
// file with its type and one line here.
func commands(env *Env) map[string]command {
	return map[string]command{
		"serve":     &ServeCommand{Env: env},
		"migrate":   &MigrateCommand{Env: env},
		"tenant":    newTenantCommand(env),
		"token":     newTokenCommand(env),
		"user":      newUserCommand(env),
		"accesskey": newAccessKeyCommand(env),
		"sku":       newSKUCommand(env),
		"audit":     &AuditCommand{Env: env},
		"refunds":   &RefundsCommand{Env: env},
		"jobs":      newJobsCommand(env),
		"clock":     newClockCommand(env),
		"bench":     &BenchCommand{Env: env},
		"copy":      &CopyCommand{Env: env},
		"backup":    &BackupCommand{Env: env},
		"restore":   &RestoreCommand{Env: env},
		"check":     &CheckCommand{Env: env},
		"login":     &LoginCommand{Env: env},
		"instances": newInstancesCommand(env),
		"version":   &VersionCommand{Env: env},
		"operator":  newOperatorCommand(env),
	}
}

// group is a command whose first argument names one of its leaf commands,
// each with its own flags: "token revoke X --ttl 1h" is a usage error since
// --ttl is a flag of "token issue" only.
type group struct {
	*Env
	name   string // e.g. "token"
	usage  string // printed by "phonefleet NAME -h"
	names  []string
	leaves map[string]command
	// dflt, if set, is the leaf run when the first argument names none
	// (as "jobs --state failed" lists jobs).
	dflt command
}

// leaf is a named leaf command of a group.
type leaf struct {
	name string
	cmd  command
}

// newGroup returns a group of leaves, in the order its messages list them.
func newGroup(env *Env, name, usage string, leaves ...leaf) *group {
	g := &group{Env: env, name: name, usage: usage, leaves: make(map[string]command)}
	for _, l := range leaves {
		g.names = append(g.names, l.name)
		g.leaves[l.name] = l.cmd
	}
	return g
}

// Run dispatches to the leaf named by the first argument; a leading --db
// moves behind it, so "token --db x.db list" works. When no leaf is named,
// the default leaf gets the arguments as given, so "jobs --db x.db --type
// reboot" keeps --type's value beside --type.
func (g *group) Run(ctx context.Context, args []string) error {
	if hoisted := hoistGlobalFlags(args); len(hoisted) > 0 {
		switch hoisted[0] {
		case "-h", "--help", "-help":
			fmt.Fprint(g.Stdout, g.usage)
			return flag.ErrHelp
		}
		if leaf, ok := g.leaves[hoisted[0]]; ok {
			return leaf.Run(ctx, hoisted[1:])
		}
		if g.dflt == nil {
			args = hoisted
		}
	}
	if g.dflt != nil {
		return g.dflt.Run(ctx, args)
	}
	choices := strings.Join(g.names[:len(g.names)-1], ", ") + " or " + g.names[len(g.names)-1]
	if len(args) == 0 {
		return usagef("missing subcommand: %s", choices)
	}
	return usagef("unknown subcommand %q: %s", args[0], choices)
}

// hoistGlobalFlags moves a leading --db flag behind the command name, so that
// "phonefleet --db x.db tenant list" works like "phonefleet tenant list --db x.db".
func hoistGlobalFlags(args []string) []string {
	var global []string
	for len(args) > 0 {
		switch a := args[0]; {
		case (a == "--db" || a == "-db") && len(args) > 1:
			global, args = append(global, args[:2]...), args[2:]
		case strings.HasPrefix(a, "--db=") || strings.HasPrefix(a, "-db="):
			global, args = append(global, a), args[1:]
		default:
			if len(global) == 0 || len(args) == 0 {
				return args
			}
			return append(append([]string{args[0]}, global...), args[1:]...)
		}
	}
	return global
}

// Env is what a command may touch of the process: output streams and the
// environment, so tests can run commands in-process.
type Env struct {
	Stdin  io.Reader // nil: no input
	Stdout io.Writer
	Stderr io.Writer
	Getenv func(string) string
}

// usageError is a command line mistake; it exits with status 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return &usageError{msg: fmt.Sprintf(format, args...)} }

// flagSet is a command's flags and the usage that -h prints.
type flagSet struct {
	*flag.FlagSet
	printUsage func()
}

// newFlagSet returns the flags of a command whose -h prints usageText to
// stdout, with the common --db flag registered into dsn. Parse errors print
// nothing but their message, on stderr (see Run): stdout carries only
// results.
func (e *Env) newFlagSet(name, usageText string, dsn *string) *flagSet {
	fs := &flagSet{FlagSet: flag.NewFlagSet(name, flag.ContinueOnError)}
	fs.SetOutput(io.Discard)
	fs.Usage = func() {} // the flag package calls it on every parse error
	def := DefaultDB
	if v := e.Getenv("PHONEFLEET_DB"); v != "" {
		def = v
	}
	fs.StringVar(dsn, "db", def, "database: a SQLite file path or a postgres:// URL (env PHONEFLEET_DB)")
	fs.printUsage = func() {
		fmt.Fprint(e.Stdout, usageText, "\nFlags:\n")
		fs.SetOutput(e.Stdout)
		fs.PrintDefaults()
		fs.SetOutput(io.Discard)
	}
	return fs
}

// parseArgs parses flags that may stand before, between or after positional
// arguments, as users type them ("token revoke ID --db x"), and returns the
// positional arguments. A lone "--" ends flag parsing. -h prints the usage
// once and returns flag.ErrHelp.
func parseArgs(fs *flagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				if fs.printUsage != nil {
					fs.printUsage()
				}
				return nil, err
			}
			return nil, usagef("%s (see -h)", err)
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		if len(args) > 0 && len(rest) < len(args) && args[len(args)-len(rest)-1] == "--" {
			return append(pos, rest...), nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

// parseNoArgs parses the flags of a command that takes no positional
// arguments.
func parseNoArgs(fs *flagSet, args []string) error {
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	} else if len(pos) > 0 {
		return usagef("unexpected argument %q", pos[0])
	}
	return nil
}

// findTenant resolves a tenant name given with --tenant.
func findTenant(ctx context.Context, store phonefleet.Store, name string) (*phonefleet.Tenant, error) {
	if name == "" {
		return nil, usagef("--tenant is required")
	}
	return store.FindTenantByName(ctx, name)
}

// writeJSONLines writes one JSON object per line.
func writeJSONLines[T any](w io.Writer, items []T) error {
	enc := json.NewEncoder(w)
	for _, it := range items {
		if err := enc.Encode(it); err != nil {
			return err
		}
	}
	return nil
}

// runList is an operator list command: it parses no positional arguments
// and, when tenantHelp is not empty, an optional --tenant NAME (with that
// help); opens where the command acts (openOperator), calls find with the
// tenant's name ("": every tenant) and prints what it returns as JSON
// lines. It serves token list, accesskey list, user list, refunds, sku list
// and tenant list.
func runList[T any](ctx context.Context, e *Env, args []string, name, usageText, tenantHelp string, find func(ctx context.Context, ops operatorAPI, tenant string) ([]T, error)) error {
	var of operatorFlags
	var tenant string
	fs := e.newOperatorFlagSet(name, usageText, &of)
	if tenantHelp != "" {
		fs.StringVar(&tenant, "tenant", "", tenantHelp)
	}
	if err := parseNoArgs(fs, args); err != nil {
		return err
	}
	ops, done, err := e.openOperator(&of, StoreOptions{})
	if err != nil {
		return err
	}
	defer done()
	items, err := find(ctx, ops, tenant)
	if err != nil {
		return err
	}
	return writeJSONLines(e.Stdout, items)
}

// runOneID is an operator command that takes exactly one ID or name
// (usageLine is its error when it gets another number of arguments): it
// opens where the command acts (openOperator) and calls do with it. It
// serves token revoke, accesskey delete, tenant suspend, resume and delete,
// and sku retire.
func runOneID(ctx context.Context, e *Env, args []string, name, usageText, usageLine string, do func(ctx context.Context, ops operatorAPI, id string) error) error {
	var of operatorFlags
	fs := e.newOperatorFlagSet(name, usageText, &of)
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	} else if len(pos) != 1 {
		return usagef("%s", usageLine)
	}
	ops, done, err := e.openOperator(&of, StoreOptions{})
	if err != nil {
		return err
	}
	defer done()
	return do(ctx, ops, pos[0])
}
