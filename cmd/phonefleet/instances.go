package main

import (
	"bufio"
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/phonefleet/phonefleet"
	"github.com/phonefleet/phonefleet/client"
)

const instancesUsage = `Usage: phonefleet instances <list|buy|unsubscribe|delete-pay-per-use|status|assign|reboot|reset> [flags] [IDs]

Tenant commands: they talk to a server through its API with the login stored
by "phonefleet login", or --endpoint and --token (env PHONEFLEET_ENDPOINT,
PHONEFLEET_TOKEN). --endpoint alone uses the login stored for that endpoint;
a stored token is never sent to another one. -o table (the default on a
terminal) or -o json (JSON lines). They take no --db.
`

func newInstancesCommand(env *Env) command {
	return newGroup(env, "instances", instancesUsage,
		leaf{"list", &instancesListCommand{env}},
		leaf{"buy", &instancesBuyCommand{env}},
		leaf{"unsubscribe", &instancesUnsubscribeCommand{env}},
		leaf{"delete-pay-per-use", &instancesDeletePayPerUseCommand{env}},
		leaf{"status", &instancesStatusCommand{env}},
		leaf{"assign", &instancesAssignCommand{env}},
		leaf{"reboot", &instancesCommandCommand{env, "reboot"}},
		leaf{"reset", &instancesCommandCommand{env, "reset"}},
	)
}

// maxIDsPerCall is the most IDs one API call takes; longer lists are sent in
// batches.
const maxIDsPerCall = 100

// batches splits ids into slices of at most n.
func batches(ids []string, n int) [][]string {
	var out [][]string
	for len(ids) > n {
		out = append(out, ids[:n])
		ids = ids[n:]
	}
	if len(ids) > 0 {
		out = append(out, ids)
	}
	return out
}

// checkIDs refuses an empty or malformed ID list before any call.
func checkIDs(ids []string) error {
	if len(ids) == 0 {
		return usagef("give at least one instance ID")
	}
	seen := make(map[string]bool, len(ids))
	for _, id := range ids {
		if !phonefleet.ValidInstanceID(id) {
			return usagef("%q is not an instance ID (1-32 characters of [A-Za-z0-9_-])", id)
		} else if seen[id] {
			return usagef("instance %s is given twice", id)
		}
		seen[id] = true
	}
	return nil
}

// idsCommand is what the preamble of a tenant command that takes instance
// IDs yields: the checked IDs, the output format and the client.
type idsCommand struct {
	ids []string
	out string
	cl  *client.Client
}

// parseIDsCommand is the shared preamble of the tenant commands that take
// instance IDs (unsubscribe, status, assign, reboot, reset): it refuses
// --db, parses the remote flags plus those that flags registers, runs check
// (the command's own flag checks; may be nil), checks the IDs, and resolves
// the output format and the client, in that order.
func (e *Env) parseIDsCommand(args []string, name, usageText string, flags func(fs *flagSet), check func() error) (*idsCommand, error) {
	if err := refuseDB(args); err != nil {
		return nil, err
	}
	var rf remoteFlags
	fs := e.newRemoteFlagSet(name, usageText, &rf)
	if flags != nil {
		flags(fs)
	}
	ids, err := parseArgs(fs, args)
	if err != nil {
		return nil, err
	}
	if check != nil {
		if err := check(); err != nil {
			return nil, err
		}
	}
	if err := checkIDs(ids); err != nil {
		return nil, err
	}
	out, err := e.outputFormat(&rf)
	if err != nil {
		return nil, err
	}
	cl, err := e.remoteClient(&rf)
	if err != nil {
		return nil, err
	}
	return &idsCommand{ids: ids, out: out, cl: cl}, nil
}

// collectBatches calls call with ids in batches of at most maxIDsPerCall and
// returns what the calls return, in order; it stops at the first error.
func collectBatches[T any](ids []string, call func(batch []string) ([]T, error)) ([]T, error) {
	var all []T
	for _, b := range batches(ids, maxIDsPerCall) {
		got, err := call(b)
		if err != nil {
			return nil, err
		}
		all = append(all, got...)
	}
	return all, nil
}

