package phonefleet_test

import (
	"testing"

	"github.com/phonefleet/phonefleet"
)

func TestSnapshot_Sort(t *testing.T) {
	s := &phonefleet.Snapshot{
		Tenants:     []*phonefleet.Tenant{{ID: "tnb"}, {ID: "tnB"}, {ID: "tna"}},
		Instances:   []*phonefleet.Instance{{ID: "b"}, {ID: "a"}},
		Refunds:     []*phonefleet.Refund{{InstanceID: "z"}, {InstanceID: "y"}},
		Commands:    []*phonefleet.Command{{ID: "z"}, {ID: "Y"}},
		AuditEvents: []*phonefleet.AuditEvent{{ID: 2}, {ID: 1}},
	}
	s.Sort()
	// Byte order: upper case before lower case.
	if got := s.Tenants[0].ID + "," + s.Tenants[1].ID + "," + s.Tenants[2].ID; got != "tnB,tna,tnb" {
		t.Fatalf("tenants=%s, want tnB,tna,tnb", got)
	}
	if s.Instances[0].ID != "a" || s.Refunds[0].InstanceID != "y" || s.Commands[0].ID != "Y" {
		t.Fatalf("instances, refunds, commands not sorted by (instance) ID: %v %v %v", s.Instances[0].ID, s.Refunds[0].InstanceID, s.Commands[0].ID)
	}
	if s.AuditEvents[0].ID != 2 {
		t.Fatal("audit events were reordered; they keep their order")
	}
	if s.Users == nil || s.AccessKeys == nil || s.Tokens == nil || s.SKUs == nil || s.Orders == nil {
		t.Fatal("nil lists stay nil, want empty")
	}
}
