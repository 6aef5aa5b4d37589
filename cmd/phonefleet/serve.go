package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"time"

	"github.com/phonefleet/phonefleet"
	pfhttp "github.com/phonefleet/phonefleet/http"
	"github.com/phonefleet/phonefleet/release"
)

// ServeCommand runs the API server and the release worker until SIGINT or
// SIGTERM.
type ServeCommand struct {
	*Env
	Config Config
}

// Config is the configuration of serve.
type Config struct {
	DB    string
	Addr  string
	Demo  bool
	Store StoreOptions

	LogFormat string
	LogLevel  string

	RateLimit     float64
	RateBurst     int
	TokenCacheTTL time.Duration

	ReleaseDriver      string
	WebhookURL         string
	WebhookSecret      string
	ReleaseBackoff     time.Duration
	ReleaseMaxAttempts int
	ReleaseWorkers     int
}

// DefaultConfig returns the configuration serve starts from.
func DefaultConfig() Config {
	return Config{
		Addr: "127.0.0.1:8080", LogFormat: "text", LogLevel: "info",
		RateLimit: 100, RateBurst: 200, TokenCacheTTL: 5 * time.Second,
		ReleaseDriver: "noop", ReleaseBackoff: time.Second, ReleaseMaxAttempts: 20, ReleaseWorkers: 4,
	}
}

// Validate returns an error naming the first flag that is wrong.
func (c *Config) Validate() error {
	switch {
	case c.Addr == "":
		return usagef("--addr must not be empty")
	case c.LogFormat != "text" && c.LogFormat != "json":
		return usagef("--log-format must be text or json")
	case c.RateLimit < 0 || c.RateBurst < 0:
		return usagef("--rate-limit and --rate-burst must be 0 or more")
	case c.TokenCacheTTL < 0:
		return usagef("--token-cache-ttl must be 0 or more")
	case c.ReleaseBackoff <= 0:
		return usagef("--release-backoff must be positive")
	case c.ReleaseMaxAttempts < 1:
		return usagef("--release-max-attempts must be at least 1")
	case c.ReleaseWorkers < 1 || c.ReleaseWorkers > 256:
		return usagef("--release-workers must be 1-256")
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(c.LogLevel)); err != nil {
		return usagef("--log-level must be debug, info, warn or error")
	}
	switch c.ReleaseDriver {
	case "noop":
	case "webhook":
		u, err := url.Parse(c.WebhookURL)
		if c.WebhookURL == "" || err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return usagef("--webhook-url must be an http:// or https:// URL with --release-driver webhook")
		}
		if c.WebhookSecret == "" {
			return usagef("--webhook-secret (or PHONEFLEET_WEBHOOK_SECRET) is required with --release-driver webhook")
		}
	default:
		return usagef("--release-driver must be noop or webhook")
	}
	return nil
}

const serveUsage = `Usage: phonefleet serve [--addr 127.0.0.1:8080] [--demo] [flags]

Runs the KooPhone-compatible API and the release worker until SIGINT or SIGTERM.
Logs go to stderr. With --demo, a "demo" tenant with two monthly and one
pay-per-use instance is created on first run, and every run prints a fresh
admin token and a ready-to-paste curl that unsubscribes a running monthly
demo instance (buying one more when none is left).
`

