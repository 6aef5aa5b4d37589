package testingutil

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// startTimeout bounds how long a node may take to log its address;
// stopTimeout how long it may take to exit after a signal.
const (
	startTimeout = 60 * time.Second
	stopTimeout  = 15 * time.Second
)

// SyncBuffer collects a process's output, safe for concurrent use. Readers
// can wait for more output without sleeping: see Snapshot. The zero value is
// ready to use.
type SyncBuffer struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	changed chan struct{} // closed by the next Write; nil until asked for
}

// Write appends p and wakes every reader waiting for a change.
func (b *SyncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.changed != nil {
		close(b.changed)
		b.changed = nil
	}
	return b.buf.Write(p)
}

// String returns the output so far.
func (b *SyncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Snapshot returns the output so far and a channel closed at the next write.
func (b *SyncBuffer) Snapshot() (string, <-chan struct{}) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.changed == nil {
		b.changed = make(chan struct{})
	}
	return b.buf.String(), b.changed
}

// Node is a running "phonefleet serve" process on 127.0.0.1.
type Node struct {
	URL    string      // http://127.0.0.1:port
	Stdout *SyncBuffer // what it printed
	Stderr *SyncBuffer // its logs

	cmd    *exec.Cmd
	exited chan struct{} // closed once the process was waited for
}

// listenAddrRE finds the address in a "listening" log line, text or JSON.
var listenAddrRE = regexp.MustCompile(`\baddr=(127\.0\.0\.1:\d+)|"addr":"(127\.0\.0\.1:\d+)"`)

// MustStartNode starts "bin serve --addr 127.0.0.1:0" with flags, with
// PHONEFLEET_DB cleared, and returns once it logged its "listening ...
// addr=" line (text or JSON; URL is https:// when the line says
// scheme=https). The node is stopped when the test ends, and its logs are
// shown if the test failed.
func MustStartNode(tb testing.TB, bin string, flags ...string) *Node {
	tb.Helper()
	n := &Node{Stdout: &SyncBuffer{}, Stderr: &SyncBuffer{}, exited: make(chan struct{})}
	n.cmd = exec.Command(bin, append([]string{"serve", "--addr", "127.0.0.1:0"}, flags...)...)
	n.cmd.Env = append(os.Environ(), "PHONEFLEET_DB=")
	n.cmd.Stdout, n.cmd.Stderr = n.Stdout, n.Stderr
	if err := n.cmd.Start(); err != nil {
		tb.Fatalf("start serve: %v", err)
	}
	go func() {
		n.cmd.Wait()
		close(n.exited)
	}()
	tb.Cleanup(func() {
		n.Stop(tb)
		if tb.Failed() && n.URL != "" { // a failed start showed them already
			tb.Logf("logs of serve %s:\n%s", n.URL, n.Stderr)
		}
	})

	timeout := time.After(startTimeout)
	for {
		logs, changed := n.Stderr.Snapshot()
		if url := listenURL(logs); url != "" {
			n.URL = url
			return n
		}
		select {
		case <-changed:
		case <-n.exited:
			tb.Fatalf("serve exited with %d before listening:\n%s", n.ExitCode(), n.Stderr)
		case <-timeout:
			tb.Fatalf("serve did not log its address within %s:\n%s", startTimeout, logs)
		}
	}
}

// listenURL returns the base URL of the first complete "listening" log
// line, or "".
func listenURL(logs string) string {
	lines := strings.Split(logs, "\n")
	for _, line := range lines[:len(lines)-1] { // the last one is incomplete
		m := listenAddrRE.FindStringSubmatch(line)
		if m == nil || !strings.Contains(line, "listening") {
			continue
		}
		scheme := "http://"
		if strings.Contains(line, "scheme=https") || strings.Contains(line, `"scheme":"https"`) {
			scheme = "https://"
		}
		return scheme + m[1] + m[2]
	}
	return ""
}

// Exited returns a channel closed once the process has exited.
func (n *Node) Exited() <-chan struct{} { return n.exited }

// ExitCode returns the process's exit code once it has exited: -1 while it
// runs or when a signal ended it.
func (n *Node) ExitCode() int {
	select {
	case <-n.exited:
		return n.cmd.ProcessState.ExitCode()
	default:
		return -1
	}
}

// Stop sends SIGTERM and waits for the process to exit. A process still
// running after 15 seconds is killed and the test marked failed. Stopping
// an exited node does nothing.
func (n *Node) Stop(tb testing.TB) {
	tb.Helper()
	select {
	case <-n.exited:
		return
	default:
	}
	n.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-n.exited:
	case <-time.After(stopTimeout):
		n.cmd.Process.Kill()
		<-n.exited
		tb.Errorf("serve %s did not stop within %s of SIGTERM", n.URL, stopTimeout)
	}
}

// Signal sends sig to the process without waiting.
func (n *Node) Signal(tb testing.TB, sig os.Signal) {
	tb.Helper()
	if err := n.cmd.Process.Signal(sig); err != nil {
		tb.Fatalf("signal serve: %v", err)
	}
}

// Kill sends SIGKILL, as a crash would, and waits for the process to exit.
func (n *Node) Kill(tb testing.TB) {
	tb.Helper()
	if err := n.cmd.Process.Kill(); err != nil {
		tb.Fatalf("kill serve: %v", err)
	}
	select {
	case <-n.exited:
	case <-time.After(stopTimeout):
		tb.Fatalf("serve %s did not exit within %s of SIGKILL", n.URL, stopTimeout)
	}
}

// Do sends a request for path to the node with the token (if any) and body
// (if not nil) as JSON; see the package-level Do.
func (n *Node) Do(ctx context.Context, method, path, token string, body any) (*Response, error) {
	var buf []byte
	var contentType string
	if body != nil {
		var err error
		if buf, err = json.Marshal(body); err != nil {
			return &Response{Method: method, URL: n.URL + path}, err
		}
		contentType = "application/json"
	}
	// A KooPhone client sends an x-request-id, which some APIs require.
	return Do(ctx, method, n.URL+path, token, contentType, buf, "X-Request-Id", "node-"+rand.Text()[:16])
}

// MustDo is Do that fails the test on a transport error or an answer other
// than HTTP 200 with error_code "0", and decodes data into v (if not nil).
func (n *Node) MustDo(tb testing.TB, method, path, token string, body, v any) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	r, err := n.Do(ctx, method, path, token, body)
	if err != nil {
		tb.Fatalf("%s %s: %v", method, path, err)
	} else if r.Status != http.StatusOK || r.Code() != "0" {
		tb.Fatalf("%s %s: status=%d error_code=%q error_msg=%q, want 200 and \"0\"\n%s", method, path, r.Status, r.Code(), r.Msg(), r.Raw)
	}
	if v != nil {
		if err := r.decodeData(v); err != nil {
			tb.Fatalf("%s %s: decode data: %v", method, path, err)
		}
	}
}
