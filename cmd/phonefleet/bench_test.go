package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
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

	if got, want := 3000-len(runningIDs(t, db)), int(res.Phonefleet.Requests)*2; got != want {
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
		{"--serve", "-o", "json"},
		{"--serve", "--ids", ""},
		{"--order", "shuffled"},
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

// benchServe is a running "phonefleet bench --serve" and what it printed.
type benchServe struct {
	db, idsFile, token string
	phonefleet, static string
	commands           []string
	ids                []string // the IDs file, after its token line

	cancel context.CancelFunc
	code   chan int    // the exit code, once Run returned
	rest   chan string // what it printed after the set-up, once Run returned
	stderr *bytes.Buffer
}

// startBenchServe starts bench --serve on free ports with a tenant of n
// instances and any more flags, and returns once it printed its set-up.
func startBenchServe(t *testing.T, n int, flags ...string) *benchServe {
	t.Helper()
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	exited := make(chan struct{})
	t.Cleanup(func() { cancel(); <-exited }) // before t.TempDir's removal
	s := &benchServe{db: filepath.Join(dir, "bench.db"), idsFile: filepath.Join(dir, "ids.txt"), cancel: cancel,
		code: make(chan int, 1), rest: make(chan string, 1), stderr: new(bytes.Buffer)}
	pr, pw := io.Pipe()
	go func() {
		args := []string{"bench", "--serve", "--db", s.db, "--instances", strconv.Itoa(n),
			"--addr", "127.0.0.1:0", "--static-addr", "127.0.0.1:0", "--ids", s.idsFile}
		s.code <- Run(ctx, append(args, flags...), pw, s.stderr)
		pw.Close()
		close(exited)
	}()

	sc := bufio.NewScanner(pr)
	ready := false
	for !ready && sc.Scan() {
		line := sc.Text()
		if k, v, ok := strings.Cut(line, ": "); ok {
			switch k {
			case "phonefleet":
				s.phonefleet = v
			case "static":
				s.static = v
			case "token":
				s.token = v
			}
		}
		if strings.HasPrefix(line, "  wrk ") {
			s.commands = append(s.commands, strings.TrimSpace(line))
		}
		ready = line == "serving until interrupted"
	}
	if !ready {
		t.Fatalf("bench --serve ended (exit %d) before it was ready; stderr %q", <-s.code, s.stderr.String())
	}
	go func() {
		var b strings.Builder
		for sc.Scan() {
			b.WriteString(sc.Text() + "\n")
		}
		s.rest <- b.String()
	}()

	b, err := os.ReadFile(s.idsFile)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	if lines[0] != s.token {
		t.Fatalf("first line of the IDs file %q, want the printed token %q", lines[0], s.token)
	}
	s.ids = lines[1:]
	if len(s.ids) != n {
		t.Fatalf("IDs file holds %d IDs, want %d", len(s.ids), n)
	}
	return s
}

// stop cancels bench --serve, checks it exits 0, and returns what it
// printed at exit.
func (s *benchServe) stop(t *testing.T) string {
	t.Helper()
	s.cancel()
	if code := <-s.code; code != 0 {
		t.Fatalf("bench --serve exit %d, want 0; stderr %q", code, s.stderr.String())
	}
	return <-s.rest
}

// runningIDs returns the bench tenant's running instances in db.
func runningIDs(t *testing.T, db string) map[string]bool {
	t.Helper()
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
	ins, _, err := store.FindInstances(context.Background(), phonefleet.InstanceFilter{TenantID: tn.ID, State: &running, Limit: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	ids := make(map[string]bool, len(ins))
	for _, in := range ins {
		ids[in.ID] = true
	}
	return ids
}

// postUnsubscribe sends what scripts/wrk/unsubscribe.lua sends for one ID
// and returns the status and body.
func postUnsubscribe(t *testing.T, baseURL, token, id string) (int, string) {
	t.Helper()
	req, err := http.NewRequest("POST", baseURL+"/v1/instances/delete", strings.NewReader(`{"instanceIdList":["`+id+`"]}`))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Auth-Token", token)
	req.Header.Set("X-Request-Id", "test-"+id)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

// TestBench_Serve: bench --serve prints both URLs, the token, the IDs file
// and wrk commands for both; phonefleet unsubscribes what it is sent, the
// static handler answers success and changes nothing; cancelling exits 0,
// prints the peak RSS and removes the IDs file.
func TestBench_Serve(t *testing.T) {
	s := startBenchServe(t, 5)
	if !strings.HasPrefix(s.phonefleet, "http://127.0.0.1:") || !strings.HasPrefix(s.static, "http://127.0.0.1:") || s.phonefleet == s.static {
		t.Fatalf("phonefleet %q, static %q: want two loopback URLs", s.phonefleet, s.static)
	}
	if len(s.commands) != 6 {
		t.Fatalf("%d wrk commands, want 6 (three workloads, two targets):\n%s", len(s.commands), strings.Join(s.commands, "\n"))
	}
	for _, want := range []string{
		"wrk -t2 -c64 -d10s --timeout 10s --latency -s scripts/wrk/unsubscribe.lua " + s.static + " -- " + s.idsFile + " 1",
		"wrk -t2 -c64 -d10s --timeout 10s --latency -s scripts/wrk/unsubscribe.lua " + s.phonefleet + " -- " + s.idsFile + " 1",
	} {
		if !slices.Contains(s.commands, want) {
			t.Fatalf("wrk commands:\n%s\nwant among them %q", strings.Join(s.commands, "\n"), want)
		}
	}
	for _, target := range []struct{ url, id string }{{s.phonefleet, s.ids[0]}, {s.static, s.ids[1]}} {
		status, body := postUnsubscribe(t, target.url, s.token, target.id)
		if status != http.StatusOK || !strings.Contains(body, `"error_code":"0"`) {
			t.Fatalf("%s: unsubscribe answered %d %s, want 200 with error_code 0", target.url, status, body)
		}
	}

	rest := s.stop(t)
	if !strings.HasPrefix(rest, "peak RSS while serving ") {
		t.Fatalf("printed at exit %q, want the peak RSS", rest)
	}
	if _, err := os.Stat(s.idsFile); !os.IsNotExist(err) {
		t.Fatalf("IDs file after exit: %v, want it removed", err)
	}
	running := runningIDs(t, s.db)
	if running[s.ids[0]] || !running[s.ids[1]] || len(running) != 4 {
		t.Fatalf("running after the run: %v; want all but %s (unsubscribed through phonefleet; %s went to the static handler)",
			running, s.ids[0], s.ids[1])
	}
}

// TestBench_Order: with --order bought (the default) bench names instances
// in the order they were bought, which for one purchase is the order of
// their IDs; with --order random it names the same instances shuffled.
func TestBench_Order(t *testing.T) {
	bought := startBenchServe(t, 300)
	bought.stop(t)
	if !slices.IsSorted(bought.ids) {
		t.Fatalf("--order bought: IDs %v..., want them in the order bought (ascending)", bought.ids[:5])
	}
	random := startBenchServe(t, 300, "--order", "random")
	random.stop(t)
	if slices.IsSorted(random.ids) {
		t.Fatalf("--order random: IDs in ascending order, want them shuffled")
	}
	running := runningIDs(t, random.db)
	for _, id := range random.ids {
		if !running[id] {
			t.Fatalf("--order random: %s is not a running instance of the tenant", id)
		}
		delete(running, id)
	}
	if len(running) != 0 {
		t.Fatalf("--order random left out %d running instances", len(running))
	}
}

// TestBench_ServeWrk drives both targets of bench --serve with wrk and
// scripts/wrk/unsubscribe.lua for a second each: no errors, and phonefleet
// unsubscribed at least one instance per answered request, so no two
// requests named the same instance. Skipped without wrk on PATH.
func TestBench_ServeWrk(t *testing.T) {
	wrk, err := exec.LookPath("wrk")
	if err != nil {
		t.Skip("wrk is not on PATH (Debian: apt-get install wrk); the scripts in scripts/wrk go untested")
	}
	s := startBenchServe(t, 10000)
	script, err := filepath.Abs("../../scripts/wrk/unsubscribe.lua")
	if err != nil {
		t.Fatal(err)
	}
	requests := map[string]int{}
	for _, url := range []string{s.static, s.phonefleet} {
		out, err := exec.Command(wrk, "-t2", "-c4", "-d1s", "-s", script, url, "--", s.idsFile, "1").CombinedOutput()
		if err != nil {
			t.Fatalf("wrk against %s: %v\n%s", url, err, out)
		}
		m := regexp.MustCompile(`(?m)^(\d+) requests of 1 instances: .*errors: status >= 400 0, connect 0, read 0, write 0, timeout 0$`).FindSubmatch(out)
		if m == nil || strings.Contains(string(out), "WARNING") {
			t.Fatalf("wrk against %s: want a report of no errors and no warning:\n%s", url, out)
		}
		requests[url], _ = strconv.Atoi(string(m[1]))
		if url == s.phonefleet && strings.Contains(string(out), "ran out") {
			t.Fatalf("wrk against phonefleet ran out of IDs, raise the test's instances:\n%s", out)
		}
	}
	s.stop(t)
	if left, _ := filepath.Glob(s.idsFile + "*"); len(left) != 0 {
		t.Fatalf("left after exit: %v, want the IDs file and the scripts' .used files removed", left)
	}
	if gone := 10000 - len(runningIDs(t, s.db)); requests[s.phonefleet] == 0 || gone < requests[s.phonefleet] {
		t.Fatalf("phonefleet answered %d requests, and %d instances are no longer running: want at least one per request",
			requests[s.phonefleet], gone)
	}
}
