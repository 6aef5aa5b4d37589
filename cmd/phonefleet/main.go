// Command phonefleet is the phonefleet control plane: the KooPhone-compatible
// API server (serve) and the operator's commands, in one binary.
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/phonefleet/phonefleet"
	pfhttp "github.com/phonefleet/phonefleet/http"
	"github.com/phonefleet/phonefleet/lifecycle"
	"github.com/phonefleet/phonefleet/postgres"
	"github.com/phonefleet/phonefleet/release"
	"github.com/phonefleet/phonefleet/retention"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(RunIO(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// Main is the server program: its configuration and the store, HTTP server
// and release worker it wires together. ParseFlags fills Config, Run opens
// everything and returns once the server listens, Close shuts it down.
// Tests boot it in-process.
type Main struct {
	*Env
	Config Config

	Logger     *slog.Logger
	Store      phonefleet.Store
	HTTPServer *pfhttp.Server
	Worker     *release.Worker
	Sweeper    *lifecycle.Sweeper
	Retention  *retention.Worker // nil without --audit-retention or --job-retention

	// KeyPair is the TLS certificate and key with Config.TLSCert; Reload
	// reads them again.
	KeyPair *pfhttp.KeyPair

	// MetricsServer serves /metrics when Config.MetricsAddr is set.
	MetricsServer *http.Server
	metricsLn     net.Listener
}

// MetricsURL returns the base URL of the metrics listener, "" without
// one.
func (m *Main) MetricsURL() string {
	if m.metricsLn == nil {
		return ""
	}
	return "http://" + m.metricsLn.Addr().String()
}

// openMetrics serves the HTTP server's /metrics on cfg.MetricsAddr.
func (m *Main) openMetrics() error {
	ln, err := net.Listen("tcp", m.Config.MetricsAddr)
	if err != nil {
		return fmt.Errorf("listen on --metrics-addr %s: %w", m.Config.MetricsAddr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", m.HTTPServer.MetricsHandler())
	m.metricsLn = ln
	m.MetricsServer = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go m.MetricsServer.Serve(ln)
	m.Logger.Info("serving metrics", "metrics_addr", ln.Addr().String())
	return nil
}

// NewMain returns a Main with the default configuration.
func NewMain(env *Env) *Main {
	return &Main{Env: env, Config: DefaultConfig()}
}

// Run validates the configuration, opens the store, starts the release
// worker and the HTTP server, and, with Config.Demo, prints the demo
// set-up. It returns once the server listens; call Close to stop. On an
// error, what was opened is closed again.
func (m *Main) Run(ctx context.Context) (err error) {
	cfg := &m.Config
	if err := cfg.Validate(); err != nil {
		return err
	}
	defer func() {
		if err != nil {
			m.Close()
		}
	}()

	m.Logger = newLogger(m.Stderr, cfg.LogFormat, cfg.LogLevel)
	// A certificate that cannot be read stops serve before it touches the
	// database.
	if cfg.TLSCert != "" {
		if m.KeyPair, err = pfhttp.LoadKeyPair(cfg.TLSCert, cfg.TLSKey); err != nil {
			return err
		}
	}
	if m.Store, err = openStore(cfg.DB, m.storeOptions()); err != nil {
		return err
	}

	m.Worker = release.NewWorker(m.Store, m.releaseDriver())
	m.Worker.Concurrency = cfg.ReleaseWorkers
	m.Worker.MaxAttempts = cfg.ReleaseMaxAttempts
	m.Worker.Backoff = cfg.ReleaseBackoff
	m.Worker.CommandTimeout = cfg.CommandTimeout
	m.Worker.Logger = m.Logger.With("system", "release")
	if err := m.Worker.Open(); err != nil {
		return fmt.Errorf("start release worker: %w", err)
	}
	if err := m.openRetention(); err != nil {
		return err
	}

	m.Sweeper = lifecycle.NewSweeper(m.Store, phonefleet.LifecyclePeriods{Grace: cfg.GracePeriod, Retention: cfg.RetentionPeriod})
	m.Sweeper.OnCommands = m.Worker.Notify
	m.Sweeper.Logger = m.Logger.With("system", "lifecycle")
	if err := m.Sweeper.Open(); err != nil {
		return fmt.Errorf("start lifecycle sweeper: %w", err)
	}

	m.HTTPServer = pfhttp.NewServer()
	m.HTTPServer.Addr = cfg.Addr
	m.HTTPServer.Store = m.Store
	if pg, ok := m.Store.(*postgres.DB); ok {
		m.HTTPServer.Collectors = append(m.HTTPServer.Collectors, pg.PoolCollector())
	}
	m.HTTPServer.Logger = m.Logger
	// Validate has parsed it already.
	m.HTTPServer.TrustedProxies, _ = pfhttp.ParseTrustedProxies(cfg.TrustedProxies)
	m.HTTPServer.RateLimit = cfg.RateLimit
	m.HTTPServer.RateBurst = cfg.RateBurst
	m.HTTPServer.TokenCacheTTL = cfg.TokenCacheTTL
	m.HTTPServer.AllowUnsignedHost = cfg.AKSKUnsignedHost
	if c, ok := m.Store.(interface{ Clock() time.Time }); ok {
		m.HTTPServer.SharedNow = c.Clock
	}
	if cfg.TestClock {
		clock, ok := m.Store.(phonefleet.ClockService)
		if !ok {
			return fmt.Errorf("--test-clock: this store has no test clock")
		}
		m.HTTPServer.TestClock = clock
		m.Logger.Warn("TEST CLOCK ON: each tenant's business time (purchases, expiry, refunds, audit) follows its clock, moved by /v1/_test/clock or phonefleet clock and stored in the database; never use --test-clock in production")
	}
	m.HTTPServer.OnCommand = m.Worker.Notify
	m.HTTPServer.OnClockMove = m.Sweeper.Wake
	if cfg.ReleaseDriver == "webhook" {
		// The data plane signs its reports on accepted commands with the
		// webhook's secret.
		m.HTTPServer.WebhookSecret = cfg.WebhookSecret
	}
	if cfg.MetricsAddr != "" {
		m.HTTPServer.NoMetrics = true
		if err := m.openMetrics(); err != nil {
			return err
		}
	}

	if m.KeyPair != nil {
		m.HTTPServer.TLSConfig = m.KeyPair.TLSConfig()
	}
	m.HTTPServer.RequestTimeout = cfg.RequestTimeout
	m.HTTPServer.MaxConns = cfg.MaxConns
	if m.HTTPServer.MaxConns == 0 {
		var nofile uint64
		m.HTTPServer.MaxConns, nofile = connLimit()
		m.Logger.Info("connection limit", "max_conns", m.HTTPServer.MaxConns, "open_file_limit", nofile)
	}
	if err := m.HTTPServer.Open(); err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.Addr, err)
	}
	scheme, addr, _ := strings.Cut(m.HTTPServer.URL(), "://")
	m.Logger.Info("listening", "addr", addr, "scheme", scheme, "db", redactDSN(cfg.DB), "release_driver", cfg.ReleaseDriver)

	if cfg.Demo {
		if err := runDemo(ctx, m.Store, m.HTTPServer.URL(), m.Stdout); err != nil {
			return fmt.Errorf("demo: %w", err)
		}
	}
	return nil
}

// Close stops the release worker's claiming at once, stops the HTTP server
// (waiting for requests in flight), waits for the worker's deliveries in
// flight (abandoning them after its ShutdownTimeout), then closes the store.
// It is safe after a failed Run.
func (m *Main) Close() error {
	var errs []error
	if m.Sweeper != nil {
		m.Sweeper.Close()
	}
	if m.Worker != nil {
		m.Worker.Stop()
	}
	if m.MetricsServer != nil {
		m.MetricsServer.Close()
	}
	if m.HTTPServer != nil {
		if err := m.HTTPServer.Close(); err != nil && !errors.Is(err, context.Canceled) {
			errs = append(errs, err)
		}
	}
	if m.Worker != nil {
		m.Worker.Close()
	}
	if m.Retention != nil {
		m.Retention.Close()
	}
	if m.Store != nil {
		if err := m.Store.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close store: %w", err))
		}
	}
	return errors.Join(errs...)
}

// storeOptions returns the store settings of the configuration.
func (m *Main) storeOptions() StoreOptions {
	return StoreOptions{
		Logger:             m.Logger,
		PGMaxConns:         int32(m.Config.PGMaxConns),
		PGStatementTimeout: m.Config.PGStatementTimeout,
		PGConnectTimeout:   m.Config.PGConnectTimeout,
		Create:             true, // serve creates a missing database
		PGStartupTimeout:   m.Config.PGStartupTimeout,
		TestClock:          m.Config.TestClock,
		PGReportLimits:     true, // once per start, not on every operator command
	}
}

// releaseDriver returns the driver Config.ReleaseDriver names.
func (m *Main) releaseDriver() release.Driver {
	if m.Config.ReleaseDriver == "webhook" {
		return release.NewWebhookDriver(m.Config.WebhookURL, m.Config.WebhookSecret)
	}
	return release.NoopDriver{}
}
