package http

import (
	"net/http/httptest"
	"net/url"
	"strconv"
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
