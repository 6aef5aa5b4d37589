package main

import (
	"context"
	"strings"
	"time"

	"github.com/phonefleet/phonefleet"
)

const jobsUsage = `Usage:

	phonefleet jobs [--state pending|accepted|failed|done|canceled] [--type release|reboot|reset|wipe_user_data] [--tenant NAME]
	    prints data-plane commands (jobs), one JSON object per line: job_id, type,
	    instance_id, tenant, state, attempts, next_attempt_at, last_error, event_id,
	    delivery_id, user_id (wipes only)
	phonefleet jobs retry JOB_ID|INSTANCE_ID
	    makes a failed job pending again, due now, with attempts reset, as a new
	    delivery (a new X-Phonefleet-Delivery-Id, the same event ID); an
	    instance ID names that instance's latest failed job
`

// jobLine is the output shape of one job (docs/release.md).
type jobLine struct {
	JobID         string    `json:"job_id"`
	Type          string    `json:"type"`
	InstanceID    string    `json:"instance_id"`
	Tenant        string    `json:"tenant"`
	State         string    `json:"state"`
	Attempts      int       `json:"attempts"`
	NextAttemptAt time.Time `json:"next_attempt_at"`
	LastError     string    `json:"last_error"`
	EventID       string    `json:"event_id"`
	DeliveryID    string    `json:"delivery_id"`
	UserID        string    `json:"user_id,omitempty"`
}

// newJobsCommand returns the jobs commands: "jobs retry", and the listing
// that runs when no subcommand is named.
func newJobsCommand(env *Env) command {
	g := newGroup(env, "jobs", jobsUsage, leaf{"retry", &JobsRetryCommand{Env: env}})
	g.dflt = &JobsListCommand{Env: env}
	return g
}

// JobsListCommand lists data-plane commands.
type JobsListCommand struct{ *Env }

// Run prints the jobs the flags select, one JSON object per line.
func (c *JobsListCommand) Run(ctx context.Context, args []string) error {
	var of operatorFlags
	var state, typ, tenant string
	fs := c.newOperatorFlagSet("jobs", jobsUsage, &of)
	fs.StringVar(&state, "state", "", "only jobs in this state: pending, accepted, failed, done or canceled")
	fs.StringVar(&typ, "type", "", "only jobs of this type: release, reboot, reset or wipe_user_data")
	fs.StringVar(&tenant, "tenant", "", "only this tenant's jobs")
	if err := parseNoArgs(fs, args); err != nil {
		return err
	}
	if state != "" && !phonefleet.JobState(state).Valid() {
		return usagef("--state must be %s", joinStates())
	}
	if typ != "" && !phonefleet.CommandType(typ).Valid() {
		return usagef("--type must be release, reboot, reset or wipe_user_data")
	}

	ops, done, err := c.openOperator(&of, StoreOptions{})
	if err != nil {
		return err
	}
	defer done()

	filter := phonefleet.JobFilter{Tenant: tenant}
	if state != "" {
		s := phonefleet.JobState(state)
		filter.State = &s
	}
	if typ != "" {
		t := phonefleet.CommandType(typ)
		filter.Type = &t
	}
	jobs, err := ops.Jobs(ctx, filter)
	if err != nil {
		return err
	}
	lines := make([]jobLine, len(jobs))
	for i, j := range jobs {
		lines[i] = jobLine{j.ID, string(j.Type), j.InstanceID, j.TenantName, string(j.State), j.Attempts,
			j.NextAttemptAt, j.LastError, j.EventID, j.DeliveryID(), j.UserID}
	}
	return writeJSONLines(c.Stdout, lines)
}

// joinStates returns the job states as "a, b or c".
func joinStates() string {
	s := make([]string, len(phonefleet.JobStates))
	for i, st := range phonefleet.JobStates {
		s[i] = string(st)
	}
	return strings.Join(s[:len(s)-1], ", ") + " or " + s[len(s)-1]
}

// JobsRetryCommand makes a failed job pending again.
type JobsRetryCommand struct{ *Env }

// Run retries the job given by its ID, or the latest failed job of the
// instance given.
func (c *JobsRetryCommand) Run(ctx context.Context, args []string) error {
	var of operatorFlags
	fs := c.newOperatorFlagSet("jobs retry", "Usage: phonefleet jobs retry JOB_ID|INSTANCE_ID\n\nMakes a failed job pending again, due now, with attempts reset; makes a pending\njob due now, keeping its attempts. Either way it is a new delivery: a new\nX-Phonefleet-Delivery-Id, the same event ID. An instance ID names that instance's latest\nfailed job (else its latest job).\n", &of)
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	} else if len(pos) != 1 {
		return usagef("usage: phonefleet jobs retry JOB_ID|INSTANCE_ID")
	}
	ops, done, err := c.openOperator(&of, StoreOptions{})
	if err != nil {
		return err
	}
	defer done()
	return ops.RetryJob(ctx, pos[0])
}
