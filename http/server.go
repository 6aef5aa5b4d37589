package http

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"path"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/phonefleet/phonefleet"
	"github.com/prometheus/client_golang/prometheus"
)

// Limits of the HTTP server.
const (
	// MaxBodyBytes is the largest request body accepted; a larger one is
	// answered 413 with KOOPHONE.API.1000.
	MaxBodyBytes = 1 << 20

	// ShutdownTimeout is how long Close waits for requests in flight.
	ShutdownTimeout = 10 * time.Second

	// DefaultAddr is where the server listens unless told otherwise.
	DefaultAddr = "127.0.0.1:8080"

	// DefaultTokenCacheTTL is the TokenCacheTTL of NewServer.
	DefaultTokenCacheTTL = 5 * time.Second

	// DefaultRateLimit and DefaultRateBurst are the per-tenant rate limit
	// that serve applies unless told otherwise. A Server from NewServer has
	// no limit until RateLimit is set.
	DefaultRateLimit = 100
	DefaultRateBurst = 200

	// DefaultRequestTimeout is the RequestTimeout of NewServer.
	DefaultRequestTimeout = 10 * time.Second

	readyTimeout = 2 * time.Second
)

// Server is the KooPhone-compatible API server.
type Server struct {
	Addr   string // e.g. "127.0.0.1:8080"; ":0" in tests (an empty host binds 127.0.0.1, an empty Addr DefaultAddr)
	Store  phonefleet.Store
	Logger *slog.Logger
	Now    func() time.Time // default time.Now

	// MaxConns caps the client connections open at once (default
	// DefaultMaxConns). At the cap a new connection replaces the
	// longest-idle keep-alive one; only when all are busy is it answered
	// 503. Keep it below the open-file limit, with room for the database
	// and webhooks.
	MaxConns int

	// RateLimit is the requests/s allowed per tenant (0 disables), with
	// bursts of up to RateBurst requests.
	RateLimit float64
	RateBurst int

	// AllowUnsignedHost accepts AK/SK signatures whose SignedHeaders leave
	// out host (Huawei's Go SDK v3 signs only the headers it sets, not
	// host). Off, such a signature is refused: it would be good for any
	// server. x-sdk-date must be signed either way, and a signature is
	// accepted once whatever this says.
	AllowUnsignedHost bool

	// TokenCacheTTL is how long a token lookup, found or not, is cached on
	// this node: a revoked token keeps working for at most this long.
	// Default 5s; 0 disables the cache.
	TokenCacheTTL time.Duration

	// OnCommand, if set, is called after each successful request that
	// wrote data-plane commands (an unsubscribe that is not a dry run, an
	// unassign, a reboot, a reset) or reported one's outcome; it wakes the
	// command worker.
	OnCommand func()

	// OnClockMove, if set, is called after a tenant's test clock moved; it
	// wakes the lifecycle sweep, so work due in the new time happens now.
	OnClockMove func()

	// WebhookSecret is the key of the data plane's signed reports on
	// commands it accepted. Without it, POST
	// /v1/phonefleet/dataplane/jobs/{job_id} is not served.
	WebhookSecret string

	// TestClock, if set, serves GET and POST /v1/_test/clock to move
	// business time (the store's); nil answers those paths 404. Never set
	// it in production.
	TestClock phonefleet.ClockService

	// TrustedProxies are the load balancers and reverse proxies whose
	// X-Forwarded-For is believed: a request whose peer is inside one of
	// them comes from the right-most address of that header that is not.
	// Sign-in limits per address and the audit trail use that address.
	// Default none: the peer is the client.
	TrustedProxies []netip.Prefix

	// PasswordSlots bounds the password verifications that run at once
	// (each takes phonefleet.PasswordHashMemory); default the number of
	// cores, at most 8.
	PasswordSlots int

	// Collectors are served on /metrics besides the API's own metrics,
	// such as the PostgreSQL pool's (postgres.DB.PoolCollector).
	Collectors []prometheus.Collector

	// NoMetrics takes GET /metrics off the API listener, for serving
	// MetricsHandler on a listener of its own.
	NoMetrics bool

	metricsOnce sync.Once
	metrics     http.Handler

	// SharedNow is the clock every node agrees on, against which token
	// expiry is checked and by which tokens are issued: the database
	// server's on PostgreSQL. Default Now.
	SharedNow func() time.Time

	// TLSConfig, if set, makes the server speak HTTPS (HTTP/2 and
	// HTTP/1.1) with it; see KeyPair.TLSConfig. Nil serves plain HTTP.
	TLSConfig *tls.Config

	// RequestTimeout is each request's one deadline: waiting for a database
	// connection, the operation with its retries, reading back a commit
	// whose answer was lost and the failure audit event all fit in it, and
	// a request that runs out of it answers KOOPHONE.API.9999. Default
	// DefaultRequestTimeout; serve's --request-timeout.
	RequestTimeout time.Duration

	log     *slog.Logger // Logger with system=http, set by Open
	ln      net.Listener
	server  *http.Server
	mux     *http.ServeMux
	handler http.Handler // serveHTTP
	chain   http.Handler // metrics, panic recovery and routing, built once by NewServer
	tokens  *tokenCache
	limiter *rateLimiter

	loginFailures   *failureLimiter // per (tenant, user name)
	addressFailures *failureLimiter // failed sign-ins per client address
	keyFailures     *failureLimiter // per access key ID
	replays         *replayCache    // signatures this node accepted (replay.go)
	suspended       suspensions     // suspended tenants (suspend.go)
	passwordSlots   chan struct{}
	// verifyPassword is phonefleet.VerifyPassword; tests count its calls.
	verifyPassword func(hash, password string) bool
}

