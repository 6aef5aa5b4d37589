package main

import (
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"time"

	"github.com/phonefleet/phonefleet"
	pfhttp "github.com/phonefleet/phonefleet/http"
	"github.com/phonefleet/phonefleet/postgres"
	"github.com/phonefleet/phonefleet/release"
)

// Config is the configuration of serve. Its defaults come from the packages
// that own each setting (DefaultConfig); only what serve alone decides, such
// as the log format, is declared here.
type Config struct {
	DB   string
	Addr string
	Demo bool
	// TestClock serves /v1/_test/clock and makes business time follow the
	// offset stored in the database. For integrators' tests only.
	TestClock bool

	// TLSCert and TLSKey, if set, are the PEM files of the HTTPS
	// certificate (chain) and key, read again on SIGHUP.
	TLSCert string
	TLSKey  string

	// MetricsAddr, if set, serves /metrics on a listener of its own
	// instead of the API's.
	MetricsAddr string

	LogFormat string
	LogLevel  string

	// TrustedProxies are the load balancers whose X-Forwarded-For gives
	// the client address: CIDRs or addresses separated by commas ("" for
	// none). See pfhttp.ParseTrustedProxies.
	TrustedProxies string

	RateLimit      float64
	RateBurst      int
	TokenCacheTTL  time.Duration
	RequestTimeout time.Duration
	// AKSKUnsignedHost accepts AK/SK signatures that do not sign host.
	AKSKUnsignedHost bool
	// MaxConns caps the API's client connections; 0 derives it from the
	// open-file limit (see connLimit).
	MaxConns int

	ReleaseDriver      string
	WebhookURL         string
	WebhookSecret      string
	ReleaseBackoff     time.Duration
	ReleaseMaxAttempts int
	ReleaseWorkers     int
	CommandTimeout     time.Duration

	// GracePeriod and RetentionPeriod are the deployment's lifecycle
	// periods (tenants may have their own).
	GracePeriod     time.Duration
	RetentionPeriod time.Duration

	PGMaxConns         int
	PGStatementTimeout time.Duration
	PGConnectTimeout   time.Duration
	PGStartupTimeout   time.Duration

	RetentionConfig
}

// Settings that belong to serve itself.
const (
	DefaultDB            = "phonefleet.db"
	DefaultLogFormat     = "text"
	DefaultLogLevel      = "info"
	DefaultReleaseDriver = "noop"

	// DefaultPGStartupTimeout is how long a starting node retries a
	// PostgreSQL server it cannot reach yet.
	DefaultPGStartupTimeout = time.Minute

	// maxReleaseWorkers and maxPGConns bound what an operator may ask for.
	maxReleaseWorkers = 256
	maxPGConns        = 1000
)

// DefaultConfig returns the configuration serve starts from.
func DefaultConfig() Config {
	return Config{
		DB:                 DefaultDB,
		Addr:               pfhttp.DefaultAddr,
		LogFormat:          DefaultLogFormat,
		LogLevel:           DefaultLogLevel,
		RateLimit:          pfhttp.DefaultRateLimit,
		RateBurst:          pfhttp.DefaultRateBurst,
		TokenCacheTTL:      pfhttp.DefaultTokenCacheTTL,
		RequestTimeout:     pfhttp.DefaultRequestTimeout,
		ReleaseDriver:      DefaultReleaseDriver,
		ReleaseBackoff:     release.DefaultBackoff,
		ReleaseMaxAttempts: release.DefaultMaxAttempts,
		ReleaseWorkers:     release.DefaultConcurrency,
		CommandTimeout:     release.DefaultCommandTimeout,
		GracePeriod:        phonefleet.DefaultGracePeriod,
		RetentionPeriod:    phonefleet.DefaultRetentionPeriod,
		PGMaxConns:         postgres.DefaultMaxConns,
		PGStatementTimeout: postgres.DefaultStatementTimeout,
		PGConnectTimeout:   postgres.DefaultConnectTimeout,
		PGStartupTimeout:   DefaultPGStartupTimeout,
	}
}

// ConfigError is one setting that is wrong, named by its flag.
type ConfigError struct {
	Flag    string // e.g. "--addr"
	Problem string // e.g. "must not be empty"
}

func (e *ConfigError) Error() string { return e.Flag + " " + e.Problem }

