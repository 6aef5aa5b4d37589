package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/phonefleet/phonefleet"
	"github.com/phonefleet/phonefleet/internal/testingutil"
)

// MustRunMain boots Main in-process on a new SQLite file and 127.0.0.1:0
// with the configuration changed by mut, and closes it when the test ends.
func MustRunMain(tb testing.TB, mut func(*Config)) (*Main, *bytes.Buffer) {
	tb.Helper()
	var stdout bytes.Buffer
	m := NewMain(&Env{Stdout: &stdout, Stderr: &testingutil.SyncBuffer{}, Getenv: os.Getenv})
	m.Config.DB = filepath.Join(tb.TempDir(), "main.db")
	m.Config.Addr = "127.0.0.1:0"
	if mut != nil {
		mut(&m.Config)
	}
	if err := m.Run(context.Background()); err != nil {
		tb.Fatalf("Main.Run: %v", err)
	}
	tb.Cleanup(func() {
		if err := m.Close(); err != nil {
			tb.Errorf("Main.Close: %v", err)
		}
	})
	return m, &stdout
}

// TestMain_Run boots the server with --demo in-process, runs the unsubscribe
// its printed curl describes, and checks in the store that the instance is
// being (or has been) released.
func TestMain_Run(t *testing.T) {
	m, stdout := MustRunMain(t, func(c *Config) { c.Demo = true })
	re := regexp.MustCompile(`X-Auth-Token: ([^']+)'.*"instanceIdList":\["([a-z0-9]+)"\]`)
	match := re.FindStringSubmatch(stdout.String())
	if match == nil {
		t.Fatalf("demo printed %q, want a curl with a token and an instance", stdout)
	}
	token, id := match[1], match[2]

	r := testingutil.MustDo(t, "POST", m.HTTPServer.URL()+"/v1/instances/delete", token, "application/json", []byte(`{"instanceIdList":["`+id+`"]}`))
	if r.Status != 200 || r.Code() != "0" {
		t.Fatalf("delete: %d %s", r.Status, r.Raw)
	}
	tenant, err := m.Store.FindTenantByName(context.Background(), "demo")
	if err != nil {
		t.Fatal(err)
	}
	states, err := m.Store.FindInstanceStatuses(context.Background(), tenant.ID, []string{id})
	if err != nil {
		t.Fatal(err)
	} else if s := states[id].State; s != phonefleet.InstanceStateDeleting && s != phonefleet.InstanceStateReleased {
		t.Fatalf("instance state %q after the unsubscribe, want deleting or released", s)
	}
}

// TestMain_RunInvalid checks that Run refuses a bad configuration before it
// opens anything, and that Close after it is harmless.
func TestMain_RunInvalid(t *testing.T) {
	m := NewMain(&Env{Stdout: &bytes.Buffer{}, Stderr: &bytes.Buffer{}, Getenv: os.Getenv})
	m.Config.DB = filepath.Join(t.TempDir(), "never.db")
	m.Config.ReleaseWorkers = 0
	if err := m.Run(context.Background()); err == nil {
		t.Fatal("Run with --release-workers 0 succeeded")
	}
	if m.Store != nil || m.HTTPServer != nil {
		t.Fatal("Run opened the store or the server despite a bad configuration")
	}
	if _, err := os.Stat(m.Config.DB); !os.IsNotExist(err) {
		t.Fatalf("the database file exists after a refused Run (%v)", err)
	}
	if err := m.Close(); err != nil {
		t.Fatalf("Close after a failed Run: %v", err)
	}
}