// NewServer returns a server with the routes registered and the defaults
// set; the caller fills in Store and any other field before Open.
func NewServer() *Server {
	s := &Server{
		Addr:           DefaultAddr,
		Logger:         slog.Default(),
		Now:            time.Now,
		TokenCacheTTL:  DefaultTokenCacheTTL,
		RequestTimeout: DefaultRequestTimeout,
		mux:            http.NewServeMux(),
		tokens:         newTokenCache(),
		limiter:        newRateLimiter(),

		loginFailures:   newFailureLimiter(maxFailures),
		addressFailures: newFailureLimiter(maxAddressFailures),
		keyFailures:     newFailureLimiter(maxFailures),
		replays:         newReplayCache(DefaultReplayCacheSize),
		verifyPassword:  phonefleet.VerifyPassword,
		passwordSlots:   make(chan struct{}, defaultPasswordSlots()),
	}
	s.routes()
	s.chain = trackMetrics(reportPanic(http.HandlerFunc(s.dispatch)))
	s.handler = http.HandlerFunc(s.serveHTTP)
	return s
}

// routes registers every route of the API with the names it knows (see
// names): a route's query parameters and body members are checked before
// its handler runs, after authentication and the action check.
func (s *Server) routes() {
	s.mux.Handle("GET /healthz", s.checkNames(names{}, s.handleHealth))
	s.mux.Handle("GET /readyz", s.checkNames(names{}, s.handleReady))
	s.mux.HandleFunc("GET /metrics", s.handleMetrics)
	s.mux.Handle("GET /openapi.json", s.checkNames(names{}, s.handleOpenAPI))
	s.mux.HandleFunc("GET /console/", s.handleConsole)
	s.mux.Handle("GET /{$}", s.checkNames(names{}, handleRoot))

	// IAM endpoints check their own names and answer in IAM's shape.
	s.mux.HandleFunc("POST /v3/auth/tokens", s.handleIAMTokenCreate)
	s.mux.Handle("GET /v1/_test/clock", s.testClock(s.handleClockGet))
	s.mux.Handle("POST /v1/_test/clock", s.testClock(s.handleClockSet))
	s.mux.Handle("GET /v3/projects", s.authenticate(s.rateLimit(http.HandlerFunc(s.handleIAMProjects))))
	s.mux.Handle("GET /v3/auth/domains", s.authenticate(s.rateLimit(http.HandlerFunc(s.handleIAMDomains))))

	s.mux.Handle("POST /v1/instances/delete", s.authenticated(phonefleet.ActionInstanceDelete,
		s.checkNames(names{Query: []string{"dry_run"}, Body: []string{"instanceIdList"}, Audit: phonefleet.ActionInstanceDelete}, s.handleInstanceDelete)))
	// Deleting pay-per-use instances needs the action unsubscribing does;
	// its calls are audited under an action of their own.
	s.mux.Handle("POST /v1/phonefleet/instances/delete-pay-per-use", s.authenticate(s.rateLimit(
		s.requireActionAudited(phonefleet.ActionInstanceDelete, phonefleet.ActionInstanceDeletePayPerUse,
			s.checkNames(names{Query: []string{"dry_run"}, Body: []string{"instanceIdList"}, Audit: phonefleet.ActionInstanceDeletePayPerUse},
				s.handleInstanceDeletePayPerUse)))))
	s.mux.Handle("POST /v1/instances/create", s.authenticated(phonefleet.ActionInstanceCreate,
		s.checkNames(names{Body: createMembers, Audit: phonefleet.ActionInstanceCreate}, s.handleInstanceCreate)))
	s.mux.Handle("GET /v1/instances/sku", s.authenticated(phonefleet.ActionQueryInstanceSku,
		s.checkNames(names{Query: []string{"type"}}, s.handleSKUList)))
	s.mux.Handle("GET /v1/instances/batch-query", s.authenticated(phonefleet.ActionQueryInstanceBatch,
		s.checkNames(names{Query: batchQueryParams}, s.handleInstanceBatchQuery)))
	s.mux.Handle("POST /v1/instances/batch-query-status", s.authenticatedRequestID(phonefleet.ActionQueryBatchShowInstance,
		s.checkNames(names{Query: commandParams, Body: []string{"instance_ids"}}, s.handleInstanceBatchQueryStatus)))
	s.mux.Handle("POST /v1/instances/assign", s.authenticatedRequestID(phonefleet.ActionInstanceAssign,
		s.checkNames(names{Query: commandParams, Body: assignMembers, Audit: phonefleet.ActionInstanceAssign}, s.handleInstanceAssign)))
	s.mux.Handle("POST /v1/instances/unassign", s.authenticatedRequestID(phonefleet.ActionInstanceUnassign,
		s.checkNames(names{Query: commandParams, Body: assignMembers, Audit: phonefleet.ActionInstanceUnassign}, s.handleInstanceUnassign)))
	s.mux.Handle("POST /v1/instances/reboot", s.authenticatedRequestID(phonefleet.ActionInstanceReboot,
		s.checkNames(names{Query: commandParams, Body: []string{"instance_ids"}, Audit: phonefleet.ActionInstanceReboot}, s.handleInstanceReboot)))
	s.mux.Handle("POST /v1/instances/batch-reset", s.authenticatedRequestID(phonefleet.ActionInstanceReset,
		s.checkNames(names{Query: commandParams, Body: []string{"instance_ids"}, Audit: phonefleet.ActionInstanceReset}, s.handleInstanceReset)))
	s.mux.Handle("POST /v1/instances/prepare", s.authenticated(phonefleet.ActionInstancePrepare,
		s.checkNames(names{Query: commandParams, Body: []string{"user_id", "instance_ids"}, Audit: phonefleet.ActionInstancePrepare}, s.handleInstancePrepare)))
	// Data-plane reports are signed, not authenticated by token; the
	// handler checks its own names after the signature.
	s.mux.HandleFunc("POST /v1/phonefleet/dataplane/jobs/{job_id}", s.handleJobReportRoute)
	// phonefleet's own read-only lists, for the console and the tenant CLI:
	// any token that may list instances may list its tenant's refunds and
	// audit trail.
	s.mux.Handle("GET /v1/phonefleet/refunds", s.authenticated(phonefleet.ActionQueryInstanceBatch,
		s.checkNames(names{Query: pageParams}, s.handleRefunds)))
	s.mux.Handle("GET /v1/phonefleet/audit", s.authenticated(phonefleet.ActionQueryInstanceBatch,
		s.checkNames(names{Query: auditParams}, s.handleAudit)))
	s.adminRoutes()
}