// ---- list ------------------------------------------------------------------

type instancesListCommand struct{ *Env }

func (c *instancesListCommand) Run(ctx context.Context, args []string) error {
	if err := refuseDB(args); err != nil {
		return err
	}
	var rf remoteFlags
	var q client.Query
	var all bool
	fs := c.newRemoteFlagSet("instances list", "Usage: phonefleet instances list [--state S] [--billing-mode M] [--region R] [--user U] [--name N] [--id ID] [--sort -created_at] [--page N] [--page-size N | --all]\n\nLists the tenant's instances (released ones only with --state released).\n", &rf)
	fs.StringVar(&q.State, "state", "", "running, deleting or released")
	fs.StringVar(&q.BillingMode, "billing-mode", "", "prePaid (yearly/monthly) or postPaid (pay-per-use)")
	fs.StringVar(&q.Region, "region", "", "region ID")
	fs.StringVar(&q.AssignUser, "user", "", "end user the instances are assigned to")
	fs.StringVar(&q.InstanceName, "name", "", "exact instance name")
	fs.StringVar(&q.InstanceID, "id", "", "exact instance ID")
	fs.StringVar(&q.Sort, "sort", "created_at", "created_at (oldest first) or -created_at (newest first)")
	fs.IntVar(&q.PageNo, "page", 1, "page number")
	fs.IntVar(&q.PageSize, "page-size", 100, "instances per page (1-1000)")
	fs.BoolVar(&all, "all", false, "every page")
	if err := parseNoArgs(fs, args); err != nil {
		return err
	}
	out, err := c.outputFormat(&rf)
	if err != nil {
		return err
	}
	cl, err := c.remoteClient(&rf)
	if err != nil {
		return err
	}
	if q.State == "released" {
		q.IncludeReleased = true
	}
	var items []client.Instance
	if all {
		q.PageNo, q.PageSize = 1, 1000
	}
	bar := c.newProgress("listing", 0)
	for {
		page, err := cl.BatchQuery(ctx, q)
		if err != nil {
			bar.end()
			return err
		}
		items = append(items, page.Result...)
		if !all || len(page.Result) == 0 || len(items) >= page.TotalCount {
			break
		}
		if bar.total == 0 {
			bar = c.newProgress("listing", page.TotalCount)
		}
		bar.set(len(items))
		q.PageNo++
	}
	bar.end()
	return writeItems(c.Stdout, out, items, []string{"ID", "NAME", "REGION", "BILLING", "STATUS", "USER", "CREATED", "EXPIRES"}, func(in client.Instance) []string {
		expires := "-"
		if in.ExpiresAt != nil {
			expires = *in.ExpiresAt
		}
		user := in.AssignUser
		if user == "" {
			user = "-"
		}
		return []string{in.InstanceID, in.InstanceName, in.Region, billingText(in.BillingMode), statusText(in.RunningStatus), user, in.CreatedAt, expires}
	})
}

func billingText(mode string) string {
	if mode == "postPaid" {
		return "pay-per-use"
	}
	return "yearly/monthly"
}

func statusText(s int) string {
	switch s {
	case 2:
		return "running"
	case 3:
		return "going offline"
	case 4:
		return "starting"
	case 0:
		return "released"
	}
	return strconv.Itoa(s)
}

// ---- buy -------------------------------------------------------------------

type instancesBuyCommand struct{ *Env }

// maxCountPerOrder is the most instances one purchase call buys; a larger
// --count is several orders.
const maxCountPerOrder = 1500

