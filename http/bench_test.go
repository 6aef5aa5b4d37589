package http_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/phonefleet/phonefleet"
)

// BenchmarkDelete measures POST /v1/instances/delete over loopback HTTP with
// many clients, against two baselines in the same run:
//
//   - Bare: a net/http handler that only decodes the body and writes the
//     static success JSON (the ceiling of DESIGN.md "Performance design");
//   - Mock: the whole server (request ID, metrics, auth, decoding, audit
//     plumbing) with a store that answers at once;
//   - SQLite: the whole server on a real SQLite file, each request
//     unsubscribing 10 instances that no other request names.
//
// Compare the sub-benchmarks as ratios; absolute numbers vary with the
// machine and its load.
func BenchmarkDelete(b *testing.B) {
	b.Run("Bare", func(b *testing.B) {
		ok := []byte(`{"data":null,"error_code":"0","error_msg":"OK"}`)
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			var req struct {
				InstanceIDList []string `json:"instanceIdList"`
			}
			if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(&req); err != nil || len(req.InstanceIDList) == 0 {
				http.Error(w, "bad", http.StatusBadRequest)
				return
			}
			w.Header().Set("Content-Type", "application/json")
			w.Write(ok)
		}))
		defer srv.Close()
		benchDeletes(b, srv.URL, "", func(int64) []string { return tenIDs("bare", 0) })
	})

	b.Run("Mock", func(b *testing.B) {
		s := MustOpenServer(b, func(s *TestServer) {
			s.Store.UnsubscribeFn = func(ctx context.Context, req *phonefleet.UnsubscribeRequest) (*phonefleet.UnsubscribePlan, error) {
				return &phonefleet.UnsubscribePlan{Currency: phonefleet.Currency}, nil
			}
		})
		benchDeletes(b, s.URL(), adminToken, func(int64) []string { return tenIDs("mock", 0) })
	})

	b.Run("SQLite", func(b *testing.B) {
		e := MustOpenE2E(b)
		_, token := e.MustTenant(b, "bench")
		var ids []string
		for len(ids) < b.N*10 {
			ids = append(ids, e.MustBuy(b, token, min(1500, b.N*10-len(ids)), 1)...)
		}
		benchDeletes(b, e.URL(), token, func(i int64) []string { return ids[i*10 : i*10+10] })
	})
}

// benchDeletes sends b.N delete requests from parallel clients; batch(i)
// gives the IDs of the i-th request. Every answer must be a success.
func benchDeletes(b *testing.B, url, token string, batch func(int64) []string) {
	b.Helper()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256}}
	defer client.CloseIdleConnections()
	var next atomic.Int64
	b.SetParallelism(16)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			body, _ := json.Marshal(map[string][]string{"instanceIdList": batch(next.Add(1) - 1)})
			req, _ := http.NewRequest("POST", url+"/v1/instances/delete", bytes.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("X-Auth-Token", token)
			resp, err := client.Do(req)
			if err != nil {
				b.Error(err)
				return
			}
			out, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 || !strings.Contains(string(out), `"error_code":"0"`) {
				b.Errorf("delete: %d %s", resp.StatusCode, out)
				return
			}
		}
	})
}

// tenIDs returns ten distinct valid instance IDs.
func tenIDs(prefix string, n int) []string {
	ids := make([]string, 10)
	for i := range ids {
		ids[i] = fmt.Sprintf("%s%d_%d", prefix, n, i)
	}
	return ids
}
