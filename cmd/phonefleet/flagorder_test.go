package main

import (
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestOperatorFlagOrder runs every operator command with --db in every
// position a user may type it: before the command, between a group and its
// leaf, right after the command (before its other flags), and last; as
// "--db x" and as "--db=x". Each run must do what the command does with --db
// last. The working directory holds no phonefleet.db, so a --db that is
// parsed as something else (or dropped) fails or leaves a stray file behind.
// serve and bench are left out: they run until stopped.
func TestOperatorFlagOrder(t *testing.T) {
	t.Setenv("PHONEFLEET_DB", "")
	cwd := t.TempDir()
	t.Chdir(cwd)
	dir := t.TempDir()
	db := filepath.Join(dir, "flags.db")
	mustCLI(t, "tenant", "create", "acme", "--db", db)
	if _, errOut, code := runCLIInput(t, "correct horse\n", "user", "create", "--tenant", "acme", "--name", "alice", "--db", db); code != 0 {
		t.Fatalf("user create: exit %d %q", code, errOut)
	}
	// newAccessKey and newToken make what the delete and revoke runs remove.
	newAccessKey := func(t *testing.T) string {
		var k struct {
			ID string `json:"access_key_id"`
		}
		if err := json.Unmarshal([]byte(mustCLI(t, "accesskey", "create", "--tenant", "acme", "--user", "alice", "--db", db)), &k); err != nil || k.ID == "" {
			t.Fatalf("accesskey create: %v", err)
		}
		return k.ID
	}
	newToken := func(t *testing.T) string {
		return strings.TrimSpace(mustCLI(t, "token", "issue", "--tenant", "acme", "--db", db))
	}

	for _, tc := range []struct {
		cmd   []string                           // the command's words: "jobs", or "jobs retry"
		rest  func(t *testing.T, i int) []string // its other arguments, new names for the i-th run
		stdin string
		code  int    // the exit code with --db last
		out   string // a substring of stdout ("" for any)
		err   string // a substring of stderr when code != 0
	}{
		{cmd: []string{"migrate"}},
		{cmd: []string{"tenant", "create"}, rest: func(_ *testing.T, i int) []string { return []string{fmt.Sprintf("t%d", i), "--max-instances", "5"} }},
		{cmd: []string{"tenant", "update"}, rest: func(*testing.T, int) []string { return []string{"acme", "--max-instances", "7"} }, out: `"max_instances":7`},
		{cmd: []string{"tenant", "list"}, out: `"acme"`},
		{cmd: []string{"token", "issue"}, rest: func(*testing.T, int) []string { return []string{"--tenant", "acme", "--role", "viewer"} }, out: "tk"},
		{cmd: []string{"token", "list"}, rest: func(*testing.T, int) []string { return []string{"--tenant", "acme"} }, out: `"id"`},
		{cmd: []string{"token", "revoke"}, rest: func(t *testing.T, _ int) []string { return []string{newToken(t)} }},
		{cmd: []string{"user", "create"}, rest: func(_ *testing.T, i int) []string {
			return []string{"--tenant", "acme", "--name", fmt.Sprintf("u%d", i), "--password-stdin"}
		}, stdin: "correct horse\n", out: "us"},
		{cmd: []string{"user", "list"}, rest: func(*testing.T, int) []string { return []string{"--tenant", "acme"} }, out: `"alice"`},
		{cmd: []string{"user", "passwd"}, rest: func(*testing.T, int) []string { return []string{"--tenant", "acme", "alice", "--password-stdin"} }, stdin: "battery staple\n"},
		{cmd: []string{"accesskey", "create"}, rest: func(*testing.T, int) []string { return []string{"--tenant", "acme", "--user", "alice"} }, out: "secret_access_key"},
		{cmd: []string{"accesskey", "list"}, rest: func(*testing.T, int) []string { return []string{"--tenant", "acme"} }},
		{cmd: []string{"accesskey", "delete"}, rest: func(t *testing.T, _ int) []string { return []string{newAccessKey(t)} }},
		{cmd: []string{"sku", "list"}, out: `"id"`},
		{cmd: []string{"sku", "add"}, rest: func(_ *testing.T, i int) []string {
			return []string{fmt.Sprintf("kp.t%d", i), "--name", "x", "--regions", "r1", "--month-price", "1", "--year-price", "1", "--hour-price", "1"}
		}, out: "kp.t"},
		{cmd: []string{"audit"}, rest: func(*testing.T, int) []string { return []string{"--tenant", "acme", "--limit", "5"} }},
		{cmd: []string{"refunds"}, rest: func(*testing.T, int) []string { return []string{"--tenant", "acme"} }},
		{cmd: []string{"jobs"}, rest: func(*testing.T, int) []string { return []string{"--type", "reboot"} }},
		{cmd: []string{"jobs"}, rest: func(*testing.T, int) []string { return []string{"--state", "failed"} }},
		{cmd: []string{"jobs"}, rest: func(*testing.T, int) []string { return []string{"--tenant", "acme"} }},
		{cmd: []string{"jobs"}, rest: func(*testing.T, int) []string {
			return []string{"--tenant", "acme", "--state", "pending", "--type", "reset"}
		}},
		// No job exists, so retry reaches the store and answers that.
		{cmd: []string{"jobs", "retry"}, rest: func(*testing.T, int) []string { return []string{"nosuch"} }, code: 1, err: "no job nosuch"},
		{cmd: []string{"copy"}, rest: func(_ *testing.T, i int) []string {
			return []string{"--from", db, "--to", filepath.Join(dir, fmt.Sprintf("copy%d.db", i))}
		}},
		// The last user command: alice is disabled from here on.
		{cmd: []string{"user", "disable"}, rest: func(*testing.T, int) []string { return []string{"--tenant", "acme", "alice"} }},
	} {
		i := 0
		for _, dbFlag := range [][]string{{"--db", db}, {"--db=" + db}, {"-db", db}} {
			positions := map[string]func(cmd, rest []string) []string{
				"first": func(cmd, rest []string) []string { return concat(dbFlag, cmd, rest) },
				"after command": func(cmd, rest []string) []string {
					return concat(cmd, dbFlag, rest)
				},
				"last": func(cmd, rest []string) []string { return concat(cmd, rest, dbFlag) },
			}
			if len(tc.cmd) > 1 {
				positions["between group and leaf"] = func(cmd, rest []string) []string {
					return concat(cmd[:1], dbFlag, cmd[1:], rest)
				}
			}
			if len(tc.cmd) == 1 {
				// "jobs --db x --type reboot" and "jobs --type reboot --db x --tenant acme".
				positions["between flags"] = func(cmd, rest []string) []string {
					if len(rest) < 2 {
						return concat(cmd, rest, dbFlag)
					}
					return concat(cmd, rest[:2], dbFlag, rest[2:])
				}
			}
			for _, pos := range slices.Sorted(maps.Keys(positions)) {
				i++
				var rest []string
				if tc.rest != nil {
					rest = tc.rest(t, i)
				}
				args := positions[pos](tc.cmd, rest)
				name := strings.Join(tc.cmd, " ") + "/" + pos + "/" + strings.Replace(dbFlag[0], db, "x", 1)
				out, errOut, code := runCLIInput(t, tc.stdin, args...)
				if code != tc.code {
					t.Errorf("%s: phonefleet %s: exit %d %q, want %d", name, strings.Join(args, " "), code, errOut, tc.code)
					continue
				}
				if tc.code == 0 && errOut != "" || tc.code != 0 && !strings.Contains(errOut, tc.err) {
					t.Errorf("%s: phonefleet %s: stderr %q, want %q", name, strings.Join(args, " "), errOut, tc.err)
				}
				if !strings.Contains(out, tc.out) {
					t.Errorf("%s: phonefleet %s: stdout %q, want it to contain %q", name, strings.Join(args, " "), out, tc.out)
				}
				if _, err := os.Stat(filepath.Join(cwd, DefaultDB)); err == nil {
					t.Errorf("%s: phonefleet %s used the default database, not --db", name, strings.Join(args, " "))
				}
			}
		}
	}
}

func concat(parts ...[]string) []string {
	var all []string
	for _, p := range parts {
		all = append(all, p...)
	}
	return all
}
