package http

import (
	"encoding/json"
	"testing"

	"github.com/phonefleet/phonefleet"
)

// FuzzDecodeUserInstances checks that decoding any assign or unassign body
// never panics, that a success holds 1–100 valid pairs with each instance
// once, as encoding/json reads them, and that a failure is a
// KOOPHONE.API.1000 *phonefleet.Error.
func FuzzDecodeUserInstances(f *testing.F) {
	for _, s := range []string{
		`{"user_instances":[{"user_id":"alice@x.io","instance_id":"XvH39QVW"}]}`,
		`{"user_instances":[{"user_id":"a","instance_id":"i1"},{"user_id":"a","instance_id":"i1"}]}`,
		`{"user_instances":[{"userId":"a","instance_id":"i1"}]}`,
		`{"user_instances":[{"user_id":"a b","instance_id":"i1"}]}`,
		`{"user_instances":[]}`, `{"user_instances":null}`, `{"user_instances":[1]}`, `[]`, `{}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		pairs, err := decodeUserInstances(body)
		if err != nil {
			assertDecodeError(t, err, phonefleet.EInvalid)
			return
		}
		if err := phonefleet.ValidateUserInstances("user_instances", pairs); err != nil {
			t.Fatalf("decoded pairs that do not validate: %v", err)
		}
		var v struct {
			Pairs []phonefleet.UserInstance `json:"user_instances"`
		}
		if err := json.Unmarshal(body, &v); err != nil {
			t.Fatalf("decoded %v from a body encoding/json refuses: %v", pairs, err)
		}
		if len(v.Pairs) != len(pairs) {
			t.Fatalf("decoded %d pairs, encoding/json reads %d", len(pairs), len(v.Pairs))
		}
	})
}

// FuzzDecodeInstanceIDsRequest checks reboot and batch-reset bodies: no
// panic, a success is 1–100 distinct valid IDs, a failure is 1000.
func FuzzDecodeInstanceIDsRequest(f *testing.F) {
	for _, s := range []string{`{"instance_ids":["a44uhlf7","efjy72gs"]}`, `{"instanceIds":["a"]}`, `{"instance_ids":["a","a"]}`, `{"instance_ids":[]}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		ids, err := decodeInstanceIDsRequest(body)
		if err != nil {
			assertDecodeError(t, err, phonefleet.EInvalid)
			return
		}
		if err := phonefleet.ValidateInstanceIDs("instance_ids", ids); err != nil {
			t.Fatalf("decoded IDs that do not validate: %v", err)
		}
	})
}

// FuzzDecodePrepareRequest checks prepare bodies: no panic, a success has
// a valid user and 1–100 distinct valid IDs, a failure is 1000.
func FuzzDecodePrepareRequest(f *testing.F) {
	for _, s := range []string{`{"user_id":"u1","instance_ids":["a44uhlf7"]}`, `{"user_id":1,"instance_ids":["a"]}`, `{"userId":"u","instance_ids":["a"]}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		req, err := decodePrepareRequest(body)
		if err != nil {
			assertDecodeError(t, err, phonefleet.EInvalid)
			return
		}
		if err := req.Validate(); err != nil {
			t.Fatalf("decoded a request that does not validate: %v", err)
		}
	})
}

// FuzzDecodeReport checks data-plane reports: no panic, a success is done
// without an error or failed with a valid one, a failure is 1000.
func FuzzDecodeReport(f *testing.F) {
	for _, s := range []string{`{"state":"done"}`, `{"state":"failed","error":"disk"}`, `{"state":"failed"}`, `{"State":"done","state":"done"}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		r, err := decodeReport(body)
		if err != nil {
			assertDecodeError(t, err, phonefleet.EInvalid)
			return
		}
		if err := r.Validate(); err != nil || (r.State != phonefleet.JobStateDone && r.State != phonefleet.JobStateFailed) {
			t.Fatalf("decoded an invalid report %+v: %v", r, err)
		}
	})
}