func (c *instancesBuyCommand) Run(ctx context.Context, args []string) error {
	if err := refuseDB(args); err != nil {
		return err
	}
	var rf remoteFlags
	req := client.CreateRequest{BandSKUID: phonefleet.BandSKUID}
	var billing string
	var period int
	fs := c.newRemoteFlagSet("instances buy", "Usage: phonefleet instances buy --sku SKU --region REGION [--os AOSP14] [--band-size 2] [--prefix phone] [--count 1] [--billing month|year|pay-per-use] [--period 1]\n\nBuys instances; prints one line per instance bought. A count over 1500 is sent as several orders.\n", &rf)
	fs.StringVar(&req.InstanceSKUID, "sku", "", "instance SKU (see the catalogue)")
	fs.StringVar(&req.RegionID, "region", "", "region ID")
	fs.StringVar(&req.OS, "os", "AOSP14", "AOSP9, AOSP11 or AOSP14")
	fs.IntVar(&req.BandSize, "band-size", 2, "bandwidth, one of the SKU's sizes")
	fs.StringVar(&req.InstanceNamePrefix, "prefix", "phone", "instance name prefix (1-14 characters)")
	fs.IntVar(&req.Count, "count", 1, "how many")
	fs.StringVar(&billing, "billing", "month", "month, year or pay-per-use")
	fs.IntVar(&period, "period", 1, "months (1-9) or years (1-3)")
	if err := parseNoArgs(fs, args); err != nil {
		return err
	}
	out, err := c.outputFormat(&rf)
	if err != nil {
		return err
	}
	switch billing {
	case "month":
		req.ChargeParam = client.ChargeParam{ChargingMode: 1, PeriodType: 2, PeriodNum: period}
	case "year":
		req.ChargeParam = client.ChargeParam{ChargingMode: 1, PeriodType: 3, PeriodNum: period}
	case "pay-per-use":
		req.ChargeParam = client.ChargeParam{ChargingMode: 0}
	default:
		return usagef("--billing must be month, year or pay-per-use")
	}
	if req.InstanceSKUID == "" || req.RegionID == "" {
		return usagef("--sku and --region are required")
	} else if req.Count < 1 {
		return usagef("--count must be at least 1")
	}
	cl, err := c.remoteClient(&rf)
	if err != nil {
		return err
	}
	type bought struct {
		InstanceID   string `json:"instance_id"`
		InstanceName string `json:"instance_name"`
		OrderID      string `json:"order_id"`
	}
	var all []bought
	bar := c.newProgress("buying", req.Count)
	for left := req.Count; left > 0; {
		r := req
		r.Count = min(left, maxCountPerOrder)
		res, err := cl.Create(ctx, r, "")
		if err != nil {
			bar.end()
			if len(all) > 0 {
				fmt.Fprintf(c.Stderr, "phonefleet instances buy: %d of %d bought before the error\n", len(all), req.Count)
			}
			return err
		}
		for _, in := range res.InstanceInfos {
			all = append(all, bought{in.InstanceID, in.InstanceName, res.OrderID})
		}
		left -= r.Count
		bar.set(len(all))
	}
	bar.end()
	return writeItems(c.Stdout, out, all, []string{"ID", "NAME", "ORDER"}, func(b bought) []string {
		return []string{b.InstanceID, b.InstanceName, b.OrderID}
	})
}

// ---- unsubscribe -----------------------------------------------------------

type instancesUnsubscribeCommand struct{ *Env }

// refundLine is one instance of an unsubscribe's output.
type refundLine struct {
	InstanceID string `json:"instance_id"`
	Paid       int64  `json:"paid"`
	Consumed   int64  `json:"consumed"`
	Fee        int64  `json:"fee"`
	Refund     int64  `json:"refund"`
	Currency   string `json:"currency"`
	Noop       bool   `json:"noop"`
	DryRun     bool   `json:"dry_run"`
}

