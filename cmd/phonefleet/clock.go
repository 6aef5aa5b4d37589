package main

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/phonefleet/phonefleet"
	"github.com/phonefleet/phonefleet/client"
)

const clockUsage = `Usage:

	phonefleet clock show --tenant NAME              prints the tenant's business time
	phonefleet clock set TIME --tenant NAME          moves it to TIME (RFC 3339, not in its past)
	phonefleet clock advance DURATION --tenant NAME  moves it forward by DURATION ("121h", "0s", "1ns")

Each tenant has its own test clock: its business time (purchases, refunds,
the audit trail) is real time plus the tenant's offset. A server follows
the offsets only when it runs with --test-clock. set and advance print the
new business time and record the move in the tenant's audit trail, by
operator/cli on a database, or by the signed-in operator through a server's
admin API (phonefleet login --operator). Business time never goes back and
ends with year 9999.
`

// clockOperator is who the audit trail says moved a clock from the CLI.
const clockOperator = "operator/cli"

// newClockCommand returns the clock commands.
func newClockCommand(env *Env) command {
	return newGroup(env, "clock", clockUsage,
		leaf{"show", &ClockCommand{Env: env, verb: "show"}},
		leaf{"set", &ClockCommand{Env: env, verb: "set"}},
		leaf{"advance", &ClockCommand{Env: env, verb: "advance"}},
	)
}

// clockVerbs are the clock commands: the positional argument each takes
// ("" for none) and its usage.
var clockVerbs = map[string]struct{ arg, usage string }{
	"show": {"", "Usage: phonefleet clock show --tenant NAME\n\nPrints the tenant's business time (RFC 3339).\n"},
	"set": {"TIME", "Usage: phonefleet clock set TIME --tenant NAME\n\nMoves the tenant's business time to TIME, an RFC 3339 time not before its\n" +
		"current business time and not after the end of year 9999, prints it, and\nrecords the move in the tenant's audit trail.\n"},
	"advance": {"DURATION", "Usage: phonefleet clock advance DURATION --tenant NAME\n\nMoves the tenant's business time forward by DURATION, a non-negative Go\n" +
		"duration (\"121h\", \"30m\", \"0s\", \"1ns\"), prints it, and records the move in\nthe tenant's audit trail.\n"},
}

// ClockCommand shows or moves a tenant's test clock (verb: show, set or
// advance).
type ClockCommand struct {
	*Env
	verb string
}

// Run prints the tenant's business time, after the move set and advance
// make.
func (c *ClockCommand) Run(ctx context.Context, args []string) error {
	var of operatorFlags
	var tenant string
	verb := clockVerbs[c.verb]
	fs := c.newOperatorFlagSet("clock "+c.verb, verb.usage, &of)
	fs.StringVar(&tenant, "tenant", "", "the tenant whose clock to show or move (required)")
	pos, err := parseArgs(fs, negativeLast(args))
	if err != nil {
		return err
	}
	want := 1
	if verb.arg == "" {
		want = 0
	}
	if len(pos) != want {
		return usagef("usage: %s", strings.Join(strings.Fields("phonefleet clock "+c.verb+" "+verb.arg+" --tenant NAME"), " "))
	}
	m := &phonefleet.ClockMove{Operator: clockOperator}
	switch c.verb {
	case "set":
		t, err := time.Parse(time.RFC3339Nano, pos[0])
		if err != nil {
			return usagef("TIME must be an RFC 3339 time such as 2027-01-01T00:00:00Z, not %q", pos[0])
		}
		m.Now = &t
	case "advance":
		d, err := phonefleet.ParseClockAdvance(pos[0])
		if err != nil {
			return err
		}
		m.Advance = &d
	}

	ops, done, err := c.openOperator(&of, StoreOptions{TestClock: true})
	if err != nil {
		return err
	}
	defer done()
	var now time.Time
	switch ops := ops.(type) {
	case *client.Admin:
		// The server audits the move, with the signed-in operator.
		if c.verb == "show" {
			now, err = ops.Clock(ctx, tenant)
		} else {
			var advance string
			if m.Advance != nil {
				advance = pos[0]
			}
			now, err = ops.MoveClock(ctx, tenant, m.Now, advance)
		}
	case *phonefleet.Admin:
		now, err = c.localClock(ctx, ops.Store, tenant, m)
	default:
		err = fmt.Errorf("the test clock is not available here")
	}
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(c.Stdout, now.UTC().Format(time.RFC3339Nano))
	return err
}

// localClock shows or moves tenant's clock on store, as m says (m.Now
// and m.Advance both nil: show), and returns the business time.
func (c *ClockCommand) localClock(ctx context.Context, store phonefleet.Store, tenant string, m *phonefleet.ClockMove) (time.Time, error) {
	clock, ok := store.(phonefleet.ClockService)
	if !ok {
		return time.Time{}, fmt.Errorf("this store has no test clock")
	}
	tn, err := findTenant(ctx, store, tenant)
	if err != nil {
		return time.Time{}, err
	}
	if c.verb == "show" {
		return clock.BusinessNow(ctx, tn.ID)
	}
	m.TenantID = tn.ID
	p, err := clock.MoveClock(ctx, m)
	if err != nil {
		return time.Time{}, err
	}
	return p.New, nil
}

// negativeLast moves arguments that read as negative numbers ("-1s",
// "-.5h") behind a "--", so that they reach the command as the duration
// they were meant to be (and are refused as negative) instead of as
// unknown flags.
func negativeLast(args []string) []string {
	var rest, neg []string
	for i, a := range args {
		if a == "--" {
			rest = append(rest, args[i:]...)
			break
		}
		if len(a) > 1 && a[0] == '-' && (a[1] == '.' || '0' <= a[1] && a[1] <= '9') {
			neg = append(neg, a)
			continue
		}
		rest = append(rest, a)
	}
	if len(neg) == 0 {
		return args
	}
	if !slices.Contains(rest, "--") {
		rest = append(rest, "--")
	}
	return append(rest, neg...)
}
