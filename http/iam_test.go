package http_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/phonefleet/phonefleet"
	pfhttp "github.com/phonefleet/phonefleet/http"
)

// testPassword is the password of every test user.
const testPassword = "correct horse battery"

// MustUser creates a user of the tenant with testPassword.
func (e *E2E) MustUser(tb testing.TB, tenantID, name, role string) *phonefleet.User {
	tb.Helper()
	u := &phonefleet.User{TenantID: tenantID, Name: name, Role: role, PasswordHash: testHash()}
	if err := e.DB.CreateUser(context.Background(), u); err != nil {
		tb.Fatal(err)
	}
	return u
}

var testHash = sync.OnceValue(func() string { return phonefleet.HashPassword(testPassword) })

// iamBody is the IAM password body, scoped to the project (region) if
// not empty, else to the domain.
func iamBody(domain, user, password, project string) string {
	scope := fmt.Sprintf(`{"domain":{"name":%q}}`, domain)
	if project != "" {
		scope = fmt.Sprintf(`{"project":{"name":%q}}`, project)
	}
	return fmt.Sprintf(`{"auth":{"identity":{"methods":["password"],"password":{"user":{"name":%q,"password":%q,"domain":{"name":%q}}}},"scope":%s}}`,
		user, password, domain, scope)
}

// iamError is the Keystone error body.
type iamError struct {
	Error struct {
		Code    int    `json:"code"`
		Title   string `json:"title"`
		Message string `json:"message"`
	} `json:"error"`
}

// login posts the body to /v3/auth/tokens.
func (e *E2E) login(tb testing.TB, query, body string, header ...string) *Response {
	tb.Helper()
	h := map[string]string{"Content-Type": "application/json;charset=UTF-8"}
	for i := 0; i+1 < len(header); i += 2 {
		h[header[i]] = header[i+1]
	}
	return doRequest(tb, "POST", e.URL()+"/v3/auth/tokens"+query, h, body)
}

// wantIAMError fails unless resp is the Keystone error body with status and
// a message containing msg.
func wantIAMError(tb testing.TB, resp *Response, status int, msg string) {
	tb.Helper()
	var got iamError
	if err := json.Unmarshal(resp.Body, &got); err != nil {
		tb.Fatalf("body %s: %v", resp.Body, err)
	}
	if resp.StatusCode != status || got.Error.Code != status || got.Error.Title == "" || !strings.Contains(got.Error.Message, msg) {
		tb.Fatalf("answer %d %s, want %d with a message containing %q", resp.StatusCode, resp.Body, status, msg)
	}
	if resp.Header.Get("X-Subject-Token") != "" {
		tb.Fatal("an error carries X-Subject-Token")
	}
}

