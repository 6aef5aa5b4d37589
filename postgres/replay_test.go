package postgres_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/phonefleet/phonefleet"
	pfhttp "github.com/phonefleet/phonefleet/http"
	"github.com/phonefleet/phonefleet/postgres"
)

// signAKSK signs req (body is its body) with SDK-HMAC-SHA256 over host and
// x-sdk-date at date, as Huawei's SDKs do; the test's own signer.
func signAKSK(req *http.Request, body []byte, ak, sk string, date time.Time) {
	d := date.UTC().Format("20060102T150405Z")
	req.Header.Set("X-Sdk-Date", d)
	bodySum := sha256.Sum256(body)
	canonical := strings.Join([]string{req.Method, req.URL.Path + "/", "",
		"host:" + req.URL.Host + "\nx-sdk-date:" + d + "\n", "host;x-sdk-date", hex.EncodeToString(bodySum[:])}, "\n")
	crSum := sha256.Sum256([]byte(canonical))
	m := hmac.New(sha256.New, []byte(sk))
	m.Write([]byte("SDK-HMAC-SHA256\n" + d + "\n" + hex.EncodeToString(crSum[:])))
	req.Header.Set("Authorization", fmt.Sprintf("SDK-HMAC-SHA256 Access=%s, SignedHeaders=host;x-sdk-date, Signature=%x", ak, m.Sum(nil)))
}

// Two nodes on one PostgreSQL database: a signed create accepted by one
// node is refused when replayed, byte for byte, to the same node and to the
// other (which has never seen it), and only one order exists; a data-plane
// report likewise.
func TestMultiNode_SignatureReplay(t *testing.T) {
	dbURL := MustCreateSchema(t, MustTestURL(t))
	var nodes []*pfhttp.Server
	var stores []*postgres.DB
	for range 2 {
		store := MustOpenDBAt(t, dbURL, nil)
		srv := pfhttp.NewServer()
		srv.Addr, srv.Store, srv.Logger = ":0", store, slog.New(slog.DiscardHandler)
		srv.WebhookSecret = "multinode-secret"
		if err := srv.Open(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { srv.Close() })
		nodes, stores = append(nodes, srv), append(stores, store)
	}
	db := stores[0]
	ctx := context.Background()
	tn := MustCreateTenant(t, db, "acme")
	u := &phonefleet.User{TenantID: tn.ID, Name: "alice", Role: phonefleet.RoleAdmin, PasswordHash: phonefleet.HashPassword("pw-alice-123")}
	if err := db.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	ak, sk := phonefleet.NewAccessKey()
	if err := db.CreateAccessKey(ctx, &phonefleet.AccessKey{ID: ak, TenantID: tn.ID, UserID: u.ID, Secret: sk}); err != nil {
		t.Fatal(err)
	}

	body := []byte(fmt.Sprintf(`{"os":"AOSP14","instanceSkuId":"kp.pro.2u4g","bandSkuId":%q,"regionId":"cn-north-4",`+
		`"instanceNamePrefix":"rp","bandSize":4,"count":1,"chargeParam":{"chargingMode":1,"periodType":2,"periodNum":1,"isAutoPay":1}}`, phonefleet.BandSKUID))
	req, err := http.NewRequest("POST", nodes[0].URL()+"/v1/instances/create", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	signAKSK(req, body, ak, sk, time.Now())
	// send sends the captured request to node n, with its original Host.
	send := func(n int) (int, map[string]any) {
		r := req.Clone(ctx)
		r.URL.Host = strings.TrimPrefix(nodes[n].URL(), "http://")
		r.Host = req.URL.Host
		r.Body, r.ContentLength = io.NopCloser(strings.NewReader(string(body))), int64(len(body))
		resp, err := http.DefaultClient.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var env map[string]any
		json.NewDecoder(resp.Body).Decode(&env)
		return resp.StatusCode, env
	}
	if status, env := send(0); status != 200 || env["error_code"] != "0" {
		t.Fatalf("signed create on node 1: %d %v", status, env)
	}
	for _, n := range []int{1, 0, 1} {
		status, env := send(n)
		if status != 401 || env["error_code"] != phonefleet.EUnauthorized || env["error_msg"] != "Incorrect IAM authentication information: replayed request" {
			t.Fatalf("replay on node %d: %d %v, want 401 APIGW.0301 replayed request", n+1, status, env)
		}
	}
	if _, total, err := db.FindInstances(ctx, phonefleet.InstanceFilter{TenantID: tn.ID, Limit: 10}); err != nil || total != 1 {
		t.Fatalf("instances=%d, %v after one create replayed three times, want 1", total, err)
	}

	// A data-plane report accepted by node 1, sent again to node 2: refused
	// as a replay (not a no-op repeat), and to node 1 again as well.
	plan, err := db.StartCommands(ctx, &phonefleet.CommandRequest{TenantID: tn.ID, RequestID: "req-reboot",
		Type: phonefleet.CommandReboot, InstanceIDs: []string{mustInstanceID(t, db, tn.ID)}})
	if err != nil {
		t.Fatal(err)
	}
	path := "/v1/phonefleet/dataplane/jobs/" + plan.Commands[0].ID
	report := []byte(`{"state":"done"}`)
	sig := phonefleet.Sign([]byte("multinode-secret"), time.Now(), "POST", path, report)
	sendReport := func(n int) (int, map[string]any) {
		r, err := http.NewRequest("POST", nodes[n].URL()+path, strings.NewReader(string(report)))
		if err != nil {
			t.Fatal(err)
		}
		r.Header.Set("Content-Type", "application/json")
		r.Header.Set("X-Phonefleet-Signature", sig)
		resp, err := http.DefaultClient.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var env map[string]any
		json.NewDecoder(resp.Body).Decode(&env)
		return resp.StatusCode, env
	}
	if status, env := sendReport(0); status != 200 {
		t.Fatalf("report on node 1: %d %v", status, env)
	}
	for _, n := range []int{1, 0} {
		if status, env := sendReport(n); status != 401 || env["error_code"] != phonefleet.EBadSignature {
			t.Fatalf("replayed report on node %d: %d %v, want 401 %s", n+1, status, env, phonefleet.EBadSignature)
		}
	}
}

// mustInstanceID returns the ID of one of the tenant's instances.
func mustInstanceID(t *testing.T, db *postgres.DB, tenantID string) string {
	t.Helper()
	ins, _, err := db.FindInstances(context.Background(), phonefleet.InstanceFilter{TenantID: tenantID, Limit: 1})
	if err != nil || len(ins) != 1 {
		t.Fatalf("find instance: %v, %d", err, len(ins))
	}
	return ins[0].ID
}
