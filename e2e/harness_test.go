// Package e2e drives the built phonefleet binary exactly as a user would:
// the CLI's output formats and the HTTP API of contract.md, black box.
package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// bin is the phonefleet binary built once for the whole package.
var bin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "phonefleet-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	bin = filepath.Join(dir, "phonefleet")
	build := exec.Command("go", "build", "-o", bin, "github.com/phonefleet/phonefleet/cmd/phonefleet")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build phonefleet:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// cliResult is what one CLI invocation did.
type cliResult struct {
	Stdout, Stderr string
	Code           int
}

// cli runs the binary with args against db and returns its output and exit
// code without judging them.
func cli(t testing.TB, db string, args ...string) cliResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append(os.Environ(), "PHONEFLEET_DB="+db)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	if exit, ok := err.(*exec.ExitError); ok {
		code = exit.ExitCode()
	} else if err != nil {
		t.Fatalf("run %v: %v", args, err)
	}
	return cliResult{stdout.String(), stderr.String(), code}
}

// MustCLI runs the CLI and fails the test unless it exits 0 with an empty
// stderr; it returns stdout.
func MustCLI(t testing.TB, db string, args ...string) string {
	t.Helper()
	r := cli(t, db, args...)
	if r.Code != 0 {
		t.Fatalf("phonefleet %s: exit %d, stderr %q", strings.Join(args, " "), r.Code, r.Stderr)
	}
	return r.Stdout
}

// MustLine returns the single line of out.
func MustLine(t testing.TB, out string) string {
	t.Helper()
	if !strings.HasSuffix(out, "\n") || strings.Count(out, "\n") != 1 {
		t.Fatalf("output %q is not exactly one line", out)
	}
	return strings.TrimSuffix(out, "\n")
}

// jsonLines decodes JSON-lines output.
func jsonLines(t testing.TB, out string) []map[string]any {
	t.Helper()
	var rows []map[string]any
	for _, line := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
		if line == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("line %q is not a JSON object: %v", line, err)
		}
		rows = append(rows, m)
	}
	return rows
}

// node is one running "phonefleet serve".
type node struct {
	URL    string
	cmd    *exec.Cmd
	stdout *syncBuffer
	done   chan struct{}
}

// syncBuffer collects a process's output; readers can wait for more.
type syncBuffer struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	changed chan struct{}
}

func newSyncBuffer() *syncBuffer { return &syncBuffer{changed: make(chan struct{})} }

// Write appends p and wakes every waiter.
func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	close(b.changed)
	b.changed = make(chan struct{})
	return b.buf.Write(p)
}

// Snapshot returns the output so far and a channel closed at the next write.
func (b *syncBuffer) Snapshot() (string, <-chan struct{}) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String(), b.changed
}

var addrRE = regexp.MustCompile(`addr=(127\.0\.0\.1:\d+)`)

// MustServe starts "phonefleet serve" on a free port with extra flags and
// returns once it logged its address and answers /healthz. It is stopped with
// SIGTERM when the test ends.
func MustServe(t testing.TB, db string, extra ...string) *node {
	t.Helper()
	args := append([]string{"serve", "--db", db, "--addr", "127.0.0.1:0"}, extra...)
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), "PHONEFLEET_DB=")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	n := &node{cmd: cmd, stdout: newSyncBuffer(), done: make(chan struct{})}
	cmd.Stdout = n.stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		sent := false
		for sc.Scan() {
			if m := addrRE.FindStringSubmatch(sc.Text()); m != nil && !sent && strings.Contains(sc.Text(), "listening") {
				addr <- m[1]
				sent = true
			}
			if testing.Verbose() {
				fmt.Fprintln(os.Stderr, "  [serve]", sc.Text())
			}
		}
		close(n.done)
	}()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-n.done:
		case <-time.After(15 * time.Second):
			cmd.Process.Kill()
			t.Errorf("serve did not stop within 15s of SIGTERM")
		}
		cmd.Wait()
	})
	select {
	case a := <-addr:
		n.URL = "http://" + a
	case <-n.done:
		t.Fatalf("serve exited before listening")
	case <-time.After(30 * time.Second):
		t.Fatalf("serve did not log its address within 30s")
	}
	return n
}

// response is a decoded API answer.
type response struct {
	Status int
	Header http.Header
	Raw    []byte
	Body   map[string]any
}

// Code returns the envelope's error_code.
func (r *response) Code() string { s, _ := r.Body["error_code"].(string); return s }