// Run parses flags and serves until ctx is done.
func (c *ServeCommand) Run(ctx context.Context, args []string) error {
	c.Config = DefaultConfig()
	cfg := &c.Config
	fs := c.newFlagSet("serve", serveUsage, &cfg.DB)
	fs.StringVar(&cfg.Addr, "addr", cfg.Addr, "listen address")
	fs.BoolVar(&cfg.Demo, "demo", false, "create a demo tenant and print a token and a curl")
	fs.StringVar(&cfg.LogFormat, "log-format", cfg.LogFormat, "text or json")
	fs.StringVar(&cfg.LogLevel, "log-level", cfg.LogLevel, "debug, info, warn or error")
	fs.Float64Var(&cfg.RateLimit, "rate-limit", cfg.RateLimit, "requests per second per tenant (0: unlimited)")
	fs.IntVar(&cfg.RateBurst, "rate-burst", cfg.RateBurst, "burst of requests per tenant")
	fs.DurationVar(&cfg.TokenCacheTTL, "token-cache-ttl", cfg.TokenCacheTTL, "how long a node caches a token lookup; bounds how late a revocation is seen (0: no cache)")
	fs.StringVar(&cfg.ReleaseDriver, "release-driver", cfg.ReleaseDriver, "noop (release at once) or webhook")
	fs.StringVar(&cfg.WebhookURL, "webhook-url", "", "where the webhook driver POSTs release events")
	fs.StringVar(&cfg.WebhookSecret, "webhook-secret", c.Getenv("PHONEFLEET_WEBHOOK_SECRET"), "HMAC key of the webhook signature (env PHONEFLEET_WEBHOOK_SECRET)")
	fs.DurationVar(&cfg.ReleaseBackoff, "release-backoff", cfg.ReleaseBackoff, "first retry delay; doubles per attempt up to 5m, with jitter")
	fs.IntVar(&cfg.ReleaseMaxAttempts, "release-max-attempts", cfg.ReleaseMaxAttempts, "attempts before a job is failed")
	fs.IntVar(&cfg.ReleaseWorkers, "release-workers", cfg.ReleaseWorkers, "release deliveries in flight in this process")
	var pgMaxConns int
	fs.IntVar(&pgMaxConns, "pg-max-conns", 16, "PostgreSQL: connection pool size")
	fs.DurationVar(&cfg.Store.PGStatementTimeout, "pg-statement-timeout", 5*time.Second, "PostgreSQL: statement timeout")
	fs.DurationVar(&cfg.Store.PGConnectTimeout, "pg-connect-timeout", 3*time.Second, "PostgreSQL: connect timeout")
	if err := parseNoArgs(fs, args); err != nil {
		return err
	}
	if pgMaxConns < 1 || pgMaxConns > 1000 {
		return usagef("--pg-max-conns must be 1-1000")
	}
	cfg.Store.PGMaxConns = int32(pgMaxConns)
	if err := cfg.Validate(); err != nil {
		return err
	}

	logger := newLogger(c.Stderr, cfg.LogFormat, cfg.LogLevel)
	cfg.Store.Logger = logger
	store, err := openStore(cfg.DB, cfg.Store)
	if err != nil {
		return err
	}
	defer store.Close()

	var driver release.Driver = release.NoopDriver{}
	if cfg.ReleaseDriver == "webhook" {
		driver = release.NewWebhookDriver(cfg.WebhookURL, cfg.WebhookSecret)
	}
	worker := release.NewWorker(store, driver)
	worker.Concurrency = cfg.ReleaseWorkers
	worker.MaxAttempts = cfg.ReleaseMaxAttempts
	worker.Backoff = cfg.ReleaseBackoff
	worker.Logger = logger.With("system", "release")

	srv := pfhttp.NewServer()
	srv.Addr = cfg.Addr
	srv.Store = store
	srv.Logger = logger
	srv.RateLimit = cfg.RateLimit
	srv.RateBurst = cfg.RateBurst
	srv.TokenCacheTTL = cfg.TokenCacheTTL
	srv.OnUnsubscribe = worker.Notify

	if err := worker.Open(); err != nil {
		return fmt.Errorf("start release worker: %w", err)
	}
	defer worker.Close()
	if err := srv.Open(); err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.Addr, err)
	}
	logger.Info("listening", "addr", strings.TrimPrefix(srv.URL(), "http://"), "db", redactDSN(cfg.DB), "release_driver", cfg.ReleaseDriver)

	if cfg.Demo {
		if err := runDemo(ctx, store, srv.URL(), c.Stdout); err != nil {
			srv.Close()
			return fmt.Errorf("demo: %w", err)
		}
	}

	<-ctx.Done()
	logger.Info("shutting down")
	if err := srv.Close(); err != nil && !errors.Is(err, context.Canceled) {
		logger.Error("http shutdown", "err", err)
	}
	return nil
}