// handleJobReportRoute serves data-plane reports when a webhook secret is
// set, and is no API otherwise.
func (s *Server) handleJobReportRoute(w http.ResponseWriter, r *http.Request) {
	if s.WebhookSecret == "" {
		Error(w, r, phonefleet.Errorf(phonefleet.ENoSuchAPI, "No API found for %s %s", r.Method, r.URL.Path))
		return
	}
	s.handleJobReport(w, r)
}

// commandParams are the query parameters of the data-plane command
// endpoints: KooPhone's x-request-id (sent as a header; accepted as a query
// parameter as on batch-query).
var commandParams = []string{"x-request-id"}

// assignMembers are the body members of assign and unassign, at both
// depths.
var assignMembers = []string{"user_instances", "user_id", "instance_id"}

// createMembers are the body members of POST /v1/instances/create, at both
// depths.
var createMembers = []string{
	"os", "instanceSkuId", "bandSkuId", "regionId", "instanceNamePrefix", "bandSize", "count", "chargeParam",
	"chargingMode", "periodType", "periodNum", "isAutoPay", "isAutoRenew",
}

// batchQueryParams are the query parameters of GET
// /v1/instances/batch-query: KooPhone's (x-request-id, pool_scene_tag and
// pool_name are accepted and ignored) and phonefleet's filters and sort.
var batchQueryParams = []string{
	"x-request-id", "page_no", "page_size", "instance_id", "instance_name", "query_start_time", "query_end_time",
	"pool_scene_tag", "pool_name",
	"state", "billing_mode", "region", "assign_user", "sort", "include_released",
}

