package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/phonefleet/phonefleet/client"
)

// Tenant commands (login, instances) talk to a server through the Go
// client, never to a database. This file has what they share: the stored
// login, the --endpoint/--token/-o flags, tables and the progress bar.

// loginConfig is one login that "phonefleet login" stores: a token of
// the server at Endpoint, and only of that server.
type loginConfig struct {
	Endpoint  string    `json:"endpoint"`
	Token     string    `json:"token"`
	Domain    string    `json:"domain,omitempty"`
	User      string    `json:"user,omitempty"`
	ExpiresAt time.Time `json:"expires_at,omitzero"`
}

// loginFile is the config file: one login per endpoint, keyed by the
// endpoint normalised (normalizeEndpoint), as gh keeps one per host, and
// the endpoint of the latest login, which commands use when they are given
// none. It is kept in the user's config directory with mode 0600.
type loginFile struct {
	Current string                  `json:"current"`
	Logins  map[string]*loginConfig `json:"logins"`

	// Operators are the operator logins (login --operator), kept apart
	// from tenant logins: operator commands use only these, tenant
	// commands never.
	CurrentOperator string                  `json:"current_operator,omitempty"`
	Operators       map[string]*loginConfig `json:"operators,omitempty"`
}

// configPath returns $XDG_CONFIG_HOME/phonefleet/login.json, or
// ~/.config/phonefleet/login.json.
func (e *Env) configPath() (string, error) {
	dir := e.Getenv("XDG_CONFIG_HOME")
	if dir == "" {
		home := e.Getenv("HOME")
		if home == "" {
			return "", errors.New("neither XDG_CONFIG_HOME nor HOME is set: nowhere to keep the login")
		}
		dir = filepath.Join(home, ".config")
	}
	return filepath.Join(dir, "phonefleet", "login.json"), nil
}

// loadLogins reads the stored logins; an empty file when there are none. A
// file written before logins were kept per endpoint holds one login at its
// top level: it becomes the login of its endpoint, and the current one.
func (e *Env) loadLogins() (*loginFile, error) {
	f := &loginFile{Logins: map[string]*loginConfig{}, Operators: map[string]*loginConfig{}}
	path, err := e.configPath()
	if err != nil {
		return nil, err
	}
	buf, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return f, nil
	} else if err != nil {
		return nil, err
	}
	var raw struct {
		loginFile
		loginConfig // the old single login
	}
	if err := json.Unmarshal(buf, &raw); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	logins := raw.loginFile.Logins
	if logins == nil && raw.loginConfig.Endpoint != "" {
		key, err := normalizeEndpoint(raw.loginConfig.Endpoint)
		if err != nil {
			return nil, fmt.Errorf("%s: endpoint: %w", path, err)
		}
		logins, raw.Current = map[string]*loginConfig{key: &raw.loginConfig}, key
	}
	for key, l := range logins {
		if l == nil || l.Token == "" {
			continue
		}
		// Key by the normalised endpoint whatever the file says, so a
		// hand-edited key cannot lend a token to another server.
		norm, err := normalizeEndpoint(l.Endpoint)
		if err != nil {
			return nil, fmt.Errorf("%s: login %q: endpoint: %w", path, key, err)
		}
		f.Logins[norm] = l
		if key == raw.Current {
			f.Current = norm
		}
	}
	for key, l := range raw.loginFile.Operators {
		if l == nil || l.Token == "" {
			continue
		}
		norm, err := normalizeEndpoint(l.Endpoint)
		if err != nil {
			return nil, fmt.Errorf("%s: operator login %q: endpoint: %w", path, key, err)
		}
		f.Operators[norm] = l
		if key == raw.CurrentOperator {
			f.CurrentOperator = norm
		}
	}
	return f, nil
}