// ConfigErrors is every wrong setting of a Config, in flag order.
type ConfigErrors []*ConfigError

func (errs ConfigErrors) Error() string {
	msgs := make([]string, len(errs))
	for i, e := range errs {
		msgs[i] = e.Error()
	}
	return strings.Join(msgs, "; ")
}

// Validate checks every setting and returns ConfigErrors naming each wrong
// flag, or nil.
func (c *Config) Validate() error {
	var errs ConfigErrors
	bad := func(flag, format string, args ...any) {
		errs = append(errs, &ConfigError{Flag: flag, Problem: fmt.Sprintf(format, args...)})
	}
	if c.DB == "" {
		bad("--db", "must not be empty")
	}
	if c.Addr == "" {
		bad("--addr", "must not be empty")
	}
	if c.TLSCert != "" && c.TLSKey == "" {
		bad("--tls-key", "is required with --tls-cert")
	} else if c.TLSKey != "" && c.TLSCert == "" {
		bad("--tls-cert", "is required with --tls-key")
	}
	if c.LogFormat != "text" && c.LogFormat != "json" {
		bad("--log-format", "must be text or json")
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(c.LogLevel)); err != nil {
		bad("--log-level", "must be debug, info, warn or error")
	}
	if _, err := pfhttp.ParseTrustedProxies(c.TrustedProxies); err != nil {
		bad("--trusted-proxies", "%s", err)
	}
	if c.RateLimit < 0 {
		bad("--rate-limit", "must be 0 or more")
	}
	if c.RateBurst < 0 {
		bad("--rate-burst", "must be 0 or more")
	}
	if c.TokenCacheTTL < 0 {
		bad("--token-cache-ttl", "must be 0 or more")
	}
	if c.RequestTimeout < time.Second {
		bad("--request-timeout", "must be at least 1s")
	}
	if c.MaxConns < 0 {
		bad("--max-conns", "must be 0 (from the open-file limit) or more")
	}
	switch c.ReleaseDriver {
	case "noop":
	case "webhook":
		u, err := url.Parse(c.WebhookURL)
		if c.WebhookURL == "" || err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			bad("--webhook-url", "must be an http:// or https:// URL with --release-driver webhook")
		}
		if c.WebhookSecret == "" {
			bad("--webhook-secret", "(or PHONEFLEET_WEBHOOK_SECRET) is required with --release-driver webhook")
		}
	default:
		bad("--release-driver", "must be noop or webhook")
	}
	if c.ReleaseBackoff <= 0 {
		bad("--release-backoff", "must be positive")
	}
	if c.ReleaseMaxAttempts < 1 {
		bad("--release-max-attempts", "must be at least 1")
	}
	if c.ReleaseWorkers < 1 || c.ReleaseWorkers > maxReleaseWorkers {
		bad("--release-workers", "must be 1-%d", maxReleaseWorkers)
	}
	if c.CommandTimeout <= 0 {
		bad("--command-timeout", "must be positive")
	}
	if c.GracePeriod < 0 || c.GracePeriod > phonefleet.MaxLifecyclePeriod {
		bad("--grace-period", "must be 0 to %s", phonefleet.MaxLifecyclePeriod)
	}
	if c.RetentionPeriod < 0 || c.RetentionPeriod > phonefleet.MaxLifecyclePeriod {
		bad("--retention-period", "must be 0 to %s", phonefleet.MaxLifecyclePeriod)
	}
	if c.PGMaxConns < 1 || c.PGMaxConns > maxPGConns {
		bad("--pg-max-conns", "must be 1-%d", maxPGConns)
	}
	if c.PGStatementTimeout <= 0 {
		bad("--pg-statement-timeout", "must be positive")
	}
	if c.PGConnectTimeout <= 0 {
		bad("--pg-connect-timeout", "must be positive")
	}
	if c.PGStartupTimeout < 0 {
		bad("--pg-startup-timeout", "must be 0 or more")
	}
	c.RetentionConfig.validate(bad)
	if len(errs) > 0 {
		return errs
	}
	return nil
}

// newLogger returns the process logger on w; format and level must have
// passed Validate.
func newLogger(w interface{ Write([]byte) (int, error) }, format, level string) *slog.Logger {
	var lv slog.Level
	lv.UnmarshalText([]byte(level))
	opts := &slog.HandlerOptions{Level: lv}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
