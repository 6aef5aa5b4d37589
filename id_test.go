package phonefleet_test

import (
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/phonefleet/phonefleet"
)

func TestNewID(t *testing.T) {
	re := regexp.MustCompile(`^[a-z0-9]*$`)
	for _, n := range []int{0, 1, 6, 8, 20, 100, 1000} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			id := phonefleet.NewID(n)
			if len(id) != n || !re.MatchString(id) {
				t.Fatalf("NewID(%d)=%q, want %d of [a-z0-9]", n, id, n)
			}
		})
	}
}

// TestNewID_Unique: 20,000 random IDs of 8 characters (the length
// instance IDs had) never repeat. TestNewInstanceID covers instance IDs,
// which increase.
func TestNewID_Unique(t *testing.T) {
	seen := map[string]bool{}
	for range 20000 {
		id := phonefleet.NewID(8)
		if seen[id] {
			t.Fatalf("NewID(8) repeated %q", id)
		}
		seen[id] = true
	}
}

func TestNewID_Uniform(t *testing.T) {
	// Chi-square over the 36 characters of 72000 draws. Uniform: 35 degrees of
	// freedom, mean 35, P(χ² > 100) < 1e-7. A plain byte%36 (4 characters
	// 8/256 likely, 32 characters 7/256) scores about 140 on average.
	const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
	const n = 72000
	counts := map[rune]int{}
	for _, c := range phonefleet.NewID(n) {
		counts[c]++
	}
	if len(counts) != 36 {
		t.Fatalf("%d distinct characters, want 36", len(counts))
	}
	expected := float64(n) / 36
	var chi2 float64
	for _, c := range alphabet {
		d := float64(counts[c]) - expected
		chi2 += d * d / expected
	}
	if chi2 > 100 {
		t.Fatalf("chi-square=%.1f over %v, want < 100 for uniform characters", chi2, counts)
	}
}

// TestNewInstanceID: 18 of [a-z0-9], and each ID sorts after the one made
// before it (bytewise), even within one millisecond.
func TestNewInstanceID(t *testing.T) {
	prev := ""
	for range 5000 {
		id := phonefleet.NewInstanceID()
		if len(id) != 18 || !phonefleet.ValidInstanceID(id) || strings.ToLower(id) != id {
			t.Fatalf("NewInstanceID=%q, want 18 of [a-z0-9]", id)
		}
		if id <= prev {
			t.Fatalf("NewInstanceID=%q after %q, want it to sort after", id, prev)
		}
		prev = id
	}
}

func TestNewEventID(t *testing.T) {
	if id := phonefleet.NewEventID(); !regexp.MustCompile(`^evt_[a-z0-9]{20}$`).MatchString(id) {
		t.Fatalf("NewEventID=%q, want evt_ + 20 of [a-z0-9]", id)
	}
	if a, b := phonefleet.NewEventID(), phonefleet.NewEventID(); a == b {
		t.Fatalf("NewEventID repeated %q", a)
	}
}

// TestNewTimeID: 20 of [a-z0-9], unique, and an ID made in a later
// millisecond sorts after an earlier one (bytewise, as a B-tree orders
// TEXT keys).
func TestNewTimeID(t *testing.T) {
	re := regexp.MustCompile(`^[a-z0-9]{20}$`)
	first := phonefleet.NewTimeID()
	seen := map[string]bool{first: true}
	last := first
	for last[:9] == first[:9] { // until the millisecond changes
		last = phonefleet.NewTimeID()
		if !re.MatchString(last) || seen[last] {
			t.Fatalf("NewTimeID=%q: want a new 20 of [a-z0-9]", last)
		}
		seen[last] = true
	}
	if last <= first {
		t.Fatalf("NewTimeID made %q after %q, want it to sort after", last, first)
	}
	if job := phonefleet.NewJobID(); !strings.HasPrefix(job, "job_") || !re.MatchString(job[4:]) {
		t.Fatalf("NewJobID=%q, want job_ + 20 of [a-z0-9]", job)
	}
}

func TestValidInstanceID(t *testing.T) {
	for _, tt := range []struct {
		id   string
		want bool
	}{
		{"XvH39QVW", true},
		{"a", true},
		{"A-Z_a-z_0-9", true},
		{strings.Repeat("z", 32), true},
		{strings.Repeat("z", 33), false},
		{"", false},
		{"a b", false},
		{"a.b", false},
		{"a\x00", false},
		{"ab\n", false},
		{"é", false},
		{"'; DROP TABLE instances; --", false},
	} {
		t.Run(fmt.Sprintf("%q", tt.id), func(t *testing.T) {
			if got := phonefleet.ValidInstanceID(tt.id); got != tt.want {
				t.Fatalf("ValidInstanceID(%q)=%v, want %v", tt.id, got, tt.want)
			}
		})
	}
}
