package http_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/phonefleet/phonefleet"
)

// mustOperator creates an operator with testPassword and signs it in;
// it returns the token.
func (e *E2E) mustOperator(tb testing.TB, name, role string) string {
	tb.Helper()
	a := &phonefleet.Admin{Store: e.DB}
	if _, err := a.CreateUser(context.Background(), phonefleet.OperatorDomain, name, role, testPassword); err != nil {
		tb.Fatal(err)
	}
	r := e.login(tb, "?nocatalog=true", iamBody(phonefleet.OperatorDomain, name, testPassword, ""))
	if r.StatusCode != http.StatusCreated {
		tb.Fatalf("operator sign-in: %d %s", r.StatusCode, r.Body)
	}
	return r.Header.Get("X-Subject-Token")
}

// TestAdmin_SuspendOnThisNode checks that a suspension made through a
// node's admin API takes effect on that node at once, token cache or not,
// and that a resumption does too.
func TestAdmin_SuspendOnThisNode(t *testing.T) {
	e := MustOpenE2E(t) // the default token cache TTL: 5 s of a clock that does not move
	_, token := e.MustTenant(t, "acme")
	op := e.mustOperator(t, "root", phonefleet.RoleOperatorAdmin)
	list := func() (int, Envelope) {
		status, _, env := e.Call(t, "GET", "/v1/instances/batch-query?page_no=1&page_size=10", token, "", "", nil)
		return status, env
	}
	if status, env := list(); status != 200 {
		t.Fatalf("before: %d %+v", status, env)
	}
	if status, _, env := e.Call(t, "POST", "/v1/phonefleet/admin/tenants/acme/suspend", op, "{}", "", nil); status != 200 {
		t.Fatalf("suspend: %d %+v", status, env)
	}
	if status, env := list(); status != 400 || env.Code != phonefleet.ESuspended || env.Message != "Services not subscribed." {
		t.Fatalf("while suspended: %d %+v, want 400 KOOPHONE.API.1004", status, env)
	}
	// The operator's own token is not the tenant's: it still works.
	if status, _, env := e.Call(t, "GET", "/v1/phonefleet/admin/tenants/acme", op, "", "", nil); status != 200 {
		t.Fatalf("admin while acme is suspended: %d %+v", status, env)
	}
	if status, _, env := e.Call(t, "POST", "/v1/phonefleet/admin/tenants/acme/resume", op, "{}", "", nil); status != 200 {
		t.Fatalf("resume: %d %+v", status, env)
	}
	if status, env := list(); status != 200 {
		t.Fatalf("after resume: %d %+v", status, env)
	}
}

// TestAdmin_OperatorTokenNoTenantAction checks that an operator token
// carries no tenant action.
func TestAdmin_OperatorTokenNoTenantAction(t *testing.T) {
	e := MustOpenE2E(t)
	op := e.mustOperator(t, "root", phonefleet.RoleOperatorAdmin)
	status, _, env := e.Call(t, "GET", "/v1/instances/batch-query?page_no=1&page_size=10", op, "", "", nil)
	if status != 400 || env.Code != phonefleet.EForbidden {
		t.Fatalf("operator token on a tenant API: %d %+v, want 1001", status, env)
	}
}
