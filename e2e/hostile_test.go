package e2e

import (
	"bufio"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/phonefleet/phonefleet/internal/testingutil"
)

// TestHostile_DryRunTypo: a misspelled dry run on the irreversible
// unsubscribe is refused with 1000 naming the name at fault, and the
// instance stays running; the correct spelling still works.
func TestHostile_DryRunTypo(t *testing.T) {
	db := filepath.Join(t.TempDir(), "pf.db")
	acme := MustTenant(t, db, "acme")
	n := MustServe(t, db, heldReleaseFlags(t)...)
	ids := MustBuy(t, n.URL, acme.Admin, buyBody(1, 1, 2, 1))
	del := n.URL + "/v1/instances/delete"
	body := []byte(`{"instanceIdList":["` + ids[0] + `"]}`)

	for _, tc := range []struct{ query, body, name string }{
		{"?dryRun=true", string(body), "dryRun"},
		{"?Dry_Run=true", string(body), "Dry_Run"},
		{"?dry-run=true", string(body), "dry-run"},
		{"?dry_run=true&force=1", string(body), "force"},
		{"", `{"instanceIdList":["` + ids[0] + `"],"dryRun":true}`, "dryRun"},
		{"", `{"instanceIdList":["` + ids[0] + `"],"dry_run":true}`, "dry_run"},
		{"", `{"InstanceIdList":["` + ids[0] + `"],"instanceIdList":["` + ids[0] + `"]}`, "InstanceIdList"},
		{"", `{"instanceIdList":["` + ids[0] + `"],"options":{"DRY-RUN":true}}`, "DRY-RUN"},
	} {
		r := call(t, "POST", del+tc.query, acme.Admin, "application/json", []byte(tc.body))
		wantErr(t, r, 400, "KOOPHONE.API.1000")
		if !strings.Contains(r.Msg(), `"`+tc.name+`"`) {
			t.Errorf("%s %s: message %q does not name %q", tc.query, tc.body, r.Msg(), tc.name)
		}
		if st := statuses(t, n.URL, acme.Admin, ids)[ids[0]]; st != 2 {
			t.Fatalf("%s %s: instance status %v after a refused call, want 2 (running)", tc.query, tc.body, st)
		}
	}

	// Unknown members that are not near misses stay ignored.
	r := call(t, "POST", del+"?dry_run=true", acme.Admin, "application/json", []byte(`{"instanceIdList":["`+ids[0]+`"],"clientTag":"x"}`))
	wantOK(t, r)
	if r.Data()["dryRun"] != true {
		t.Fatalf("dry run answered %s", r.Raw)
	}
	if st := statuses(t, n.URL, acme.Admin, ids)[ids[0]]; st != 2 {
		t.Fatalf("instance status %v after a dry run, want 2", st)
	}

	// Parameters KooPhone documents are known even where ignored, on every
	// endpoint that has them; others are refused everywhere.
	wantOK(t, call(t, "GET", n.URL+"/v1/instances/batch-query?page_no=1&page_size=10&x-request-id=abc&pool_scene_tag=CLOUD_PHONE&pool_name=p", acme.Viewer, "", nil))
	wantErr(t, call(t, "GET", n.URL+"/v1/instances/batch-query?page_no=1&page_size=10&pageSize=5", acme.Viewer, "", nil), 400, "KOOPHONE.API.1000")
	wantErr(t, call(t, "GET", n.URL+"/v1/instances/sku?type=0&verbose=1", acme.Viewer, "", nil), 400, "KOOPHONE.API.1000")
	wantErr(t, call(t, "GET", n.URL+"/healthz?x=1", "", "", nil), 400, "KOOPHONE.API.1000")

	// A purchase's nested member in the wrong case is refused, not taken
	// for pay-per-use.
	r = call(t, "POST", n.URL+"/v1/instances/create", acme.Admin, "application/json", []byte(
		`{"os":"AOSP11","instanceSkuId":"kp.pro.2u4g","bandSkuId":"kp.band.bgp.standard","regionId":"cn-north-4",`+
			`"instanceNamePrefix":"p","bandSize":2,"count":1,"chargeParam":{"ChargingMode":1,"periodType":2,"periodNum":1}}`))
	wantErr(t, r, 400, "KOOPHONE.API.1000")
	if !strings.Contains(r.Msg(), `"ChargingMode"`) {
		t.Fatalf("message %q does not name ChargingMode", r.Msg())
	}
}

