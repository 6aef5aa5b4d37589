package phonefleet_test

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/phonefleet/phonefleet"
)

func TestParseClockAdvance(t *testing.T) {
	year := int64(365 * 24 * 3600)
	for _, tc := range []struct {
		in   string
		want phonefleet.ClockSpan
		msg  string // of the error, "" for none
	}{
		{"0", phonefleet.ClockSpan{}, ""},
		{"0s", phonefleet.ClockSpan{}, ""},
		{"-0s", phonefleet.ClockSpan{}, ""},
		{"1ns", phonefleet.ClockSpan{Nanos: 1}, ""},
		{"1us", phonefleet.ClockSpan{Nanos: 1000}, ""},
		{"1µs", phonefleet.ClockSpan{Nanos: 1000}, ""},
		{"121h", phonefleet.ClockSpan{Seconds: 121 * 3600}, ""},
		{"1h30m0.5s", phonefleet.ClockSpan{Seconds: 5400, Nanos: 5e8}, ""},
		{"1.5h", phonefleet.ClockSpan{Seconds: 5400}, ""},
		{".5s", phonefleet.ClockSpan{Nanos: 5e8}, ""},
		{"1.s", phonefleet.ClockSpan{Seconds: 1}, ""},
		{"+2s", phonefleet.ClockSpan{Seconds: 2}, ""},
		{"1.9ns", phonefleet.ClockSpan{Nanos: 1}, ""},
		// Past a time.Duration (292 years), up to 10,000 years.
		{"3000000h", phonefleet.ClockSpan{Seconds: 3000000 * 3600}, ""},
		{"87600000h", phonefleet.ClockSpan{Seconds: 10000 * year}, ""},
		{"88000000h", phonefleet.ClockSpan{}, "advance 88000000h is too large"},
		{"99999999999999999999999h", phonefleet.ClockSpan{}, "is too large"},
		{"-1ns", phonefleet.ClockSpan{}, "advance must not be negative"},
		{"-121h", phonefleet.ClockSpan{}, "advance must not be negative"},
		{"", phonefleet.ClockSpan{}, "advance must be a duration"},
		{"1", phonefleet.ClockSpan{}, "advance must be a duration"},
		{"5 days", phonefleet.ClockSpan{}, "advance must be a duration"},
		{"1d", phonefleet.ClockSpan{}, "advance must be a duration"},
		{".s", phonefleet.ClockSpan{}, "advance must be a duration"},
		{"-", phonefleet.ClockSpan{}, "advance must be a duration"},
		{"1h ", phonefleet.ClockSpan{}, "advance must be a duration"},
		{strings.Repeat("0", 64) + "1h", phonefleet.ClockSpan{}, "advance must be a duration"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := phonefleet.ParseClockAdvance(tc.in)
			if tc.msg == "" {
				if err != nil || got != tc.want {
					t.Fatalf("ParseClockAdvance(%q)=%v, %v; want %v", tc.in, got, err, tc.want)
				}
				return
			}
			if phonefleet.ErrorCode(err) != phonefleet.EInvalid || !strings.Contains(phonefleet.ErrorMessage(err), tc.msg) {
				t.Fatalf("ParseClockAdvance(%q)=%v, %v; want 1000 containing %q", tc.in, got, err, tc.msg)
			}
		})
	}
}

