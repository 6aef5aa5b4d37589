package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/phonefleet/phonefleet"
)

// BenchCommand measures the real server against a static handler in the
// same run: see benchUsage.
type BenchCommand struct{ *Env }

const benchUsage = `Usage: phonefleet bench [--db PATH|URL] [--workload unsubscribe|query|purchase|mix]
       [--batch N] [--conns N] [--duration D] [--instances N] [--order bought|random]
       [--cpuprofile FILE] [-o text|json]
       phonefleet bench --serve [--addr HOST:PORT] [--static-addr HOST:PORT] [--ids FILE] [flags]

Measures phonefleet on this machine. It makes sure a tenant (--tenant, default
"bench") holds enough running monthly instances, buying the shortfall; starts
the real server in this process on 127.0.0.1 (no per-tenant rate limit); and,
in the same run, a static handler that reads and decodes the same bodies and
answers the static success JSON. It drives each for --duration with --conns
connections, then prints requests/s, instances/s, latency percentiles, errors,
the ratio of phonefleet to the static handler, and the process's peak RSS
while phonefleet was driven.

Workloads:
  unsubscribe  POST /v1/instances/delete of --batch instances no other request names
  query        POST /v1/instances/batch-query-status of --batch instances
  purchase     POST /v1/instances/create of --batch monthly instances
  mix          per 20 requests: 12 query, 2 first-page batch-query, 5 unsubscribe, 1 purchase

Requests name instances in the order they were bought (--order bought), so
that a request's instances, and those of requests sent together, are
neighbours, as when a tenant hands back what it bought together; --order
random shuffles them once first, with a fixed seed, so that they are
strangers.

Unsubscribing uses instances up: a run ends early, and says so, when the
instances run out (raise --instances). Without --db the run uses a new SQLite
file in a temporary directory and removes it; with --db (a file or a
postgres:// URL) the tenant and its instances stay for the next run.
A progress line goes to stderr when it is a terminal. --cpuprofile writes a
CPU profile of the process while phonefleet is driven, for go tool pprof.

With --serve, bench drives nothing: it prepares the tenant as a run would,
starts the real server on --addr (default 127.0.0.1:8080) and the static
handler on --static-addr (default 127.0.0.1:8081), writes the admin token and
then the running instances' IDs, one a line, to --ids (default
phonefleet-bench-ids.txt in the temporary directory), prints the URLs and
ready-to-paste wrk commands (scripts/wrk/ of the repository, with --batch,
--conns and --duration), and serves until interrupted. At exit it removes the
IDs file and prints the process's peak RSS while serving; --cpuprofile
profiles the whole time served.
`

// benchConfig is the command's flags.
type benchConfig struct {
	db, tenant, workload, output string
	order                        string // bought or random
	cpuProfile                   string
	batch, conns, instances      int
	duration                     time.Duration

	serve                    bool // --serve: serve both targets for wrk
	addr, staticAddr, idsOut string
}

// benchWorkloads are the workloads bench knows.
var benchWorkloads = []string{"unsubscribe", "query", "purchase", "mix"}

