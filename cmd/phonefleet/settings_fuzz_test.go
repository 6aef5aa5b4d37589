package main

import (
	"errors"
	"strings"
	"testing"
)

// FuzzParseConfigFile: any file either is refused with a usage error
// naming the file, or yields settings that each name a serve flag (never
// --config) and that, set on a fresh flag set, either parse or fail without
// a panic.
func FuzzParseConfigFile(f *testing.F) {
	for _, seed := range []string{
		"", "---\n", "# c\n", "addr: 127.0.0.1:1\n", "trusted-proxies: [10.0.0.0/8, 192.0.2.1]\n",
		"adress: x\n", "addr: a\naddr: b\n", "pg:\n  max-conns: 3\n", "webhook-secret:\n", "a: &x 1\nb: *x\n",
		"demo: true\nrate-limit: 2.5\nrequest-timeout: 3s\n", "- x\n", "addr: [\n", "!!map {addr: x}\n",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, text string) {
		m := NewMain(&Env{Getenv: func(string) string { return "" }})
		fs := m.serveFlags()
		settings, err := parseConfigFile("fuzz.yaml", []byte(text), fs.FlagSet)
		if err != nil {
			var uerr *usageError
			if !errors.As(err, &uerr) || !strings.Contains(err.Error(), "fuzz.yaml") {
				t.Fatalf("error %v: want a usage error naming the file", err)
			}
			return
		}
		for name, s := range settings {
			if name == configFlag || fs.Lookup(name) == nil {
				t.Fatalf("setting %q is no serve flag", name)
			}
			if s.line < 1 {
				t.Fatalf("setting %q has line %d", name, s.line)
			}
			fs.Set(name, s.value)
		}
	})
}
