package http

import (
	"encoding/json"
	"strings"

	"github.com/phonefleet/phonefleet"
)

// foldName returns a member name as compared for near misses: lower case,
// without '_' and '-'.
func foldName(name string) string {
	return strings.Map(func(r rune) rune {
		if r == '_' || r == '-' {
			return -1
		}
		return r
	}, strings.ToLower(name))
}

// checkNearNames returns KOOPHONE.API.1000 naming the first member of obj
// (in sorted order) that is not one of known but folds to one of them
// (instanceIds for instance_ids): a misspelled name must never be
// silently ignored. Other unknown members are ignored. where prefixes the
// member in the message ("" at the top level).
func checkNearNames(obj map[string]json.RawMessage, where string, known ...string) error {
	for name := range obj {
		if isKnown(name, known) {
			continue
		}
		for _, k := range known {
			if foldName(name) == foldName(k) {
				return phonefleet.Errorf(phonefleet.EInvalid, "%smember %q is not known (did you mean %q?)", where, name, k)
			}
		}
	}
	return nil
}

func isKnown(name string, known []string) bool {
	for _, k := range known {
		if name == k {
			return true
		}
	}
	return false
}

// decodeUserInstances decodes the body of assign and unassign:
// {"user_instances": [{"user_id": "...", "instance_id": "..."}, ...]}, 1–100
// entries, each instance at most once. When the list is well typed but
// breaks a rule, the pairs come back with the error, for the audit trail.
func decodeUserInstances(body []byte) ([]phonefleet.UserInstance, error) {
	obj, err := decodeObject(body)
	if err != nil {
		return nil, err
	}
	if err := checkNearNames(obj, "", "user_instances"); err != nil {
		return nil, err
	}
	v := obj["user_instances"]
	if isNull(v) {
		return nil, phonefleet.Errorf(phonefleet.EInvalid, "user_instances is required")
	}
	var elems []json.RawMessage
	if v[0] != '[' || json.Unmarshal(v, &elems) != nil {
		return nil, phonefleet.Errorf(phonefleet.EInvalid, "user_instances must be an array of objects")
	}
	pairs := make([]phonefleet.UserInstance, len(elems))
	for i, e := range elems {
		m, ok, dup := objectMembers(e)
		if !ok {
			return nil, phonefleet.Errorf(phonefleet.EInvalid, "user_instances[%d] must be an object", i)
		} else if dup != "" {
			return nil, phonefleet.Errorf(phonefleet.EInvalid, "user_instances[%d] has member %q more than once", i, dup)
		}
		where := "user_instances[" + itoa(i) + "]"
		if err := checkNearNames(m, where+": ", "user_id", "instance_id"); err != nil {
			return nil, err
		}
		for _, f := range []struct {
			name string
			dst  *string
		}{{"user_id", &pairs[i].UserID}, {"instance_id", &pairs[i].InstanceID}} {
			if isNull(m[f.name]) {
				return nil, phonefleet.Errorf(phonefleet.EInvalid, "%s.%s is required", where, f.name)
			}
			if err := decodeString(m[f.name], where+"."+f.name, f.dst); err != nil {
				return nil, err
			}
		}
	}
	if err := phonefleet.ValidateUserInstances("user_instances", pairs); err != nil {
		return pairs, err
	}
	return pairs, nil
}

// decodeInstanceIDsRequest decodes the body of reboot and batch-reset:
// {"instance_ids": [...]}.
func decodeInstanceIDsRequest(body []byte) ([]string, error) {
	obj, err := decodeObject(body)
	if err != nil {
		return nil, err
	}
	if err := checkNearNames(obj, "", "instance_ids"); err != nil {
		return nil, err
	}
	return decodeIDList(body, "instance_ids")
}

// decodePrepareRequest decodes the body of prepare:
// {"user_id": "...", "instance_ids": [...]}. Tenant, token and request ID
// are the caller's to fill in.
func decodePrepareRequest(body []byte) (*phonefleet.PrepareRequest, error) {
	obj, err := decodeObject(body)
	if err != nil {
		return nil, err
	}
	if err := checkNearNames(obj, "", "user_id", "instance_ids"); err != nil {
		return nil, err
	}
	req := &phonefleet.PrepareRequest{}
	if isNull(obj["user_id"]) {
		return nil, phonefleet.Errorf(phonefleet.EInvalid, "user_id is required")
	} else if err := decodeString(obj["user_id"], "user_id", &req.UserID); err != nil {
		return nil, err
	}
	if req.InstanceIDs, err = decodeIDList(body, "instance_ids"); err != nil {
		return req, err
	}
	if err := req.Validate(); err != nil {
		return req, err
	}
	return req, nil
}

// decodeReport decodes a data-plane report: {"state": "done"} or
// {"state": "failed", "error": "..."}.
func decodeReport(body []byte) (phonefleet.CommandReport, error) {
	var r phonefleet.CommandReport
	obj, err := decodeObject(body)
	if err != nil {
		return r, err
	}
	if err := checkNearNames(obj, "", "state", "error"); err != nil {
		return r, err
	}
	var state string
	if isNull(obj["state"]) {
		return r, phonefleet.Errorf(phonefleet.EInvalid, "state is required")
	} else if err := decodeString(obj["state"], "state", &state); err != nil {
		return r, err
	} else if err := decodeString(obj["error"], "error", &r.Error); err != nil {
		return r, err
	}
	r.State = phonefleet.JobState(state)
	return r, r.Validate()
}

// itoa formats a small non-negative index.
func itoa(i int) string {
	if i < 10 {
		return string(rune('0' + i))
	}
	return itoa(i/10) + string(rune('0'+i%10))
}
