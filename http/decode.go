package http

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"math"
	"mime"
	"net/http"
	"slices"
	"strconv"

	"github.com/phonefleet/phonefleet"
)

// Messages of KOOPHONE.API.1000 for bodies that are not a JSON object.
const (
	msgContentType   = "Content-Type must be application/json"
	msgBodyTooLarge  = "request body must be at most 1 MiB (1048576 bytes)"
	msgBodyUnread    = "request body could not be read"
	msgBodyMalformed = "request body must be valid JSON"
	msgBodyNotObject = "request body must be a JSON object"
	msgBodyTrailing  = "request body must hold a single JSON object with nothing after it"
)

// readJSONBody checks the Content-Type and reads the body, which the server
// has capped at MaxBodyBytes (an oversized body is answered 413).
func readJSONBody(r *http.Request) ([]byte, error) {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/json" {
		return nil, phonefleet.Errorf(phonefleet.EInvalid, msgContentType)
	}
	body, err := io.ReadAll(r.Body)
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		return nil, &statusError{err: phonefleet.Errorf(phonefleet.EInvalid, msgBodyTooLarge), status: http.StatusRequestEntityTooLarge}
	} else if err != nil {
		return nil, phonefleet.Errorf(phonefleet.EInvalid, msgBodyUnread)
	}
	return body, nil
}

// decodeObject parses body as exactly one JSON object and returns its
// members by exact (case-sensitive) name. A member named twice is
// KOOPHONE.API.1000: the request is ambiguous. Unknown members are the
// caller's to ignore.
func decodeObject(body []byte) (map[string]json.RawMessage, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	var raw json.RawMessage
	if err := dec.Decode(&raw); err != nil {
		if err == io.EOF {
			return nil, phonefleet.Errorf(phonefleet.EInvalid, msgBodyNotObject)
		}
		return nil, phonefleet.Errorf(phonefleet.EInvalid, msgBodyMalformed)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, phonefleet.Errorf(phonefleet.EInvalid, msgBodyTrailing)
	}
	obj, ok, dup := objectMembers(raw)
	if !ok {
		return nil, phonefleet.Errorf(phonefleet.EInvalid, msgBodyNotObject)
	} else if dup != "" {
		return nil, phonefleet.Errorf(phonefleet.EInvalid, "request body has member %q more than once", dup)
	}
	return obj, nil
}

// objectMembers splits a valid JSON value into its members if it is an
// object (ok), and names the first member that appears twice (dup).
func objectMembers(raw json.RawMessage) (obj map[string]json.RawMessage, ok bool, dup string) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil, false, ""
	}
	obj = make(map[string]json.RawMessage)
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return nil, false, ""
		}
		name, _ := t.(string)
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, false, ""
		}
		if _, seen := obj[name]; seen && dup == "" {
			dup = name
		}
		obj[name] = v
	}
	return obj, true, dup
}

// isNull reports whether a member is absent or JSON null; both mean "not
// given".
func isNull(v json.RawMessage) bool { return v == nil || string(v) == "null" }

// decodeIDList decodes a body of the form {"<field>": ["id", ...]} and
// checks the list with phonefleet.ValidateInstanceIDs: 1–100 distinct IDs
// of 1–32 characters of [A-Za-z0-9_-]. When the list is well typed but
// breaks a limit, ids holds it alongside the error, for the audit trail.
func decodeIDList(body []byte, field string) (ids []string, err error) {
	obj, err := decodeObject(body)
	if err != nil {
		return nil, err
	}
	v := obj[field]
	if isNull(v) {
		return nil, phonefleet.Errorf(phonefleet.EInvalid, "%s is required", field)
	}
	var elems []json.RawMessage
	if v[0] != '[' || json.Unmarshal(v, &elems) != nil {
		return nil, phonefleet.Errorf(phonefleet.EInvalid, "%s must be an array of strings", field)
	}
	ids = make([]string, len(elems))
	for i, e := range elems {
		if e[0] != '"' || json.Unmarshal(e, &ids[i]) != nil {
			return nil, phonefleet.Errorf(phonefleet.EInvalid, "%s[%d] must be a string", field, i)
		}
	}
	if err := phonefleet.ValidateInstanceIDs(field, ids); err != nil {
		return ids, err
	}
	return ids, nil
}