// TestHostile_Text: names with invalid UTF-8, control or bidirectional
// override characters are refused with 1000.
func TestHostile_Text(t *testing.T) {
	db := filepath.Join(t.TempDir(), "pf.db")
	acme := MustTenant(t, db, "acme")
	n := MustServe(t, db)
	for _, prefix := range []string{"ab\u202Ecd", "ab\u2066c", "a\u0085b"} {
		body := buyBody(1, 1, 2, 1)
		body["instanceNamePrefix"] = prefix
		wantErr(t, postJSON(t, n.URL+"/v1/instances/create", acme.Admin, body), 400, "KOOPHONE.API.1000")
	}
	raw := []byte(`{"os":"AOSP11","instanceSkuId":"kp.pro.2u4g","bandSkuId":"kp.band.bgp.standard","regionId":"cn-north-4",` +
		`"instanceNamePrefix":"p` + "\xff" + `","bandSize":2,"count":1,"chargeParam":{"chargingMode":0}}`)
	r := call(t, "POST", n.URL+"/v1/instances/create", acme.Admin, "application/json", raw)
	wantErr(t, r, 400, "KOOPHONE.API.1000")
	r = call(t, "GET", n.URL+"/v1/instances/batch-query?page_no=1&page_size=10&instance_name=a%E2%80%AEb", acme.Viewer, "", nil)
	wantErr(t, r, 400, "KOOPHONE.API.1000")
	r = call(t, "GET", n.URL+"/v1/instances/batch-query?page_no=1&page_size=10&instance_name=a%FFb", acme.Viewer, "", nil)
	wantErr(t, r, 400, "KOOPHONE.API.1000")
}

// TestHostile_Quota: tenants get a quota (10,000 by default, set with
// tenant create/update, shown by tenant list); a purchase past it changes
// nothing and answers PHONEFLEET.QUOTA.0001.
func TestHostile_Quota(t *testing.T) {
	db := filepath.Join(t.TempDir(), "pf.db")
	acme := MustTenant(t, db, "acme")
	MustLine(t, MustCLI(t, db, "tenant", "create", "small", "--max-instances", "3"))
	small := MustLine(t, MustCLI(t, db, "token", "issue", "--tenant", "small"))
	list := jsonLines(t, MustCLI(t, db, "tenant", "list"))
	if len(list) != 2 || list[0]["max_instances"] != float64(10000) || list[1]["max_instances"] != float64(3) {
		t.Fatalf("tenant list=%v, want acme 10000 and small 3", list)
	}
	n := MustServe(t, db)
	MustBuy(t, n.URL, small, buyBody(2, 1, 2, 1))
	r := postJSON(t, n.URL+"/v1/instances/create", small, buyBody(2, 0, 0, 0))
	wantErr(t, r, 400, "PHONEFLEET.QUOTA.0001")
	if want := "instance quota exceeded: tenant holds 2 of 3; this order asks for 2"; r.Msg() != want {
		t.Fatalf("message %q, want %q", r.Msg(), want)
	}
	if r := call(t, "GET", n.URL+"/v1/instances/batch-query?page_no=1&page_size=10", small, "", nil); r.Data()["total_count"] != float64(2) {
		t.Fatalf("after a refused purchase: %s", r.Raw)
	}
	// The other tenant is not affected; raising the quota lets small buy.
	MustBuy(t, n.URL, acme.Admin, buyBody(5, 1, 2, 1))
	out := jsonLines(t, MustCLI(t, db, "tenant", "update", "small", "--max-instances", "4"))
	if len(out) != 1 || out[0]["max_instances"] != float64(4) || out[0]["held_instances"] != float64(2) {
		t.Fatalf("tenant update printed %v", out)
	}
	MustBuy(t, n.URL, small, buyBody(2, 0, 0, 0))
	// A bad quota is a usage error.
	if r := testingutil.RunCLI(t, testingutil.MustBuildBinary(t), []string{"PHONEFLEET_DB=" + db}, "tenant", "update", "small", "--max-instances", "-1"); r.Code == 0 || r.Stdout != "" {
		t.Fatalf("tenant update --max-instances -1: exit %d, stdout %q", r.Code, r.Stdout)
	}
}