// Msg returns the envelope's error_msg.
func (r *response) Msg() string { s, _ := r.Body["error_msg"].(string); return s }

// Data returns the envelope's data as an object.
func (r *response) Data() map[string]any { m, _ := r.Body["data"].(map[string]any); return m }

// call sends one request; contentType "" sends none; headers are extra
// header pairs.
func call(t testing.TB, method, url, token, contentType string, body []byte, headers ...string) *response {
	t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("X-Auth-Token", token)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	r := &response{Status: resp.StatusCode, Header: resp.Header, Raw: raw}
	if err := json.Unmarshal(raw, &r.Body); err != nil {
		t.Fatalf("%s %s: body %q is not a JSON object: %v", method, url, raw, err)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Fatalf("%s %s: Content-Type %q, want application/json", method, url, ct)
	}
	if id := resp.Header.Get("X-Request-Id"); id == "" {
		t.Fatalf("%s %s: no X-Request-Id", method, url)
	}
	return r
}

// postJSON posts v (or raw bytes) as application/json.
func postJSON(t testing.TB, url, token string, v any) *response {
	t.Helper()
	body, ok := v.([]byte)
	if !ok {
		var err error
		if body, err = json.Marshal(v); err != nil {
			t.Fatal(err)
		}
	}
	return call(t, "POST", url, token, "application/json", body)
}

// wantErr fails unless r is an error answer with status and code.
func wantErr(t testing.TB, r *response, status int, code string) {
	t.Helper()
	if r.Status != status || r.Code() != code {
		t.Fatalf("got %d %s (%s), want %d %s", r.Status, r.Code(), r.Raw, status, code)
	}
	if r.Msg() == "" {
		t.Fatalf("error %s has no error_msg", code)
	}
	if _, ok := r.Body["data"]; ok {
		t.Fatalf("error body has data: %s", r.Raw)
	}
}

// wantOK fails unless r is a success envelope.
func wantOK(t testing.TB, r *response) {
	t.Helper()
	if r.Status != 200 || r.Code() != "0" || r.Msg() != "OK" {
		t.Fatalf("got %d %s, want 200 success", r.Status, r.Raw)
	}
}

// tenantEnv is a tenant with an admin and a viewer token on a database.
type tenantEnv struct {
	Name, ID      string
	Admin, Viewer string
}

// MustTenant creates a tenant and its tokens through the CLI.
func MustTenant(t testing.TB, db, name string) tenantEnv {
	t.Helper()
	te := tenantEnv{Name: name}
	te.ID = MustLine(t, MustCLI(t, db, "tenant", "create", name))
	te.Admin = MustLine(t, MustCLI(t, db, "token", "issue", "--tenant", name))
	te.Viewer = MustLine(t, MustCLI(t, db, "token", "issue", "--tenant", name, "--role", "viewer"))
	return te
}

// buyBody returns a create request body.
func buyBody(count int, chargingMode, periodType, periodNum int) map[string]any {
	cp := map[string]any{"chargingMode": chargingMode}
	if chargingMode == 1 {
		cp["periodType"], cp["periodNum"] = periodType, periodNum
	}
	return map[string]any{
		"os": "AOSP11", "instanceSkuId": "kp.pro.2u4g", "bandSkuId": "kp.band.bgp.standard",
		"regionId": "cn-north-4", "instanceNamePrefix": "phone", "bandSize": 2, "count": count,
		"chargeParam": cp,
	}
}

// MustBuy buys instances and returns their IDs.
func MustBuy(t testing.TB, url, token string, body map[string]any) []string {
	t.Helper()
	r := postJSON(t, url+"/v1/instances/create", token, body)
	wantOK(t, r)
	infos, _ := r.Data()["instanceInfos"].([]any)
	var ids []string
	for _, it := range infos {
		ids = append(ids, it.(map[string]any)["instanceId"].(string))
	}
	if len(ids) == 0 {
		t.Fatalf("purchase returned no instances: %s", r.Raw)
	}
	return ids
}

// statuses returns batch-query-status for ids.
func statuses(t testing.TB, url, token string, ids []string) map[string]float64 {
	t.Helper()
	r := postJSON(t, url+"/v1/instances/batch-query-status", token, map[string]any{"instance_ids": ids})
	wantOK(t, r)
	out := map[string]float64{}
	for _, it := range r.Data()["status_results"].([]any) {
		m := it.(map[string]any)
		out[m["instance_id"].(string)] = m["status"].(float64)
	}
	return out
}
