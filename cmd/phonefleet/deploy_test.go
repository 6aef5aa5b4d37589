package main

import (
	"bufio"
	"bytes"
	"debug/elf"
	"encoding/json"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// deployDir is the repository's deploy/ directory.
const deployDir = "../../deploy"

// dockerfileInstructions returns the Dockerfile's instructions, one per
// element, with continuation lines joined and comments dropped.
func dockerfileInstructions(t *testing.T) []string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(deployDir, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	var cur strings.Builder
	for _, line := range strings.Split(string(data), "\n") {
		trimmed := strings.TrimSpace(line)
		if strings.HasPrefix(trimmed, "#") || (trimmed == "" && cur.Len() == 0) {
			continue
		}
		if strings.HasSuffix(trimmed, "\\") {
			cur.WriteString(strings.TrimSuffix(trimmed, "\\") + " ")
			continue
		}
		cur.WriteString(trimmed)
		out = append(out, cur.String())
		cur.Reset()
	}
	return out
}

// TestDeploy_Dockerfile checks the image's recipe: a builder on the
// module's Go version running a CGO_ENABLED=0 build of this command, and a
// distroless or scratch final stage that runs as a non-root user with a
// volume and an exposed port. It then runs the builder's go build line
// itself (into a temporary directory) and checks that the binary is static
// (no ELF interpreter, no shared libraries) and reports the version, commit
// and build time the build passed with -ldflags.
func TestDeploy_Dockerfile(t *testing.T) {
	instrs := dockerfileInstructions(t)
	var build, lastFrom, user string
	var goVersionArg string
	has := map[string]bool{}
	for _, in := range instrs {
		word, rest, _ := strings.Cut(in, " ")
		has[word] = true
		switch word {
		case "FROM":
			lastFrom, user = rest, ""
		case "USER":
			user = rest
		case "ARG":
			if v, ok := strings.CutPrefix(rest, "GO_VERSION="); ok {
				goVersionArg = v
			}
		case "RUN":
			if strings.Contains(rest, "go build") {
				build = rest
			}
		}
	}
	gomod, err := os.ReadFile("../../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	if m := regexp.MustCompile(`(?m)^go (\S+)$`).FindSubmatch(gomod); m == nil || string(m[1]) != goVersionArg {
		t.Fatalf("Dockerfile ARG GO_VERSION=%s, want go.mod's go directive %q", goVersionArg, m)
	}
	if !strings.Contains(build, "CGO_ENABLED=0") || !strings.Contains(build, "./cmd/phonefleet") || !strings.Contains(build, "-o /out/phonefleet") {
		t.Fatalf("the builder's go build is %q, want CGO_ENABLED=0 building ./cmd/phonefleet into /out/phonefleet", build)
	}
	if !strings.Contains(lastFrom, "distroless/static") && lastFrom != "scratch" {
		t.Fatalf("final stage FROM %s, want distroless/static or scratch", lastFrom)
	}
	if user == "" || user == "root" || user == "0" || strings.HasPrefix(user, "0:") || strings.HasPrefix(user, "root:") {
		t.Fatalf("final stage USER %q, want a non-root user", user)
	}
	for _, w := range []string{"EXPOSE", "VOLUME", "ENTRYPOINT"} {
		if !has[w] {
			t.Fatalf("Dockerfile has no %s", w)
		}
	}

	if testing.Short() {
		t.Skip("-short: not running the Dockerfile's go build")
	}
	out := t.TempDir()
	cmd := exec.Command("sh", "-c", strings.ReplaceAll(build, "/out/", out+"/"))
	cmd.Dir = "../.."
	cmd.Env = append(os.Environ(), "VERSION=v0.0.0-deploytest", "COMMIT=0123456789abcdef0123456789abcdef01234567")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("the Dockerfile's build %q: %v\n%s", build, err, b)
	}
	bin := filepath.Join(out, "phonefleet")
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Fatalf("%s has an ELF interpreter (PT_INTERP): not static", bin)
		}
	}
	if libs, err := f.ImportedLibraries(); err != nil || len(libs) > 0 {
		t.Fatalf("%s needs shared libraries %v (%v): not static", bin, libs, err)
	}
	stdout, err := exec.Command(bin, "version", "-o", "json").Output()
	if err != nil {
		t.Fatal(err)
	}
	var bi BuildInfo
	if err := json.Unmarshal(stdout, &bi); err != nil {
		t.Fatal(err)
	}
	if _, err := time.Parse(time.RFC3339, bi.BuildTime); bi.Version != "v0.0.0-deploytest" || bi.Commit != "0123456789abcdef0123456789abcdef01234567" || err != nil {
		t.Fatalf("version -o json of the image's binary: %s", stdout)
	}
}

