package e2e

import (
	"path/filepath"
	"strings"
	"testing"
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
