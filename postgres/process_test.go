package postgres_test

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

// Helpers that run the phonefleet binary as an operator would: CLI commands
// and serve processes, talked to over HTTP on 127.0.0.1.

var (
	buildOnce sync.Once
	buildDir  string
	buildPath string
	buildErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

// MustBuildBinary builds cmd/phonefleet once per test run and returns its
// path.
func MustBuildBinary(tb testing.TB) string {
	tb.Helper()
	buildOnce.Do(func() {
		out, err := exec.Command("go", "env", "GOMOD").Output()
		if err != nil {
			buildErr = fmt.Errorf("go env GOMOD: %w", err)
			return
		}
		root := filepath.Dir(strings.TrimSpace(string(out)))
		if buildDir, buildErr = os.MkdirTemp("", "phonefleet-bin-"); buildErr != nil {
			return
		}
		buildPath = filepath.Join(buildDir, "phonefleet")
		cmd := exec.Command("go", "build", "-o", buildPath, "./cmd/phonefleet")
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build ./cmd/phonefleet: %w\n%s", err, out)
		}
	})
	if buildErr != nil {
		tb.Fatal(buildErr)
	}
	return buildPath
}

// MustRunCLI runs the binary with args and returns its stdout, trimmed. A
// non-zero exit fails the test with stderr.
func MustRunCLI(tb testing.TB, bin string, args ...string) string {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.Env = append(os.Environ(), "PHONEFLEET_DB=")
	if err := cmd.Run(); err != nil {
		tb.Fatalf("phonefleet %s: %v\nstderr: %s", strings.Join(args, " "), err, stderr.String())
	}
	return strings.TrimSpace(stdout.String())
}

// MustDecodeJSONLines decodes the JSON lines of a CLI listing.
func MustDecodeJSONLines[T any](tb testing.TB, out string) []T {
	tb.Helper()
	var items []T
	dec := json.NewDecoder(strings.NewReader(out))
	for dec.More() {
		var v T
		if err := dec.Decode(&v); err != nil {
			tb.Fatalf("decode JSON lines: %v\n%s", err, out)
		}
		items = append(items, v)
	}
	return items
}

// Node is a running "phonefleet serve" process.
type Node struct {
	URL string

	cmd  *exec.Cmd
	mu   sync.Mutex
	logs bytes.Buffer
	done chan struct{}
}

var listenAddrRE = regexp.MustCompile(`addr=(127\.0\.0\.1:\d+)`)

// MustStartNode starts "phonefleet serve --addr 127.0.0.1:0" with extra
// flags, waits for its "listening" log line and stops it when the test ends.
func MustStartNode(tb testing.TB, bin string, flags ...string) *Node {
	tb.Helper()
	n := &Node{done: make(chan struct{})}
	n.cmd = exec.Command(bin, append([]string{"serve", "--addr", "127.0.0.1:0"}, flags...)...)
	n.cmd.Env = append(os.Environ(), "PHONEFLEET_DB=")
	stderr, err := n.cmd.StderrPipe()
	if err != nil {
		tb.Fatal(err)
	}
	if err := n.cmd.Start(); err != nil {
		tb.Fatalf("start serve: %v", err)
	}

	addr := make(chan string, 1)
	go func() {
		defer close(n.done)
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64*1024), 1024*1024)
		for sc.Scan() {
			line := sc.Text()
			n.mu.Lock()
			n.logs.WriteString(line + "\n")
			n.mu.Unlock()
			if m := listenAddrRE.FindStringSubmatch(line); m != nil && strings.Contains(line, "listening") {
				select {
				case addr <- m[1]:
				default:
				}
			}
		}
		io.Copy(io.Discard, stderr)
	}()
	tb.Cleanup(func() { n.Stop(tb) })

	select {
	case a := <-addr:
		n.URL = "http://" + a
	case <-n.done:
		n.cmd.Wait()
		tb.Fatalf("serve exited before listening:\n%s", n.Logs())
	case <-time.After(60 * time.Second):
		tb.Fatalf("serve did not log listening within 60s:\n%s", n.Logs())
	}
	return n
}