// unitSettings returns the settings of a systemd unit file by section;
// a key given more than once keeps every value.
func unitSettings(t *testing.T, path string) map[string]map[string][]string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	units := map[string]map[string][]string{}
	section := ""
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, ";"):
		case strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]"):
			section = line[1 : len(line)-1]
			units[section] = map[string][]string{}
		default:
			k, v, ok := strings.Cut(line, "=")
			if !ok || section == "" {
				t.Fatalf("%s:%d: %q is no setting of a section", path, n, line)
			}
			units[section][k] = append(units[section][k], v)
		}
	}
	return units
}

// TestDeploy_SystemdUnit checks the unit's essentials (a non-root user, the
// state directory, SIGHUP on reload, restart on failure, hardening) and has
// systemd-analyze verify it when the tool is installed.
func TestDeploy_SystemdUnit(t *testing.T) {
	unit := filepath.Join(deployDir, "phonefleet.service")
	s := unitSettings(t, unit)
	svc := s["Service"]
	want := map[string]string{
		"ExecReload":       "/bin/kill -HUP $MAINPID",
		"Restart":          "on-failure",
		"StateDirectory":   "phonefleet",
		"ReadWritePaths":   "/var/lib/phonefleet",
		"NoNewPrivileges":  "yes",
		"ProtectSystem":    "strict",
		"ProtectHome":      "yes",
		"PrivateTmp":       "yes",
		"User":             "phonefleet",
		"EnvironmentFile":  "-/etc/phonefleet/phonefleet.env",
		"WorkingDirectory": "/var/lib/phonefleet",
	}
	for k, v := range want {
		if got := svc[k]; len(got) != 1 || got[0] != v {
			t.Errorf("[Service] %s=%q, want %q", k, got, v)
		}
	}
	if exec := svc["ExecStart"]; len(exec) != 1 || !strings.Contains(exec[0], "phonefleet serve --config ") {
		t.Errorf("[Service] ExecStart=%q, want phonefleet serve --config FILE", exec)
	}
	if len(s["Install"]["WantedBy"]) == 0 {
		t.Errorf("[Install] has no WantedBy")
	}

	path, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze is not installed: the unit file was checked by this test's own parser only")
	}
	// verify wants ExecStart's binary to exist: point it at this test's.
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(unit)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	copyPath := filepath.Join(dir, "phonefleet.service")
	if err := os.WriteFile(copyPath, bytes.ReplaceAll(data, []byte("/usr/local/bin/phonefleet"), []byte(self)), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(path, "verify", copyPath)
	out, err := cmd.CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Fatalf("systemd-analyze verify %s: %v\n%s", unit, err, out)
	}
}

// TestDeploy_ExampleConfig checks that the example configuration file and
// environment file hold only settings serve knows, and that the example
// configuration is valid.
func TestDeploy_ExampleConfig(t *testing.T) {
	path := filepath.Join(deployDir, "phonefleet.yaml")
	c, err := parseServe(t, nil, "--config", path)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if c.LogFormat != "json" || c.TLSCert == "" || c.TrustedProxies == "" {
		t.Fatalf("%s: %+v, want JSON logs, TLS and trusted proxies shown", path, c)
	}

	known := map[string]bool{configEnv: true}
	NewMain(&Env{Getenv: func(string) string { return "" }}).serveFlags().VisitAll(func(f *flag.Flag) { known[envName(f.Name)] = true })
	data, err := os.ReadFile(filepath.Join(deployDir, "phonefleet.env"))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(line), "#"))
		if k, _, ok := strings.Cut(line, "="); ok && strings.HasPrefix(k, "PHONEFLEET_") && !known[k] {
			t.Fatalf("phonefleet.env names %s, which is no setting of serve", k)
		}
	}
}
