package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/phonefleet/phonefleet"
)

// runBench runs phonefleet bench -o json with args and decodes its output.
func runBench(t *testing.T, args ...string) *benchResult {
	t.Helper()
	var stdout, stderr bytes.Buffer
	if code := Run(context.Background(), append([]string{"bench", "-o", "json"}, args...), &stdout, &stderr); code != 0 {
		t.Fatalf("bench exit %d, stderr %s", code, stderr.String())
	}
	if stderr.Len() != 0 {
		t.Fatalf("stderr=%q, want nothing (not a terminal)", stderr.String())
	}
	var res benchResult
	dec := json.NewDecoder(&stdout)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&res); err != nil {
		t.Fatalf("decode bench output: %v\n%s", err, stdout.String())
	}
	return &res
}

// checkStats checks one target's figures for sanity, not speed.
func checkStats(t *testing.T, name string, s benchStats, batch int) {
	t.Helper()
	if s.Requests <= 0 || s.Seconds <= 0 || s.RequestsPerSec <= 0 {
		t.Fatalf("%s: requests=%d seconds=%v requests/s=%v, want positive", name, s.Requests, s.Seconds, s.RequestsPerSec)
	}
	if s.Errors != 0 {
		t.Fatalf("%s: errors=%d (first %q), want 0", name, s.Errors, s.FirstError)
	}
	if got, want := s.InstancesPer, s.RequestsPerSec*float64(batch); got < want*0.999 || got > want*1.001 {
		t.Fatalf("%s: instances/s=%v, want %v (requests/s × batch)", name, got, want)
	}
	if !(0 < s.P50Millis && s.P50Millis <= s.P90Millis && s.P90Millis <= s.P99Millis && s.P99Millis <= s.MaxMillis) {
		t.Fatalf("%s: percentiles p50=%v p90=%v p99=%v max=%v, want 0 < p50 ≤ p90 ≤ p99 ≤ max",
			name, s.P50Millis, s.P90Millis, s.P99Millis, s.MaxMillis)
	}
}

// TestBench_Unsubscribe runs a short unsubscribe bench on a new SQLite file
// and checks the JSON's figures against each other and against the store:
// every instance counted as unsubscribed is no longer running.
func TestBench_Unsubscribe(t *testing.T) {
	db := filepath.Join(t.TempDir(), "bench.db")
	res := runBench(t, "--db", db, "--duration", "200ms", "--conns", "4", "--batch", "2", "--instances", "3000")
	if res.Workload != "unsubscribe" || res.Store != "sqlite" || res.Batch != 2 || res.Conns != 4 || res.Instances != 3000 {
		t.Fatalf("result header %+v, want unsubscribe on sqlite, batch 2, 4 conns, 3000 instances", res)
	}
	checkStats(t, "static", res.Static, 2)
	checkStats(t, "phonefleet", res.Phonefleet, 2)
	if want := res.Phonefleet.RequestsPerSec / res.Static.RequestsPerSec; res.Ratio != want {
		t.Fatalf("ratio=%v, want %v", res.Ratio, want)
	}
	if runtime.GOOS == "linux" && res.PeakRSSBytes <= 0 {
		t.Fatalf("peak_rss_bytes=%d, want positive on Linux", res.PeakRSSBytes)
	}
	if res.StartMillis <= 0 {
		t.Fatalf("start_ms=%v, want positive", res.StartMillis)
	}

	store, err := openStore(db, StoreOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	tn, err := store.FindTenantByName(context.Background(), "bench")
	if err != nil {
		t.Fatal(err)
	}
	running := phonefleet.InstanceStateRunning
	_, left, err := store.FindInstances(context.Background(), phonefleet.InstanceFilter{TenantID: tn.ID, State: &running, Limit: 1})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := 3000-left, int(res.Phonefleet.Requests)*2; got != want {
		t.Fatalf("instances no longer running=%d, want %d (requests × batch)", got, want)
	}

	// A second run on the same file reuses the running instances and buys
	// only the shortfall.
	res2 := runBench(t, "--db", db, "--duration", "100ms", "--conns", "2", "--instances", "3000")
	checkStats(t, "phonefleet (again)", res2.Phonefleet, 1)
}

// TestBench_Exhausted: a run whose instances run out ends early, says so,
// and counts exactly the requests the instances allowed.
func TestBench_Exhausted(t *testing.T) {
	res := runBench(t, "--db", filepath.Join(t.TempDir(), "bench.db"), "--duration", "500ms", "--conns", "3", "--batch", "5", "--instances", "20")
	if !res.Phonefleet.Exhausted || res.Phonefleet.Requests != 4 || res.Phonefleet.Errors != 0 {
		t.Fatalf("phonefleet %+v, want exhausted after 4 requests, no errors", res.Phonefleet)
	}
	if res.Static.Exhausted {
		t.Fatalf("static %+v: exhausted, but it unsubscribes nothing", res.Static)
	}
}

// TestBench_CPUProfile: --cpuprofile writes a profile that go tool pprof
// reads (gzipped protobuf), and still prints the figures.
func TestBench_CPUProfile(t *testing.T) {
	dir := t.TempDir()
	prof := filepath.Join(dir, "cpu.pprof")
	res := runBench(t, "--db", filepath.Join(dir, "bench.db"), "--duration", "200ms", "--conns", "2", "--instances", "500", "--cpuprofile", prof)
	checkStats(t, "phonefleet", res.Phonefleet, 1)
	b, err := os.ReadFile(prof)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) < 2 || b[0] != 0x1f || b[1] != 0x8b {
		t.Fatalf("profile of %d bytes does not start with gzip's magic", len(b))
	}
}

// TestBench_Workloads runs query, purchase and mix briefly: no errors, sane
// figures.
func TestBench_Workloads(t *testing.T) {
	for _, w := range []string{"query", "purchase", "mix"} {
		t.Run(w, func(t *testing.T) {
			res := runBench(t, "--db", filepath.Join(t.TempDir(), "bench.db"), "--workload", w,
				"--duration", "200ms", "--conns", "2", "--batch", "3", "--instances", "200")
			if res.Workload != w {
				t.Fatalf("workload=%q, want %q", res.Workload, w)
			}
			if w == "mix" { // instances/s is not requests/s × batch in a mix
				if res.Phonefleet.Requests <= 0 || res.Phonefleet.Errors != 0 {
					t.Fatalf("phonefleet %+v, want requests and no errors", res.Phonefleet)
				}
				return
			}
			checkStats(t, "static", res.Static, 3)
			checkStats(t, "phonefleet", res.Phonefleet, 3)
		})
	}
}

// TestBench_Usage: bad flags are usage errors that name the flag.
func TestBench_Usage(t *testing.T) {
	for _, args := range [][]string{
		{"--workload", "delete"},
		{"-o", "yaml"},
		{"--batch", "0"},
		{"--batch", "101"},
		{"--workload", "purchase", "--batch", "1501"},
		{"--conns", "0"},
		{"--duration", "0s"},
		{"--instances", "-1"},
		{"extra"},
	} {
		var stdout, stderr bytes.Buffer
		if code := Run(context.Background(), append([]string{"bench"}, args...), &stdout, &stderr); code != 2 {
			t.Fatalf("bench %v: exit %d, want 2 (stderr %q)", args, code, stderr.String())
		}
		if stdout.Len() != 0 || stderr.Len() == 0 {
			t.Fatalf("bench %v: stdout %q, stderr %q; want only an error on stderr", args, stdout.String(), stderr.String())
		}
	}
}