// decodeDeleteRequest decodes the body of POST /v1/instances/delete:
// {"instanceIdList": [...]}.
func decodeDeleteRequest(body []byte) ([]string, error) {
	return decodeIDList(body, "instanceIdList")
}

// decodeBatchQueryStatusRequest decodes the body of POST
// /v1/instances/batch-query-status: {"instance_ids": [...]}.
func decodeBatchQueryStatusRequest(body []byte) ([]string, error) {
	return decodeIDList(body, "instance_ids")
}

// chargingModeMissing stands for an absent chargeParam.chargingMode, so that
// PurchaseRequest.Validate reports it in its place in the check order
// instead of taking it for pay-per-use (0).
const chargingModeMissing = -1

// decodeCreateRequest decodes and validates the body of POST
// /v1/instances/create. A member of the wrong JSON type is reported first
// (KOOPHONE.API.1000 naming it, in field order); absent members are left
// empty for PurchaseRequest.Validate, which then checks values in its
// order (3003 for a missing os, 1000, 3006/3007). Tenant, token and request
// ID are the caller's to fill in.
func decodeCreateRequest(body []byte) (*phonefleet.PurchaseRequest, error) {
	obj, err := decodeObject(body)
	if err != nil {
		return nil, err
	}
	req := &phonefleet.PurchaseRequest{ChargingMode: chargingModeMissing}
	for _, f := range []struct {
		name string
		dst  *string
	}{
		{"os", &req.OS}, {"instanceSkuId", &req.InstanceSKUID}, {"bandSkuId", &req.BandSKUID},
		{"regionId", &req.RegionID}, {"instanceNamePrefix", &req.NamePrefix},
	} {
		if err := decodeString(obj[f.name], f.name, f.dst); err != nil {
			return nil, err
		}
	}
	if err := decodeWholeNumber(obj["bandSize"], "bandSize", &req.BandSize); err != nil {
		return nil, err
	}
	if err := decodeInt(obj["count"], "count", &req.Count); err != nil {
		return nil, err
	}

	var cp map[string]json.RawMessage
	if v := obj["chargeParam"]; !isNull(v) {
		var ok bool
		var dup string
		cp, ok, dup = objectMembers(v)
		if !ok {
			return nil, phonefleet.Errorf(phonefleet.EInvalid, "chargeParam must be an object")
		} else if dup != "" {
			return nil, phonefleet.Errorf(phonefleet.EInvalid, "chargeParam has member %q more than once", dup)
		}
		for _, f := range []struct {
			name string
			dst  *int
		}{
			{"chargingMode", &req.ChargingMode}, {"periodType", &req.PeriodType}, {"periodNum", &req.PeriodNum},
		} {
			if err := decodeInt(cp[f.name], "chargeParam."+f.name, f.dst); err != nil {
				return nil, err
			}
		}
		if err := decodeFlag(cp["isAutoPay"], "chargeParam.isAutoPay", &req.AutoPay); err != nil {
			return nil, err
		}
		if err := decodeFlag(cp["isAutoRenew"], "chargeParam.isAutoRenew", &req.AutoRenew); err != nil {
			return nil, err
		}
	}

	if err := req.Validate(); err != nil {
		return nil, err
	}
	req.Extra = canonicalExtra(obj, cp)
	return req, nil
}

// purchaseTopMembers and purchaseChargeMembers are the members of a
// purchase body and of its chargeParam that decodeCreateRequest reads
// (createMembers has both, for the near-name check).
var (
	purchaseTopMembers    = []string{"os", "instanceSkuId", "bandSkuId", "regionId", "instanceNamePrefix", "bandSize", "count", "chargeParam"}
	purchaseChargeMembers = []string{"chargingMode", "periodType", "periodNum", "isAutoPay", "isAutoRenew"}
)

