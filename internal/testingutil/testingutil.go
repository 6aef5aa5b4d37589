// Package testingutil holds the helpers shared by the test suites that drive
// the built phonefleet binary as an operator would: building it once per test
// process, running its CLI, running "phonefleet serve" nodes, talking to them
// over the KooPhone HTTP API, and a controllable clock.
//
// Helpers named MustX take a testing.TB, call tb.Helper() and fail the test
// instead of returning an error. A package that calls MustBuildBinary runs
// its tests with Main, which removes the binary afterwards.
package testingutil

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// mainPackage is the import path of the phonefleet command.
const mainPackage = "github.com/phonefleet/phonefleet/cmd/phonefleet"

// cliTimeout bounds one CLI invocation.
const cliTimeout = time.Minute

var build struct {
	once sync.Once
	dir  string
	path string
	err  error
}

// Main runs the tests of a package that uses MustBuildBinary, removes the
// binary and exits. Call it from TestMain.
func Main(m *testing.M) {
	code := m.Run()
	Cleanup()
	os.Exit(code)
}

// MustBuildBinary builds cmd/phonefleet once per test process into a
// temporary directory and returns the binary's path. Cleanup removes it.
func MustBuildBinary(tb testing.TB) string {
	tb.Helper()
	build.once.Do(func() {
		if build.dir, build.err = os.MkdirTemp("", "phonefleet-bin-"); build.err != nil {
			return
		}
		build.path = filepath.Join(build.dir, "phonefleet")
		if build.err = touchSources(); build.err != nil {
			return
		}
		cmd := exec.Command("go", "build", "-o", build.path, mainPackage)
		if out, err := cmd.CombinedOutput(); err != nil {
			build.err = fmt.Errorf("go build %s: %w\n%s", mainPackage, err, out)
		}
	})
	if build.err != nil {
		tb.Fatal(build.err)
	}
	return build.path
}

// touchSources opens every Go and SQL file of the module. The binary is
// built by a child process, whose reads go test's result cache does not see;
// opening the sources here records them, so a cached pass of a test that
// drives the binary is invalidated when any of them changes.
func touchSources() error {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return fmt.Errorf("go env GOMOD: %w", err)
	}
	root := filepath.Dir(strings.TrimSpace(string(out)))
	return filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		} else if d.IsDir() && path != root && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata") {
			return filepath.SkipDir
		} else if ext := filepath.Ext(path); !d.IsDir() && (ext == ".go" || ext == ".sql" || d.Name() == "go.mod" || d.Name() == "go.sum") {
			f, err := os.Open(path)
			if err != nil {
				return err
			}
			return f.Close()
		}
		return nil
	})
}

// Cleanup removes the binary MustBuildBinary built, if any: for a TestMain
// that does more than Main, after m.Run.
func Cleanup() {
	if build.dir != "" {
		os.RemoveAll(build.dir)
	}
}

// CLIResult is what one CLI invocation did.
type CLIResult struct {
	Stdout, Stderr string
	Code           int // exit code
}

// RunCLI runs bin with args and returns its output and exit code without
// judging them. The environment is the test's, with PHONEFLEET_DB cleared,
// then env ("KEY=value" entries, later ones winning). It fails the test only
// when the binary cannot be run or does not exit within a minute.
func RunCLI(tb testing.TB, bin string, env []string, args ...string) CLIResult {
	tb.Helper()
	return RunCLIInput(tb, bin, env, "", args...)
}

// RunCLIInput is RunCLI with stdin as the command's standard input.
func RunCLIInput(tb testing.TB, bin string, env []string, stdin string, args ...string) CLIResult {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), cliTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append(append(os.Environ(), "PHONEFLEET_DB="), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.Stdin = strings.NewReader(stdin)
	err := cmd.Run()
	if ctx.Err() != nil {
		tb.Fatalf("phonefleet %s: no exit within %s\nstderr: %s", strings.Join(args, " "), cliTimeout, stderr.String())
	}
	code := 0
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		code = exit.ExitCode()
	} else if err != nil {
		tb.Fatalf("run phonefleet %s: %v", strings.Join(args, " "), err)
	}
	return CLIResult{Stdout: stdout.String(), Stderr: stderr.String(), Code: code}
}

// MustRunCLI is RunCLI that fails the test unless the binary exits 0; it
// returns stdout as printed.
func MustRunCLI(tb testing.TB, bin string, env []string, args ...string) string {
	tb.Helper()
	r := RunCLI(tb, bin, env, args...)
	if r.Code != 0 {
		tb.Fatalf("phonefleet %s: exit %d\nstderr: %s", strings.Join(args, " "), r.Code, r.Stderr)
	}
	return r.Stdout
}

// MustDecodeJSONLines decodes JSON-lines output, one value of T per
// non-empty line, and fails the test on a line that does not decode.
func MustDecodeJSONLines[T any](tb testing.TB, out string) []T {
	tb.Helper()
	var items []T
	for _, line := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
		if line == "" {
			continue
		}
		var v T
		if err := json.Unmarshal([]byte(line), &v); err != nil {
			tb.Fatalf("JSON line %q does not decode into %T: %v", line, v, err)
		}
		items = append(items, v)
	}
	return items
}
