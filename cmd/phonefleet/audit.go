package main

import (
	"bufio"
	"context"
	"encoding/csv"
	"encoding/json"
	"time"

	"github.com/phonefleet/phonefleet"
)

// AuditCommand prints the audit trail.
type AuditCommand struct{ *Env }

// auditUsage is the help of phonefleet audit.
const auditUsage = `Usage: phonefleet audit [--tenant NAME] [--action A] [--instance ID] [--actor WHO]
                       [--since TIME] [--until TIME] [--limit N] [--format jsonl|csv]

Prints audit events, newest first: one JSON object per line (at, tenant, user,
actor, client_addr, dry_run, action, request_id, instance_ids, error_code,
detail), or CSV with a header row. TIME is RFC 3339 (2026-12-01T00:00:00Z);
--since is inclusive, --until exclusive. The trail is read in batches, so an
export of any length holds one batch in memory.
`

// auditCLIBatch is how many events the command reads at a time.
const auditCLIBatch = 1000

// Run prints audit events, newest first, as JSON lines or CSV.
func (c *AuditCommand) Run(ctx context.Context, args []string) error {
	var of operatorFlags
	var tenant, action, instance, actor, since, until, format string
	var limit int
	fs := c.newOperatorFlagSet("audit", auditUsage, &of)
	fs.StringVar(&tenant, "tenant", "", "only this tenant's events")
	fs.StringVar(&action, "action", "", "only events of this action (such as koophone:instance:delete)")
	fs.StringVar(&instance, "instance", "", "only events that name this instance ID")
	fs.StringVar(&actor, "actor", "", "only events of this actor (a user, token name, access key ID, system or operator/cli)")
	fs.StringVar(&since, "since", "", "only events at or after this RFC 3339 time")
	fs.StringVar(&until, "until", "", "only events before this RFC 3339 time")
	fs.IntVar(&limit, "limit", 0, "at most this many of the newest events (0: all)")
	fs.StringVar(&format, "format", "jsonl", "output: jsonl or csv")
	if err := parseNoArgs(fs, args); err != nil {
		return err
	} else if limit < 0 {
		return usagef("--limit must be 0 or more")
	} else if format != "jsonl" && format != "csv" {
		return usagef("--format must be jsonl or csv")
	}
	var filter phonefleet.AuditFilter
	for _, f := range []struct {
		name, v string
		dst     **string
	}{{"action", action, &filter.Action}, {"instance", instance, &filter.InstanceID}, {"actor", actor, &filter.Actor}} {
		if f.v == "" {
			continue
		} else if len(f.v) > phonefleet.AuditFilterMaxLen {
			return usagef("--%s must be at most %d bytes", f.name, phonefleet.AuditFilterMaxLen)
		}
		*f.dst = &f.v
	}
	for _, f := range []struct {
		name, v string
		dst     **time.Time
	}{{"since", since, &filter.Since}, {"until", until, &filter.Until}} {
		if f.v == "" {
			continue
		}
		t, err := time.Parse(time.RFC3339Nano, f.v)
		if err != nil {
			return usagef("--%s must be an RFC 3339 time such as 2026-12-01T00:00:00Z", f.name)
		}
		t = t.UTC()
		*f.dst = &t
	}
	if filter.Since != nil && filter.Until != nil && !filter.Since.Before(*filter.Until) {
		return usagef("--since must be before --until")
	}
	ops, done, err := c.openOperator(&of, StoreOptions{})
	if err != nil {
		return err
	}
	defer done()

	bw := bufio.NewWriter(c.Stdout)
	cw := csv.NewWriter(bw)
	enc := json.NewEncoder(bw)
	if format == "csv" {
		cw.Write(phonefleet.AuditCSVHeader)
	}
	for left := limit; ; {
		filter.Limit = auditCLIBatch
		if limit > 0 {
			filter.Limit = min(left, auditCLIBatch)
		}
		events, err := ops.Audit(ctx, tenant, filter)
		if err != nil {
			return err
		}
		for _, e := range events {
			if format == "csv" {
				err = cw.Write(e.CSVRecord())
			} else {
				err = enc.Encode(e)
			}
			if err != nil {
				return err
			}
		}
		left -= len(events)
		if len(events) < filter.Limit || (limit > 0 && left == 0) {
			break
		}
		filter.BeforeID = events[len(events)-1].ID
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return err
	}
	return bw.Flush()
}