func TestIAMToken(t *testing.T) {
	e := MustOpenE2E(t)
	tenantID, adminToken := e.MustTenant(t, "acme")
	alice := e.MustUser(t, tenantID, "alice", phonefleet.RoleAdmin)
	e.MustUser(t, tenantID, "victor", phonefleet.RoleViewer)

	t.Run("OK", func(t *testing.T) {
		// Huawei's SDK signs this call with its AK/SK; it is ignored.
		resp := e.login(t, "", iamBody("acme", "alice", testPassword, "cn-north-4"),
			"Authorization", "SDK-HMAC-SHA256 Access=X, SignedHeaders=host, Signature=00")
		if resp.StatusCode != 201 {
			t.Fatalf("status=%d %s, want 201", resp.StatusCode, resp.Body)
		}
		token := resp.Header.Get("X-Subject-Token")
		if token == "" {
			t.Fatal("no X-Subject-Token")
		}
		var body struct {
			Token struct {
				ExpiresAt string   `json:"expires_at"`
				IssuedAt  string   `json:"issued_at"`
				Methods   []string `json:"methods"`
				Project   struct {
					ID, Name string
					Domain   struct{ ID, Name string }
				} `json:"project"`
				Roles []struct{ Name string } `json:"roles"`
				User  struct {
					ID, Name string
					Domain   struct{ ID, Name string }
				} `json:"user"`
				Catalog []struct {
					Type      string
					Endpoints []struct{ URL string }
				} `json:"catalog"`
			} `json:"token"`
		}
		if err := json.Unmarshal(resp.Body, &body); err != nil {
			t.Fatal(err)
		}
		tk := body.Token
		issued, err1 := time.Parse("2006-01-02T15:04:05.000000Z", tk.IssuedAt)
		expires, err2 := time.Parse("2006-01-02T15:04:05.000000Z", tk.ExpiresAt)
		switch {
		case err1 != nil || err2 != nil || !issued.Equal(e.Now().Truncate(time.Microsecond)) || expires.Sub(issued) != 24*time.Hour:
			t.Fatalf("issued_at=%q expires_at=%q, want now and 24h later with microseconds", tk.IssuedAt, tk.ExpiresAt)
		case fmt.Sprint(tk.Methods) != "[password]":
			t.Fatalf("methods=%v", tk.Methods)
		case tk.Project.ID != tenantID || tk.Project.Name != "cn-north-4" || tk.Project.Domain.ID != tenantID || tk.Project.Domain.Name != "acme":
			t.Fatalf("project=%+v", tk.Project)
		case len(tk.Roles) != 1 || tk.Roles[0].Name != "admin":
			t.Fatalf("roles=%+v", tk.Roles)
		case tk.User.ID != alice.ID || tk.User.Name != "alice" || tk.User.Domain.Name != "acme":
			t.Fatalf("user=%+v", tk.User)
		case len(tk.Catalog) != 1 || len(tk.Catalog[0].Endpoints) != 1 || tk.Catalog[0].Endpoints[0].URL != e.URL():
			t.Fatalf("catalog=%+v, want this server", tk.Catalog)
		}

		// The token works, and the audit trail names the user.
		ids := e.MustBuy(t, adminToken, 1, 1)
		status, b, _ := e.Call(t, "POST", "/v1/instances/delete", token, fmt.Sprintf(`{"instanceIdList":[%q]}`, ids[0]), "req-alice", nil)
		if status != 200 {
			t.Fatalf("delete with alice's token: %d %s", status, b)
		}
		events, err := e.DB.FindAuditEvents(context.Background(), phonefleet.AuditFilter{Limit: 1})
		if err != nil {
			t.Fatal(err)
		}
		if ev := events[0]; ev.RequestID != "req-alice" || ev.UserName != "alice" {
			t.Fatalf("audit event=%+v, want alice's delete", ev)
		}
	})

	t.Run("NoCatalog", func(t *testing.T) {
		for _, q := range []string{"?nocatalog=true", "?nocatalog=1"} {
			resp := e.login(t, q, iamBody("acme", "alice", testPassword, ""))
			if resp.StatusCode != 201 || strings.Contains(string(resp.Body), "catalog") {
				t.Fatalf("%s: %d %s, want 201 without a catalog", q, resp.StatusCode, resp.Body)
			}
			if !strings.Contains(string(resp.Body), `"domain":{"id":"`+tenantID) {
				t.Fatalf("domain-scoped token without its domain: %s", resp.Body)
			}
		}
	})

	t.Run("ViewerRole", func(t *testing.T) {
		resp := e.login(t, "", iamBody("acme", "victor", testPassword, "cn-north-4"))
		token := resp.Header.Get("X-Subject-Token")
		if resp.StatusCode != 201 || !strings.Contains(string(resp.Body), `"roles":[{"id":"viewer","name":"viewer"}]`) {
			t.Fatalf("viewer login: %d %s", resp.StatusCode, resp.Body)
		}
		if status, _, _ := e.Call(t, "GET", "/v1/instances/batch-query?page_no=1&page_size=10", token, "", "", nil); status != 200 {
			t.Fatalf("viewer query: %d", status)
		}
		status, _, env := e.Call(t, "POST", "/v1/instances/delete", token, `{"instanceIdList":["abc12345"]}`, "", nil)
		if status != 400 || env.Code != phonefleet.EForbidden {
			t.Fatalf("viewer delete: %d %s, want 1001", status, env.Code)
		}
	})

	t.Run("ErrWrongCredentials", func(t *testing.T) {
		if _, err := e.DB.UpdateUser(context.Background(), e.MustUser(t, tenantID, "dora", phonefleet.RoleAdmin).ID,
			phonefleet.UserUpdate{Disabled: ptr(true)}); err != nil {
			t.Fatal(err)
		}
		var first []byte
		for _, body := range []string{
			iamBody("acme", "alice", "wrong password", "cn-north-4"),
			iamBody("acme", "nobody", testPassword, "cn-north-4"),
			iamBody("globex", "alice", testPassword, "cn-north-4"),
			iamBody("acme", "dora", testPassword, "cn-north-4"), // disabled
		} {
			resp := e.login(t, "", body)
			wantIAMError(t, resp, 401, "The username or password is wrong.")
			if first == nil {
				first = resp.Body
			} else if string(resp.Body) != string(first) {
				t.Fatalf("answers differ: %s vs %s", resp.Body, first)
			}
		}
	})

	t.Run("ErrBadRequest", func(t *testing.T) {
		for _, tc := range []struct{ query, body, msg string }{
			{"", `[]`, "must be a JSON object"},
			{"", `{}`, "auth is required"},
			{"", `{"auth":{"identity":{"methods":["token"]}}}`, `auth.identity.methods must be ["password"]`},
			{"", `{"auth":{"identity":{"methods":"password"}}}`, "auth.identity.methods must be an array"},
			{"", `{"auth":{"identity":{"methods":["password"]}}}`, "auth.identity.password is required"},
			{"", `{"auth":{"identity":{"methods":["password"],"password":{"user":{"name":"a","password":"b"}}}}}`, "auth.identity.password.user.domain is required"},
			{"", `{"auth":{"identity":{"methods":["password"],"password":{"user":{"name":1,"password":"b","domain":{"name":"acme"}}}}}}`, "auth.identity.password.user.name must be a string"},
			{"", `{"auth":{"identity":{"methods":["password"],"password":{"user":{"name":"a","Password":"b","domain":{"name":"acme"}}}}}}`, `auth.identity.password.user: member "Password" is not known (did you mean "password"?)`},
			{"", `{"auth":{"identity":{"methods":["password"],"password":{"user":{"name":"a","password":"b","domain":{"name":"acme"}}}},"scope":{"project":{}}}}`, "auth.scope.project needs a name or an id"},
			{"?no_catalog=true", iamBody("acme", "alice", testPassword, ""), `unknown query parameter "no_catalog"`},
		} {
			wantIAMError(t, e.login(t, tc.query, tc.body), 400, tc.msg)
		}
		resp := doRequest(t, "POST", e.URL()+"/v3/auth/tokens", map[string]string{"Content-Type": "text/plain"}, iamBody("acme", "alice", testPassword, ""))
		wantIAMError(t, resp, 400, "Content-Type")
	})
}

