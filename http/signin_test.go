package http_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/phonefleet/phonefleet"
	pfhttp "github.com/phonefleet/phonefleet/http"
)

// lockoutReset is long enough for a run of failures to be forgotten and a
// lock to end.
const lockoutReset = 16 * time.Minute

// signInAnswer is the status and IAM error message of one sign-in.
type signInAnswer struct {
	status int
	msg    string
}

// signIn posts an IAM body with the extra headers (name, value pairs); it
// may run in any goroutine and reports a transport failure as status 0.
func signIn(url, body string, header ...string) signInAnswer {
	req, err := http.NewRequest("POST", url+"/v3/auth/tokens", strings.NewReader(body))
	if err != nil {
		return signInAnswer{msg: err.Error()}
	}
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return signInAnswer{msg: err.Error()}
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var e iamError
	json.Unmarshal(b, &e)
	return signInAnswer{status: resp.StatusCode, msg: e.Error.Message}
}

// heldChecks replaces the server's password check by one that counts the
// checks, closes tooMany once more than limit have started, and holds each
// until release is closed. The check itself compares with testPassword
// (no Argon2id), so a broken limit cannot exhaust memory.
type heldChecks struct {
	limit   int
	started atomic.Int64
	tooMany chan struct{}
	release chan struct{}
	once    sync.Once
}

func holdChecks(t *testing.T, s *pfhttp.Server, limit int) *heldChecks {
	h := &heldChecks{limit: limit, tooMany: make(chan struct{}), release: make(chan struct{})}
	pfhttp.SetVerifyPassword(s, func(hash, password string) bool {
		if h.started.Add(1) > int64(h.limit) {
			h.once.Do(func() { close(h.tooMany) })
		}
		<-h.release
		return hash == testHash() && password == testPassword
	})
	// Cleanups run last first: the held checks end before the server
	// closes.
	t.Cleanup(h.free)
	return h
}

func (h *heldChecks) free() {
	select {
	case <-h.release:
	default:
		close(h.release)
	}
}

// manyChecks is a server option for concurrency tests: enough password
// slots that nothing but the lockouts limits how many checks start.
func manyChecks(s *pfhttp.Server) { s.PasswordSlots = 200 }

// waitRefused collects answers until want of them are 429, and fails if
// another answer comes first or more than h.limit checks start.
func waitRefused(t *testing.T, h *heldChecks, answers <-chan signInAnswer, want int, msg string) {
	t.Helper()
	for n := 0; n < want; {
		select {
		case a := <-answers:
			if a.status != 429 || !strings.Contains(a.msg, msg) {
				t.Fatalf("while %d checks are in progress: answer %d %q, want 429 %q", h.limit, a.status, a.msg, msg)
			}
			n++
		case <-h.tooMany:
			t.Fatalf("more than %d password checks started at once", h.limit)
		}
	}
}

// Simultaneous sign-ins reserve their attempt before the password is
// checked: of 29 wrong passwords for one name and then the right one, at
// most 5 are checked; the others, the right one included, are 429 at once.
func TestIAMToken_ConcurrentName(t *testing.T) {
	e := mustOpenE2E(t, false, manyChecks)
	tenantID, _ := e.MustTenant(t, "acme")
	e.MustUser(t, tenantID, "alice", phonefleet.RoleAdmin)
	h := holdChecks(t, e.Server, 5)

	answers := make(chan signInAnswer, 30)
	for range 29 {
		go func() { answers <- signIn(e.URL(), iamBody("acme", "alice", "wrong password", "")) }()
	}
	waitRefused(t, h, answers, 24, "locked")
	// The right password, after the five reservations: refused unchecked.
	if a := signIn(e.URL(), iamBody("acme", "alice", testPassword, "")); a.status != 429 || !strings.Contains(a.msg, "locked") {
		t.Fatalf("right password while 5 wrong ones are checked: %d %q, want 429", a.status, a.msg)
	}
	h.free()
	for range 5 {
		if a := <-answers; a.status != 401 {
			t.Fatalf("a checked wrong password: %d %q, want 401", a.status, a.msg)
		}
	}
	if n := h.started.Load(); n != 5 {
		t.Fatalf("%d password checks, want 5", n)
	}
	// The five failures lock the name.
	if a := signIn(e.URL(), iamBody("acme", "alice", testPassword, "")); a.status != 429 || h.started.Load() != 5 {
		t.Fatalf("right password after 5 failures: %d %q (%d checks), want 429 unchecked", a.status, a.msg, h.started.Load())
	}
}

