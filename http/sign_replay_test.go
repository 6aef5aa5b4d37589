package http_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/phonefleet/phonefleet"
)

// signedRequest sends a request signed with the key over the headers in
// signed, at the E2E clock's time, and returns the status and envelope.
func (e *E2E) signedRequest(tb testing.TB, method, path, body string, k *phonefleet.AccessKey, signed ...string) (int, Envelope) {
	tb.Helper()
	req := e.newSigned(tb, method, path, body, k, signed...)
	return sendRequest(tb, req, body)
}

// newSigned builds a request signed with the key at the E2E clock's time.
func (e *E2E) newSigned(tb testing.TB, method, path, body string, k *phonefleet.AccessKey, signed ...string) *http.Request {
	tb.Helper()
	req, err := http.NewRequest(method, e.URL()+path, strings.NewReader(body))
	if err != nil {
		tb.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("X-Project-Id", k.TenantID)
	testSign(req, []byte(body), k.ID, k.Secret, e.Now(), signed...)
	return req
}

// sendRequest sends req (again, with body) and returns the status and
// envelope.
func sendRequest(tb testing.TB, req *http.Request, body string) (int, Envelope) {
	tb.Helper()
	req = req.Clone(context.Background())
	req.Body, req.ContentLength = io.NopCloser(strings.NewReader(body)), int64(len(body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, (&Response{Body: b}).Envelope(tb)
}

// countInstances returns how many instances the tenant has.
func (e *E2E) countInstances(tb testing.TB, tenantID string) int {
	tb.Helper()
	_, n, err := e.DB.FindInstances(context.Background(), phonefleet.InstanceFilter{TenantID: tenantID, Limit: 100})
	if err != nil {
		tb.Fatal(err)
	}
	return n
}

// A signed request captured on the wire cannot be sent again: a create
// without X-Request-Id sent three times makes one order, the copies are
// 401 replayed requests; a signature that leaves out host is refused.
func TestSignedRequest_Replay(t *testing.T) {
	e := MustOpenE2E(t)
	tenantID, _ := e.MustTenant(t, "acme")
	key := e.MustAccessKey(t, e.MustUser(t, tenantID, "alice", phonefleet.RoleAdmin))
	body := fmt.Sprintf(`{"os":"AOSP14","instanceSkuId":"kp.pro.2u4g","bandSkuId":%q,"regionId":"cn-north-4",`+
		`"instanceNamePrefix":"rp","bandSize":4,"count":1,"chargeParam":{"chargingMode":1,"periodType":2,"periodNum":1,"isAutoPay":1}}`, phonefleet.BandSKUID)

	t.Run("SameNode", func(t *testing.T) {
		req := e.newSigned(t, "POST", "/v1/instances/create", body, key, "host", "x-project-id", "x-sdk-date")
		if status, env := sendRequest(t, req, body); status != 200 || env.Code != "0" {
			t.Fatalf("signed create: %d %+v", status, env)
		}
		for i := range 2 {
			status, env := sendRequest(t, req, body)
			if status != 401 || env.Code != phonefleet.EUnauthorized || env.Message != "Incorrect IAM authentication information: replayed request" {
				t.Fatalf("copy %d: %d %+v, want 401 APIGW.0301 replayed request", i+1, status, env)
			}
		}
		if n := e.countInstances(t, tenantID); n != 1 {
			t.Fatalf("instances=%d after one create sent three times, want 1", n)
		}
	})

	t.Run("HostNotSigned", func(t *testing.T) {
		for _, signed := range [][]string{{"x-project-id", "x-sdk-date"}, {"host", "x-project-id"}} {
			status, env := e.signedRequest(t, "GET", "/v3/auth/domains", "", key, signed...)
			if status != 401 || env.Code != phonefleet.EUnauthorized || env.Message != "Incorrect IAM authentication information: verify aksk signature fail" {
				t.Fatalf("SignedHeaders=%v: %d %+v, want 401 APIGW.0301", signed, status, env)
			}
		}
		// Told to (serve --aksk-unsigned-host, for Huawei's Go SDK), a
		// signature without host is accepted, once; the date must still be
		// signed.
		e.Server.AllowUnsignedHost = true
		defer func() { e.Server.AllowUnsignedHost = false }()
		e.Advance(time.Second)
		req := e.newSigned(t, "GET", "/v3/auth/domains", "", key, "x-project-id", "x-sdk-date")
		if status, env := sendRequest(t, req, ""); status != 200 {
			t.Fatalf("unsigned host allowed: %d %+v, want 200", status, env)
		}
		if status, env := sendRequest(t, req, ""); status != 401 || env.Message != "Incorrect IAM authentication information: replayed request" {
			t.Fatalf("unsigned host allowed, replayed: %d %+v, want 401 replayed request", status, env)
		}
		if status, env := e.signedRequest(t, "GET", "/v3/auth/domains", "", key, "host", "x-project-id"); status != 401 {
			t.Fatalf("unsigned host allowed, date not signed: %d %+v, want 401", status, env)
		}
	})
}
