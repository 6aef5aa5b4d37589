// Command sqlfloor measures the floor under phonefleet's SQLite writer: the
// SQL that one group of unsubscribes runs (read the named instances, move
// them to deleting, insert their refunds, release commands and audit
// events, commit), with no HTTP, no queue, no planning and no fsync. It runs
// that SQL on SQLite compiled from C (github.com/mattn/go-sqlite3, cgo) and
// on the pure-Go translation phonefleet uses (modernc.org/sqlite), in the
// same run, each on a fresh copy of the same database, for groups of 16,
// 100 and 400 instances, and prints the time per instance of each
// statement.
//
// It is a separate module, so that the cgo driver never enters
// phonefleet's own. Make a database with running instances with phonefleet
// bench, then run it from this directory (a C compiler is needed):
//
//	go run ./cmd/phonefleet bench --db /tmp/floor.db --instances 60000 --duration 1s
//	cd scripts/sqlfloor && go run . --db /tmp/floor.db
//
// The statements are those of sqlite/unsubscribe_batch.go (the group's
// read, and unsubscribeWrites.write); keep them the same when those
// change.
package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"time"

	_ "github.com/mattn/go-sqlite3"
	_ "modernc.org/sqlite"
)

// steps are the statements of one group, in the writer's order.
var steps = []string{"begin", "read", "update", "refunds", "commands", "audit", "commit"}

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "sqlfloor:", err)
		os.Exit(1)
	}
}

func run(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("sqlfloor", flag.ContinueOnError)
	dbPath := fs.String("db", "", "a phonefleet SQLite database with running instances (phonefleet bench --db)")
	total := fs.Int("instances", 3200, "instances unsubscribed per driver and group size")
	rounds := fs.Int("rounds", 2, "times each driver runs, alternating")
	order := fs.String("order", "random", "which instances a group names: random, or id (neighbours in ID order, as instances bought together)")
	if err := fs.Parse(args); err != nil {
		return err
	} else if *dbPath == "" {
		return fmt.Errorf("--db required")
	} else if *order != "random" && *order != "id" {
		return fmt.Errorf("--order %q: want random or id", *order)
	}
	dir, err := os.MkdirTemp("", "sqlfloor")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	fmt.Fprintf(stdout, "µs per instance; %d instances per run in %s order, no fsync, checkpoints untimed\n", *total, *order)
	fmt.Fprintf(stdout, "%-8s %-6s", "driver", "group")
	for _, s := range steps {
		fmt.Fprintf(stdout, " %8s", s)
	}
	fmt.Fprintf(stdout, " %8s\n", "total")
	for _, group := range []int{16, 100, 400} {
		sum := map[string]float64{}
		for r := 0; r < *rounds; r++ {
			for _, driver := range []string{"sqlite3", "sqlite"} {
				copyPath := filepath.Join(dir, "floor.db")
				if err := copyFile(*dbPath, copyPath); err != nil {
					return err
				}
				per, err := measure(driver, copyPath, group, *total, *order == "random")
				if err != nil {
					return fmt.Errorf("%s, groups of %d: %w", driver, group, err)
				}
				name := map[string]string{"sqlite3": "C", "sqlite": "pure Go"}[driver]
				fmt.Fprintf(stdout, "%-8s %-6d", name, group)
				var t float64
				for _, s := range steps {
					fmt.Fprintf(stdout, " %8.1f", per[s])
					t += per[s]
				}
				fmt.Fprintf(stdout, " %8.1f\n", t)
				sum[driver] += t
				os.Remove(copyPath + "-wal")
				os.Remove(copyPath + "-shm")
			}
		}
		fmt.Fprintf(stdout, "groups of %d: pure Go / C = %.2f\n", group, sum["sqlite"]/sum["sqlite3"])
	}
	return nil
}

