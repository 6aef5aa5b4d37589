package postgres_test

import (
	"flag"
	"fmt"
	"os"
	"testing"

	"github.com/phonefleet/phonefleet/internal/testingutil"
)

// The multi-node, failover and copy tests run the phonefleet binary as an
// operator would, through internal/testingutil; these are their KooPhone
// request and answer shapes.

// TestMain says, even without -v, when the PostgreSQL tests will skip, and
// fails the package instead where they must run (see requirePostgres).
func TestMain(m *testing.M) {
	flag.Parse()
	if os.Getenv(testURLEnv) == "" {
		if why := requirePostgres(); why != "" {
			fmt.Fprintf(os.Stderr, "postgres tests cannot run: %s is not set, and %s\n", testURLEnv, why)
			os.Exit(1)
		}
		sayOnce(fmt.Sprintf("postgres tests skipped: %s is not set\n", testURLEnv))
	}
	testingutil.Main(m)
}

// sayOnce prints msg where the developer sees it: go test hides a passing
// package's output unless -v, so without -v it goes to the terminal
// (/dev/tty) when there is one, and to stderr otherwise (and with -v).
func sayOnce(msg string) {
	if !testing.Verbose() {
		if tty, err := os.OpenFile("/dev/tty", os.O_WRONLY, 0); err == nil {
			defer tty.Close()
			if _, err := tty.WriteString(msg); err == nil {
				return
			}
		}
	}
	fmt.Fprint(os.Stderr, msg)
}

// purchaseBody is a CreateInstance request for count monthly instances of
// the default catalogue.
func purchaseBody(prefix string, count int) map[string]any {
	return map[string]any{
		"os": "AOSP11", "instanceSkuId": "kp.pro.2u4g", "bandSkuId": "kp.band.bgp.standard",
		"regionId": "cn-north-4", "instanceNamePrefix": prefix, "bandSize": 2, "count": count,
		"chargeParam": map[string]any{"chargingMode": 1, "periodType": 2, "periodNum": 1},
	}
}

// purchaseData is the data of a CreateInstance answer.
type purchaseData struct {
	OrderID       string `json:"orderId"`
	InstanceInfos []struct {
		InstanceID string `json:"instanceId"`
	} `json:"instanceInfos"`
}

// statusData is the data of a batch-query-status answer.
type statusData struct {
	StatusResults []struct {
		InstanceID string `json:"instance_id"`
		Status     int    `json:"status"`
	} `json:"status_results"`
}

// MustStatuses asks node for the statuses of ids (at most 100).
func MustStatuses(tb testing.TB, node *testingutil.Node, token string, ids []string) map[string]int {
	tb.Helper()
	var data statusData
	node.MustDo(tb, "POST", "/v1/instances/batch-query-status", token, map[string]any{"instance_ids": ids}, &data)
	out := make(map[string]int, len(data.StatusResults))
	for _, r := range data.StatusResults {
		out[r.InstanceID] = r.Status
	}
	if len(out) != len(ids) {
		tb.Fatalf("batch-query-status answered %d of %d IDs", len(out), len(ids))
	}
	return out
}
