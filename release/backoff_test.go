package release

import (
	"testing"
	"time"
)

func TestBackoff(t *testing.T) {
	const s = time.Second
	mid := func() float64 { return 0.5 } // no jitter
	low := func() float64 { return 0 }   // -20%
	high := func() float64 { return 0.999999999 }

	for _, tt := range []struct {
		attempt int
		want    time.Duration // with no jitter
	}{
		{0, 1 * s}, {1, 1 * s}, {2, 2 * s}, {3, 4 * s}, {4, 8 * s}, {5, 16 * s}, {6, 32 * s},
		{7, 64 * s}, {8, 128 * s}, {9, 256 * s}, {10, 300 * s}, {19, 300 * s}, {1000, 300 * s},
	} {
		if got := Backoff(tt.attempt, s, 5*time.Minute, mid); got != tt.want {
			t.Fatalf("Backoff(%d)=%v, want %v", tt.attempt, got, tt.want)
		}
		if got, want := Backoff(tt.attempt, s, 5*time.Minute, low), tt.want*8/10; got != want {
			t.Fatalf("Backoff(%d, low)=%v, want %v", tt.attempt, got, want)
		}
		hi := Backoff(tt.attempt, s, 5*time.Minute, high)
		if want := min(tt.want*12/10, 5*time.Minute); hi > want || hi < want-time.Millisecond {
			t.Fatalf("Backoff(%d, high)=%v, want just under %v", tt.attempt, hi, want)
		}
	}

	t.Run("RandomJitterWithinBounds", func(t *testing.T) {
		for attempt := 1; attempt <= 12; attempt++ {
			base := min(s<<(attempt-1), 5*time.Minute)
			for range 200 {
				got := Backoff(attempt, s, 5*time.Minute, nil)
				if lo, hi := base*8/10, min(base*12/10, 5*time.Minute); got < lo || got > hi {
					t.Fatalf("Backoff(%d)=%v, want within [%v, %v]", attempt, got, lo, hi)
				}
			}
		}
	})

	t.Run("Edges", func(t *testing.T) {
		if got := Backoff(3, 0, time.Minute, mid); got != 0 {
			t.Fatalf("Backoff(first=0)=%v, want 0", got)
		}
		if got := Backoff(1, time.Minute, time.Second, mid); got != time.Minute {
			t.Fatalf("Backoff(first>max)=%v, want first", got)
		}
		if got := Backoff(200, time.Duration(1<<62), time.Duration(1<<62+1<<61), mid); got <= 0 {
			t.Fatalf("Backoff(huge)=%v, want positive (no overflow)", got)
		}
	})
}

func TestLogThrottle(t *testing.T) {
	l := logThrottle{interval: 10 * time.Second}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

	if ok, n := l.allow("claim", t0); !ok || n != 0 {
		t.Fatalf("first=(%v, %d), want (true, 0)", ok, n)
	}
	for i := 1; i <= 3; i++ {
		if ok, _ := l.allow("claim", t0.Add(time.Duration(i)*time.Second)); ok {
			t.Fatalf("repeat %d within the interval allowed", i)
		}
	}
	if ok, _ := l.allow("deliver", t0.Add(time.Second)); !ok {
		t.Fatal("another kind was held back")
	}
	if ok, n := l.allow("claim", t0.Add(10*time.Second)); !ok || n != 3 {
		t.Fatalf("after the interval=(%v, %d), want (true, 3)", ok, n)
	}
	if ok, _ := l.allow("claim", t0.Add(11*time.Second)); ok {
		t.Fatal("the interval did not restart")
	}
}

func TestCleanText(t *testing.T) {
	for _, tt := range []struct {
		in   string
		max  int
		want string
	}{
		{"status 500: busy", 100, "status 500: busy"},
		{"a\x00b\nc", 100, "a b c"},
		{"bad \xff\xfe byte", 100, "bad \uFFFD byte"},
		{"héllo", 2, "h"}, // é is two bytes: never cut in half
		{"héllo", 3, "hé"},
	} {
		if got := cleanText(tt.in, tt.max); got != tt.want {
			t.Fatalf("cleanText(%q, %d)=%q, want %q", tt.in, tt.max, got, tt.want)
		}
	}
}