// newLogger returns the process logger on w.
func newLogger(w interface{ Write([]byte) (int, error) }, format, level string) *slog.Logger {
	var lv slog.Level
	lv.UnmarshalText([]byte(level))
	opts := &slog.HandlerOptions{Level: lv}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// redactDSN hides the password of a postgres URL for logs.
func redactDSN(dsn string) string {
	if !isPostgresURL(dsn) {
		return dsn
	}
	u, err := url.Parse(dsn)
	if err != nil {
		return "postgres://(unparsable)"
	}
	return u.Redacted()
}

// runDemo makes sure a "demo" tenant with instances exists, then prints an
// admin token and a curl that unsubscribes one of its running monthly
// instances (buying one if none is left).
func runDemo(ctx context.Context, store phonefleet.Store, baseURL string, out interface{ Write([]byte) (int, error) }) error {
	t, err := store.FindTenantByName(ctx, "demo")
	if phonefleet.ErrorCode(err) == phonefleet.ENotFound {
		t = &phonefleet.Tenant{Name: "demo"}
		if err := store.CreateTenant(ctx, t); err != nil {
			return err
		}
		if _, _, err := demoPurchase(ctx, store, t, 2, phonefleet.ChargingModePrepaid); err != nil {
			return err
		}
		if _, _, err := demoPurchase(ctx, store, t, 1, phonefleet.ChargingModePayPerUse); err != nil {
			return err
		}
	} else if err != nil {
		return err
	}

	instances, _, err := store.FindInstances(ctx, phonefleet.InstanceFilter{TenantID: t.ID, Limit: 1000})
	if err != nil {
		return err
	}
	var target string
	for _, in := range instances {
		if in.State == phonefleet.InstanceStateRunning && in.BillingMode.Prepaid() {
			target = in.ID
			break
		}
	}
	if target == "" {
		_, bought, err := demoPurchase(ctx, store, t, 1, phonefleet.ChargingModePrepaid)
		if err != nil {
			return err
		}
		target = bought[0].ID
	}

	secret, _, err := issueToken(ctx, store, t, phonefleet.RoleAdmin, "demo", phonefleet.DefaultTokenTTL)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(out, "demo tenant %q is ready; admin token (valid 24h):\n%s\n\nunsubscribe instance %s:\ncurl -sS -X POST '%s/v1/instances/delete' -H 'Content-Type: application/json' -H 'X-Auth-Token: %s' -d '{\"instanceIdList\":[\"%s\"]}'\n",
		t.Name, secret, target, baseURL, secret, target)
	return err
}

// demoPurchase buys count kp.pro.2u4g instances in cn-north-4 for the demo
// tenant: monthly (one month) or pay-per-use.
func demoPurchase(ctx context.Context, store phonefleet.Store, t *phonefleet.Tenant, count, mode int) (*phonefleet.Order, []*phonefleet.Instance, error) {
	req := &phonefleet.PurchaseRequest{
		TenantID: t.ID, RequestID: "demo-" + phonefleet.NewID(12), OS: "AOSP11",
		InstanceSKUID: "kp.pro.2u4g", BandSKUID: phonefleet.BandSKUID, RegionID: "cn-north-4",
		NamePrefix: "demo", BandSize: 2, Count: count, ChargingMode: mode,
	}
	if mode == phonefleet.ChargingModePrepaid {
		req.PeriodType, req.PeriodNum = phonefleet.PeriodTypeMonth, 1
	}
	if err := req.Validate(); err != nil {
		return nil, nil, err
	}
	return store.Purchase(ctx, req)
}