// normalizeEndpoint returns the canonical form of a server URL: scheme and
// host in lower case, no default port (80 for http, 443 for https), no
// trailing slash. Two spellings of one server normalise to the same string,
// so they share one stored login; different hosts, ports or paths do not.
func normalizeEndpoint(s string) (string, error) {
	u, err := url.Parse(s)
	if err != nil {
		return "", fmt.Errorf("must be an http:// or https:// URL: %w", err)
	}
	scheme := strings.ToLower(u.Scheme)
	switch {
	case scheme != "http" && scheme != "https":
		return "", errors.New("must be an http:// or https:// URL")
	case u.Opaque != "" || u.Host == "":
		return "", errors.New("must be an http:// or https:// URL with a host")
	case u.User != nil:
		return "", errors.New("must not carry a user name or password")
	case u.RawQuery != "" || u.ForceQuery:
		return "", errors.New("must not have a query")
	case u.Fragment != "" || strings.Contains(s, "#"):
		return "", errors.New("must not have a fragment")
	}
	host := strings.ToLower(u.Host)
	if h, port, err := net.SplitHostPort(host); err == nil && (scheme == "http" && port == "80" || scheme == "https" && port == "443") {
		host = h
		if strings.Contains(h, ":") {
			host = "[" + h + "]"
		}
	}
	return scheme + "://" + host + strings.TrimRight(u.EscapedPath(), "/"), nil
}

// saveLogin stores c as the login of its endpoint, beside the logins of
// other endpoints, and makes it the current one. The file is readable by
// its owner only.
func (e *Env) saveLogin(c *loginConfig) (string, error) {
	return e.storeLogin(c, false)
}

// saveOperatorLogin stores c as the operator login of its endpoint, apart
// from tenant logins, and makes it the current operator login.
func (e *Env) saveOperatorLogin(c *loginConfig) (string, error) {
	return e.storeLogin(c, true)
}

func (e *Env) storeLogin(c *loginConfig, operator bool) (string, error) {
	key, err := normalizeEndpoint(c.Endpoint)
	if err != nil {
		return "", err
	}
	f, err := e.loadLogins()
	if err != nil {
		return "", err
	}
	c.Endpoint = key
	if operator {
		f.Operators[key], f.CurrentOperator = c, key
	} else {
		f.Logins[key], f.Current = c, key
	}
	path, err := e.configPath()
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return "", err
	}
	buf, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return "", err
	}
	// Write a private temporary file and rename it over the old one, so the
	// token is never readable by others, even for a moment.
	tmp, err := os.CreateTemp(filepath.Dir(path), ".login-*.json")
	if err != nil {
		return "", err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return "", err
	}
	if _, err := tmp.Write(append(buf, '\n')); err != nil {
		tmp.Close()
		return "", err
	}
	if err := tmp.Close(); err != nil {
		return "", err
	}
	return path, os.Rename(tmp.Name(), path)
}

// remoteFlags are the flags of every tenant command.
type remoteFlags struct {
	endpoint, token, output string
}

// newRemoteFlagSet returns the flags of a tenant command: --endpoint,
// --token and -o, and no --db.
func (e *Env) newRemoteFlagSet(name, usageText string, rf *remoteFlags) *flagSet {
	var unused string
	fs := e.newFlagSet(name, usageText, &unused)
	// Tenant commands have no database: take --db back out of the set, so
	// that giving it is an error (see refuseDB).
	fs.FlagSet = cloneWithout(fs.FlagSet, "db")
	fs.StringVar(&rf.endpoint, "endpoint", "", "server URL, e.g. http://127.0.0.1:8080 (env PHONEFLEET_ENDPOINT; default: the stored login)")
	fs.StringVar(&rf.token, "token", "", "API token (env PHONEFLEET_TOKEN; default: the stored login)")
	fs.StringVar(&rf.output, "o", "", "output: table or json (JSON lines); default table on a terminal, else json")
	return fs
}

// refuseDB rejects --db on a tenant command, naming it.
func refuseDB(args []string) error {
	for _, a := range args {
		if a == "--" {
			break
		}
		if a == "--db" || a == "-db" || strings.HasPrefix(a, "--db=") || strings.HasPrefix(a, "-db=") {
			return usagef("--db is not a flag of tenant commands: they talk to a server (--endpoint, or phonefleet login), not to a database")
		}
	}
	return nil
}