// Open listens on Addr synchronously, then serves in a goroutine.
func (s *Server) Open() error {
	if s.Store == nil {
		return errors.New("http server: store required")
	}
	if s.Logger == nil {
		s.Logger = slog.Default()
	}
	if s.Now == nil {
		s.Now = time.Now
	}
	s.log = s.Logger.With("system", "http")
	if s.PasswordSlots > 0 && s.PasswordSlots != cap(s.passwordSlots) {
		s.passwordSlots = make(chan struct{}, s.PasswordSlots)
	}
	addr := s.Addr
	if addr == "" {
		addr = DefaultAddr
	}
	if host, port, err := net.SplitHostPort(addr); err == nil && host == "" {
		addr = net.JoinHostPort("127.0.0.1", port)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	s.ln = ln
	maxConns := s.MaxConns
	if maxConns <= 0 {
		maxConns = DefaultMaxConns
	}
	limited := newConnLimiter(ln, maxConns)
	// Under TLS the limiter counts the TCP connections below the TLS layer,
	// and a connection over the cap is closed without an answer (a client
	// would not read plain text).
	limited.tls = s.TLSConfig != nil
	s.server = &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       IdleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		ConnState:         limited.connState,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	if s.TLSConfig != nil {
		// ServeTLS adds HTTP/2 to the configuration's protocols.
		s.server.TLSConfig = s.TLSConfig
		go s.server.ServeTLS(limited, "", "")
		return nil
	}
	go s.server.Serve(limited)
	return nil
}

// Close stops accepting connections and waits up to ShutdownTimeout for the
// requests in flight, then closes what is left.
func (s *Server) Close() error {
	if s.server == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), ShutdownTimeout)
	defer cancel()
	if err := s.server.Shutdown(ctx); err != nil {
		s.server.Close()
		return fmt.Errorf("shutdown http server: %w", err)
	}
	return nil
}

// Port returns the port the server listens on, 0 before Open.
func (s *Server) Port() int {
	if s.ln == nil {
		return 0
	}
	return s.ln.Addr().(*net.TCPAddr).Port
}

// URL returns the base URL of the server, such as http://127.0.0.1:8080
// (https:// with TLSConfig).
func (s *Server) URL() string {
	if s.ln == nil {
		return ""
	}
	if s.TLSConfig != nil {
		return "https://" + s.ln.Addr().String()
	}
	return "http://" + s.ln.Addr().String()
}

// Handler returns the whole API with its middleware, for tests and for
// embedding in another server.
func (s *Server) Handler() http.Handler { return s.handler }

// serveHTTP is the outermost layer: request ID, client address, body cap,
// then metrics, panic recovery and routing.
func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	id := r.Header.Get("X-Request-Id")
	if !validRequestID(id) {
		id = rand.Text()
	}
	w.Header().Set("X-Request-Id", id)
	ctx := phonefleet.NewContextWithRequestID(r.Context(), id)
	ctx = context.WithValue(ctx, loggerContextKey{}, s.logger())
	ctx = s.withClientAddr(ctx, r)
	timeout := s.RequestTimeout
	if timeout <= 0 {
		timeout = DefaultRequestTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	r = r.WithContext(ctx)
	// Cap the body here, on the server's own ResponseWriter, so that an
	// oversized body also closes the connection.
	r.Body = http.MaxBytesReader(w, r.Body, MaxBodyBytes)

	s.chain.ServeHTTP(w, r)
}

// logger returns the server's logger; Handler may be used without Open.
func (s *Server) logger() *slog.Logger {
	if s.log != nil {
		return s.log
	} else if s.Logger != nil {
		return s.Logger
	}
	return slog.Default()
}