// A sign-in for an unknown user does the same hashing work as one with a
// wrong password: one Argon2id verification, against a hash of the same
// parameters.
func TestIAMToken_EqualWork(t *testing.T) {
	e := MustOpenE2E(t)
	tenantID, _ := e.MustTenant(t, "acme")
	e.MustUser(t, tenantID, "alice", phonefleet.RoleAdmin)
	var mu sync.Mutex
	var hashes []string
	pfhttp.SetVerifyPassword(e.Server, func(hash, password string) bool {
		mu.Lock()
		hashes = append(hashes, hash)
		mu.Unlock()
		return phonefleet.VerifyPassword(hash, password)
	})
	params := func(h string) string { return h[:strings.LastIndex(h[:strings.LastIndex(h, "$")], "$")] }

	for _, tc := range []struct{ name, domain, user string }{
		{"WrongPassword", "acme", "alice"},
		{"UnknownUser", "acme", "nobody"},
		{"UnknownTenant", "globex", "alice"},
	} {
		hashes = nil
		wantIAMError(t, e.login(t, "", iamBody(tc.domain, tc.user, "wrong password", "")), 401, "wrong")
		if len(hashes) != 1 {
			t.Fatalf("%s: %d password verifications, want 1", tc.name, len(hashes))
		}
		if got, want := params(hashes[0]), params(testHash()); got != want {
			t.Fatalf("%s: verified against %q parameters, want %q", tc.name, got, want)
		}
	}
}

