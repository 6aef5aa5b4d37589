// Package e2e drives the built phonefleet binary exactly as a user would:
// the CLI's output formats (README.md) and the HTTP API of docs/api.md,
// black box.
package e2e

import (
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"github.com/phonefleet/phonefleet/internal/testingutil"
)

// TestMain runs the suite with every answer validated against the OpenAPI
// document (see openAPICheck): an answer that does not match fails the run.
func TestMain(m *testing.M) {
	check, err := newOpenAPICheck()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	http.DefaultClient.Transport = check
	code := m.Run()
	if check.report(os.Stderr) > 0 && code == 0 {
		code = 1
	}
	testingutil.Cleanup()
	os.Exit(code)
}

// MustCLI runs the CLI with PHONEFLEET_DB=db and fails the test unless it
// exits 0; it returns stdout.
func MustCLI(t testing.TB, db string, args ...string) string {
	t.Helper()
	return testingutil.MustRunCLI(t, testingutil.MustBuildBinary(t), []string{"PHONEFLEET_DB=" + db}, args...)
}

// MustLine returns the single line of out.
func MustLine(t testing.TB, out string) string {
	t.Helper()
	if !strings.HasSuffix(out, "\n") || strings.Count(out, "\n") != 1 {
		t.Fatalf("output %q is not exactly one line", out)
	}
	return strings.TrimSuffix(out, "\n")
}

// jsonLines decodes JSON-lines output.
func jsonLines(t testing.TB, out string) []map[string]any {
	t.Helper()
	return testingutil.MustDecodeJSONLines[map[string]any](t, out)
}

// MustServe starts "phonefleet serve" on db with extra flags; see
// testingutil.MustStartNode.
func MustServe(t testing.TB, db string, extra ...string) *testingutil.Node {
	t.Helper()
	return testingutil.MustStartNode(t, testingutil.MustBuildBinary(t), append([]string{"--db", db}, extra...)...)
}

// heldReleaseFlags returns serve flags whose release webhook always fails
// and retries only after an hour, so unsubscribed instances stay deleting
// (status 3) for the whole test instead of racing the release worker.
func heldReleaseFlags(t testing.TB) []string {
	t.Helper()
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	t.Cleanup(receiver.Close)
	return []string{"--release-driver", "webhook", "--webhook-url", receiver.URL, "--webhook-secret", "s3cret", "--release-backoff", "1h"}
}

// call sends one request (see testingutil.MustDo) and checks what every
// answer carries: a JSON Content-Type and an X-Request-Id.
func call(t testing.TB, method, url, token, contentType string, body []byte, headers ...string) *testingutil.Response {
	t.Helper()
	r := testingutil.MustDo(t, method, url, token, contentType, body, headers...)
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Fatalf("%s %s: Content-Type %q, want application/json", method, url, ct)
	}
	if id := r.Header.Get("X-Request-Id"); id == "" {
		t.Fatalf("%s %s: no X-Request-Id", method, url)
	}
	return r
}

// postJSON posts v (or raw bytes) as application/json.
func postJSON(t testing.TB, url, token string, v any) *testingutil.Response {
	t.Helper()
	body, ok := v.([]byte)
	if !ok {
		var err error
		if body, err = json.Marshal(v); err != nil {
			t.Fatal(err)
		}
	}
	// A KooPhone client sends an x-request-id, which some APIs require.
	return call(t, "POST", url, token, "application/json", body, "X-Request-Id", "e2e-"+rand.Text()[:16])
}

// wantErr fails unless r is an error answer with status and code.
func wantErr(t testing.TB, r *testingutil.Response, status int, code string) {
	t.Helper()
	if r.Status != status || r.Code() != code {
		t.Fatalf("got %d %s (%s), want %d %s", r.Status, r.Code(), r.Raw, status, code)
	}
	if r.Msg() == "" {
		t.Fatalf("error %s has no error_msg", code)
	}
	if _, ok := r.Body["data"]; ok {
		t.Fatalf("error body has data: %s", r.Raw)
	}
}

// wantOK fails unless r is a success envelope.
func wantOK(t testing.TB, r *testingutil.Response) {
	t.Helper()
	if r.Status != 200 || r.Code() != "0" || r.Msg() != "OK" {
		t.Fatalf("got %d %s, want 200 success", r.Status, r.Raw)
	}
}

// tenantEnv is a tenant with an admin and a viewer token on a database.
type tenantEnv struct {
	Name, ID      string
	Admin, Viewer string
}

// MustTenant creates a tenant and its tokens through the CLI.
func MustTenant(t testing.TB, db, name string) tenantEnv {
	t.Helper()
	te := tenantEnv{Name: name}
	te.ID = MustLine(t, MustCLI(t, db, "tenant", "create", name))
	te.Admin = MustLine(t, MustCLI(t, db, "token", "issue", "--tenant", name))
	te.Viewer = MustLine(t, MustCLI(t, db, "token", "issue", "--tenant", name, "--role", "viewer"))
	return te
}

// buyBody returns a create request body.
func buyBody(count int, chargingMode, periodType, periodNum int) map[string]any {
	cp := map[string]any{"chargingMode": chargingMode}
	if chargingMode == 1 {
		cp["periodType"], cp["periodNum"] = periodType, periodNum
	}
	return map[string]any{
		"os": "AOSP11", "instanceSkuId": "kp.pro.2u4g", "bandSkuId": "kp.band.bgp.standard",
		"regionId": "cn-north-4", "instanceNamePrefix": "phone", "bandSize": 2, "count": count,
		"chargeParam": cp,
	}
}

// MustBuy buys instances and returns their IDs.
func MustBuy(t testing.TB, url, token string, body map[string]any) []string {
	t.Helper()
	r := postJSON(t, url+"/v1/instances/create", token, body)
	wantOK(t, r)
	infos, _ := r.Data()["instanceInfos"].([]any)
	if want, _ := body["count"].(int); len(infos) != want {
		t.Fatalf("purchase of %d returned %d instances: %s", want, len(infos), r.Raw)
	}
	var ids []string
	for _, it := range infos {
		ids = append(ids, it.(map[string]any)["instanceId"].(string))
	}
	return ids
}

// statuses returns batch-query-status for ids.
func statuses(t testing.TB, url, token string, ids []string) map[string]float64 {
	t.Helper()
	r := postJSON(t, url+"/v1/instances/batch-query-status", token, map[string]any{"instance_ids": ids})
	wantOK(t, r)
	results, _ := r.Data()["status_results"].([]any)
	if len(results) != len(ids) {
		t.Fatalf("batch-query-status answered %d results for %d IDs: %s", len(results), len(ids), r.Raw)
	}
	out := map[string]float64{}
	for i, it := range results {
		m := it.(map[string]any)
		if m["instance_id"] != ids[i] {
			t.Fatalf("status_results[%d] is %v, want %s", i, m["instance_id"], ids[i])
		}
		out[m["instance_id"].(string)] = m["status"].(float64)
	}
	return out
}