// FuzzParseClockAdvance: the decoder never panics, agrees with
// time.ParseDuration wherever that one decodes a non-negative duration (up
// to the float rounding of its fractions), refuses a negative one, yields
// only valid spans, and reads its own String back.
func FuzzParseClockAdvance(f *testing.F) {
	for _, s := range []string{"0", "0s", "1ns", "1us", "1µs", "121h", "1h30m", "1.5h", "-1s", ".5s", "3000000h", "1e3s", "", "1.h", "-0"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := phonefleet.ParseClockAdvance(s)
		if err != nil {
			if phonefleet.ErrorCode(err) != phonefleet.EInvalid || !strings.Contains(phonefleet.ErrorMessage(err), "advance") {
				t.Fatalf("ParseClockAdvance(%q): %v, want 1000 naming advance", s, err)
			}
		} else if !got.Valid() {
			t.Fatalf("ParseClockAdvance(%q)=%+v: not a valid span", s, got)
		}
		if d, derr := time.ParseDuration(s); derr == nil && len(s) <= 64 {
			switch {
			case d < 0 && err == nil:
				t.Fatalf("ParseClockAdvance(%q)=%v, want refused as time.ParseDuration says %v", s, got, d)
			case d >= 0 && err != nil:
				t.Fatalf("ParseClockAdvance(%q): %v; time.ParseDuration says %v", s, err, d)
			case d >= 0:
				ns := got.Seconds*1e9 + got.Nanos
				if diff := ns - int64(d); diff > 1000 || diff < -1000 {
					t.Fatalf("ParseClockAdvance(%q)=%v (%dns), time.ParseDuration %v", s, got, ns, d)
				}
			}
		}
		if err == nil {
			back, err := phonefleet.ParseClockAdvance(got.String())
			if err != nil || back != got {
				t.Fatalf("ParseClockAdvance(%q)=%+v, String %q reads back as %+v, %v", s, got, got.String(), back, err)
			}
		}
	})
}