// TestHostile_PurchaseRetry: a purchase retried with the same X-Request-Id
// buys nothing more and answers the first purchase's data.
func TestHostile_PurchaseRetry(t *testing.T) {
	db := filepath.Join(t.TempDir(), "pf.db")
	acme := MustTenant(t, db, "acme")
	n := MustServe(t, db)
	body, _ := json.Marshal(buyBody(3, 1, 2, 1))
	first := call(t, "POST", n.URL+"/v1/instances/create", acme.Admin, "application/json", body, "X-Request-Id", "buy-once-1")
	wantOK(t, first)
	again := call(t, "POST", n.URL+"/v1/instances/create", acme.Admin, "application/json", body, "X-Request-Id", "buy-once-1")
	wantOK(t, again)
	if !reflect.DeepEqual(first.Data(), again.Data()) {
		t.Fatalf("retry answered %s, first %s", again.Raw, first.Raw)
	}
	r := call(t, "GET", n.URL+"/v1/instances/batch-query?page_no=1&page_size=10", acme.Viewer, "", nil)
	if r.Data()["total_count"] != float64(3) {
		t.Fatalf("instances after a retried purchase: %s", r.Raw)
	}
}

// TestHostile_PurchaseRetryChangedBody: the same X-Request-Id with another
// body buys nothing and answers 1000; the same body written differently
// (whitespace, member order, 1 for true, 2.0 for 2, escapes) is a retry.
func TestHostile_PurchaseRetryChangedBody(t *testing.T) {
	db := filepath.Join(t.TempDir(), "pf.db")
	acme := MustTenant(t, db, "acme")
	n := MustServe(t, db)
	create := func(id, body string) *testingutil.Response {
		t.Helper()
		return call(t, "POST", n.URL+"/v1/instances/create", acme.Admin, "application/json", []byte(body), "X-Request-Id", id)
	}
	total := func() float64 {
		t.Helper()
		r := call(t, "GET", n.URL+"/v1/instances/batch-query?page_no=1&page_size=10", acme.Viewer, "", nil)
		return r.Data()["total_count"].(float64)
	}
	const one = `{"os":"AOSP11","instanceSkuId":"kp.pro.2u4g","bandSkuId":"kp.band.bgp.standard","regionId":"cn-north-4",` +
		`"instanceNamePrefix":"phone","bandSize":2,"count":1,"chargeParam":{"chargingMode":1,"periodType":2,"periodNum":1,"isAutoPay":true}}`
	first := create("buy-1", one)
	wantOK(t, first)
	for _, changed := range []string{
		strings.Replace(one, `"count":1`, `"count":3`, 1),
		strings.Replace(one, `"periodNum":1`, `"periodNum":2`, 1),
		strings.Replace(one, `"isAutoPay":true`, `"isAutoPay":false`, 1),
		strings.Replace(one, `"isAutoPay":true`, `"isAutoPay":true,"isAutoRenew":1`, 1),
		strings.Replace(one, `"phone"`, `"phonf"`, 1),
		strings.Replace(one, `"os":"AOSP11"`, `"os":"AOSP14"`, 1),
		strings.Replace(one, `"count":1`, `"count":1,"clientTag":"x"`, 1),
	} {
		r := create("buy-1", changed)
		wantErr(t, r, 400, "KOOPHONE.API.1000")
		if want := "X-Request-Id buy-1 was used for a different purchase"; r.Msg() != want {
			t.Fatalf("changed body %s: message %q, want %q", changed, r.Msg(), want)
		}
	}
	if got := total(); got != 1 {
		t.Fatalf("instances after refused retries: %v, want 1", got)
	}
	same := "{\n  \"chargeParam\": {\"isAutoPay\": 1, \"periodNum\": 1, \"periodType\": 2, \"chargingMode\": 1},\n" +
		"  \"count\": 1, \"bandSize\": 2.0, \"instanceNamePrefix\": \"ph\\u006fne\", \"regionId\": \"cn-north-4\",\n" +
		"  \"bandSkuId\": \"kp.band.bgp.standard\", \"instanceSkuId\": \"kp.pro.2u4g\", \"os\": \"AOSP11\"\n}"
	again := create("buy-1", same)
	wantOK(t, again)
	if !reflect.DeepEqual(first.Data(), again.Data()) {
		t.Fatalf("retry answered %s, first %s", again.Raw, first.Raw)
	}
	if got := total(); got != 1 {
		t.Fatalf("instances after a retry: %v, want 1", got)
	}
}