func (c *instancesUnsubscribeCommand) Run(ctx context.Context, args []string) error {
	var dryRun, yes bool
	p, err := c.parseIDsCommand(args, "instances unsubscribe", "Usage: phonefleet instances unsubscribe [--dry-run] [--yes] ID...\n\nShows the refund of each instance (the server's dry run), asks for confirmation\n(on stdin; --yes skips it), then unsubscribes them. --dry-run only shows the\nrefunds. More than 100 IDs go in batches of 100.\n", func(fs *flagSet) {
		fs.BoolVar(&dryRun, "dry-run", false, "show the refunds, change nothing")
		fs.BoolVar(&yes, "yes", false, "do not ask for confirmation")
	}, nil)
	if err != nil {
		return err
	}
	ids, out, cl := p.ids, p.out, p.cl

	// The preview: the server's dry run, batch by batch.
	var total int64
	currency := phonefleet.Currency
	lines, err := collectBatches(ids, func(b []string) ([]refundLine, error) {
		dry, err := cl.UnsubscribeDryRun(ctx, b)
		if err != nil {
			return nil, err
		}
		currency = dry.Currency
		total += dry.TotalRefund
		var ls []refundLine
		for _, it := range dry.Instances {
			ls = append(ls, refundLine{it.InstanceID, it.PaidAmount, it.ConsumedAmount, it.HandlingFee, it.RefundAmount, dry.Currency, it.Noop, true})
		}
		return ls, nil
	})
	if err != nil {
		return err
	}
	if dryRun {
		return c.printRefunds(out, lines, total, currency)
	}
	if !yes {
		c.printPreview(lines, total, currency)
		fmt.Fprintf(c.Stderr, "Unsubscribe %d instance(s) and refund %s? Type yes to confirm: ", len(ids), phonefleet.FormatMoney(total, currency))
		if !c.confirmed() {
			return fmt.Errorf("not confirmed: nothing was unsubscribed (use --yes to skip the question)")
		}
	}
	bar := c.newProgress("unsubscribing", len(ids))
	done := 0
	for _, b := range batches(ids, maxIDsPerCall) {
		if err := cl.Unsubscribe(ctx, b); err != nil {
			bar.end()
			if done > 0 {
				fmt.Fprintf(c.Stderr, "phonefleet instances unsubscribe: the first %d were unsubscribed before the error\n", done)
			}
			return err
		}
		done += len(b)
		bar.set(done)
	}
	bar.end()
	for i := range lines {
		lines[i].DryRun = false
	}
	return c.printRefunds(out, lines, total, currency)
}

// confirmed reads one line from stdin and reports whether it is yes.
func (e *Env) confirmed() bool {
	if e.Stdin == nil {
		return false
	}
	line, _ := bufio.NewReader(e.Stdin).ReadString('\n')
	switch strings.ToLower(strings.TrimSpace(line)) {
	case "y", "yes":
		return true
	}
	return false
}

// printPreview shows the refunds on stderr before asking.
func (c *instancesUnsubscribeCommand) printPreview(lines []refundLine, total int64, currency string) {
	writeTable(c.Stderr, []string{"ID", "PAID", "USED", "FEE", "REFUND", ""}, refundRows(lines))
	fmt.Fprintf(c.Stderr, "total refund: %s\n", phonefleet.FormatMoney(total, currency))
}

func refundRows(lines []refundLine) [][]string {
	rows := make([][]string, len(lines))
	for i, l := range lines {
		note := ""
		if l.Noop {
			note = "already unsubscribed: no-op"
		}
		rows[i] = []string{l.InstanceID, phonefleet.FormatMoney(l.Paid, l.Currency), phonefleet.FormatMoney(l.Consumed, l.Currency),
			phonefleet.FormatMoney(l.Fee, l.Currency), phonefleet.FormatMoney(l.Refund, l.Currency), note}
	}
	return rows
}

func (c *instancesUnsubscribeCommand) printRefunds(out string, lines []refundLine, total int64, currency string) error {
	if out == "json" {
		return writeJSONLines(c.Stdout, lines)
	}
	if err := writeTable(c.Stdout, []string{"ID", "PAID", "USED", "FEE", "REFUND", ""}, refundRows(lines)); err != nil {
		return err
	}
	_, err := fmt.Fprintf(c.Stdout, "total refund: %s\n", phonefleet.FormatMoney(total, currency))
	return err
}

// ---- status ----------------------------------------------------------------

type instancesStatusCommand struct{ *Env }

