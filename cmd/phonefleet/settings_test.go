package main

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// parseServe runs serve's ParseFlags with the given environment and
// returns the configuration.
func parseServe(t *testing.T, env map[string]string, args ...string) (Config, error) {
	t.Helper()
	m := NewMain(&Env{Stdout: &strings.Builder{}, Stderr: &strings.Builder{}, Getenv: func(k string) string { return env[k] }})
	err := m.ParseFlags(args)
	return m.Config, err
}

// MustWriteConfig writes a configuration file and returns its path.
func MustWriteConfig(tb testing.TB, text string) string {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), "phonefleet.yaml")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		tb.Fatal(err)
	}
	return path
}

// TestServeSettings_Precedence checks that a flag wins over its environment
// variable, which wins over the configuration file, which wins over the
// default, for --db as for serve's own flags.
func TestServeSettings_Precedence(t *testing.T) {
	file := MustWriteConfig(t, "# a comment\naddr: 127.0.0.1:7001\ndb: file.db\nrate-limit: 5\nlog-format: json\n")
	other := MustWriteConfig(t, "addr: 127.0.0.1:7009\n")
	for _, tc := range []struct {
		name string
		env  map[string]string
		args []string
		addr string
		db   string
		rate float64
		logf string
	}{
		{"Defaults", nil, nil, "127.0.0.1:8080", "phonefleet.db", 100, "text"},
		{"File", nil, []string{"--config", file}, "127.0.0.1:7001", "file.db", 5, "json"},
		{"FileByEnv", map[string]string{"PHONEFLEET_CONFIG": file}, nil, "127.0.0.1:7001", "file.db", 5, "json"},
		{"ConfigFlagOverConfigEnv", map[string]string{"PHONEFLEET_CONFIG": other}, []string{"--config", file}, "127.0.0.1:7001", "file.db", 5, "json"},
		{"EnvOverFile", map[string]string{"PHONEFLEET_ADDR": "127.0.0.1:7002", "PHONEFLEET_DB": "env.db", "PHONEFLEET_LOG_FORMAT": "text"},
			[]string{"--config", file}, "127.0.0.1:7002", "env.db", 5, "text"},
		{"EmptyEnvIsUnset", map[string]string{"PHONEFLEET_ADDR": ""}, []string{"--config", file}, "127.0.0.1:7001", "file.db", 5, "json"},
		{"FlagOverEnvAndFile", map[string]string{"PHONEFLEET_ADDR": "127.0.0.1:7002", "PHONEFLEET_DB": "env.db", "PHONEFLEET_RATE_LIMIT": "6"},
			[]string{"--config", file, "--addr", "127.0.0.1:7003", "--db", "flag.db", "--rate-limit=7"}, "127.0.0.1:7003", "flag.db", 7, "json"},
		{"FlagEqualToDefaultStillWins", map[string]string{"PHONEFLEET_ADDR": "127.0.0.1:7002"},
			[]string{"--config", file, "--addr", "127.0.0.1:8080"}, "127.0.0.1:8080", "file.db", 5, "json"},
		{"EnvWithoutFile", map[string]string{"PHONEFLEET_RATE_LIMIT": "0.5"}, nil, "127.0.0.1:8080", "phonefleet.db", 0.5, "text"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := parseServe(t, tc.env, tc.args...)
			if err != nil {
				t.Fatal(err)
			}
			if c.Addr != tc.addr || c.DB != tc.db || c.RateLimit != tc.rate || c.LogFormat != tc.logf {
				t.Fatalf("addr=%s db=%s rate-limit=%v log-format=%s, want %s %s %v %s", c.Addr, c.DB, c.RateLimit, c.LogFormat, tc.addr, tc.db, tc.rate, tc.logf)
			}
		})
	}
}

// TestServeSettings_FileErrors checks that a file that could turn a mistake
// into a silent default is refused with its line and key named, and so is
// an environment variable that does not parse.
func TestServeSettings_FileErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		file string
		env  map[string]string
		want []string // substrings of the error
	}{
		{"ErrUnknownKey", "addr: 127.0.0.1:1\nadress: 127.0.0.1:2\n", nil, []string{":2:", `unknown setting "adress"`}},
		{"ErrSnakeCase", "log_format: json\n", nil, []string{":1:", `unknown setting "log_format"`}},
		{"ErrDashes", "--addr: x\n", nil, []string{`unknown setting "--addr"`}},
		{"ErrConfigInFile", "config: other.yaml\n", nil, []string{`"config" cannot be set`}},
		{"ErrTwice", "addr: a\n\naddr: b\n", nil, []string{"addr"}},
		{"ErrNested", "pg:\n  max-conns: 3\n", nil, []string{`unknown setting "pg"`}},
		{"ErrMapping", "addr:\n  host: x\n", nil, []string{":2:", "addr", "not a mapping"}},
		{"ErrNull", "webhook-secret:\n", nil, []string{"webhook-secret", "has no value"}},
		{"ErrListOfOne", "addr: [a, b]\n", nil, []string{"addr", "not a list"}},
		{"ErrBadValue", "rate-limit: fast\n", nil, []string{":1:", "rate-limit", `"fast"`}},
		{"ErrBadBool", "demo: yes\n", nil, []string{"demo", `"yes"`}},
		{"ErrBadDuration", "request-timeout: 10\n", nil, []string{"request-timeout"}},
		{"ErrNotMapping", "- addr\n", nil, []string{"mapping of settings"}},
		{"ErrNotYAML", "addr: [\n", nil, []string{"not YAML"}},
		{"ErrEnvValue", "", map[string]string{"PHONEFLEET_PG_MAX_CONNS": "many"}, []string{"PHONEFLEET_PG_MAX_CONNS", "--pg-max-conns"}},
		// A bad file is an error even where the environment sets the key.
		{"ErrUnknownKeyUnderEnv", "adress: x\n", map[string]string{"PHONEFLEET_ADDR": "127.0.0.1:1"}, []string{"adress"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := MustWriteConfig(t, tc.file)
			_, err := parseServe(t, tc.env, "--config", path)
			var uerr *usageError
			if !errors.As(err, &uerr) {
				t.Fatalf("ParseFlags=%v, want a usage error", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Fatalf("ParseFlags=%q, want it to name %q", err, w)
				}
			}
		})
	}
	if _, err := parseServe(t, nil, "--config", filepath.Join(t.TempDir(), "none.yaml")); err == nil || !strings.Contains(err.Error(), "none.yaml") {
		t.Fatalf("missing file: %v, want an error naming it", err)
	}
}