// TestHostile_CLIMissingDatabase: only migrate, serve, tenant create and
// copy's target create a database; every other command fails on a missing
// one and leaves no file behind.
func TestHostile_CLIMissingDatabase(t *testing.T) {
	bin := testingutil.MustBuildBinary(t)
	dir := t.TempDir()
	for _, args := range [][]string{
		{"refunds"}, {"audit"}, {"jobs"}, {"jobs", "retry", "abc"}, {"tenant", "list"}, {"tenant", "update", "x", "--max-instances", "1"},
		{"token", "issue", "--tenant", "x"}, {"sku", "list"},
	} {
		db := filepath.Join(dir, "typo.db")
		r := testingutil.RunCLI(t, bin, nil, append(args, "--db", db)...)
		if r.Code == 0 || !strings.Contains(r.Stderr, "does not exist") {
			t.Errorf("%v on a missing database: exit %d, stderr %q", args, r.Code, r.Stderr)
		}
		if _, err := os.Stat(db); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("%v left %s behind (%v)", args, db, err)
		}
	}
	for _, args := range [][]string{{"migrate"}, {"tenant", "create", "acme"}} {
		db := filepath.Join(t.TempDir(), "new.db")
		testingutil.MustRunCLI(t, bin, nil, append(args, "--db", db)...)
		if _, err := os.Stat(db); err != nil {
			t.Fatalf("%v did not create the database: %v", args, err)
		}
	}
}

// TestHostile_DatabaseFileDeleted: deleting the database file under a
// running server makes it refuse writes (9999, nothing acknowledged into
// the unlinked file), /readyz answer 503, and the log say why.
func TestHostile_DatabaseFileDeleted(t *testing.T) {
	db := filepath.Join(t.TempDir(), "pf.db")
	acme := MustTenant(t, db, "acme")
	n := MustServe(t, db, heldReleaseFlags(t)...)
	ids := MustBuy(t, n.URL, acme.Admin, buyBody(2, 1, 2, 1))
	if r := call(t, "GET", n.URL+"/readyz", "", "", nil); r.Status != 200 {
		t.Fatalf("/readyz before: %d", r.Status)
	}
	for _, suffix := range []string{"", "-wal", "-shm"} {
		if err := os.Remove(db + suffix); err != nil && !errors.Is(err, fs.ErrNotExist) {
			t.Fatal(err)
		}
	}
	r := postJSON(t, n.URL+"/v1/instances/delete", acme.Admin, map[string]any{"instanceIdList": ids[:1]})
	wantErr(t, r, 500, "KOOPHONE.API.9999")
	wantErr(t, postJSON(t, n.URL+"/v1/instances/create", acme.Admin, buyBody(1, 1, 2, 1)), 500, "KOOPHONE.API.9999")
	if r := call(t, "GET", n.URL+"/readyz", "", "", nil); r.Status != 503 {
		t.Fatalf("/readyz after the file was deleted: %d %s", r.Status, r.Raw)
	}
	if logs := n.Stderr.String(); !strings.Contains(logs, "database file lost") {
		t.Fatalf("no error log about the lost file:\n%s", logs)
	}
}