// 150 simultaneous sign-ins from one address for as many names get at most
// the address's 20 password checks; the rest are 429 at once.
func TestIAMToken_ConcurrentAddress(t *testing.T) {
	e := mustOpenE2E(t, false, manyChecks)
	tenantID, _ := e.MustTenant(t, "acme")
	e.MustUser(t, tenantID, "alice", phonefleet.RoleAdmin)
	h := holdChecks(t, e.Server, 20)

	answers := make(chan signInAnswer, 150)
	for i := range 150 {
		go func() { answers <- signIn(e.URL(), iamBody("acme", fmt.Sprintf("user%d", i), "wrong password", "")) }()
	}
	waitRefused(t, h, answers, 130, "this address")
	h.free()
	for range 20 {
		if a := <-answers; a.status != 401 {
			t.Fatalf("a checked sign-in: %d %q, want 401", a.status, a.msg)
		}
	}
	if n := h.started.Load(); n != 20 {
		t.Fatalf("%d password checks, want 20", n)
	}
	if a := signIn(e.URL(), iamBody("acme", "alice", testPassword, "")); a.status != 429 || !strings.Contains(a.msg, "this address") {
		t.Fatalf("right password after 20 failures from the address: %d %q, want 429", a.status, a.msg)
	}
}

// A success ends its reservation and the name's run of failures; a store
// failure ends the reservation without counting as a failure.
func TestIAMToken_ReservationReleased(t *testing.T) {
	e := MustOpenE2E(t)
	tenantID, _ := e.MustTenant(t, "acme")
	e.MustUser(t, tenantID, "alice", phonefleet.RoleAdmin)
	for range 3 {
		for range 4 {
			if a := signIn(e.URL(), iamBody("acme", "alice", "wrong password", "")); a.status != 401 {
				t.Fatalf("wrong password: %d %q", a.status, a.msg)
			}
		}
		if a := signIn(e.URL(), iamBody("acme", "alice", testPassword, "")); a.status != 201 {
			t.Fatalf("right password after 4 failures: %d %q, want 201", a.status, a.msg)
		}
	}
}

