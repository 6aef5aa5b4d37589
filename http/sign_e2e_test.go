package http_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/phonefleet/phonefleet"
)

// testSign signs req (whose body is body) as Huawei's SDKs do, with the
// headers in signed, at date. It is the test's own signer, written from the
// scheme's description.
func testSign(req *http.Request, body []byte, ak, sk string, date time.Time, signed ...string) {
	d := date.UTC().Format("20060102T150405Z")
	req.Header.Set("X-Sdk-Date", d)
	esc := func(s string) string {
		return strings.ReplaceAll(url.QueryEscape(s), "+", "%20")
	}
	segs := strings.Split(req.URL.Path, "/")
	for i := range segs {
		segs[i] = esc(segs[i])
	}
	uri := strings.Join(segs, "/")
	if !strings.HasSuffix(uri, "/") {
		uri += "/"
	}
	q := req.URL.Query()
	var keys []string
	for k := range q {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var qs []string
	for _, k := range keys {
		vs := q[k]
		sort.Strings(vs)
		for _, v := range vs {
			qs = append(qs, esc(k)+"="+esc(v))
		}
	}
	var hs strings.Builder
	for _, h := range signed {
		v := req.Header.Get(h)
		if h == "host" {
			v = req.URL.Host
		}
		hs.WriteString(h + ":" + strings.TrimSpace(v) + "\n")
	}
	bodySum := sha256.Sum256(body)
	canonical := strings.Join([]string{req.Method, uri, strings.Join(qs, "&"), hs.String(), strings.Join(signed, ";"), hex.EncodeToString(bodySum[:])}, "\n")
	crSum := sha256.Sum256([]byte(canonical))
	m := hmac.New(sha256.New, []byte(sk))
	m.Write([]byte("SDK-HMAC-SHA256\n" + d + "\n" + hex.EncodeToString(crSum[:])))
	req.Header.Set("Authorization", fmt.Sprintf("SDK-HMAC-SHA256 Access=%s, SignedHeaders=%s, Signature=%x", ak, strings.Join(signed, ";"), m.Sum(nil)))
}

// signedCall sends a request signed with the key at date; mutate, if not
// nil, changes the request after signing.
func (e *E2E) signedCall(tb testing.TB, method, path, body string, k *phonefleet.AccessKey, secret string, date time.Time, mutate func(*http.Request)) (int, Envelope) {
	tb.Helper()
	req, err := http.NewRequest(method, e.URL()+path, strings.NewReader(body))
	if err != nil {
		tb.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("X-Project-Id", k.TenantID)
	testSign(req, []byte(body), k.ID, secret, date, "host", "x-project-id", "x-sdk-date")
	if mutate != nil {
		mutate(req)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, (&Response{Body: b}).Envelope(tb)
}

// MustAccessKey creates an access key of the user.
func (e *E2E) MustAccessKey(tb testing.TB, u *phonefleet.User) *phonefleet.AccessKey {
	tb.Helper()
	id, secret := phonefleet.NewAccessKey()
	k := &phonefleet.AccessKey{ID: id, TenantID: u.TenantID, UserID: u.ID, Secret: secret}
	if err := e.DB.CreateAccessKey(context.Background(), k); err != nil {
		tb.Fatal(err)
	}
	return k
}

func TestSignedRequest(t *testing.T) {
	e := MustOpenE2E(t)
	tenantID, adminToken := e.MustTenant(t, "acme")
	alice := e.MustUser(t, tenantID, "alice", phonefleet.RoleAdmin)
	key := e.MustAccessKey(t, alice)
	deleteBody := func(id string) string { return fmt.Sprintf(`{"instanceIdList":[%q]}`, id) }
	const msgFail = "Incorrect IAM authentication information: verify aksk signature fail"

	t.Run("OK", func(t *testing.T) {
		id := e.MustBuy(t, adminToken, 1, 1)[0]
		before := e.MustStatuses(t, adminToken, id)
		if status, env := e.signedCall(t, "POST", "/v1/instances/delete", deleteBody(id), key, key.Secret, e.Now(), nil); status != 200 || env.Code != "0" {
			t.Fatalf("signed delete: %d %+v", status, env)
		}
		if got := e.MustStatuses(t, adminToken, id); got[0] == before[0] {
			t.Fatalf("instance %s still running after a signed delete", id)
		}
		events, _ := e.DB.FindAuditEvents(context.Background(), phonefleet.AuditFilter{Limit: 1})
		if events[0].UserName != "alice" || events[0].TokenID != key.ID {
			t.Fatalf("audit=%+v, want alice with her key", events[0])
		}
		// A query string and an empty body; the skew allowance.
		if status, env := e.signedCall(t, "GET", "/v1/instances/batch-query?page_no=1&page_size=10", "", key, key.Secret, e.Now().Add(-14*time.Minute), nil); status != 200 {
			t.Fatalf("signed query: %d %+v", status, env)
		}
		if status, _ := e.signedCall(t, "GET", "/v3/projects?name=cn-north-4", "", key, key.Secret, e.Now().Add(14*time.Minute), nil); status != 200 {
			t.Fatalf("signed projects: %d", status)
		}
	})

	t.Run("ErrRefused", func(t *testing.T) {
		other := e.MustAccessKey(t, alice)
		if err := e.DB.DeleteAccessKey(context.Background(), other.ID); err != nil {
			t.Fatal(err)
		}
		dora := e.MustUser(t, tenantID, "dora", phonefleet.RoleAdmin)
		doraKey := e.MustAccessKey(t, dora)
		if _, err := e.DB.UpdateUser(context.Background(), dora.ID, phonefleet.UserUpdate{Disabled: ptr(true)}); err != nil {
			t.Fatal(err)
		}
		id := e.MustBuy(t, adminToken, 1, 1)[0]
		before := e.MustStatuses(t, adminToken, id)
		body := deleteBody(id)
		// Each case has a key of its own (nil: a fresh key of alice's), so
		// that the lockout does not mix in.
		for _, tc := range []struct {
			name        string
			key         *phonefleet.AccessKey
			wrongSecret bool
			skew        time.Duration
			mutate      func(*http.Request)
		}{
			{"WrongSecret", nil, true, 0, nil},
			{"Skew", nil, false, -16 * time.Minute, nil},
			{"FutureSkew", nil, false, 16 * time.Minute, nil},
			{"DeletedKey", other, false, 0, nil},
			{"DisabledUser", doraKey, false, 0, nil},
			{"OtherBody", nil, false, 0, func(r *http.Request) {
				b := `{"instanceIdList":["zzzzzzzz"]}`
				r.Body, r.ContentLength = io.NopCloser(strings.NewReader(b)), int64(len(b))
			}},
			{"OtherQuery", nil, false, 0, func(r *http.Request) { r.URL.RawQuery = "dry_run=false" }},
			{"OtherSignedHeader", nil, false, 0, func(r *http.Request) { r.Header.Set("X-Project-Id", "tnother") }},
			{"NoDate", nil, false, 0, func(r *http.Request) { r.Header.Del("X-Sdk-Date") }},
			{"Malformed", nil, false, 0, func(r *http.Request) { r.Header.Set("Authorization", "SDK-HMAC-SHA256 Access="+key.ID) }},
		} {
			k := tc.key
			if k == nil {
				k = e.MustAccessKey(t, alice)
			}
			secret := k.Secret
			if tc.wrongSecret {
				secret += "x"
			}
			status, env := e.signedCall(t, "POST", "/v1/instances/delete", body, k, secret, e.Now().Add(tc.skew), tc.mutate)
			if status != 401 || env.Code != phonefleet.EUnauthorized || env.Message != msgFail || env.RequestID == "" {
				t.Fatalf("%s: %d %+v, want 401 APIGW.0301 %q", tc.name, status, env, msgFail)
			}
		}
		if got := e.MustStatuses(t, adminToken, id); got[0] != before[0] {
			t.Fatalf("instance %s changed by refused requests: %v", id, got)
		}
	})

	t.Run("Lockout", func(t *testing.T) {
		k := e.MustAccessKey(t, alice)
		for range 5 {
			if status, env := e.signedCall(t, "GET", "/v3/auth/domains", "", k, "wrong-secret", e.Now(), nil); status != 401 || env.Message != msgFail {
				t.Fatalf("wrong secret: %d %+v", status, env)
			}
		}
		status, env := e.signedCall(t, "GET", "/v3/auth/domains", "", k, k.Secret, e.Now(), nil)
		if want := "Incorrect IAM authentication information: AK access failed to reach the limit,forbidden"; status != 401 || env.Message != want {
			t.Fatalf("locked key: %d %+v, want %q", status, env, want)
		}
		if status, _ := e.signedCall(t, "GET", "/v3/auth/domains", "", key, key.Secret, e.Now(), nil); status != 200 {
			t.Fatalf("another key: %d", status)
		}
		e.Advance(5 * time.Minute)
		if status, env := e.signedCall(t, "GET", "/v3/auth/domains", "", k, k.Secret, e.Now(), nil); status != 200 {
			t.Fatalf("after 5 minutes: %d %+v", status, env)
		}
	})

	t.Run("TokenPreferred", func(t *testing.T) {
		withToken := func(tok string) func(*http.Request) {
			return func(r *http.Request) { r.Header.Set("X-Auth-Token", tok) }
		}
		if status, _ := e.signedCall(t, "GET", "/v3/auth/domains", "", key, "wrong-secret", e.Now(), withToken(adminToken)); status != 200 {
			t.Fatalf("valid token, bad signature: %d, want 200", status)
		}
		if status, env := e.signedCall(t, "GET", "/v3/auth/domains", "", key, key.Secret, e.Now(), withToken("tkbogus.x")); status != 401 || env.Message != "Incorrect IAM authentication information: token is invalid" {
			t.Fatalf("bad token, valid signature: %d %+v, want the token's 401", status, env)
		}
	})

	t.Run("ViewerKey", func(t *testing.T) {
		vk := e.MustAccessKey(t, e.MustUser(t, tenantID, "victor", phonefleet.RoleViewer))
		status, env := e.signedCall(t, "POST", "/v1/instances/delete", deleteBody("abc12345"), vk, vk.Secret, e.Now(), nil)
		if status != 400 || env.Code != phonefleet.EForbidden {
			t.Fatalf("viewer key delete: %d %+v, want 1001", status, env)
		}
	})

	t.Run("BodyTooLarge", func(t *testing.T) {
		big := `{"instanceIdList":["` + strings.Repeat("a", 1<<20) + `"]}`
		status, env := e.signedCall(t, "POST", "/v1/instances/delete", big, key, key.Secret, e.Now(), nil)
		if status != 413 || env.Code != phonefleet.EInvalid {
			t.Fatalf("oversized signed body: %d %+v, want 413", status, env)
		}
	})
}