// hangingReceiver returns a webhook URL whose requests hang until the test
// ends, and a channel that gets a value per request received.
func hangingReceiver(t *testing.T) (string, <-chan struct{}) {
	got := make(chan struct{}, 16)
	done := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got <- struct{}{}
		select {
		case <-done:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(func() { close(done); srv.Close() })
	return srv.URL, got
}

// TestHostile_Shutdown: on SIGTERM the release worker stops claiming and
// abandons a hanging delivery after its shutdown timeout (5 s), so the
// process exits well before the webhook's own 10 s timeout; a second
// signal exits at once.
func TestHostile_Shutdown(t *testing.T) {
	for _, twice := range []bool{false, true} {
		t.Run(map[bool]string{false: "OneSignal", true: "SecondSignal"}[twice], func(t *testing.T) {
			db := filepath.Join(t.TempDir(), "pf.db")
			acme := MustTenant(t, db, "acme")
			url, got := hangingReceiver(t)
			n := MustServe(t, db, "--release-driver", "webhook", "--webhook-url", url, "--webhook-secret", "s3cret")
			ids := MustBuy(t, n.URL, acme.Admin, buyBody(1, 1, 2, 1))
			wantOK(t, postJSON(t, n.URL+"/v1/instances/delete", acme.Admin, map[string]any{"instanceIdList": ids}))
			<-got // the delivery is in flight and hangs

			start := time.Now()
			n.Signal(t, syscall.SIGTERM)
			limit := 8 * time.Second // 5 s of shutdown timeout and room for a busy machine
			if twice {
				for !strings.Contains(n.Stderr.String(), "shutting down") {
					_, changed := n.Stderr.Snapshot()
					<-changed
				}
				n.Signal(t, syscall.SIGTERM)
				limit = 3 * time.Second
			}
			select {
			case <-n.Exited():
			case <-time.After(30 * time.Second):
				t.Fatal("serve did not exit within 30 s of SIGTERM")
			}
			t.Logf("exit took %s", time.Since(start).Round(time.Millisecond))
			if took := time.Since(start); took > limit {
				t.Fatalf("serve took %s to exit, want at most %s", took.Round(time.Millisecond), limit)
			}
		})
	}
}

// rawExchange sends raw bytes on a new connection and returns the parsed
// answer.
func rawExchange(t *testing.T, url, raw string) *http.Response {
	t.Helper()
	c, err := net.Dial("tcp", strings.TrimPrefix(url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, raw); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("read answer to %.40q: %v", raw, err)
	}
	return resp
}

// TestHostile_MalformedHTTP: the answers net/http gives before any handler
// runs (oversized headers, bad Content-Length, control characters in a
// header) are the JSON error envelope with an X-Request-Id.
func TestHostile_MalformedHTTP(t *testing.T) {
	n := MustServe(t, filepath.Join(t.TempDir(), "pf.db"))
	for _, tc := range []struct {
		name, raw string
		status    int
	}{
		{"HugeHeader", "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("a", 80<<10) + "\r\n\r\n", 431},
		{"BadContentLength", "POST /v1/instances/delete HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n", 400},
		{"ControlInHeader", "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Foo: a\x01b\r\n\r\n", 400},
		{"BadRequestLine", "GET\r\n\r\n", 400},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := rawExchange(t, n.URL, tc.raw)
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			var e struct {
				Code string `json:"error_code"`
				Msg  string `json:"error_msg"`
			}
			if resp.StatusCode != tc.status || resp.Header.Get("Content-Type") != "application/json" ||
				resp.Header.Get("X-Request-Id") == "" || json.Unmarshal(body, &e) != nil || e.Code != "KOOPHONE.API.1000" || e.Msg == "" {
				t.Fatalf("got %d %v %q, want %d with a JSON 1000 body and X-Request-Id", resp.StatusCode, resp.Header, body, tc.status)
			}
		})
	}
}

// TestHostile_ConnectionCap: idle keep-alive connections cannot lock new
// clients out: at --max-conns the longest-idle one is closed to admit a
// new one.
func TestHostile_ConnectionCap(t *testing.T) {
	n := MustServe(t, filepath.Join(t.TempDir(), "pf.db"), "--max-conns", "16")
	addr := strings.TrimPrefix(n.URL, "http://")
	var idle []*bufio.Reader
	for i := 0; i < 40; i++ {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		c.SetDeadline(time.Now().Add(20 * time.Second))
		io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
		r := bufio.NewReader(c)
		resp, err := http.ReadResponse(r, nil)
		if err != nil {
			t.Fatalf("connection %d: %v", i, err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("connection %d: status %d", i, resp.StatusCode)
		}
		idle = append(idle, r) // kept open, idle
	}
	// A new client still gets in.
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := client.Get(n.URL + "/healthz")
	if err != nil {
		t.Fatalf("a new client after 40 idle connections: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	// The oldest idle connections were closed by the server.
	if _, err := idle[0].ReadByte(); err == nil {
		t.Fatal("the oldest idle connection is still open")
	}
}