// validRequestID reports whether a caller's X-Request-Id may be kept: 1–64
// characters of [A-Za-z0-9._-].
func validRequestID(id string) bool {
	if len(id) < 1 || len(id) > 64 {
		return false
	}
	for i := 0; i < len(id); i++ {
		switch c := id[i]; {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '.', c == '_', c == '-':
		default:
			return false
		}
	}
	return true
}

// dispatch hands the request to the mux when a route matches it exactly,
// and otherwise answers APIGW.0101 itself, so the mux's own text 404, 405
// and redirect bodies never reach the client.
func (s *Server) dispatch(w http.ResponseWriter, r *http.Request) {
	h, pattern := s.mux.Handler(r)
	if pattern != "" && cleanPath(r.URL.EscapedPath()) {
		s.mux.ServeHTTP(w, r)
		return
	}

	// Without a test clock its path does not exist, whatever the method.
	if s.TestClock == nil && r.URL.Path == testClockPath {
		Error(w, r, phonefleet.Errorf(phonefleet.ENoSuchAPI, "No API found for %s %s", r.Method, r.URL.Path))
		return
	}

	// Ask the mux's fallback what it would have said: only a 405 and its
	// Allow header are kept.
	rec := &headerRecorder{header: make(http.Header)}
	if pattern == "" {
		h.ServeHTTP(rec, r)
	}
	if rec.status == http.StatusMethodNotAllowed {
		w.Header().Set("Allow", rec.header.Get("Allow"))
		Error(w, r, &statusError{
			err:    phonefleet.Errorf(phonefleet.ENoSuchAPI, "Method %s is not allowed for %s", r.Method, r.URL.Path),
			status: http.StatusMethodNotAllowed,
		})
		return
	}
	Error(w, r, phonefleet.Errorf(phonefleet.ENoSuchAPI, "No API found for %s %s", r.Method, r.URL.Path))
}

// cleanPath reports whether p is already clean: no "..", ".", "//", and
// a trailing slash only on a directory route such as /console/.
func cleanPath(p string) bool {
	c := path.Clean(p)
	if strings.HasSuffix(p, "/") && c != "/" {
		c += "/"
	}
	return p == c
}

// headerRecorder is a ResponseWriter that keeps the status and headers and
// drops the body.
type headerRecorder struct {
	header http.Header
	status int
}

func (rec *headerRecorder) Header() http.Header { return rec.header }
func (rec *headerRecorder) Write(b []byte) (int, error) {
	if rec.status == 0 {
		rec.status = http.StatusOK
	}
	return len(b), nil
}
func (rec *headerRecorder) WriteHeader(status int) {
	if rec.status == 0 {
		rec.status = status
	}
}

// statusWriter remembers the status written through it.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(status int) {
	if w.status == 0 {
		w.status = status
	}
	w.ResponseWriter.WriteHeader(status)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// trackMetrics counts requests by route pattern and status and observes
// their duration. The mux sets r.Pattern on the request it is given, which
// is this one.
func trackMetrics(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		next.ServeHTTP(sw, r)

		pattern := r.Pattern
		if pattern == "" {
			pattern = "unmatched"
		}
		if sw.status == 0 {
			sw.status = http.StatusOK
		}
		requestsTotal.WithLabelValues(pattern, strconv.Itoa(sw.status)).Inc()
		requestDuration.WithLabelValues(pattern).Observe(time.Since(start).Seconds())
	})
}

// reportPanic turns a panic in a handler into an internal error, logged
// with the request ID.
func reportPanic(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				Error(w, r, fmt.Errorf("panic: %v\n%s", v, debug.Stack()))
			}
		}()
		next.ServeHTTP(w, r)
	})
}

// handleHealth answers 200 while the process runs.
func (s *Server) handleHealth(w http.ResponseWriter, r *http.Request) {
	writeData(w, r, map[string]string{"status": "ok"})
}

// handleReady answers 200 if the store answers a ping within 2 s, else 503
// with the internal error body.
func (s *Server) handleReady(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), readyTimeout)
	defer cancel()
	if err := s.Store.Ping(ctx); err != nil {
		Error(w, r, &statusError{err: fmt.Errorf("ping store: %w", err), status: http.StatusServiceUnavailable})
		return
	}
	writeData(w, r, map[string]string{"status": "ready"})
}
