package phonefleet_test

import (
	"strings"
	"testing"
	"time"

	"github.com/phonefleet/phonefleet"
)

func TestValidateClaim(t *testing.T) {
	if err := phonefleet.ValidateClaim("w1", 1, time.Microsecond); err != nil {
		t.Fatalf("ValidateClaim of a good claim: %v", err)
	}
	for _, tc := range []struct {
		name, owner string
		limit       int
		lease       time.Duration
		want        string
	}{
		{"NoOwner", "", 1, time.Second, "owner"},
		{"ZeroLimit", "w1", 0, time.Second, "limit"},
		{"NegativeLimit", "w1", -1, time.Second, "limit"},
		{"ZeroLease", "w1", 1, 0, "lease"},
		{"NegativeLease", "w1", 1, -time.Second, "lease"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := phonefleet.ValidateClaim(tc.owner, tc.limit, tc.lease)
			if code := phonefleet.ErrorCode(err); code != phonefleet.EInvalid {
				t.Fatalf("ErrorCode=%q, want %q (err: %v)", code, phonefleet.EInvalid, err)
			} else if !strings.Contains(phonefleet.ErrorMessage(err), tc.want) {
				t.Fatalf("message %q does not name the %s", phonefleet.ErrorMessage(err), tc.want)
			}
		})
	}
}