// Five failures in a row lock a name, whether it exists or not, for 5
// minutes of wall time; a success in between starts over.
func TestIAMToken_Lockout(t *testing.T) {
	e := MustOpenE2E(t)
	tenantID, _ := e.MustTenant(t, "acme")
	e.MustUser(t, tenantID, "alice", phonefleet.RoleAdmin)
	e.MustUser(t, tenantID, "bob", phonefleet.RoleAdmin)
	wrong := func(user string) {
		wantIAMError(t, e.login(t, "", iamBody("acme", user, "wrong password", "")), 401, "wrong")
	}
	right := func(user string) *Response { return e.login(t, "", iamBody("acme", user, testPassword, "")) }

	for range 4 {
		wrong("alice")
	}
	if resp := right("alice"); resp.StatusCode != 201 {
		t.Fatalf("after 4 failures: %d %s, want 201", resp.StatusCode, resp.Body)
	}
	for i := range 5 {
		wrong("alice") // the fifth failure is still answered 401, and locks
		_ = i
	}
	wantIAMError(t, right("alice"), 429, "locked")
	if resp := right("bob"); resp.StatusCode != 201 {
		t.Fatalf("another user: %d, want 201", resp.StatusCode)
	}
	for range 5 {
		wrong("nobody")
	}
	wantIAMError(t, e.login(t, "", iamBody("acme", "nobody", testPassword, "")), 429, "locked")

	e.Advance(5*time.Minute - time.Second)
	wantIAMError(t, right("alice"), 429, "locked")
	e.Advance(time.Second)
	if resp := right("alice"); resp.StatusCode != 201 {
		t.Fatalf("after 5 minutes: %d %s, want 201", resp.StatusCode, resp.Body)
	}
}

// One client address cannot spray many names.
func TestIAMToken_AddressLimit(t *testing.T) {
	e := MustOpenE2E(t)
	tenantID, _ := e.MustTenant(t, "acme")
	e.MustUser(t, tenantID, "alice", phonefleet.RoleAdmin)
	for i := range 20 {
		wantIAMError(t, e.login(t, "", iamBody("acme", fmt.Sprintf("user%d", i), "wrong password", "")), 401, "wrong")
	}
	wantIAMError(t, e.login(t, "", iamBody("acme", "alice", testPassword, "")), 429, "this address")
}

// Disabling a user or changing the password ends the user's tokens within
// the token cache's TTL.
func TestIAMToken_Invalidation(t *testing.T) {
	for _, tc := range []struct {
		name string
		upd  phonefleet.UserUpdate
	}{
		{"Disable", phonefleet.UserUpdate{Disabled: ptr(true)}},
		{"Passwd", phonefleet.UserUpdate{PasswordHash: ptr(phonefleet.HashPassword("another password"))}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := MustOpenE2E(t)
			tenantID, _ := e.MustTenant(t, "acme")
			u := e.MustUser(t, tenantID, "alice", phonefleet.RoleAdmin)
			token := e.login(t, "", iamBody("acme", "alice", testPassword, "")).Header.Get("X-Subject-Token")
			if status, _, _ := e.Call(t, "GET", "/v1/instances/batch-query?page_no=1&page_size=10", token, "", "", nil); status != 200 {
				t.Fatalf("fresh token: %d", status)
			}
			if _, err := e.DB.UpdateUser(context.Background(), u.ID, tc.upd); err != nil {
				t.Fatal(err)
			}
			e.Advance(e.Server.TokenCacheTTL)
			status, _, env := e.Call(t, "GET", "/v1/instances/batch-query?page_no=1&page_size=10", token, "", "", nil)
			if status != 401 || env.Code != phonefleet.EUnauthorized {
				t.Fatalf("after %s: %d %s, want 401", tc.name, status, env.Code)
			}
		})
	}
}

func TestIAMProjectsAndDomains(t *testing.T) {
	e := MustOpenE2E(t)
	tenantID, token := e.MustTenant(t, "acme")
	status, b, _ := e.Call(t, "GET", "/v3/projects?name=cn-north-4", token, "", "", nil)
	want := fmt.Sprintf(`{"projects":[{"id":%q,"name":"cn-north-4","domain_id":%q,"enabled":true}]}`, tenantID, tenantID)
	if status != 200 || string(b) != want {
		t.Fatalf("projects: %d %s, want %s", status, b, want)
	}
	status, b, _ = e.Call(t, "GET", "/v3/auth/domains", token, "", "", nil)
	if want := fmt.Sprintf(`{"domains":[{"id":%q,"name":"acme","enabled":true}]}`, tenantID); status != 200 || string(b) != want {
		t.Fatalf("domains: %d %s, want %s", status, b, want)
	}
	if status, _, env := e.Call(t, "GET", "/v3/auth/domains", "", "", "", nil); status != 401 || env.Code != phonefleet.EUnauthorized {
		t.Fatalf("domains without credentials: %d %s", status, env.Code)
	}
}

func ptr[T any](v T) *T { return &v }
