package testingutil

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

func TestSyncBuffer_Snapshot(t *testing.T) {
	var b SyncBuffer
	out, changed := b.Snapshot()
	if out != "" {
		t.Fatalf("empty buffer holds %q", out)
	}
	select {
	case <-changed:
		t.Fatal("changed is closed before any write")
	default:
	}
	go b.Write([]byte("hello\n"))
	select {
	case <-changed:
	case <-time.After(10 * time.Second):
		t.Fatal("changed was not closed by a write")
	}
	if got, want := b.String(), "hello\n"; got != want {
		t.Fatalf("String=%q, want %q", got, want)
	}
}

func TestListenURL(t *testing.T) {
	for _, tc := range []struct{ logs, want string }{
		{"", ""},
		{"level=INFO msg=listening addr=127.0.0.1:4", ""}, // incomplete line
		{"level=INFO msg=listening addr=127.0.0.1:4567\n", "http://127.0.0.1:4567"},
		{"msg=start addr=127.0.0.1:1\nmsg=listening system=http addr=127.0.0.1:2\nmsg=listening addr=127.0.0.1:3\n", "http://127.0.0.1:2"},
		{"msg=listening addr=0.0.0.0:80\n", ""},
		{"msg=listening metrics_addr=127.0.0.1:9\n", ""},
		{"level=INFO msg=listening addr=127.0.0.1:4567 scheme=https db=x\n", "https://127.0.0.1:4567"},
		{`{"time":"t","level":"INFO","msg":"listening","addr":"127.0.0.1:4568","scheme":"http"}` + "\n", "http://127.0.0.1:4568"},
		{`{"msg":"listening","addr":"127.0.0.1:4569","scheme":"https"}` + "\n", "https://127.0.0.1:4569"},
	} {
		if got := listenURL(tc.logs); got != tc.want {
			t.Fatalf("listenURL(%q)=%q, want %q", tc.logs, got, tc.want)
		}
	}
}

func TestMustDecodeJSONLines(t *testing.T) {
	type row struct {
		ID string `json:"id"`
		N  int    `json:"n"`
	}
	got := MustDecodeJSONLines[row](t, "{\"id\":\"a\",\"n\":1}\n\n{\"id\":\"b\",\"n\":2}\n")
	if len(got) != 2 || got[0] != (row{"a", 1}) || got[1] != (row{"b", 2}) {
		t.Fatalf("rows=%+v, want a/1 and b/2", got)
	}
	if got := MustDecodeJSONLines[row](t, ""); len(got) != 0 {
		t.Fatalf("rows of empty output=%+v, want none", got)
	}
}

func TestClock(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	c := NewClock(start)
	var wg sync.WaitGroup
	for range 10 {
		wg.Go(func() { c.Add(time.Second); c.Now() })
	}
	wg.Wait()
	if got, want := c.Now(), start.Add(10*time.Second); !got.Equal(want) {
		t.Fatalf("Now=%v, want %v", got, want)
	}
	c.Set(start)
	if got := c.Now(); !got.Equal(start) {
		t.Fatalf("Now after Set=%v, want %v", got, start)
	}
}

func TestDo(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/text" {
			w.Write([]byte("ok"))
			return
		}
		w.Header().Set("Content-Type", "application/json")
		if r.Header.Get("X-Auth-Token") != "tok" || r.Header.Get("Content-Type") != "application/json" || r.Header.Get("X-Extra") != "1" {
			w.WriteHeader(http.StatusUnauthorized)
			w.Write([]byte(`{"error_code":"APIGW.0301","error_msg":"no"}`))
			return
		}
		w.Write([]byte(`{"data":{"n":7},"error_code":"0","error_msg":"OK"}`))
	}))
	defer srv.Close()

	r := MustDo(t, "POST", srv.URL+"/x", "tok", "application/json", []byte(`{}`), "X-Extra", "1")
	if r.Status != 200 || r.Code() != "0" || r.Msg() != "OK" || r.Data()["n"] != 7.0 {
		t.Fatalf("got %d %s, want 200 with data n=7", r.Status, r.Raw)
	}
	var data struct{ N int }
	if err := r.decodeData(&data); err != nil || data.N != 7 {
		t.Fatalf("decodeData=%+v, %v; want n=7", data, err)
	}
	r = MustDo(t, "POST", srv.URL+"/x", "", "application/json", nil)
	if r.Status != 401 || r.Code() != "APIGW.0301" || r.Data() != nil {
		t.Fatalf("got %d %s, want 401 APIGW.0301", r.Status, r.Raw)
	}
	r, err := Do(context.Background(), "GET", srv.URL+"/text", "", "", nil)
	if err != nil || r.Status != 200 || r.Body != nil || string(r.Raw) != "ok" {
		t.Fatalf("non-JSON answer: %+v, %v; want 200 \"ok\" and no Body", r, err)
	}
}