// Logs returns what the node logged so far.
func (n *Node) Logs() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.logs.String()
}

// Stop sends SIGTERM and waits for the process, killing it after 10 s.
func (n *Node) Stop(tb testing.TB) {
	if n.cmd.ProcessState != nil {
		return
	}
	n.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-n.done:
	case <-time.After(10 * time.Second):
		n.cmd.Process.Kill()
		<-n.done
	}
	n.cmd.Wait()
	if tb.Failed() {
		tb.Logf("logs of node %s:\n%s", n.URL, n.Logs())
	}
}

// Envelope is the KooPhone response body.
type Envelope struct {
	Data      json.RawMessage `json:"data"`
	ErrorCode string          `json:"error_code"`
	ErrorMsg  string          `json:"error_msg"`
}

// Do sends a request with the token (if any) and a JSON body (if any) and
// returns the HTTP status and the decoded envelope.
func (n *Node) Do(ctx context.Context, method, path, token string, body any) (int, *Envelope, error) {
	var rd io.Reader
	if body != nil {
		buf, err := json.Marshal(body)
		if err != nil {
			return 0, nil, err
		}
		rd = bytes.NewReader(buf)
	}
	req, err := http.NewRequestWithContext(ctx, method, n.URL+path, rd)
	if err != nil {
		return 0, nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("X-Auth-Token", token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	buf, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, nil, err
	}
	var env Envelope
	if len(buf) > 0 && buf[0] == '{' {
		if err := json.Unmarshal(buf, &env); err != nil {
			return resp.StatusCode, nil, fmt.Errorf("decode %s: %w", buf, err)
		}
	}
	return resp.StatusCode, &env, nil
}

// MustDo is Do that fails the test on a transport error or an answer other
// than HTTP 200 with error_code "0", and decodes data into v (if not nil).
func (n *Node) MustDo(tb testing.TB, method, path, token string, body, v any) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	status, env, err := n.Do(ctx, method, path, token, body)
	if err != nil {
		tb.Fatalf("%s %s: %v", method, path, err)
	} else if status != http.StatusOK || env.ErrorCode != "0" {
		tb.Fatalf("%s %s: status=%d error_code=%q error_msg=%q, want 200 and \"0\"", method, path, status, env.ErrorCode, env.ErrorMsg)
	}
	if v != nil {
		if err := json.Unmarshal(env.Data, v); err != nil {
			tb.Fatalf("%s %s: decode data: %v", method, path, err)
		}
	}
}

// purchaseBody is a CreateInstance request for count monthly instances of
// the default catalogue.
func purchaseBody(prefix string, count int) map[string]any {
	return map[string]any{
		"os": "AOSP11", "instanceSkuId": "kp.pro.2u4g", "bandSkuId": "kp.band.bgp.standard",
		"regionId": "cn-north-4", "instanceNamePrefix": prefix, "bandSize": 2, "count": count,
		"chargeParam": map[string]any{"chargingMode": 1, "periodType": 2, "periodNum": 1},
	}
}

// purchaseData is the data of a CreateInstance answer.
type purchaseData struct {
	OrderID       string `json:"orderId"`
	InstanceInfos []struct {
		InstanceID string `json:"instanceId"`
	} `json:"instanceInfos"`
}

// statusData is the data of a batch-query-status answer.
type statusData struct {
	StatusResults []struct {
		InstanceID string `json:"instance_id"`
		Status     int    `json:"status"`
	} `json:"status_results"`
}

// MustStatuses asks the node for the statuses of ids (at most 100).
func (n *Node) MustStatuses(tb testing.TB, token string, ids []string) map[string]int {
	tb.Helper()
	var data statusData
	n.MustDo(tb, "POST", "/v1/instances/batch-query-status", token, map[string]any{"instance_ids": ids}, &data)
	out := make(map[string]int, len(data.StatusResults))
	for _, r := range data.StatusResults {
		out[r.InstanceID] = r.Status
	}
	if len(out) != len(ids) {
		tb.Fatalf("batch-query-status answered %d of %d IDs", len(out), len(ids))
	}
	return out
}
