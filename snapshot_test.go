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

// TestSnapshotBatcher checks that rows added one by one come out in order, in
// batches of at most SnapshotBatchRows, with nothing left behind by Flush.
func TestSnapshotBatcher(t *testing.T) {
	const n = 2*phonefleet.SnapshotBatchRows + 7
	var sizes []int
	var got []int64
	b := phonefleet.NewSnapshotBatcher(func(s *phonefleet.Snapshot, rows []int64) {
		for _, id := range rows {
			s.AuditEvents = append(s.AuditEvents, &phonefleet.AuditEvent{ID: id})
		}
	}, func(s *phonefleet.Snapshot) error {
		sizes = append(sizes, s.Rows())
		for _, e := range s.AuditEvents {
			got = append(got, e.ID)
		}
		return nil
	})
	for i := range int64(n) {
		if err := b.Add(i); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := b.Flush(); err != nil { // nothing left: no empty batch
		t.Fatal(err)
	}
	want := []int{phonefleet.SnapshotBatchRows, phonefleet.SnapshotBatchRows, 7}
	if len(sizes) != len(want) || sizes[0] != want[0] || sizes[1] != want[1] || sizes[2] != want[2] {
		t.Fatalf("batch sizes=%v, want %v", sizes, want)
	}
	if len(got) != n {
		t.Fatalf("got %d rows, want %d", len(got), n)
	}
	for i, id := range got {
		if id != int64(i) {
			t.Fatalf("row %d is %d: order lost", i, id)
		}
	}
}
