package http

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/phonefleet/phonefleet"
)

// deleteNames are the names of POST /v1/instances/delete, as routes
// declares them, folded as checkNames folds them.
func deleteNames() (known map[string]bool, folded map[string]string) {
	known = map[string]bool{"instanceIdList": true}
	folded = map[string]string{foldName("instanceIdList"): "instanceIdList", foldName("dry_run"): "dry_run"}
	return known, folded
}

func TestCheckBodyNames(t *testing.T) {
	known, folded := deleteNames()
	for _, tc := range []struct {
		body, bad string
	}{
		{`{"instanceIdList":["a"]}`, ""},
		{`{"instanceIdList":["a"],"other":1,"nested":{"x":[{"y":2}]}}`, ""},
		{`{"instanceIdList":["a"],"dryRun":true}`, "dryRun"},
		{`{"instanceIdList":["a"],"dry_run":true}`, "dry_run"},
		{`{"INSTANCEIDLIST":["a"]}`, "INSTANCEIDLIST"},
		{`{"instance-id-list":["a"]}`, "instance-id-list"},
		{`{"a":[{"b":{"Dry-Run":1}}]}`, "Dry-Run"},
		{`{"instanceIdList":[`, ""}, // malformed: the decoder's to report
	} {
		err := checkBodyNames([]byte(tc.body), known, folded)
		if tc.bad == "" {
			if err != nil {
				t.Errorf("%s: %v, want no error", tc.body, err)
			}
			continue
		}
		if phonefleet.ErrorCode(err) != phonefleet.EInvalid || !strings.Contains(phonefleet.ErrorMessage(err), `"`+tc.bad+`"`) {
			t.Errorf("%s: %v, want 1000 naming %q", tc.body, err, tc.bad)
		}
	}
	if err := checkBodyNames([]byte("{\"instanceIdList\":[\"a\xff\"]}"), known, folded); phonefleet.ErrorMessage(err) != "request body must be valid UTF-8" {
		t.Errorf("invalid UTF-8: %v", err)
	}
	deep := strings.Repeat("[", maxBodyDepth+2) + strings.Repeat("]", maxBodyDepth+2)
	if err := checkBodyNames([]byte(deep), known, folded); phonefleet.ErrorCode(err) != phonefleet.EInvalid {
		t.Errorf("deep nesting: %v, want 1000", err)
	}
}

func TestCheckQueryNames(t *testing.T) {
	known := map[string]bool{"dry_run": true, "x-request-id": true}
	for _, tc := range []struct{ raw, want string }{
		{"", ""},
		{"dry_run=true", ""},
		{"dry_run=true&x-request-id=1", ""},
		{"dryRun=true", `query parameter "dryRun" is not known`},
		{"dry_run=true&Dry_Run=true", `query parameter "Dry_Run" is not known`},
		{"dry%5Frun=true", ""}, // escaped, the same name
		{"dry_run=true&dry_run=false", "dry_run must be given at most once"},
		{"dry_run=%ZZ", "query string is malformed"},
		{"x-request-id=a%E2%80%AEb", "x-request-id must not contain bidirectional override characters (U+202E)"},
		{"x-request-id=a%00b", "x-request-id must not contain control characters"},
		{"x-request-id=a%FFb", "x-request-id must be valid UTF-8"},
	} {
		err := checkQueryNames(tc.raw, known)
		if got := phonefleet.ErrorMessage(err); got != tc.want || (err != nil && phonefleet.ErrorCode(err) != phonefleet.EInvalid) {
			t.Errorf("%q: %v, want %q", tc.raw, err, tc.want)
		}
	}
}

// FuzzCheckBodyNames checks that any body is either refused with 1000 or
// holds, at every depth, no member that folds to a known name without being
// one.
func FuzzCheckBodyNames(f *testing.F) {
	f.Add([]byte(`{"instanceIdList":["a"],"dryRun":true}`))
	f.Add([]byte(`{"a":[{"b":{"DRY_RUN":1}}]}`))
	f.Add([]byte(`[[[{}]]]`))
	known, folded := deleteNames()
	f.Fuzz(func(t *testing.T, body []byte) {
		err := checkBodyNames(body, known, folded)
		if err != nil {
			if phonefleet.ErrorCode(err) != phonefleet.EInvalid {
				t.Fatalf("error %v is not 1000", err)
			}
			return
		}
		if !utf8.Valid(body) {
			t.Fatalf("accepted invalid UTF-8 %q", body)
		}
		var v any
		if json.Unmarshal(body, &v) != nil {
			return
		}
		var walk func(v any)
		walk = func(v any) {
			switch v := v.(type) {
			case map[string]any:
				for k, e := range v {
					if _, near := folded[foldName(k)]; near && !known[k] {
						t.Fatalf("accepted member %q of %q", k, body)
					}
					walk(e)
				}
			case []any:
				for _, e := range v {
					walk(e)
				}
			}
		}
		walk(v)
	})
}
