package phonefleet_test

import (
	"strings"
	"testing"
	"time"

	"github.com/phonefleet/phonefleet"
)

// TestPrincipalActor: the actor is the user, else the token's name, else the
// access key, else the token's ID; system without a principal.
func TestPrincipalActor(t *testing.T) {
	for _, tc := range []struct {
		p    *phonefleet.Principal
		want string
	}{
		{nil, phonefleet.ActorSystem},
		{&phonefleet.Principal{UserName: "alice", TokenName: "iam", TokenID: "tk1"}, "alice"},
		{&phonefleet.Principal{UserName: "bob", AccessKeyID: "AK1", TokenID: "AK1"}, "bob"},
		{&phonefleet.Principal{TokenName: "ci-token", TokenID: "tk2"}, "ci-token"},
		{&phonefleet.Principal{AccessKeyID: "AK2", TokenID: "AK2"}, "AK2"},
		{&phonefleet.Principal{TokenID: "tk3"}, "tk3"},
		{&phonefleet.Principal{}, phonefleet.ActorSystem},
	} {
		if got := tc.p.Actor(); got != tc.want {
			t.Errorf("%+v: Actor()=%q, want %q", tc.p, got, tc.want)
		}
	}
}

// TestAuditEvents_ActorDryRun: the event builders record the request's
// actor (its user, else system, when none was named) and dry run.
func TestAuditEvents_ActorDryRun(t *testing.T) {
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	plan := &phonefleet.UnsubscribePlan{Currency: "USD"}
	for _, tc := range []struct {
		req    phonefleet.UnsubscribeRequest
		actor  string
		dryRun bool
	}{
		{phonefleet.UnsubscribeRequest{Actor: "ci-token", DryRun: true}, "ci-token", true},
		{phonefleet.UnsubscribeRequest{UserName: "alice"}, "alice", false},
		{phonefleet.UnsubscribeRequest{}, phonefleet.ActorSystem, false},
	} {
		e := phonefleet.UnsubscribeAuditEvent(&tc.req, plan, now)
		if e.Actor != tc.actor || e.DryRun != tc.dryRun {
			t.Errorf("%+v: actor %q, dry run %t; want %q, %t", tc.req, e.Actor, e.DryRun, tc.actor, tc.dryRun)
		}
	}
	e := phonefleet.FailureAuditEvent(phonefleet.ActionInstanceDelete, nil, "r1", nil, phonefleet.Errorf(phonefleet.EUnauthorized, "no"), now)
	if e.Actor != "" {
		t.Errorf("unauthenticated failure: actor %q, want none", e.Actor)
	}
	e = phonefleet.FailureAuditEvent(phonefleet.ActionInstanceDelete, &phonefleet.Principal{TokenName: "ci"}, "r1", nil, phonefleet.Errorf(phonefleet.EInvalid, "no"), now)
	if e.Actor != "ci" {
		t.Errorf("failure of a named token: actor %q, want ci", e.Actor)
	}
}

// TestAuditEvent_CSVRecord: one cell per header column; a cell a spreadsheet
// would run as a formula is prefixed with a quote, others are as stored.
func TestAuditEvent_CSVRecord(t *testing.T) {
	e := &phonefleet.AuditEvent{ID: 7, At: time.Date(2026, 12, 1, 2, 3, 4, 5, time.UTC), TenantName: "acme", Actor: "=cmd()",
		UserName: "+1", ClientAddr: "2001:db8::1", DryRun: true, Action: "instanceDelete", RequestID: "@r", InstanceIDs: []string{"a", "b"},
		ErrorCode: "0", Detail: "-5 refunded, ok"}
	got := e.CSVRecord()
	want := []string{"7", "2026-12-01T02:03:04.000000005Z", "acme", "'=cmd()", "'+1", "2001:db8::1", "true", "instanceDelete", "'@r", "a b", "0", "'-5 refunded, ok"}
	if len(got) != len(phonefleet.AuditCSVHeader) || strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("CSVRecord=%q, want %q", got, want)
	}
}