// Run parses flags, prepares the tenant, and measures.
func (c *BenchCommand) Run(ctx context.Context, args []string) error {
	var cfg benchConfig
	fs := c.newFlagSet("bench", benchUsage, &cfg.db)
	fs.StringVar(&cfg.tenant, "tenant", "bench", "tenant whose instances the run uses (created if missing, without quota)")
	fs.StringVar(&cfg.workload, "workload", "unsubscribe", strings.Join(benchWorkloads, ", "))
	fs.IntVar(&cfg.batch, "batch", 1, "instances per request")
	fs.IntVar(&cfg.conns, "conns", 64, "concurrent connections")
	fs.DurationVar(&cfg.duration, "duration", 10*time.Second, "how long each target is driven")
	fs.StringVar(&cfg.order, "order", "bought", "which instances requests name together: bought (in the order bought) or random")
	fs.IntVar(&cfg.instances, "instances", 0, "running instances the tenant holds before the run (0: 200,000 for unsubscribe and mix, 10,000 otherwise)")
	fs.StringVar(&cfg.output, "o", "text", "output: text or json")
	fs.StringVar(&cfg.cpuProfile, "cpuprofile", "", "write a CPU profile of the process while phonefleet is driven to this file (go tool pprof reads it)")
	fs.BoolVar(&cfg.serve, "serve", false, "serve phonefleet and the static handler for wrk until interrupted, instead of driving them")
	fs.StringVar(&cfg.addr, "addr", "127.0.0.1:8080", "with --serve: phonefleet's listen address")
	fs.StringVar(&cfg.staticAddr, "static-addr", "127.0.0.1:8081", "with --serve: the static handler's listen address")
	fs.StringVar(&cfg.idsOut, "ids", filepath.Join(os.TempDir(), "phonefleet-bench-ids.txt"), "with --serve: where to write the token and the instance IDs for wrk")
	dbSet := false
	if err := parseNoArgs(fs, args); err != nil {
		return err
	}
	fs.Visit(func(f *flag.Flag) {
		if f.Name == "db" {
			dbSet = true
		}
	})
	if v := c.Getenv("PHONEFLEET_DB"); v != "" {
		dbSet = true
	}
	switch {
	case !slices.Contains(benchWorkloads, cfg.workload):
		return usagef("--workload must be one of %s, not %q", strings.Join(benchWorkloads, ", "), cfg.workload)
	case cfg.workload == "purchase" && (cfg.batch < 1 || cfg.batch > phonefleet.MaxPurchaseCount):
		return usagef("--batch of a purchase must be between 1 and %d", phonefleet.MaxPurchaseCount)
	case cfg.workload != "purchase" && (cfg.batch < 1 || cfg.batch > phonefleet.MaxUnsubscribeIDs):
		return usagef("--batch must be between 1 and %d", phonefleet.MaxUnsubscribeIDs)
	case cfg.conns < 1 || cfg.conns > 10000:
		return usagef("--conns must be between 1 and 10000")
	case cfg.duration <= 0:
		return usagef("--duration must be positive")
	case cfg.instances < 0:
		return usagef("--instances must not be negative")
	case cfg.order != "bought" && cfg.order != "random":
		return usagef("--order must be bought or random, not %q", cfg.order)
	case cfg.output != "text" && cfg.output != "json":
		return usagef("-o must be text or json, not %q", cfg.output)
	case cfg.serve && cfg.output != "text":
		return usagef("-o json does not go with --serve, which prints text")
	case cfg.serve && cfg.idsOut == "":
		return usagef("--ids must name a file")
	}
	if cfg.instances == 0 {
		cfg.instances = 10000
		if cfg.workload == "unsubscribe" || cfg.workload == "mix" {
			cfg.instances = 200000
		}
	}
	cfg.instances = max(cfg.instances, cfg.batch)
	if !dbSet {
		dir, err := os.MkdirTemp("", "phonefleet-bench-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		cfg.db = filepath.Join(dir, "bench.db")
	}
	if cfg.serve {
		return c.serve(ctx, &cfg)
	}

	res, err := c.run(ctx, &cfg)
	if err != nil {
		return err
	}
	if cfg.output == "json" {
		enc := json.NewEncoder(c.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(res)
	}
	return res.writeText(c.Stdout)
}

// benchResult is what bench prints; -o json writes it as is.
type benchResult struct {
	Workload    string  `json:"workload"`
	Order       string  `json:"order"`
	Store       string  `json:"store"`
	Batch       int     `json:"batch"`
	Conns       int     `json:"conns"`
	DurationSec float64 `json:"duration_seconds"`
	Instances   int     `json:"instances"`
	CPUs        int     `json:"cpus"`

	Static     benchStats `json:"static"`
	Phonefleet benchStats `json:"phonefleet"`
	// Ratio is phonefleet's requests/s over the static handler's.
	Ratio float64 `json:"ratio"`
	// PeakRSSBytes is the process's peak resident set size while
	// phonefleet was driven (0 where the system does not say).
	PeakRSSBytes int64 `json:"peak_rss_bytes"`
	// StartMillis is how long the server took from start to listening.
	StartMillis float64 `json:"start_ms"`
}

// benchStats are one target's figures.
type benchStats struct {
	Requests       int64   `json:"requests"`
	Errors         int64   `json:"errors"`
	Seconds        float64 `json:"seconds"`
	RequestsPerSec float64 `json:"requests_per_second"`
	InstancesPer   float64 `json:"instances_per_second"`
	P50Millis      float64 `json:"p50_ms"`
	P90Millis      float64 `json:"p90_ms"`
	P99Millis      float64 `json:"p99_ms"`
	MaxMillis      float64 `json:"max_ms"`
	// Exhausted says the run ended before its duration because the
	// instances to unsubscribe ran out.
	Exhausted bool `json:"exhausted,omitempty"`
	// FirstError is the first failed answer, to tell what went wrong.
	FirstError string `json:"first_error,omitempty"`
}

// writeText prints r as a small table.
func (r *benchResult) writeText(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "workload %s, batch %d, instances in %s order, %d connections, %s each, %s store, %d instances, %d CPUs\n",
		r.Workload, r.Batch, r.Order, r.Conns, time.Duration(r.DurationSec*float64(time.Second)), r.Store, r.Instances, r.CPUs)
	fmt.Fprintf(&b, "%-10s %12s %12s %8s %8s %8s %8s %7s\n", "target", "requests/s", "instances/s", "p50 ms", "p90 ms", "p99 ms", "max ms", "errors")
	for _, t := range []struct {
		name string
		s    *benchStats
	}{{"static", &r.Static}, {"phonefleet", &r.Phonefleet}} {
		fmt.Fprintf(&b, "%-10s %12.0f %12.0f %8.2f %8.2f %8.2f %8.2f %7d\n", t.name, t.s.RequestsPerSec, t.s.InstancesPer,
			t.s.P50Millis, t.s.P90Millis, t.s.P99Millis, t.s.MaxMillis, t.s.Errors)
	}
	fmt.Fprintf(&b, "ratio %.3f, peak RSS %.1f MB, server started in %.1f ms\n", r.Ratio, float64(r.PeakRSSBytes)/(1<<20), r.StartMillis)
	if r.Phonefleet.Exhausted {
		fmt.Fprintf(&b, "the instances ran out after %.1fs: raise --instances for a full run\n", r.Phonefleet.Seconds)
	}
	if r.Phonefleet.FirstError != "" {
		fmt.Fprintf(&b, "first error: %s\n", r.Phonefleet.FirstError)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// run prepares the tenant, then drives the static handler and the server.
func (c *BenchCommand) run(ctx context.Context, cfg *benchConfig) (*benchResult, error) {
	res := &benchResult{Workload: cfg.workload, Order: cfg.order, Batch: cfg.batch, Conns: cfg.conns, DurationSec: cfg.duration.Seconds(),
		Store: "sqlite", CPUs: runtime.NumCPU()}
	if isPostgresURL(cfg.db) {
		res.Store = "postgres"
	}
	ids, token, err := c.prepare(ctx, cfg)
	if err != nil {
		return nil, err
	}
	res.Instances = len(ids)

	// The static handler first, on a listener of its own.
	static, staticURL, err := startStatic("127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	gen := &benchLoad{cfg: cfg, ids: ids, token: token, cycle: true, progress: c.progress()}
	res.Static = gen.drive(ctx, "static", staticURL)
	static.Close()

	// Then the real server.
	start := time.Now()
	m, err := c.startServer(ctx, cfg.db, "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	res.StartMillis = float64(time.Since(start).Microseconds()) / 1000
	// The peak RSS is to be the driving's, not preparing's or the static
	// run's.
	resetPeakRSS()
	stopProfile, err := startCPUProfile(cfg.cpuProfile)
	if err != nil {
		m.Close()
		return nil, err
	}
	gen = &benchLoad{cfg: cfg, ids: ids, token: token, progress: c.progress()}
	res.Phonefleet = gen.drive(ctx, "phonefleet", m.HTTPServer.URL())
	res.PeakRSSBytes = peakRSS()
	if err := stopProfile(); err != nil {
		m.Close()
		return nil, err
	}
	if err := m.Close(); err != nil {
		return nil, err
	}
	if res.Static.RequestsPerSec > 0 {
		res.Ratio = res.Phonefleet.RequestsPerSec / res.Static.RequestsPerSec
	}
	return res, ctx.Err()
}

// startStatic serves the static handler on addr and returns its base URL.
func startStatic(addr string) (*http.Server, string, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, "", err
	}
	srv := &http.Server{Handler: http.HandlerFunc(serveStatic), ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	return srv, "http://" + ln.Addr().String(), nil
}

// startServer starts the real server on db and addr, in this process:
// serve's defaults, without the per-tenant rate limit, logging only
// errors.
func (c *BenchCommand) startServer(ctx context.Context, db, addr string) (*Main, error) {
	m := NewMain(&Env{Stdout: io.Discard, Stderr: c.Stderr, Getenv: c.Getenv})
	m.Config.DB, m.Config.Addr, m.Config.RateLimit, m.Config.LogLevel = db, addr, 0, "error"
	if err := m.Run(ctx); err != nil {
		return nil, err
	}
	return m, nil
}

// startCPUProfile starts a CPU profile into path, or does nothing when path
// is empty; the function it returns stops the profile and closes the file.
func startCPUProfile(path string) (stop func() error, err error) {
	if path == "" {
		return func() error { return nil }, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("cpu profile: %w", err)
	}
	return func() error {
		pprof.StopCPUProfile()
		return f.Close()
	}, nil
}

// progress returns where progress lines go: stderr when it is a terminal,
// else nil.
func (c *BenchCommand) progress() io.Writer {
	f, ok := c.Stderr.(*os.File)
	if !ok {
		return nil
	}
	if st, err := f.Stat(); err != nil || st.Mode()&os.ModeCharDevice == 0 {
		return nil
	}
	return f
}

// prepare makes sure the tenant exists and holds cfg.instances running
// monthly instances, and returns their IDs and an admin token.
func (c *BenchCommand) prepare(ctx context.Context, cfg *benchConfig) ([]string, string, error) {
	// Only warnings: the store's start-up notes would bury the figures.
	store, err := openStore(cfg.db, StoreOptions{Create: true, Logger: newLogger(c.Stderr, DefaultLogFormat, "warn")})
	if err != nil {
		return nil, "", err
	}
	defer store.Close()
	t, err := store.FindTenantByName(ctx, cfg.tenant)
	if phonefleet.ErrorCode(err) == phonefleet.ENotFound {
		t = &phonefleet.Tenant{Name: cfg.tenant} // no quota: bench buys as it needs
		err = store.CreateTenant(ctx, t)
	}
	if err != nil {
		return nil, "", err
	}
	running, prepaid := phonefleet.InstanceStateRunning, true
	have, _, err := store.FindInstances(ctx, phonefleet.InstanceFilter{TenantID: t.ID, State: &running, Prepaid: &prepaid, Limit: cfg.instances})
	if err != nil {
		return nil, "", err
	}
	ids := make([]string, 0, cfg.instances)
	for _, in := range have {
		ids = append(ids, in.ID)
	}
	progress := c.progress()
	for len(ids) < cfg.instances {
		if err := ctx.Err(); err != nil {
			return nil, "", err
		}
		n := min(phonefleet.MaxPurchaseCount, cfg.instances-len(ids))
		req := &phonefleet.PurchaseRequest{
			TenantID: t.ID, RequestID: "bench-" + phonefleet.NewID(12), OS: "AOSP11",
			InstanceSKUID: "kp.pro.2u4g", BandSKUID: phonefleet.BandSKUID, RegionID: "cn-north-4",
			NamePrefix: "bench", BandSize: 2, Count: n, ChargingMode: phonefleet.ChargingModePrepaid,
			PeriodType: phonefleet.PeriodTypeMonth, PeriodNum: 1,
		}
		if err := req.Validate(); err != nil {
			return nil, "", err
		}
		_, bought, err := store.Purchase(ctx, req)
		if err != nil {
			return nil, "", fmt.Errorf("buy instances for the run: %w", err)
		}
		for _, in := range bought {
			ids = append(ids, in.ID)
		}
		if progress != nil {
			fmt.Fprintf(progress, "\rbuying instances: %d of %d ", len(ids), cfg.instances)
		}
	}
	if progress != nil {
		fmt.Fprint(progress, "\r\033[K")
	}
	if cfg.order == "random" {
		rand.New(rand.NewPCG(1, 2)).Shuffle(len(ids), func(i, j int) { ids[i], ids[j] = ids[j], ids[i] })
	}
	secret, _, err := issueToken(ctx, store, t, phonefleet.RoleAdmin, "bench", 24*time.Hour)
	if err != nil {
		return nil, "", err
	}
	return ids, secret, nil
}

// staticOK is the success body the static handler answers.
var staticOK = []byte(`{"data":null,"error_code":"0","error_msg":"OK"}`)

// serveStatic is the static handler: it reads and decodes the body as the
// server would need to (a list of IDs, or any JSON object) and answers the
// static success JSON.
func serveStatic(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodPost {
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<20))
		if err == nil {
			switch r.URL.Path {
			case "/v1/instances/delete":
				var req struct {
					InstanceIDList []string `json:"instanceIdList"`
				}
				err = json.Unmarshal(body, &req)
			case "/v1/instances/batch-query-status":
				var req struct {
					InstanceIDs []string `json:"instance_ids"`
				}
				err = json.Unmarshal(body, &req)
			default:
				var req map[string]any
				err = json.Unmarshal(body, &req)
			}
		}
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write(staticOK)
}

// benchLoad drives one target.
type benchLoad struct {
	cfg      *benchConfig
	ids      []string
	token    string
	cycle    bool      // reuse IDs round the pool (the static handler consumes nothing)
	progress io.Writer // nil: no progress line

	next      atomic.Int64 // index of the next request
	nextID    atomic.Int64 // next unused instance for unsubscribes
	exhausted atomic.Bool
}

// benchRequest is one request to send, and how many instances it covers.
type benchRequest struct {
	method, path string
	body         []byte
	instances    int
}

// request returns the i-th request, or false when the instances to
// unsubscribe ran out.
func (l *benchLoad) request(i int64) (benchRequest, bool) {
	kind := l.cfg.workload
	if kind == "mix" {
		switch k := i % 20; {
		case k < 12:
			kind = "query"
		case k < 14:
			kind = "list"
		case k < 19:
			kind = "unsubscribe"
		default:
			kind = "purchase"
		}
	}
	n := l.cfg.batch
	switch kind {
	case "unsubscribe":
		ids, ok := l.take(n)
		if !ok {
			return benchRequest{}, false
		}
		return benchRequest{"POST", "/v1/instances/delete", idsBody("instanceIdList", ids), n}, true
	case "query":
		start := int(i*int64(n)) % (len(l.ids) - n + 1)
		ids := l.ids[start : start+n]
		return benchRequest{"POST", "/v1/instances/batch-query-status", idsBody("instance_ids", ids), n}, true
	case "list":
		return benchRequest{"GET", "/v1/instances/batch-query?page_no=1&page_size=10", nil, 10}, true
	default: // purchase
		body := fmt.Sprintf(`{"os":"AOSP11","instanceSkuId":"kp.pro.2u4g","bandSkuId":%q,"regionId":"cn-north-4",`+
			`"instanceNamePrefix":"bench","bandSize":2,"count":%d,"chargeParam":{"chargingMode":1,"periodType":2,"periodNum":1}}`,
			phonefleet.BandSKUID, n)
		return benchRequest{"POST", "/v1/instances/create", []byte(body), n}, true
	}
}

// take returns the next n instances nobody unsubscribed yet.
func (l *benchLoad) take(n int) ([]string, bool) {
	end := int(l.nextID.Add(int64(n)))
	if l.cycle {
		start := (end - n) % (len(l.ids) - n + 1)
		return l.ids[start : start+n], true
	}
	if end > len(l.ids) {
		l.exhausted.Store(true)
		return nil, false
	}
	return l.ids[end-n : end], true
}

// idsBody returns {"member": ids}.
func idsBody(member string, ids []string) []byte {
	b, _ := json.Marshal(map[string][]string{member: ids})
	return b
}

// drive sends requests from cfg.conns connections for cfg.duration (or
// until the instances run out) and returns the figures. Requests in flight
// at the end run to their answer and count: cutting them off would fail
// them on the server.
func (l *benchLoad) drive(ctx context.Context, name, baseURL string) benchStats {
	tr := &http.Transport{MaxIdleConnsPerHost: l.cfg.conns, MaxConnsPerHost: l.cfg.conns, DisableCompression: true}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}

	var (
		wg         sync.WaitGroup
		mu         sync.Mutex
		lat        []time.Duration
		requests   atomic.Int64
		errs       atomic.Int64
		insts      atomic.Int64
		stop       atomic.Bool
		firstError atomic.Value
	)
	start := time.Now()
	deadline := start.Add(l.cfg.duration)
	runID := phonefleet.NewID(8)
	stopProgress := l.showProgress(name, start, &requests, &errs)
	for w := range l.cfg.conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine []time.Duration
			defer func() { mu.Lock(); lat = append(lat, mine...); mu.Unlock() }()
			for n := 0; !stop.Load() && ctx.Err() == nil && time.Now().Before(deadline); n++ {
				br, ok := l.request(l.next.Add(1) - 1)
				if !ok {
					stop.Store(true)
					return
				}
				t0 := time.Now()
				err := l.send(ctx, client, baseURL, fmt.Sprintf("bench-%s-%d-%d", runID, w, n), &br)
				mine = append(mine, time.Since(t0))
				requests.Add(1)
				if err != nil {
					errs.Add(1)
					firstError.CompareAndSwap(nil, err.Error())
					continue
				}
				insts.Add(int64(br.instances))
			}
		}()
	}
	wg.Wait()
	stopProgress()
	elapsed := time.Since(start).Seconds()

	s := benchStats{Requests: requests.Load(), Errors: errs.Load(), Seconds: elapsed, Exhausted: l.exhausted.Load()}
	s.RequestsPerSec = float64(s.Requests) / elapsed
	s.InstancesPer = float64(insts.Load()) / elapsed
	if v, ok := firstError.Load().(string); ok {
		s.FirstError = v
	}
	slices.Sort(lat)
	if len(lat) > 0 {
		pct := func(p float64) float64 {
			return float64(lat[min(len(lat)-1, int(p*float64(len(lat))))].Microseconds()) / 1000
		}
		s.P50Millis, s.P90Millis, s.P99Millis, s.MaxMillis = pct(0.50), pct(0.90), pct(0.99), pct(1)
	}
	return s
}

// send sends one request and returns an error unless the answer is 200
// with error_code "0".
func (l *benchLoad) send(ctx context.Context, client *http.Client, baseURL, requestID string, br *benchRequest) error {
	var body io.Reader
	if br.body != nil {
		body = bytes.NewReader(br.body)
	}
	req, err := http.NewRequestWithContext(ctx, br.method, baseURL+br.path, body)
	if err != nil {
		return err
	}
	req.Header.Set("X-Auth-Token", l.token)
	req.Header.Set("X-Request-Id", requestID)
	if br.body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	out, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK || !bytes.Contains(out, []byte(`"error_code":"0"`)) {
		return fmt.Errorf("%s %s: %d %.200s", br.method, br.path, resp.StatusCode, out)
	}
	return nil
}

// showProgress prints a progress line to l.progress every second until the
// returned function is called.
func (l *benchLoad) showProgress(name string, start time.Time, requests, errs *atomic.Int64) func() {
	if l.progress == nil {
		return func() {}
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		for {
			select {
			case <-done:
				fmt.Fprint(l.progress, "\r\033[K")
				return
			case <-tick.C:
				el := time.Since(start).Seconds()
				fmt.Fprintf(l.progress, "\r%s: %.0fs of %s, %.0f requests/s, %d errors ", name, el, l.cfg.duration,
					float64(requests.Load())/el, errs.Load())
			}
		}
	}()
	return func() { close(done); wg.Wait() }
}

// resetPeakRSS hands the Go heap no longer in use back to the system and
// resets the process's peak resident set size, where Linux allows it, so
// peakRSS reports the peak from now on.
func resetPeakRSS() {
	debug.FreeOSMemory()
	os.WriteFile("/proc/self/clear_refs", []byte("5"), 0)
}

// peakRSS returns the process's peak resident set size (VmHWM), 0 if
// unknown.
func peakRSS() int64 {
	buf, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for line := range strings.Lines(string(buf)) {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err != nil {
				return 0
			}
			return kb << 10
		}
	}
	return 0
}