// With the load balancer's address trusted, each client is limited by the
// right-most address of X-Forwarded-For that is not a trusted proxy: 20
// failures of other clients do not lock out a real user. An untrusted peer's
// X-Forwarded-For is ignored, so a client cannot spoof its way past the
// per-address limit.
func TestIAMToken_TrustedProxies(t *testing.T) {
	loopback := func(s *pfhttp.Server) { s.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")} }
	other := func(s *pfhttp.Server) { s.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")} }

	t.Run("BehindProxy", func(t *testing.T) {
		e := mustOpenE2E(t, false, loopback)
		tenantID, _ := e.MustTenant(t, "acme")
		e.MustUser(t, tenantID, "alice", phonefleet.RoleAdmin)
		for i := range 20 {
			// A client's own X-Forwarded-For claim is kept to the left of
			// the address the proxy appends.
			xff := fmt.Sprintf("198.51.100.1, 203.0.113.%d", i+1)
			if a := signIn(e.URL(), iamBody("acme", fmt.Sprintf("user%d", i), "wrong password", ""), "X-Forwarded-For", xff); a.status != 401 {
				t.Fatalf("failure %d: %d %q, want 401", i, a.status, a.msg)
			}
		}
		if a := signIn(e.URL(), iamBody("acme", "alice", testPassword, ""), "X-Forwarded-For", "192.0.2.7, 127.0.0.1"); a.status != 201 {
			t.Fatalf("real user behind the proxy: %d %q, want 201", a.status, a.msg)
		}
		// One forwarded address is still limited on its own.
		for i := range 20 {
			signIn(e.URL(), iamBody("acme", fmt.Sprintf("spray%d", i), "wrong password", ""), "X-Forwarded-For", "203.0.113.99")
		}
		if a := signIn(e.URL(), iamBody("acme", "alice", testPassword, ""), "X-Forwarded-For", "203.0.113.99"); a.status != 429 || !strings.Contains(a.msg, "this address") {
			t.Fatalf("after 20 failures of one forwarded address: %d %q, want 429", a.status, a.msg)
		}
	})
	for _, tc := range []struct {
		name      string
		configure func(*pfhttp.Server)
	}{{"NoneTrusted", func(*pfhttp.Server) {}}, {"PeerNotTrusted", other}} {
		t.Run(tc.name, func(t *testing.T) {
			e := mustOpenE2E(t, false, tc.configure)
			tenantID, _ := e.MustTenant(t, "acme")
			e.MustUser(t, tenantID, "alice", phonefleet.RoleAdmin)
			for i := range 20 {
				signIn(e.URL(), iamBody("acme", fmt.Sprintf("user%d", i), "wrong password", ""), "X-Forwarded-For", fmt.Sprintf("203.0.113.%d", i+1))
			}
			if a := signIn(e.URL(), iamBody("acme", "alice", testPassword, ""), "X-Forwarded-For", "192.0.2.7"); a.status != 429 || !strings.Contains(a.msg, "this address") {
				t.Fatalf("spoofed X-Forwarded-For from an untrusted peer: %d %q, want 429", a.status, a.msg)
			}
		})
	}
}

// The audit trail records the client address: the forwarded one behind a
// trusted proxy, for successes and failures, in the store and in GET
// /v1/phonefleet/audit.
func TestAudit_ClientAddr(t *testing.T) {
	e := mustOpenE2E(t, false, func(s *pfhttp.Server) {
		s.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}
	})
	_, token := e.MustTenant(t, "acme")
	ids := e.MustBuy(t, token, 1, 1)
	post := func(body, xff string) {
		t.Helper()
		req, _ := http.NewRequest("POST", e.URL()+"/v1/instances/delete", bytes.NewBufferString(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Auth-Token", token)
		req.Header.Set("X-Forwarded-For", xff)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	post(`{"instanceIdList":["`+ids[0]+`"]}`, "2001:db8::1")
	post(`{"instanceIdList":[]}`, "192.0.2.9, 127.0.0.1")

	events, err := e.DB.FindAuditEvents(t.Context(), phonefleet.AuditFilter{})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"192.0.2.9", "2001:db8::1", "127.0.0.1"} // newest first; the purchase came directly
	if len(events) != 3 {
		t.Fatalf("%d audit events, want 3", len(events))
	}
	for i, ev := range events {
		if ev.ClientAddr != want[i] {
			t.Fatalf("event %d (%s %s): client address %q, want %q", i, ev.Action, ev.ErrorCode, ev.ClientAddr, want[i])
		}
	}
	_, b, _ := e.Call(t, "GET", "/v1/phonefleet/audit?page_no=1&page_size=10", token, "", "", nil)
	var page struct {
		Data struct {
			Result []struct {
				ClientAddr *string `json:"client_addr"`
			} `json:"result"`
		} `json:"data"`
	}
	if err := json.Unmarshal(b, &page); err != nil || len(page.Data.Result) != 3 {
		t.Fatalf("audit page %s: %v", b, err)
	}
	for i, it := range page.Data.Result {
		if it.ClientAddr == nil || *it.ClientAddr != want[i] {
			t.Fatalf("audit item %d: client_addr %v, want %q (%s)", i, it.ClientAddr, want[i], b)
		}
	}
}

// A sign-in whose scope names another domain, or a project of another
// tenant, is refused like a wrong password, after the same work.
func TestIAMToken_Scope(t *testing.T) {
	e := MustOpenE2E(t)
	acmeID, _ := e.MustTenant(t, "acme")
	globexID, _ := e.MustTenant(t, "globex")
	e.MustUser(t, acmeID, "alice", phonefleet.RoleAdmin)
	var checks atomic.Int64
	pfhttp.SetVerifyPassword(e.Server, func(hash, password string) bool {
		checks.Add(1)
		return phonefleet.VerifyPassword(hash, password)
	})
	body := func(scope string) string {
		return fmt.Sprintf(`{"auth":{"identity":{"methods":["password"],"password":{"user":{"name":"alice","password":%q,"domain":{"name":"acme"}}}},"scope":%s}}`,
			testPassword, scope)
	}
	for _, tc := range []struct {
		name, scope string
		status      int
	}{
		{"OwnDomainName", `{"domain":{"name":"acme"}}`, 201},
		{"OwnDomainID", `{"domain":{"id":"` + acmeID + `"}}`, 201},
		{"Region", `{"project":{"name":"cn-north-4"}}`, 201},
		{"OwnProjectID", `{"project":{"id":"` + acmeID + `"}}`, 201},
		{"RegionOfOwnDomain", `{"project":{"name":"cn-north-4","domain":{"name":"acme"}}}`, 201},
		{"OtherDomainName", `{"domain":{"name":"globex"}}`, 401},
		{"OtherDomainID", `{"domain":{"id":"` + globexID + `"}}`, 401},
		{"OwnNameOtherID", `{"domain":{"name":"acme","id":"` + globexID + `"}}`, 401},
		{"UnknownDomain", `{"domain":{"name":"initech"}}`, 401},
		{"OtherProjectID", `{"project":{"id":"` + globexID + `"}}`, 401},
		{"RegionOfOtherDomain", `{"project":{"name":"cn-north-4","domain":{"name":"globex"}}}`, 401},
		{"RegionOfOtherDomainID", `{"project":{"name":"cn-north-4","domain":{"id":"` + globexID + `"}}}`, 401},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := checks.Load()
			resp := e.login(t, "", body(tc.scope))
			if tc.status == 401 {
				wantIAMError(t, resp, 401, "The username or password is wrong.")
			} else if resp.StatusCode != tc.status {
				t.Fatalf("status=%d %s, want %d", resp.StatusCode, resp.Body, tc.status)
			}
			if n := checks.Load() - before; n != 1 {
				t.Fatalf("%d password checks, want 1", n)
			}
		})
		if tc.status == 401 {
			// Refused scopes count as failures: start each case afresh.
			e.Advance(lockoutReset)
		}
	}
}

// A sign-in that could not be checked (the store failed) gives its
// reservations back without counting as a failure: 30 in a row leave the
// name and the address free.
func TestIAMToken_StoreFailureReleases(t *testing.T) {
	var fail atomic.Bool
	fail.Store(true)
	hash := testHash()
	s := MustOpenServer(t, func(s *TestServer) {
		s.Store.FindUserFn = func(ctx context.Context, tenantName, name string) (*phonefleet.User, error) {
			if fail.Load() {
				return nil, errors.New("database is down")
			}
			return &phonefleet.User{ID: "u1", TenantID: "t1", TenantName: tenantName, Name: name, Role: phonefleet.RoleAdmin, PasswordHash: hash}, nil
		}
		s.Store.CreateTokenFn = func(ctx context.Context, tok *phonefleet.Token) error { return nil }
	})
	for i := range 30 {
		if a := signIn(s.URL(), iamBody("acme", "alice", "wrong password", "")); a.status != 500 {
			t.Fatalf("sign-in %d with the store down: %d %q, want 500", i, a.status, a.msg)
		}
	}
	fail.Store(false)
	if a := signIn(s.URL(), iamBody("acme", "alice", testPassword, "")); a.status != 201 {
		t.Fatalf("after 30 store failures: %d %q, want 201", a.status, a.msg)
	}
}
