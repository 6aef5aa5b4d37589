package main

import (
	"context"
	"errors"
	"os"
	"os/signal"
	"syscall"
)

// ServeCommand runs the API server and the data-plane command worker until
// SIGINT or SIGTERM; SIGHUP reloads the TLS certificate (Main.Reload).
type ServeCommand struct{ *Env }

const serveUsage = `Usage: phonefleet serve [--addr 127.0.0.1:8080] [--demo] [--config FILE] [flags]

Runs the KooPhone-compatible API and the data-plane command worker (releases,
reboots, resets, wipes of user data) until SIGINT or SIGTERM. Logs go to
stderr (--log-format text or json).

With --tls-cert and --tls-key it serves HTTPS (HTTP/2 and HTTP/1.1) and reads
both files again on SIGHUP, without dropping requests; a bad pair is logged
and the old one kept.

Every flag may also be set by an environment variable (PHONEFLEET_ and the
flag's name in capitals, dashes as underscores: PHONEFLEET_LOG_FORMAT) or by
a key of the YAML file that --config names (the flag's name: "log-format:
json"). The command line wins over the environment, which wins over the file;
an unknown key in the file is an error.

With --demo, a "demo" tenant with two monthly and one pay-per-use instance is
created on first run, and every run prints a fresh admin token and a
ready-to-paste curl that unsubscribes a running monthly demo instance (buying
one more when none is left). It also gives the demo tenant's admin user
"demo" a fresh random password and prints it with a ready-to-paste
"phonefleet login" and the console's address.
`