// measure unsubscribes total running instances of the database at path, in
// groups of group, with driver, and returns each step's time per instance
// in µs. The groups take the instances in ID order, shuffled first if
// shuffle is set.
func measure(driver, path string, group, total int, shuffle bool) (map[string]float64, error) {
	ctx := context.Background()
	db, err := sql.Open(driver, path)
	if err != nil {
		return nil, err
	}
	defer db.Close()
	conn, err := db.Conn(ctx)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	// The writer's connection (sqlite/sqlite.go), but with no automatic
	// checkpoint: phonefleet runs checkpoints off the writer, and so does
	// measure, untimed.
	for _, p := range []string{"journal_mode = WAL", "synchronous = NORMAL", "foreign_keys = 1",
		"temp_store = MEMORY", "cache_size = -8000", "wal_autocheckpoint = 0"} {
		if _, err := conn.ExecContext(ctx, "PRAGMA "+p); err != nil {
			return nil, fmt.Errorf("pragma %s: %w", p, err)
		}
	}
	var ids []string
	rows, err := conn.QueryContext(ctx, `SELECT id FROM instances WHERE state = 'running' ORDER BY id`)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if len(ids) < total {
		return nil, fmt.Errorf("%d running instances, want %d (raise bench --instances)", len(ids), total)
	}
	if shuffle {
		rand.New(rand.NewPCG(1, 2)).Shuffle(len(ids), func(i, j int) { ids[i], ids[j] = ids[j], ids[i] })
	}

	spent := map[string]time.Duration{}
	step := func(name string, fn func() error) error {
		start := time.Now()
		err := fn()
		spent[name] += time.Since(start)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		return nil
	}
	now := time.Now().UTC().Format("2006-01-02T15:04:05.000000000Z")
	for g := 0; g+group <= total; g += group {
		names, _ := json.Marshal(ids[g : g+group])
		var refunds, commands, audit [][]any
		err := step("begin", func() error { _, err := conn.ExecContext(ctx, "BEGIN IMMEDIATE"); return err })
		if err == nil {
			err = step("read", func() error {
				rows, err := conn.QueryContext(ctx, readSQL, string(names))
				if err != nil {
					return err
				}
				defer rows.Close()
				cols, _ := rows.Columns()
				for rows.Next() {
					v := make([]any, len(cols))
					p := make([]any, len(cols))
					for i := range v {
						p[i] = &v[i]
					}
					if err := rows.Scan(p...); err != nil {
						return err
					}
					id, tenant, order := v[0], v[1], v[2]
					refunds = append(refunds, []any{id, tenant, order, 9900, 1200, 0, 8700, "CNY", "floor", now})
					commands = append(commands, []any{newID(), "release", id, tenant, "", "", newID(), "floor",
						"pending", 0, now, "", now, nil})
					one, _ := json.Marshal([]any{id})
					audit = append(audit, []any{now, tenant, "floor", "admin", "instanceDelete", "floor", string(one), "0", ""})
				}
				return rows.Err()
			})
		}
		if err == nil && len(refunds) != group {
			err = fmt.Errorf("read %d instances of %d", len(refunds), group)
		}
		if err == nil {
			err = step("update", func() error {
				res, err := conn.ExecContext(ctx, updateSQL, now, string(names))
				if n, _ := res.RowsAffected(); err == nil && n != int64(group) {
					err = fmt.Errorf("updated %d of %d", n, group)
				}
				return err
			})
		}
		for _, ins := range []struct {
			name, head string
			rows       [][]any
		}{{"refunds", refundsHead, refunds}, {"commands", commandsHead, commands}, {"audit", auditHead, audit}} {
			if err == nil {
				err = step(ins.name, func() error { return insertRows(ctx, conn, ins.head, ins.rows) })
			}
		}
		if err == nil {
			err = step("commit", func() error { _, err := conn.ExecContext(ctx, "COMMIT"); return err })
		}
		if err != nil {
			return nil, err
		}
		// Untimed, as phonefleet's checkpointer works beside the writer:
		// copy the log into the file about every 4,000 pages (a group
		// writes some 8 per instance), so the next commit starts the log
		// over instead of growing it.
		if (g/group+1)%max(1, 500/group) == 0 {
			if _, err := conn.ExecContext(ctx, "PRAGMA wal_checkpoint(RESTART)"); err != nil {
				return nil, fmt.Errorf("checkpoint: %w", err)
			}
		}
	}
	per := map[string]float64{}
	n := float64(total / group * group)
	for name, d := range spent {
		per[name] = float64(d.Microseconds()) / n
	}
	return per, nil
}

// insertRows inserts rows with head as the writer does: multi-row VALUES
// lists of at most 64 rows.
func insertRows(ctx context.Context, conn *sql.Conn, head string, rows [][]any) error {
	for len(rows) > 0 {
		n := min(64, len(rows))
		one := "(?" + strings.Repeat(", ?", len(rows[0])-1) + ")"
		var args []any
		for _, r := range rows[:n] {
			args = append(args, r...)
		}
		if _, err := conn.ExecContext(ctx, head+" VALUES "+one+strings.Repeat(", "+one, n-1), args...); err != nil {
			return err
		}
		rows = rows[n:]
	}
	return nil
}

// newID returns 20 random lowercase characters, as phonefleet's job and
// event IDs.
func newID() string {
	const digits = "abcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, 20)
	for i := range b {
		b[i] = digits[rand.IntN(len(digits))]
	}
	return string(b)
}

func copyFile(from, to string) error {
	b, err := os.ReadFile(from)
	if err != nil {
		return err
	}
	return os.WriteFile(to, b, 0o600)
}

const (
	readSQL = `
		SELECT i.id, i.tenant_id, i.order_id, i.name, i.region_id, i.sku_id, s.spec_desc, i.os, i.band_size,
		       i.billing_mode, i.period_num, i.paid_amount, i.currency, i.starts_at, i.expires_at,
		       i.state, i.created_at, i.updated_at, i.assign_user, COALESCE(c.type, ''), COALESCE(c.id, '')
		FROM instances i
		JOIN skus s ON s.id = i.sku_id
		LEFT JOIN commands c ON c.instance_id = i.id AND c.state IN ('pending', 'accepted')
		WHERE i.id IN (SELECT value FROM json_each(?))`
	updateSQL = `
		UPDATE instances SET state = 'deleting', assign_user = '', updated_at = ?
		WHERE id IN (SELECT value FROM json_each(?)) AND state = 'running'`
	refundsHead = `INSERT INTO refunds
		(instance_id, tenant_id, order_id, paid, consumed, fee, amount, currency, request_id, created_at)`
	commandsHead = `INSERT INTO commands
		(id, type, instance_id, tenant_id, user_id, task_id, event_id, request_id, state,
		 attempts, next_attempt_at, last_error, created_at, done_at)`
	auditHead = `INSERT INTO audit_events
		(at, tenant_id, token_id, user_name, action, request_id, instance_ids, error_code, detail)`
)
