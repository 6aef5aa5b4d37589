package main

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/phonefleet/phonefleet"
	"github.com/phonefleet/phonefleet/sqlite"
)

// runCLIInput runs the CLI in-process with stdin.
func runCLIInput(t *testing.T, stdin string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errb bytes.Buffer
	code = RunIO(context.Background(), args, strings.NewReader(stdin), &out, &errb)
	return out.String(), errb.String(), code
}

func TestUserCommand(t *testing.T) {
	db := filepath.Join(t.TempDir(), "p.db")
	if _, errOut, code := runCLI(t, "tenant", "create", "acme", "--db", db); code != 0 {
		t.Fatalf("tenant create: %d %s", code, errOut)
	}

	out, errOut, code := runCLIInput(t, "correct horse\n", "user", "create", "--tenant", "acme", "--name", "alice", "--password-stdin", "--db", db)
	if code != 0 || !strings.HasPrefix(out, "us") {
		t.Fatalf("user create: %d %q %q", code, out, errOut)
	}
	// Bad input changes nothing: a short password, a password flag, a
	// taken name, no stdin.
	for _, tc := range []struct {
		stdin string
		args  []string
		want  string
	}{
		{"short\n", []string{"--name", "bob"}, "password must be 8-128 bytes"},
		{"two\nlines\n", []string{"--name", "bob"}, "one line"},
		{"", []string{"--name", "bob"}, "stdin"},
		{"correct horse\n", []string{"--name", "bob", "--password", "x"}, "flag provided but not defined: -password"},
		{"correct horse\n", []string{"--name", "alice"}, "already exists"},
		{"correct horse\n", []string{"--name", "bob", "--role", "root"}, "role"},
	} {
		args := append([]string{"user", "create", "--tenant", "acme", "--db", db}, tc.args...)
		if _, errOut, code := runCLIInput(t, tc.stdin, args...); code == 0 || !strings.Contains(errOut, tc.want) {
			t.Fatalf("%v: exit %d %q, want an error containing %q", tc.args, code, errOut, tc.want)
		}
	}

	out, _, code = runCLI(t, "user", "list", "--db", db)
	var users []map[string]any
	for line := range strings.Lines(out) {
		var u map[string]any
		if err := json.Unmarshal([]byte(line), &u); err != nil {
			t.Fatal(err)
		}
		users = append(users, u)
	}
	if code != 0 || len(users) != 1 || users[0]["name"] != "alice" || users[0]["tenant"] != "acme" || users[0]["role"] != "admin" || users[0]["disabled"] != false {
		t.Fatalf("user list: %d %q", code, out)
	}
	if strings.Contains(out, "argon2") {
		t.Fatalf("user list shows the hash: %q", out)
	}

	if _, errOut, code := runCLIInput(t, "battery staple\n", "user", "passwd", "--tenant", "acme", "alice", "--db", db); code != 0 {
		t.Fatalf("user passwd: %d %s", code, errOut)
	}
	if _, errOut, code := runCLI(t, "user", "disable", "--tenant", "acme", "alice", "--db", db); code != 0 {
		t.Fatalf("user disable: %d %s", code, errOut)
	}
	if _, errOut, code := runCLI(t, "user", "disable", "--tenant", "acme", "nobody", "--db", db); code != 1 || !strings.Contains(errOut, "not found") {
		t.Fatalf("user disable nobody: %d %s", code, errOut)
	}

	store := sqlite.NewDB(db)
	if err := store.Open(); err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	u, err := store.FindUser(t.Context(), "acme", "alice")
	if err != nil {
		t.Fatal(err)
	}
	if !u.Disabled || !phonefleet.VerifyPassword(u.PasswordHash, "battery staple") {
		t.Fatalf("stored user=%+v, want disabled with the new password", u)
	}
}

func TestAccessKeyCommand(t *testing.T) {
	db := filepath.Join(t.TempDir(), "p.db")
	runCLI(t, "tenant", "create", "acme", "--db", db)
	if _, errOut, code := runCLIInput(t, "correct horse\n", "user", "create", "--tenant", "acme", "--name", "alice", "--db", db); code != 0 {
		t.Fatalf("user create: %s", errOut)
	}
	out, errOut, code := runCLI(t, "accesskey", "create", "--tenant", "acme", "--user", "alice", "--db", db)
	var created struct {
		ID     string `json:"access_key_id"`
		Secret string `json:"secret_access_key"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &created) != nil || created.ID == "" || len(created.Secret) != 40 || strings.Count(out, "\n") != 1 {
		t.Fatalf("accesskey create: %d %q %q", code, out, errOut)
	}
	if _, errOut, code := runCLI(t, "accesskey", "create", "--tenant", "acme", "--user", "bob", "--db", db); code != 1 || !strings.Contains(errOut, "not found") {
		t.Fatalf("accesskey create for nobody: %d %q", code, errOut)
	}
	out, _, _ = runCLI(t, "accesskey", "list", "--tenant", "acme", "--db", db)
	if !strings.Contains(out, created.ID) || strings.Contains(out, created.Secret) || !strings.Contains(out, `"user":"alice"`) {
		t.Fatalf("accesskey list=%q, want the key without its secret", out)
	}
	if _, errOut, code := runCLI(t, "accesskey", "delete", created.ID, "--db", db); code != 0 {
		t.Fatalf("accesskey delete: %s", errOut)
	}
	if _, errOut, code := runCLI(t, "accesskey", "delete", created.ID, "--db", db); code != 1 || !strings.Contains(errOut, "not found") {
		t.Fatalf("second delete: %d %q", code, errOut)
	}
	if out, _, _ := runCLI(t, "accesskey", "list", "--db", db); out != "" {
		t.Fatalf("accesskey list after delete=%q", out)
	}
}
