package e2e

import (
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestTestClock: serve --test-clock warns, moves business time on request,
// and keeps it in the database across a restart; without the flag the
// paths do not exist and the stored offset is ignored.
func TestTestClock(t *testing.T) {
	db := filepath.Join(t.TempDir(), "clock.db")
	MustCLI(t, db, "tenant", "create", "acme")
	token := strings.TrimSpace(MustCLI(t, db, "token", "issue", "--tenant", "acme"))

	clockNow := func(url string) time.Time {
		t.Helper()
		r := call(t, "GET", url+"/v1/_test/clock", token, "", nil)
		now, err := time.Parse(time.RFC3339Nano, r.Data()["now"].(string))
		if r.Status != 200 || err != nil {
			t.Fatalf("GET /v1/_test/clock: %d %s", r.Status, r.Raw)
		}
		return now
	}

	n := MustServe(t, db, "--test-clock")
	if logs := n.Stderr.String(); !strings.Contains(logs, "TEST CLOCK ON") {
		t.Fatalf("no warning in the logs:\n%s", logs)
	}
	r := call(t, "POST", n.URL+"/v1/_test/clock", token, "application/json", []byte(`{"advance":"121h"}`))
	if r.Status != 200 || r.Code() != "0" {
		t.Fatalf("advance: %d %s", r.Status, r.Raw)
	}
	moved, _ := time.Parse(time.RFC3339Nano, r.Data()["now"].(string))
	if off := time.Until(moved); off < 120*time.Hour || off > 122*time.Hour {
		t.Fatalf("business time %v is %v ahead, want about 121h", moved, off)
	}
	n.Stop(t)

	// Another process, later: the same offset.
	n = MustServe(t, db, "--test-clock")
	if got := clockNow(n.URL); got.Before(moved) || time.Until(got) < 120*time.Hour {
		t.Fatalf("after a restart business time is %v, want at least %v", got, moved)
	}
	n.Stop(t)

	n = MustServe(t, db)
	if r := call(t, "GET", n.URL+"/v1/_test/clock", token, "", nil); r.Status != 404 || r.Code() != "APIGW.0101" {
		t.Fatalf("without --test-clock: %d %s, want 404 APIGW.0101", r.Status, r.Raw)
	}
	body := []byte(`{"os":"AOSP14","instanceSkuId":"kp.pro.2u4g","bandSkuId":"kp.band.bgp.standard","regionId":"cn-north-4",` +
		`"instanceNamePrefix":"c","bandSize":4,"count":1,"chargeParam":{"chargingMode":0}}`)
	if r := call(t, "POST", n.URL+"/v1/instances/create", token, "application/json", body); r.Status != 200 {
		t.Fatalf("buy: %d %s", r.Status, r.Raw)
	}
	for _, e := range jsonLines(t, MustCLI(t, db, "audit", "--limit", "1")) {
		at, err := time.Parse(time.RFC3339Nano, e["at"].(string))
		if err != nil || time.Since(at).Abs() > time.Hour {
			t.Fatalf("audit at %v without --test-clock, want wall time", e["at"])
		}
	}
}