// canonicalExtra returns the members of a purchase body (and of its
// chargeParam) that phonefleet does not read, as canonical JSON for
// PurchaseRequest.Extra: {"body": {...}, "chargeParam": {...}} with keys
// sorted at every depth, no whitespace, strings re-escaped and numbers as
// written; "" when there are none. So a retry that adds, drops or changes
// such a member is another purchase, while whitespace and member order are
// not differences.
func canonicalExtra(body, chargeParam map[string]json.RawMessage) string {
	extra := map[string]map[string]any{}
	for _, part := range []struct {
		name  string
		obj   map[string]json.RawMessage
		known []string
	}{{"body", body, purchaseTopMembers}, {"chargeParam", chargeParam, purchaseChargeMembers}} {
		for name, raw := range part.obj {
			if slices.Contains(part.known, name) {
				continue
			}
			var v any
			dec := json.NewDecoder(bytes.NewReader(raw))
			dec.UseNumber()
			if dec.Decode(&v) != nil {
				v = string(raw) // cannot happen: raw was parsed as JSON
			}
			if extra[part.name] == nil {
				extra[part.name] = map[string]any{}
			}
			extra[part.name][name] = v
		}
	}
	if len(extra) == 0 {
		return ""
	}
	buf, err := json.Marshal(extra)
	if err != nil {
		return "" // cannot happen: decoded JSON always marshals
	}
	return string(buf)
}

// decodeString sets *dst to a JSON string; absent or null leaves it empty.
func decodeString(v json.RawMessage, name string, dst *string) error {
	if isNull(v) {
		return nil
	}
	if v[0] != '"' || json.Unmarshal(v, dst) != nil {
		return phonefleet.Errorf(phonefleet.EInvalid, "%s must be a string", name)
	}
	return nil
}

// decodeInt sets *dst to a JSON integer (no fraction or exponent); absent or
// null leaves it alone. Integers beyond ±2^31 are clamped there, so the
// range checks that follow reject them with their own message.
func decodeInt(v json.RawMessage, name string, dst *int) error {
	if isNull(v) {
		return nil
	}
	digits := bytes.TrimPrefix(v, []byte("-"))
	if len(digits) == 0 || len(bytes.Trim(digits, "0123456789")) != 0 {
		return phonefleet.Errorf(phonefleet.EInvalid, "%s must be an integer", name)
	}
	// A JSON integer literal only fails to parse by overflowing, and then
	// ParseInt returns the nearest int64.
	n, _ := strconv.ParseInt(string(v), 10, 64)
	*dst = int(min(max(n, math.MinInt32), math.MaxInt32))
	return nil
}

// decodeWholeNumber sets *dst to a JSON number that is a whole number
// (4, 4.0 and 4e0 alike); absent or null leaves it alone.
func decodeWholeNumber(v json.RawMessage, name string, dst *int) error {
	if isNull(v) {
		return nil
	}
	var n json.Number
	if c := v[0]; c != '-' && (c < '0' || c > '9') || json.Unmarshal(v, &n) != nil {
		return phonefleet.Errorf(phonefleet.EInvalid, "%s must be a number", name)
	}
	f, err := n.Float64()
	if err != nil || f != math.Trunc(f) || f < math.MinInt32 || f > math.MaxInt32 {
		return phonefleet.Errorf(phonefleet.EInvalid, "%s must be a positive whole number of Mbit/s", name)
	}
	*dst = int(f)
	return nil
}

// decodeFlag sets *dst from 0, 1, false or true; absent or null leaves it
// false.
func decodeFlag(v json.RawMessage, name string, dst *bool) error {
	switch string(v) {
	case "", "null", "0", "false":
		*dst = false
	case "1", "true":
		*dst = true
	default:
		return phonefleet.Errorf(phonefleet.EInvalid, "%s must be 0, 1, true or false", name)
	}
	return nil
}
