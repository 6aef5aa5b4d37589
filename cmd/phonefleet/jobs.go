package main

import (
	"context"
	"time"

	"github.com/phonefleet/phonefleet"
)

// JobsCommand lists release jobs and retries failed ones.
type JobsCommand struct{ *Env }

const jobsUsage = `Usage:

	phonefleet jobs [--state pending|failed|done] [--tenant NAME]
	    prints release jobs, one JSON object per line: instance_id, tenant, state,
	    attempts, next_attempt_at, last_error, event_id
	phonefleet jobs retry INSTANCE_ID
	    makes a failed job pending again, due now, with attempts reset
`

// jobLine is the output shape of one job (contract §6).
type jobLine struct {
	InstanceID    string    `json:"instance_id"`
	Tenant        string    `json:"tenant"`
	State         string    `json:"state"`
	Attempts      int       `json:"attempts"`
	NextAttemptAt time.Time `json:"next_attempt_at"`
	LastError     string    `json:"last_error"`
	EventID       string    `json:"event_id"`
}

// Run dispatches "jobs" and "jobs retry".
func (c *JobsCommand) Run(ctx context.Context, args []string) error {
	var dsn, state, tenant string
	fs := c.newFlagSet("jobs", jobsUsage, &dsn)
	fs.StringVar(&state, "state", "", "only jobs in this state: pending, failed or done")
	fs.StringVar(&tenant, "tenant", "", "only this tenant's jobs")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	switch {
	case len(pos) == 0:
		switch phonefleet.JobState(state) {
		case "", phonefleet.JobStatePending, phonefleet.JobStateFailed, phonefleet.JobStateDone:
		default:
			return usagef("--state must be pending, failed or done")
		}
	case len(pos) == 2 && pos[0] == "retry":
	default:
		return usagef("usage: phonefleet jobs [--state S] [--tenant NAME] | jobs retry INSTANCE_ID")
	}

	store, err := openStore(dsn, StoreOptions{})
	if err != nil {
		return err
	}
	defer store.Close()

	if len(pos) == 2 {
		return store.RetryReleaseJob(ctx, pos[1])
	}
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
