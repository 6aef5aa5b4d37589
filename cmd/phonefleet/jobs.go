package main

import (
	"context"
	"time"

	"github.com/phonefleet/phonefleet"
)

const jobsUsage = `Usage:

	phonefleet jobs [--state pending|failed|done] [--tenant NAME]
	    prints release jobs, one JSON object per line: instance_id, tenant, state,
	    attempts, next_attempt_at, last_error, event_id
	phonefleet jobs retry INSTANCE_ID
	    makes a failed job pending again, due now, with attempts reset
`

// jobLine is the output shape of one job (docs/release.md).
type jobLine struct {
	InstanceID    string    `json:"instance_id"`
	Tenant        string    `json:"tenant"`
	State         string    `json:"state"`
	Attempts      int       `json:"attempts"`
	NextAttemptAt time.Time `json:"next_attempt_at"`
	LastError     string    `json:"last_error"`
	EventID       string    `json:"event_id"`
}

// newJobsCommand returns the jobs commands: "jobs retry", and the listing
// that runs when no subcommand is named.
func newJobsCommand(env *Env) command {
	g := newGroup(env, "jobs", jobsUsage, leaf{"retry", &JobsRetryCommand{Env: env}})
	g.dflt = &JobsListCommand{Env: env}
	return g
}

// JobsListCommand lists release jobs.
type JobsListCommand struct{ *Env }

// Run prints the jobs the flags select, one JSON object per line.
func (c *JobsListCommand) Run(ctx context.Context, args []string) error {
	var dsn, state, tenant string
	fs := c.newFlagSet("jobs", jobsUsage, &dsn)
	fs.StringVar(&state, "state", "", "only jobs in this state: pending, failed or done")
	fs.StringVar(&tenant, "tenant", "", "only this tenant's jobs")
	if err := parseNoArgs(fs, args); err != nil {
		return err
	}
	switch phonefleet.JobState(state) {
	case "", phonefleet.JobStatePending, phonefleet.JobStateFailed, phonefleet.JobStateDone:
	default:
		return usagef("--state must be pending, failed or done")
	}

	store, err := openStore(dsn, StoreOptions{})
	if err != nil {
		return err
	}
	defer store.Close()

	var filter phonefleet.ReleaseJobFilter
	if state != "" {
		s := phonefleet.JobState(state)
		filter.State = &s
	}
	if filter.TenantID, err = tenantIDFilter(ctx, store, tenant); err != nil {
		return err
	}
	jobs, err := store.FindReleaseJobs(ctx, filter)
	if err != nil {
		return err
	}
	lines := make([]jobLine, len(jobs))
	for i, j := range jobs {
		lines[i] = jobLine{j.InstanceID, j.TenantName, string(j.State), j.Attempts, j.NextAttemptAt, j.LastError, j.EventID}
	}
	return writeJSONLines(c.Stdout, lines)
}

// JobsRetryCommand makes a failed release job pending again.
type JobsRetryCommand struct{ *Env }

// Run retries the job of the instance given.
func (c *JobsRetryCommand) Run(ctx context.Context, args []string) error {
	var dsn string
	fs := c.newFlagSet("jobs retry", "Usage: phonefleet jobs retry INSTANCE_ID\n\nMakes a failed job pending again, due now, with attempts reset.\n", &dsn)
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	} else if len(pos) != 1 {
		return usagef("usage: phonefleet jobs retry INSTANCE_ID")
	}
	store, err := openStore(dsn, StoreOptions{})
	if err != nil {
		return err
	}
	defer store.Close()
	return store.RetryReleaseJob(ctx, pos[0])
}
