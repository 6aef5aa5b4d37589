package phonefleet_test

import (
	"testing"
	"time"

	"github.com/phonefleet/phonefleet"
)

func TestPlanClockOffset(t *testing.T) {
	base := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	cur := base.Add(time.Hour) // an offset of 1h already
	for _, tc := range []struct {
		name string
		to   time.Time
		want time.Duration
		code string
	}{
		{"Forward", cur.Add(121 * time.Hour), 122 * time.Hour, ""},
		{"Same", cur, time.Hour, ""},
		{"ErrBack", cur.Add(-time.Nanosecond), 0, phonefleet.EInvalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := phonefleet.PlanClockOffset(base, cur, tc.to)
			if phonefleet.ErrorCode(err) != tc.code || got != tc.want {
				t.Fatalf("PlanClockOffset=%v, %v; want %v, %q", got, err, tc.want, tc.code)
			}
		})
	}
}