// TestServeSettings_File checks the forms a file may take: empty, only
// comments, a list for --trusted-proxies, quoted empty strings.
func TestServeSettings_File(t *testing.T) {
	for _, text := range []string{"", "# nothing set\n", "---\n"} {
		c, err := parseServe(t, nil, "--config", MustWriteConfig(t, text))
		if err != nil || !reflect.DeepEqual(c, DefaultConfig()) {
			t.Fatalf("file %q: err %v, config changed: %+v", text, err, c)
		}
	}
	c, err := parseServe(t, nil, "--config", MustWriteConfig(t, "trusted-proxies:\n  - 10.0.0.0/8\n  - 192.0.2.1\nmetrics-addr: \"\"\ndemo: true\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.TrustedProxies != "10.0.0.0/8,192.0.2.1" || c.MetricsAddr != "" || !c.Demo {
		t.Fatalf("trusted-proxies=%q metrics-addr=%q demo=%v", c.TrustedProxies, c.MetricsAddr, c.Demo)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
}

// TestServeSettings_EveryFlag sets every serve flag through the file, then
// through the environment, and checks that every field of Config changed:
// no setting lacks a key or a variable, and no Config field lacks a flag.
func TestServeSettings_EveryFlag(t *testing.T) {
	var file strings.Builder
	env := map[string]string{}
	m := NewMain(&Env{Getenv: func(string) string { return "" }})
	n := 0
	m.serveFlags().VisitAll(func(f *flag.Flag) {
		if f.Name == configFlag {
			return
		}
		n++
		var v string
		switch f.Value.(flag.Getter).Get().(type) {
		case bool:
			v = "true"
		case int, float64:
			v = "3"
		case time.Duration:
			v = "17s"
		case string:
			v = "x-" + f.Name
		default:
			t.Fatalf("--%s: a flag of a kind this test does not know", f.Name)
		}
		file.WriteString(f.Name + ": " + v + "\n")
		env[envName(f.Name)] = v
	})
	fields := settingFields()
	if n != len(fields) {
		t.Fatalf("serve has %d flags besides --config and Config %d fields: each setting needs both", n, len(fields))
	}
	for name, src := range map[string]func() (Config, error){
		"File": func() (Config, error) { return parseServe(t, nil, "--config", MustWriteConfig(t, file.String())) },
		"Env":  func() (Config, error) { return parseServe(t, env) },
	} {
		t.Run(name, func(t *testing.T) {
			c, err := src()
			if err != nil {
				t.Fatalf("%v\nfile:\n%s", err, file.String())
			}
			got, def := reflect.ValueOf(c), reflect.ValueOf(DefaultConfig())
			for _, f := range fields {
				if reflect.DeepEqual(got.FieldByIndex(f.Index).Interface(), def.FieldByIndex(f.Index).Interface()) {
					t.Errorf("Config.%s kept its default %v", f.Name, got.FieldByIndex(f.Index))
				}
			}
		})
	}
}

// settingFields lists Config's settings: its fields, with those of an
// embedded struct (such as RetentionConfig) in place of the struct.
func settingFields() []reflect.StructField {
	var out []reflect.StructField
	for _, f := range reflect.VisibleFields(reflect.TypeOf(Config{})) {
		if !(f.Anonymous && f.Type.Kind() == reflect.Struct) {
			out = append(out, f)
		}
	}
	return out
}

// TestServeTLSFlags checks that --tls-cert and --tls-key come together.
func TestServeTLSFlags(t *testing.T) {
	db := filepath.Join(t.TempDir(), "x.db")
	for flag, other := range map[string]string{"--tls-cert": "--tls-key", "--tls-key": "--tls-cert"} {
		_, errOut, code := runCLI(t, "serve", "--db", db, flag, "some.pem")
		if code != 2 || !strings.Contains(errOut, other+" is required with "+flag) {
			t.Fatalf("serve %s alone: code %d err %q, want exit 2 naming %s", flag, code, errOut, other)
		}
	}
	_, errOut, code := runCLI(t, "serve", "--db", db, "--tls-cert", "none.crt", "--tls-key", "none.key")
	if code != 1 || !strings.Contains(errOut, "none.crt") {
		t.Fatalf("serve with missing files: code %d err %q, want exit 1 naming none.crt", code, errOut)
	}
	if _, err := os.Stat(db); err == nil {
		t.Fatalf("serve created %s before it found the certificate missing", db)
	}
}

// TestServeSettings_Documented checks that the README's table of serve
// flags names every flag.
func TestServeSettings_Documented(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, _ := strings.Cut(string(readme), "| `serve` flag |")
	section, _, _ = strings.Cut(section, "\n\n")
	NewMain(&Env{Getenv: func(string) string { return "" }}).serveFlags().VisitAll(func(f *flag.Flag) {
		if f.Name != "db" && !strings.Contains(section, "`--"+f.Name+"`") {
			t.Errorf("README's serve flag table does not name --%s", f.Name)
		}
	})
}
