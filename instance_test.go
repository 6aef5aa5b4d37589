package phonefleet_test

import (
	"context"
	"strings"
	"testing"

	"github.com/phonefleet/phonefleet"
)

func TestBillingMode(t *testing.T) {
	for _, tt := range []struct {
		mode     phonefleet.BillingMode
		prepaid  bool
		kooPhone string
	}{
		{phonefleet.BillingModeYearly, true, "prePaid"},
		{phonefleet.BillingModeMonthly, true, "prePaid"},
		{phonefleet.BillingModePayPerUse, false, "postPaid"},
		{"", false, "postPaid"},
	} {
		t.Run(string(tt.mode), func(t *testing.T) {
			if got := tt.mode.Prepaid(); got != tt.prepaid {
				t.Fatalf("Prepaid=%v, want %v", got, tt.prepaid)
			}
			if got := tt.mode.KooPhone(); got != tt.kooPhone {
				t.Fatalf("KooPhone=%q, want %q", got, tt.kooPhone)
			}
		})
	}
}

func TestInstanceState(t *testing.T) {
	for _, tt := range []struct {
		state        phonefleet.InstanceState
		command      phonefleet.CommandType
		status       int
		unsubscribed bool
		idle         bool
	}{
		{phonefleet.InstanceStateRunning, "", 2, false, true},
		{phonefleet.InstanceStateRunning, phonefleet.CommandReboot, 4, false, false},
		{phonefleet.InstanceStateRunning, phonefleet.CommandReset, 4, false, false},
		{phonefleet.InstanceStateRunning, phonefleet.CommandWipeUserData, 2, false, false},
		{phonefleet.InstanceStateDeleting, phonefleet.CommandRelease, 3, true, false},
		{phonefleet.InstanceStateDeleting, "", 3, true, false},
		{phonefleet.InstanceStateReleased, "", 0, true, false},
	} {
		t.Run(string(tt.state)+"/"+string(tt.command), func(t *testing.T) {
			in := &phonefleet.Instance{State: tt.state, Command: tt.command}
			if got := in.Status().RunningStatus(); got != tt.status {
				t.Fatalf("RunningStatus=%d, want %d", got, tt.status)
			}
			if got := in.Unsubscribed(); got != tt.unsubscribed {
				t.Fatalf("Unsubscribed=%v, want %v", got, tt.unsubscribed)
			}
			if got := in.Idle(); got != tt.idle {
				t.Fatalf("Idle=%v, want %v", got, tt.idle)
			}
		})
	}
}

func TestTenant_Validate(t *testing.T) {
	for _, tt := range []struct {
		name string
		ok   bool
	}{
		{"acme", true},
		{"A", true},
		{"acme-corp_2.eu", true},
		{"9lives", true},
		{strings.Repeat("a", 64), true},
		{strings.Repeat("a", 65), false},
		{"", false},
		{"-acme", false},
		{".acme", false},
		{"acme corp", false},
		{"acme/corp", false},
		{"åcme", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := (&phonefleet.Tenant{Name: tt.name}).Validate()
			if tt.ok != (err == nil) {
				t.Fatalf("Validate(%q)=%v, want ok=%v", tt.name, err, tt.ok)
			}
			if err != nil && phonefleet.ErrorCode(err) != phonefleet.EInvalid {
				t.Fatalf("ErrorCode=%q, want %q", phonefleet.ErrorCode(err), phonefleet.EInvalid)
			}
		})
	}
}

func TestContext(t *testing.T) {
	ctx := context.Background()
	if p := phonefleet.PrincipalFromContext(ctx); p != nil {
		t.Fatalf("PrincipalFromContext=%+v, want nil for a system caller", p)
	}
	if id := phonefleet.RequestIDFromContext(ctx); id != "" {
		t.Fatalf("RequestIDFromContext=%q, want empty", id)
	}

	actions, _ := phonefleet.RoleActions(phonefleet.RoleViewer)
	want := &phonefleet.Principal{TenantID: "t1", TokenID: "tk1", Actions: actions}
	ctx = phonefleet.NewContextWithRequestID(phonefleet.NewContextWithPrincipal(ctx, want), "req-1")
	if got := phonefleet.PrincipalFromContext(ctx); got != want {
		t.Fatalf("PrincipalFromContext=%+v, want %+v", got, want)
	}
	if got := phonefleet.RequestIDFromContext(ctx); got != "req-1" {
		t.Fatalf("RequestIDFromContext=%q, want req-1", got)
	}
	if !want.Can(phonefleet.ActionQueryInstanceBatch) || want.Can(phonefleet.ActionInstanceDelete) || want.Can("") {
		t.Fatalf("viewer Can() wrong for actions %v", want.Actions)
	}
}