func (c *instancesStatusCommand) Run(ctx context.Context, args []string) error {
	p, err := c.parseIDsCommand(args, "instances status", "Usage: phonefleet instances status ID...\n\nStatus of each instance: running, going offline, starting, or unknown\n(released, not yours, or no such instance).\n", nil, nil)
	if err != nil {
		return err
	}
	out := p.out
	type line struct {
		InstanceID string `json:"instance_id"`
		Status     int    `json:"status"`
		Text       string `json:"text"`
	}
	lines, err := collectBatches(p.ids, func(b []string) ([]line, error) {
		st, err := p.cl.BatchQueryStatus(ctx, b)
		if err != nil {
			return nil, err
		}
		var ls []line
		for _, s := range st {
			text := statusText(s.Status)
			if s.Status == 0 {
				text = "unknown"
			}
			ls = append(ls, line{s.InstanceID, s.Status, text})
		}
		return ls, nil
	})
	if err != nil {
		return err
	}
	return writeItems(c.Stdout, out, lines, []string{"ID", "STATUS"}, func(l line) []string {
		return []string{l.InstanceID, l.Text}
	})
}

// ---- assign ----------------------------------------------------------------

type instancesAssignCommand struct{ *Env }

func (c *instancesAssignCommand) Run(ctx context.Context, args []string) error {
	var user string
	p, err := c.parseIDsCommand(args, "instances assign", "Usage: phonefleet instances assign --user USER ID...\n\nAssigns the instances to an end user (all or none of each batch of 100).\n", func(fs *flagSet) {
		fs.StringVar(&user, "user", "", "end user ID (1-32 characters of [A-Za-z0-9_.@-])")
	}, func() error {
		if !phonefleet.ValidUserID(user) {
			return usagef("--user must be 1-32 characters of [A-Za-z0-9_.@-]")
		}
		return nil
	})
	if err != nil {
		return err
	}
	out := p.out
	pairs, err := collectBatches(p.ids, func(b []string) ([]client.UserInstance, error) {
		batch := make([]client.UserInstance, len(b))
		for i, id := range b {
			batch[i] = client.UserInstance{UserID: user, InstanceID: id}
		}
		if err := p.cl.Assign(ctx, batch); err != nil {
			return nil, err
		}
		return batch, nil
	})
	if err != nil {
		return err
	}
	return writeItems(c.Stdout, out, pairs, []string{"ID", "USER"}, func(p client.UserInstance) []string {
		return []string{p.InstanceID, p.UserID}
	})
}

// ---- reboot, reset ---------------------------------------------------------

type instancesCommandCommand struct {
	*Env
	kind string // reboot or reset
}

func (c *instancesCommandCommand) Run(ctx context.Context, args []string) error {
	what := map[string]string{"reboot": "Restarts the instances; their data stays.", "reset": "Restarts the instances and wipes their data; assignments stay."}[c.kind]
	p, err := c.parseIDsCommand(args, "instances "+c.kind, fmt.Sprintf("Usage: phonefleet instances %s ID...\n\n%s Prints the data-plane job of each.\n", c.kind, what), nil, nil)
	if err != nil {
		return err
	}
	out := p.out
	type line struct {
		InstanceID string `json:"instance_id"`
		JobID      string `json:"job_id"`
		TaskID     string `json:"task_id"`
	}
	lines, err := collectBatches(p.ids, func(b []string) ([]line, error) {
		var res *client.CommandResult
		var err error
		if c.kind == "reboot" {
			res, err = p.cl.Reboot(ctx, b)
		} else {
			res, err = p.cl.Reset(ctx, b)
		}
		if err != nil {
			return nil, err
		}
		var ls []line
		for _, j := range res.CmdJobs {
			ls = append(ls, line{j.InstanceID, j.JobID, res.TaskID})
		}
		return ls, nil
	})
	if err != nil {
		return err
	}
	return writeItems(c.Stdout, out, lines, []string{"ID", "JOB", "TASK"}, func(l line) []string {
		return []string{l.InstanceID, l.JobID, l.TaskID}
	})
}