func TestClockSpan(t *testing.T) {
	base := time.Date(2026, 12, 1, 10, 0, 0, 500, time.UTC)
	for _, to := range []time.Time{
		base, base.Add(time.Nanosecond), base.Add(121 * time.Hour),
		time.Date(2400, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(9999, 6, 1, 0, 0, 0, 123456789, time.UTC),
		phonefleet.MaxBusinessTime,
	} {
		s := phonefleet.ClockSpanBetween(base, to)
		if !s.Valid() {
			t.Fatalf("ClockSpanBetween(%v, %v)=%+v: invalid", base, to, s)
		}
		if got := s.AddTo(base); !got.Equal(to) {
			t.Fatalf("ClockSpanBetween(%v, %v)=%+v, AddTo back=%v", base, to, s, got)
		}
	}
	if s := phonefleet.ClockSpanBetween(base, base.Add(-time.Second)); !s.IsZero() {
		t.Fatalf("ClockSpanBetween of a time before=%+v, want zero", s)
	}
	// Business time stops at the end of year 9999, whatever the offset.
	for _, s := range []phonefleet.ClockSpan{{Seconds: 8000 * 366 * 86400}, {Seconds: math.MaxInt64}, {Seconds: -1}, {Nanos: 2e9}} {
		if got := s.AddTo(base); !got.Equal(phonefleet.MaxBusinessTime) {
			t.Fatalf("%+v.AddTo=%v, want MaxBusinessTime", s, got)
		}
	}
}

func TestPlanClockOffset(t *testing.T) {
	base := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	cur := phonefleet.ClockSpan{Seconds: 3600} // an offset of 1h already
	old := base.Add(time.Hour)
	at := func(t time.Time) *time.Time { return &t }
	span := func(s string) *phonefleet.ClockSpan {
		v, err := phonefleet.ParseClockAdvance(s)
		if err != nil {
			t.Fatal(err)
		}
		return &v
	}
	y2400 := time.Date(2400, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name string
		m    phonefleet.ClockMove
		unit time.Duration
		want time.Time
		msg  string
	}{
		{"Advance", phonefleet.ClockMove{Advance: span("121h")}, 1, old.Add(121 * time.Hour), ""},
		{"AdvanceZero", phonefleet.ClockMove{Advance: span("0s")}, 1, old, ""},
		{"Advance1ns", phonefleet.ClockMove{Advance: span("1ns")}, 1, old.Add(time.Nanosecond), ""},
		{"Advance1nsMicroseconds", phonefleet.ClockMove{Advance: span("1ns")}, time.Microsecond, old, ""},
		{"Advance1us", phonefleet.ClockMove{Advance: span("1us")}, time.Microsecond, old.Add(time.Microsecond), ""},
		{"AdvanceCenturies", phonefleet.ClockMove{Advance: span("3000000h")}, 1, phonefleet.ClockSpan{Seconds: 3000000 * 3600}.AddTo(old), ""},
		{"AdvanceToTheEnd", phonefleet.ClockMove{Advance: func() *phonefleet.ClockSpan {
			s := phonefleet.ClockSpanBetween(old, phonefleet.MaxBusinessTime)
			return &s
		}()}, 1, phonefleet.MaxBusinessTime, ""},
		{"ErrAdvancePast9999", phonefleet.ClockMove{Advance: span("87600000h")}, 1, time.Time{}, "advance 87600000h0m0s would move business time past 9999-12-31T23:59:59.999999999Z"},
		{"Now", phonefleet.ClockMove{Now: at(y2400)}, 1, y2400, ""},
		{"NowSame", phonefleet.ClockMove{Now: at(old)}, 1, old, ""},
		{"NowZone", phonefleet.ClockMove{Now: at(time.Date(2400, 1, 1, 2, 0, 0, 0, time.FixedZone("", 7200)))}, 1, y2400, ""},
		{"NowMicroseconds", phonefleet.ClockMove{Now: at(y2400.Add(1500 * time.Nanosecond))}, time.Microsecond, y2400.Add(time.Microsecond), ""},
		{"Now9999", phonefleet.ClockMove{Now: at(phonefleet.MaxBusinessTime)}, 1, phonefleet.MaxBusinessTime, ""},
		{"ErrNowBack", phonefleet.ClockMove{Now: at(old.Add(-time.Nanosecond))}, 1, time.Time{}, "now must not be in the past: business time is already 2026-12-01T11:00:00Z"},
		{"ErrNowPast9999", phonefleet.ClockMove{Now: at(time.Date(9999, 12, 31, 23, 0, 0, 0, time.FixedZone("", -3600)))}, 1, time.Time{}, "now must be at most 9999-12-31T23:59:59.999999999Z"},
		{"ErrNeither", phonefleet.ClockMove{}, 1, time.Time{}, "give exactly one of advance"},
		{"ErrBoth", phonefleet.ClockMove{Now: at(y2400), Advance: span("1h")}, 1, time.Time{}, "give exactly one of advance"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := phonefleet.PlanClockOffset(&tc.m, base, cur, tc.unit)
			if tc.msg != "" {
				if phonefleet.ErrorCode(err) != phonefleet.EInvalid || !strings.Contains(phonefleet.ErrorMessage(err), tc.msg) {
					t.Fatalf("PlanClockOffset=%+v, %v; want 1000 containing %q", p, err, tc.msg)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !p.Old.Equal(old) || !p.New.Equal(tc.want) || p.New.Location() != time.UTC {
				t.Fatalf("PlanClockOffset: %v -> %v, want %v -> %v (UTC)", p.Old, p.New, old, tc.want)
			}
			if !p.Offset.Valid() || p.Offset.Less(cur) {
				t.Fatalf("offset %+v: invalid or smaller than %+v", p.Offset, cur)
			}
			// What the move answers is what the store then shows.
			if got := p.Offset.AddTo(base); !got.Equal(p.New) {
				t.Fatalf("offset %+v makes %v, want %v", p.Offset, got, p.New)
			}
		})
	}
}

func TestClockAuditEvent(t *testing.T) {
	old := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	p := &phonefleet.ClockPlan{Old: old, New: old.Add(121 * time.Hour)}
	adv := phonefleet.ClockSpan{Seconds: 121 * 3600}
	for _, tc := range []struct {
		m    phonefleet.ClockMove
		want string
	}{
		{phonefleet.ClockMove{TenantID: "tn1", Advance: &adv, TokenID: "tk1", UserName: "alice", RequestID: "r1"},
			"test clock moved from 2026-12-01T10:00:00Z to 2026-12-06T11:00:00Z (advance 121h0m0s) by user alice"},
		{phonefleet.ClockMove{TenantID: "tn1", Advance: &adv, TokenID: "tk1"}, "(advance 121h0m0s) by token tk1"},
		{phonefleet.ClockMove{TenantID: "tn1", Now: &p.New, Operator: "operator/cli"}, "(now 2026-12-06T11:00:00Z) by operator/cli"},
	} {
		e := phonefleet.ClockAuditEvent(&tc.m, p)
		if !strings.Contains(e.Detail, tc.want) || e.TenantID != "tn1" || !e.At.Equal(p.New) ||
			e.Action != phonefleet.AuditActionClockMove || e.ErrorCode != phonefleet.ECodeOK ||
			e.TokenID != tc.m.TokenID || e.UserName != tc.m.UserName || e.RequestID != tc.m.RequestID {
			t.Fatalf("ClockAuditEvent=%+v, want detail containing %q", e, tc.want)
		}
	}
}
