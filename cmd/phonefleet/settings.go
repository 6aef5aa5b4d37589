package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"

	"go.yaml.in/yaml/v4"
)

// serve's settings have one list: its flags (ParseFlags). Each flag is
// also an environment variable, PHONEFLEET_ and the flag's name in capitals
// with dashes as underscores (--log-format: PHONEFLEET_LOG_FORMAT), and a
// key of the YAML file that --config names, the flag's name
// ("log-format: json"). A flag given on the command line wins over the
// environment, which wins over the file, which wins over the defaults.

// configFlag is the flag naming the configuration file; configEnv its
// environment variable.
const (
	configFlag = "config"
	configEnv  = "PHONEFLEET_CONFIG"
)

// listSettings are the settings whose value is a comma-separated list: a
// configuration file may also give them as a YAML sequence.
var listSettings = map[string]bool{"trusted-proxies": true}

// envName returns the environment variable of a flag.
func envName(flagName string) string {
	return "PHONEFLEET_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// noteEnvNames appends each flag's environment variable to its help, so
// that -h lists them.
func noteEnvNames(fs *flag.FlagSet) {
	fs.VisitAll(func(f *flag.Flag) {
		if env := envName(f.Name); !strings.Contains(f.Usage, env) {
			f.Usage += " (env " + env + ")"
		}
	})
}

// applySettings sets every flag of fs that the command line did not set
// from its environment variable or else from the configuration file (the
// --config flag's value, or PHONEFLEET_CONFIG's; none without either).
// Errors name the variable, or the file, line and key.
func applySettings(fs *flag.FlagSet, getenv func(string) string) error {
	onCommandLine := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { onCommandLine[f.Name] = true })

	var file map[string]fileSetting
	path := fs.Lookup(configFlag).Value.String()
	if !onCommandLine[configFlag] {
		path = getenv(configEnv)
	}
	if path != "" {
		var err error
		if file, err = readConfigFile(path, fs); err != nil {
			return err
		}
	}

	var errs []error
	fs.VisitAll(func(f *flag.Flag) {
		if f.Name == configFlag || onCommandLine[f.Name] {
			return
		}
		if v := getenv(envName(f.Name)); v != "" {
			if err := f.Value.Set(v); err != nil {
				errs = append(errs, usagef("%s=%q: invalid value for --%s: %v", envName(f.Name), v, f.Name, err))
			}
			return
		}
		if s, ok := file[f.Name]; ok {
			if err := f.Value.Set(s.value); err != nil {
				errs = append(errs, usagef("%s:%d: %s: invalid value %q: %v", path, s.line, f.Name, s.value, err))
			}
		}
	})
	if len(errs) > 0 {
		return errs[0]
	}
	return nil
}

// fileSetting is one key of a configuration file.
type fileSetting struct {
	value string
	line  int
}

// readConfigFile reads a YAML configuration file: one mapping from flag
// names to values. A key that names no flag of fs is an error (a misspelt
// setting must not become a silent default), as are duplicate keys, nested
// mappings and keys without a value.
func readConfigFile(path string, fs *flag.FlagSet) (map[string]fileSetting, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, usagef("--config: %v", err)
	}
	return parseConfigFile(path, data, fs)
}

// parseConfigFile is readConfigFile on the file's contents.
func parseConfigFile(path string, data []byte, fs *flag.FlagSet) (map[string]fileSetting, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, usagef("--config %s: not YAML: %v", path, err)
	}
	settings := map[string]fileSetting{}
	if len(bytes.TrimSpace(data)) == 0 || doc.Kind == 0 || len(doc.Content) == 0 {
		return settings, nil // an empty file (or only comments) sets nothing
	}
	root := doc.Content[0]
	if root.Kind == yaml.ScalarNode && root.Tag == "!!null" {
		return settings, nil // "---" alone
	}
	if root.Kind != yaml.MappingNode {
		return nil, usagef("%s:%d: the file must be a mapping of settings (key: value), one per line", path, root.Line)
	}
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			return nil, usagef("%s:%d: a key must be a setting's name", path, k.Line)
		}
		name := k.Value
		if name == configFlag {
			return nil, usagef("%s:%d: %q cannot be set in the file it names", path, k.Line, name)
		}
		if fs.Lookup(name) == nil {
			return nil, usagef("%s:%d: unknown setting %q (the settings are serve's flag names without dashes: see phonefleet serve -h)", path, k.Line, name)
		}
		if prev, ok := settings[name]; ok {
			return nil, usagef("%s:%d: %q is set twice (first on line %d)", path, k.Line, name, prev.line)
		}
		value, err := settingValue(name, v)
		if err != nil {
			return nil, usagef("%s:%d: %s: %v", path, v.Line, name, err)
		}
		settings[name] = fileSetting{value: value, line: v.Line}
	}
	return settings, nil
}

// settingValue returns the flag value that a YAML value stands for.
func settingValue(name string, v *yaml.Node) (string, error) {
	switch v.Kind {
	case yaml.ScalarNode:
		if v.Tag == "!!null" {
			return "", errors.New(`has no value (write "" for an empty one)`)
		}
		return v.Value, nil
	case yaml.SequenceNode:
		if !listSettings[name] {
			return "", errors.New("must be a single value, not a list")
		}
		items := make([]string, len(v.Content))
		for i, it := range v.Content {
			if it.Kind != yaml.ScalarNode || it.Tag == "!!null" {
				return "", fmt.Errorf("item %d must be a single value", i+1)
			}
			items[i] = it.Value
		}
		return strings.Join(items, ","), nil
	case yaml.AliasNode:
		return "", errors.New("must be a value, not an alias")
	default:
		return "", errors.New("must be a single value, not a mapping")
	}
}
