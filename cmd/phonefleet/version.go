package main

import (
	"context"
	"encoding/json"
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"
)

// Build facts a release build may set with -ldflags, such as
// -X main.version=v1.4.0 -X main.commit=$(git rev-parse HEAD)
// -X main.buildTime=$(date -u +%Y-%m-%dT%H:%M:%SZ). Left empty, they come
// from the build information the Go toolchain records.
var (
	version   string
	commit    string
	buildTime string
)

// BuildInfo is what "phonefleet version" prints.
type BuildInfo struct {
	Version    string `json:"version"`     // module version, "(devel)" for a build from a work tree
	Commit     string `json:"commit"`      // VCS revision, "" if unknown
	CommitTime string `json:"commit_time"` // the revision's commit time, RFC 3339
	Modified   bool   `json:"modified"`    // built from a work tree with uncommitted changes
	BuildTime  string `json:"build_time"`  // when the binary was built, if the build recorded it
	GoVersion  string `json:"go_version"`
	Platform   string `json:"platform"` // GOOS/GOARCH
}

// readBuildInfo returns the binary's build facts: -ldflags values first,
// then runtime/debug.ReadBuildInfo.
func readBuildInfo() BuildInfo {
	bi := BuildInfo{Version: "(devel)", GoVersion: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
	if info, ok := debug.ReadBuildInfo(); ok {
		if v := info.Main.Version; v != "" {
			bi.Version = v
		}
		bi.GoVersion = info.GoVersion
		for _, s := range info.Settings {
			switch s.Key {
			case "vcs.revision":
				bi.Commit = s.Value
			case "vcs.time":
				bi.CommitTime = s.Value
			case "vcs.modified":
				bi.Modified = s.Value == "true"
			}
		}
	}
	if version != "" {
		bi.Version = version
	}
	if commit != "" {
		bi.Commit, bi.Modified = commit, false
	}
	bi.BuildTime = buildTime
	return bi
}

// String is the one-line form: "phonefleet v1.4.0 commit 0a1b2c3d4e5f
// (2026-12-01T10:00:00Z) built 2026-12-02T08:00:00Z go1.26.8 linux/amd64".
func (bi BuildInfo) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "phonefleet %s", bi.Version)
	if bi.Commit != "" {
		c := bi.Commit
		if len(c) > 12 {
			c = c[:12]
		}
		fmt.Fprintf(&b, " commit %s", c)
		if bi.Modified {
			b.WriteString("+modified")
		}
		if bi.CommitTime != "" {
			fmt.Fprintf(&b, " (%s)", bi.CommitTime)
		}
	}
	if bi.BuildTime != "" {
		fmt.Fprintf(&b, " built %s", bi.BuildTime)
	}
	fmt.Fprintf(&b, " %s %s", bi.GoVersion, bi.Platform)
	return b.String()
}

// VersionCommand prints the build facts of the binary.
type VersionCommand struct{ *Env }

const versionUsage = `Usage: phonefleet version [-o text|json]

Prints the module version, the VCS commit (and its time, and whether the work
tree had changes), the build time when the build recorded it, the Go version
and the platform: one line of text, or one JSON object with -o json.
"phonefleet --version" is the same as "phonefleet version".
`

// Run prints the version.
func (c *VersionCommand) Run(ctx context.Context, args []string) error {
	var dsn, output string
	fs := c.newFlagSet("version", versionUsage, &dsn)
	fs.StringVar(&output, "o", "text", "text or json")
	if err := parseNoArgs(fs, args); err != nil {
		return err
	}
	bi := readBuildInfo()
	switch output {
	case "text":
		_, err := fmt.Fprintln(c.Stdout, bi)
		return err
	case "json":
		return json.NewEncoder(c.Stdout).Encode(bi)
	default:
		return usagef("-o must be text or json")
	}
}
