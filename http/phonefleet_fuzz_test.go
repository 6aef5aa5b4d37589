package http

import (
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/phonefleet/phonefleet"
)

// FuzzParsePage checks that the paging parameters of the phonefleet lists
// never panic, that a success is a page_no of at least 1 and a page_size of
// 1–1000 as given, that a failure is KOOPHONE.API.1000, and that page never
// slices out of range whatever page is asked for.
func FuzzParsePage(f *testing.F) {
	for _, q := range []string{"page_no=1&page_size=10", "page_no=0&page_size=10", "page_no=9223372036854775807&page_size=1000",
		"page_no=1&page_size=1001", "page_no=-1&page_size=1", "page_no=1&page_no=2&page_size=1", "page_no=%zz", "", "page_size=5", "page_no=3", "page_no=&page_size=1"} {
		f.Add(q, 5)
	}
	f.Fuzz(func(t *testing.T, rawQuery string, n int) {
		r := httptest.NewRequest("GET", "/v1/phonefleet/refunds", nil)
		r.URL.RawQuery = rawQuery
		pageNo, pageSize, err := parsePage(r)
		if err != nil {
			if phonefleet.ErrorCode(err) != phonefleet.EInvalid {
				t.Fatalf("%q: %v, want %s", rawQuery, err, phonefleet.EInvalid)
			}
			return
		}
		q, _ := url.ParseQuery(rawQuery)
		givenNo, givenSize := 1, 10 // the defaults of absent parameters
		if q.Has("page_no") {
			givenNo, _ = strconv.Atoi(q.Get("page_no"))
		}
		if q.Has("page_size") {
			givenSize, _ = strconv.Atoi(q.Get("page_size"))
		}
		if pageNo < 1 || pageSize < 1 || pageSize > maxPageSize || pageNo != givenNo || pageSize != givenSize {
			t.Fatalf("%q: page %d of size %d", rawQuery, pageNo, pageSize)
		}
		items := make([]int, max(0, min(n, 3000)))
		got := page(items, pageNo, pageSize)
		if want := max(0, min(pageSize, len(items)-(pageNo-1)*pageSize)); (pageNo-1) <= len(items)/pageSize && len(got) != want {
			t.Fatalf("page %d of size %d of %d items: %d items, want %d", pageNo, pageSize, len(items), len(got), want)
		}
	})
}

// FuzzParseAuditQuery checks that the audit list's query never panics, that
// a failure is KOOPHONE.API.1000 naming a parameter it was given, and that
// a success keeps every filter within its bounds.
func FuzzParseAuditQuery(f *testing.F) {
	for _, q := range []string{"", "action=instanceDelete&actor=alice", "since=2026-12-01T00:00:00Z&until=2026-12-02T00:00:00Z",
		"since=2026-12-02T00:00:00Z&until=2026-12-01T00:00:00Z", "before_id=9223372036854775807", "before_id=-1", "format=csv",
		"format=xml", "instance_id=%ff", "actor=", "page_no=2&page_size=1000&format=jsonl"} {
		f.Add(q)
	}
	f.Fuzz(func(t *testing.T, rawQuery string) {
		q, err := url.ParseQuery(rawQuery)
		if err != nil {
			return
		}
		filter, pageNo, pageSize, format, err := parseAuditQuery(q)
		if err != nil {
			if phonefleet.ErrorCode(err) != phonefleet.EInvalid {
				t.Fatalf("%q: %v, want %s", rawQuery, err, phonefleet.EInvalid)
			}
			named := false
			for name := range q {
				named = named || strings.HasPrefix(phonefleet.ErrorMessage(err), name+" ")
			}
			if !named {
				t.Fatalf("%q: %q names no parameter given", rawQuery, phonefleet.ErrorMessage(err))
			}
			return
		}
		if pageNo < 1 || pageSize < 1 || pageSize > maxPageSize || filter.BeforeID < 0 || (format != "json" && format != "jsonl" && format != "csv") {
			t.Fatalf("%q: page %d of %d, before %d, format %q", rawQuery, pageNo, pageSize, filter.BeforeID, format)
		}
		for _, v := range []*string{filter.Action, filter.Actor, filter.InstanceID} {
			if v != nil && (*v == "" || len(*v) > phonefleet.AuditFilterMaxLen) {
				t.Fatalf("%q: filter %q out of bounds", rawQuery, *v)
			}
		}
		if filter.Since != nil && filter.Until != nil && !filter.Since.Before(*filter.Until) {
			t.Fatalf("%q: since %v not before until %v", rawQuery, filter.Since, filter.Until)
		}
	})
}