// Run parses flags and serves until ctx is done.
func (c *ServeCommand) Run(ctx context.Context, args []string) error {
	m := NewMain(c.Env)
	if err := m.ParseFlags(args); err != nil {
		return err
	}
	hup := catchSIGHUP()
	defer signal.Stop(hup)
	if err := m.Run(ctx); err != nil {
		return err
	}
	defer m.reloadOn(hup)()
	<-ctx.Done()
	// A second signal while shutting down exits at once.
	again := make(chan os.Signal, 1)
	signal.Notify(again, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(again)
	m.Logger.Info("shutting down; a second signal exits at once")
	closed := make(chan error, 1)
	go func() { closed <- m.Close() }()
	select {
	case err := <-closed:
		if err != nil {
			m.Logger.Error("shutdown", "err", err)
		}
		return nil
	case sig := <-again:
		m.Logger.Warn("second signal: exiting without waiting for requests or deliveries in flight", "signal", sig.String())
		return errSecondSignal
	}
}

// errSecondSignal ends serve when a second signal came during shutdown.
var errSecondSignal = errors.New("interrupted again during shutdown")

// ParseFlags reads serve's settings into m.Config, over its current values:
// the command line, then the environment and the configuration file (see
// applySettings). Checking them is Run's job (Config.Validate).
func (m *Main) ParseFlags(args []string) error {
	fs := m.serveFlags()
	if err := parseNoArgs(fs, args); err != nil {
		return err
	}
	return applySettings(fs.FlagSet, m.Getenv)
}

// serveFlags returns serve's flags, bound to m.Config: the one list of its
// settings, from which their environment variables and configuration file
// keys are derived.
func (m *Main) serveFlags() *flagSet {
	cfg := &m.Config
	fs := m.newFlagSet("serve", serveUsage, &cfg.DB)
	fs.String(configFlag, "", "a YAML file of settings: flag names as keys (\"log-format: json\"); flags and environment variables win over it")
	fs.StringVar(&cfg.Addr, "addr", cfg.Addr, "listen address")
	fs.StringVar(&cfg.MetricsAddr, "metrics-addr", cfg.MetricsAddr, "serve /metrics on this address instead of --addr (e.g. 127.0.0.1:9090)")
	fs.StringVar(&cfg.TLSCert, "tls-cert", cfg.TLSCert, "serve HTTPS (HTTP/2) with this PEM certificate chain; with --tls-key; reloaded on SIGHUP")
	fs.StringVar(&cfg.TLSKey, "tls-key", cfg.TLSKey, "the PEM private key of --tls-cert; reloaded on SIGHUP")
	fs.BoolVar(&cfg.Demo, "demo", cfg.Demo, "create a demo tenant and print a token and a curl")
	fs.BoolVar(&cfg.TestClock, "test-clock", cfg.TestClock, "serve /v1/_test/clock so tests can move business time forward (never in production)")
	fs.StringVar(&cfg.LogFormat, "log-format", cfg.LogFormat, "text or json (one JSON object per line)")
	fs.StringVar(&cfg.LogLevel, "log-level", cfg.LogLevel, "debug, info, warn or error")
	fs.StringVar(&cfg.TrustedProxies, "trusted-proxies", cfg.TrustedProxies, "load balancers or proxies (CIDRs or addresses, comma-separated) whose X-Forwarded-For names the client; default none: the peer is the client")
	fs.Float64Var(&cfg.RateLimit, "rate-limit", cfg.RateLimit, "requests per second per tenant, on each node (0: unlimited)")
	fs.IntVar(&cfg.RateBurst, "rate-burst", cfg.RateBurst, "burst of requests per tenant, on each node")
	fs.IntVar(&cfg.MaxConns, "max-conns", cfg.MaxConns, "most client connections at once (0: the open-file limit less room for the database and webhooks, at most 10000); idle ones are closed first to admit new ones")
	fs.DurationVar(&cfg.RequestTimeout, "request-timeout", cfg.RequestTimeout, "each request's one deadline: pool wait, database work and failure audit; past it the answer is 9999")
	fs.BoolVar(&cfg.AKSKUnsignedHost, "aksk-unsigned-host", cfg.AKSKUnsignedHost, "accept AK/SK signatures whose SignedHeaders leave out host, as Huawei's Go SDK v3 signs (replays are refused all the same)")
	fs.DurationVar(&cfg.TokenCacheTTL, "token-cache-ttl", cfg.TokenCacheTTL, "how long a node caches a token lookup; bounds how late a revocation is seen (0: no cache)")
	fs.StringVar(&cfg.ReleaseDriver, "release-driver", cfg.ReleaseDriver, "noop (release at once) or webhook")
	fs.StringVar(&cfg.WebhookURL, "webhook-url", cfg.WebhookURL, "where the webhook driver POSTs data-plane commands")
	fs.StringVar(&cfg.WebhookSecret, "webhook-secret", cfg.WebhookSecret, "HMAC key of the webhook signature")
	fs.DurationVar(&cfg.ReleaseBackoff, "release-backoff", cfg.ReleaseBackoff, "first retry delay; doubles per attempt up to 5m, with jitter")
	fs.IntVar(&cfg.ReleaseMaxAttempts, "release-max-attempts", cfg.ReleaseMaxAttempts, "attempts before a job is failed")
	fs.IntVar(&cfg.ReleaseWorkers, "release-workers", cfg.ReleaseWorkers, "data-plane deliveries in flight in this process")
	fs.DurationVar(&cfg.CommandTimeout, "command-timeout", cfg.CommandTimeout, "how long the data plane has to report a command it accepted (202) before it fails")
	fs.DurationVar(&cfg.GracePeriod, "grace-period", cfg.GracePeriod, "how long an expired yearly/monthly instance keeps working before it is frozen (tenants may have their own)")
	fs.DurationVar(&cfg.RetentionPeriod, "retention-period", cfg.RetentionPeriod, "how long a frozen instance is kept before it is released (tenants may have their own)")
	fs.IntVar(&cfg.PGMaxConns, "pg-max-conns", cfg.PGMaxConns, "PostgreSQL: connection pool size")
	fs.DurationVar(&cfg.PGStatementTimeout, "pg-statement-timeout", cfg.PGStatementTimeout, "PostgreSQL: statement timeout")
	fs.DurationVar(&cfg.PGConnectTimeout, "pg-connect-timeout", cfg.PGConnectTimeout, "PostgreSQL: connect timeout")
	fs.DurationVar(&cfg.PGStartupTimeout, "pg-startup-timeout", cfg.PGStartupTimeout, "PostgreSQL: how long a starting node retries an unreachable server, with backoff (0: once)")
	cfg.RetentionConfig.addFlags(fs)
	noteEnvNames(fs.FlagSet)
	return fs
}