// remoteClient returns a client for the endpoint and token from the flags,
// the environment or the stored logins. A stored token goes only to the
// endpoint it was issued for: with an endpoint given (--endpoint or
// PHONEFLEET_ENDPOINT) and no token, that endpoint's login is used, and
// there being none is an error; with no endpoint given, the current login's
// endpoint is used. A token given explicitly (--token or PHONEFLEET_TOKEN)
// is sent wherever the endpoint points.
func (e *Env) remoteClient(rf *remoteFlags) (*client.Client, error) {
	endpoint, token := rf.endpoint, rf.token
	if endpoint == "" {
		endpoint = e.Getenv("PHONEFLEET_ENDPOINT")
	}
	if token == "" {
		token = e.Getenv("PHONEFLEET_TOKEN")
	}
	if endpoint != "" && token != "" {
		return client.New(endpoint, token), nil
	}
	logins, err := e.loadLogins()
	if err != nil {
		return nil, err
	}
	if endpoint == "" {
		cur := logins.Logins[logins.Current]
		if cur == nil {
			return nil, usagef("not logged in: run phonefleet login, or give --endpoint and --token (env PHONEFLEET_ENDPOINT, PHONEFLEET_TOKEN)")
		}
		endpoint = cur.Endpoint
		if token == "" {
			token = cur.Token
		}
		return client.New(endpoint, token), nil
	}
	key, err := normalizeEndpoint(endpoint)
	if err != nil {
		return nil, usagef("--endpoint (or PHONEFLEET_ENDPOINT) %s", err)
	}
	l := logins.Logins[key]
	if l == nil {
		return nil, usagef("not logged in at %s: run phonefleet login --endpoint %s --domain TENANT --user NAME --password-stdin, or give --token (env PHONEFLEET_TOKEN)", key, key)
	}
	return client.New(key, l.Token), nil
}

// outputFormat returns "table" or "json" from -o, defaulting to a table on
// a terminal.
func (e *Env) outputFormat(rf *remoteFlags) (string, error) {
	switch rf.output {
	case "table", "json":
		return rf.output, nil
	case "":
		if isTerminal(e.Stdout) {
			return "table", nil
		}
		return "json", nil
	}
	return "", usagef("-o must be table or json")
}

// isTerminal reports whether w is a character device (a terminal).
func isTerminal(w any) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// writeItems writes items as JSON lines when out is "json", else as a table
// under header with one row per item made by row.
func writeItems[T any](w io.Writer, out string, items []T, header []string, row func(T) []string) error {
	if out == "json" {
		return writeJSONLines(w, items)
	}
	rows := make([][]string, len(items))
	for i, it := range items {
		rows[i] = row(it)
	}
	return writeTable(w, header, rows)
}

// writeTable writes rows under a header, aligned.
func writeTable(w io.Writer, header []string, rows [][]string) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(header, "\t"))
	for _, r := range rows {
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	return tw.Flush()
}

// progress draws a bar on stderr while a long operation runs, only when
// stderr is a terminal.
type progress struct {
	w     io.Writer
	what  string
	total int
	on    bool
}

func (e *Env) newProgress(what string, total int) *progress {
	return &progress{w: e.Stderr, what: what, total: total, on: isTerminal(e.Stderr) && total > 0}
}

// set shows done of total.
func (p *progress) set(done int) {
	if !p.on {
		return
	}
	const width = 30
	filled := width * done / p.total
	fmt.Fprintf(p.w, "\r%s [%s%s] %d/%d", p.what, strings.Repeat("#", filled), strings.Repeat(".", width-filled), done, p.total)
}

// end clears the bar's line.
func (p *progress) end() {
	if p.on {
		fmt.Fprintf(p.w, "\r%s\r", strings.Repeat(" ", len(p.what)+50))
	}
}

// cloneWithout returns a copy of fs without the flag named name.
func cloneWithout(fs *flag.FlagSet, name string) *flag.FlagSet {
	out := flag.NewFlagSet(fs.Name(), flag.ContinueOnError)
	out.SetOutput(io.Discard)
	out.Usage = func() {}
	fs.VisitAll(func(f *flag.Flag) {
		if f.Name != name {
			out.Var(f.Value, f.Name, f.Usage)
		}
	})
	return out
}
