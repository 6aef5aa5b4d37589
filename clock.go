package phonefleet

import (
	"cmp"
	"context"
	"fmt"
	"math/big"
	"time"
)

// The test clock lets integrators move business time forward (to check a
// refund on day 4 against day 6, or a second year's fee) without waiting.
//
// Each tenant has its own clock: its business time is the store's current
// time plus the tenant's offset, kept in the database, so every node and
// every restart agree on it, and moving one tenant's clock never moves
// another's. Business time governs what billing sees: purchase start and
// expiry, refunds, and the times the audit trail records. Security and
// delivery timing (token and lockout expiry, rate limits, leases, retry
// backoff) keep wall time. An offset only ever grows: business time never
// goes back. It is a ClockSpan (seconds and nanoseconds), never a
// time.Duration, which would overflow after about 292 years: business time
// reaches the end of year 9999 exactly (MaxBusinessTime) and stops there.

// ClockService reads and moves tenants' test clocks. Stores implement it; it
// is only served when the operator turns the test clock on.
type ClockService interface {
	// BusinessNow returns the tenant's current business time.
	BusinessNow(ctx context.Context, tenantID string) (time.Time, error)
	// MoveClock moves the tenant's clock as m says (PlanClockOffset) and
	// writes ClockAuditEvent in the same transaction. EInvalid (naming the
	// field of m that was given) if the move would go back or past
	// MaxBusinessTime, ENotFound if the tenant does not exist.
	MoveClock(ctx context.Context, m *ClockMove) (*ClockPlan, error)
}

// MaxBusinessTime is the last instant business time can reach: the end of
// year 9999, the last year an RFC 3339 time can write. A clock that gets
// there stands still.
var MaxBusinessTime = time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC)

// AuditActionClockMove is the audit action of a move of a tenant's clock.
const AuditActionClockMove = "testClockMove"

// ClockSpan is a non-negative length of time in whole seconds plus
// nanoseconds (0 ≤ Nanos < 1e9): a tenant's clock offset, or how far a move
// advances it. It reaches from any time to the end of year 9999, where a
// time.Duration stops at about 292 years.
type ClockSpan struct {
	Seconds int64
	Nanos   int64
}

// maxClockSpanSeconds bounds a span: 10,000 years, more than any span
// between two times a clock can show.
const maxClockSpanSeconds = 10000 * 366 * 24 * 3600

// Valid reports whether s is normalized and within bounds, as a stored
// offset must be.
func (s ClockSpan) Valid() bool {
	return s.Seconds >= 0 && s.Seconds <= maxClockSpanSeconds && s.Nanos >= 0 && s.Nanos < 1e9
}

// IsZero reports whether s is no time at all.
func (s ClockSpan) IsZero() bool { return s.Seconds == 0 && s.Nanos == 0 }

// Less reports whether s is shorter than o.
func (s ClockSpan) Less(o ClockSpan) bool {
	return s.Seconds < o.Seconds || s.Seconds == o.Seconds && s.Nanos < o.Nanos
}

// AddTo returns t moved forward by s, in UTC, stopping at MaxBusinessTime.
// An invalid span (a corrupt stored offset) counts as reaching the end.
func (s ClockSpan) AddTo(t time.Time) time.Time {
	if !s.Valid() {
		return MaxBusinessTime
	}
	r := time.Unix(t.Unix()+s.Seconds, int64(t.Nanosecond())+s.Nanos).UTC()
	if r.After(MaxBusinessTime) {
		return MaxBusinessTime
	}
	return r
}

// ClockSpanBetween returns the span from from to to; zero if to is not
// after from.
func ClockSpanBetween(from, to time.Time) ClockSpan {
	if !to.After(from) {
		return ClockSpan{}
	}
	sec := to.Unix() - from.Unix()
	ns := int64(to.Nanosecond()) - int64(from.Nanosecond())
	if ns < 0 {
		sec, ns = sec-1, ns+1e9
	}
	return ClockSpan{Seconds: sec, Nanos: ns}
}

// String writes s as a Go duration ("121h0m0s"), also past what a
// time.Duration holds.
func (s ClockSpan) String() string {
	if s.Seconds < 1<<33 { // well within a time.Duration
		return (time.Duration(s.Seconds)*time.Second + time.Duration(s.Nanos)).String()
	}
	frac := ""
	if s.Nanos > 0 {
		frac = fmt.Sprintf(".%09d", s.Nanos)
		for frac[len(frac)-1] == '0' {
			frac = frac[:len(frac)-1]
		}
	}
	return fmt.Sprintf("%dh%dm%d%ss", s.Seconds/3600, s.Seconds/60%60, s.Seconds%60, frac)
}

// clockUnits are the units of a duration, in nanoseconds, as Go writes
// them.
var clockUnits = map[string]int64{
	"ns": 1, "us": 1e3, "µs": 1e3, "μs": 1e3, "ms": 1e6,
	"s": 1e9, "m": 60e9, "h": 3600e9,
}

// maxClockAdvanceLen bounds the text of an advance.
const maxClockAdvanceLen = 64

// ParseClockAdvance decodes the advance of a move: a Go duration ("121h",
// "1h30m", "0s", "1ns", "1.5h"), with the same syntax as time.ParseDuration
// (fractions below a nanosecond are dropped) but no 292-year limit. Errors
// are EInvalid naming advance: not a duration, negative, or longer than any
// clock can go (10,000 years).
func ParseClockAdvance(text string) (ClockSpan, error) {
	bad := Errorf(EInvalid, `advance must be a duration such as "121h", "30m" or "1ns"`)
	s := text
	if s == "" || len(s) > maxClockAdvanceLen {
		return ClockSpan{}, bad
	}
	neg := false
	if s[0] == '-' || s[0] == '+' {
		neg, s = s[0] == '-', s[1:]
	}
	if s == "0" {
		return ClockSpan{}, nil
	} else if s == "" {
		return ClockSpan{}, bad
	}
	isDigit := func(c byte) bool { return '0' <= c && c <= '9' }
	total := new(big.Int)
	for s != "" {
		i := 0
		for i < len(s) && isDigit(s[i]) {
			i++
		}
		whole := s[:i]
		s = s[i:]
		frac := ""
		if s != "" && s[0] == '.' {
			s = s[1:]
			i = 0
			for i < len(s) && isDigit(s[i]) {
				i++
			}
			frac, s = s[:i], s[i:]
		}
		if whole == "" && frac == "" {
			return ClockSpan{}, bad
		}
		i = 0
		for i < len(s) && s[i] != '.' && !isDigit(s[i]) {
			i++
		}
		unit, ok := clockUnits[s[:i]]
		if !ok {
			return ClockSpan{}, bad
		}
		s = s[i:]
		u := big.NewInt(unit)
		if whole != "" {
			v, _ := new(big.Int).SetString(whole, 10)
			total.Add(total, v.Mul(v, u))
		}
		if frac != "" {
			f, _ := new(big.Int).SetString(frac, 10)
			scale := new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(len(frac))), nil)
			total.Add(total, f.Mul(f, u).Quo(f, scale))
		}
	}
	if neg && total.Sign() > 0 {
		return ClockSpan{}, Errorf(EInvalid, "advance must not be negative: the test clock never goes back")
	}
	sec, ns := new(big.Int).QuoRem(total, big.NewInt(1e9), new(big.Int))
	if !sec.IsInt64() || sec.Int64() > maxClockSpanSeconds {
		return ClockSpan{}, Errorf(EInvalid, "advance %s is too large: business time ends with year 9999", text)
	}
	return ClockSpan{Seconds: sec.Int64(), Nanos: ns.Int64()}, nil
}

// ClockMove is one move of a tenant's clock: to a time (Now) or forward by
// a span (Advance), exactly one of them, and who made it.
type ClockMove struct {
	TenantID string
	Now      *time.Time
	Advance  *ClockSpan

	// Who moved it, for the audit event: the caller's token, tenant user
	// and request, or Operator for a move from the operator's side (such
	// as "operator/cli").
	TokenID, UserName, RequestID string
	Operator                     string
	// Actor is who called (Principal.Actor); "" means Operator, else
	// UserName, else ActorSystem.
	Actor string
	// ClientAddr is the caller's address (empty from the operator's side).
	ClientAddr string
}

// ClockPlan is what a move decided: the tenant's business time before and
// after, and the offset that makes it so.
type ClockPlan struct {
	Old, New time.Time
	Offset   ClockSpan
}

// PlanClockOffset plans m for a tenant whose offset is cur when the store's
// own time is base; unit is the precision the store keeps (the new time is
// truncated to it, so that what the move answers is what the store will
// show). Errors are EInvalid and name the field m gives: neither or both
// given, a Now before the current business time or after MaxBusinessTime,
// an Advance that goes past MaxBusinessTime.
func PlanClockOffset(m *ClockMove, base time.Time, cur ClockSpan, unit time.Duration) (*ClockPlan, error) {
	if (m.Now == nil) == (m.Advance == nil) {
		return nil, Errorf(EInvalid, `give exactly one of advance (a duration such as "121h") and now (an RFC 3339 time)`)
	}
	old := cur.AddTo(base)
	var to time.Time
	if m.Now != nil {
		to = m.Now.UTC()
		if to.After(MaxBusinessTime) {
			return nil, Errorf(EInvalid, "now must be at most %s: business time ends with year 9999", MaxBusinessTime.Format(time.RFC3339Nano))
		} else if to.Before(old) {
			return nil, Errorf(EInvalid, "now must not be in the past: business time is already %s", old.Format(time.RFC3339Nano))
		}
	} else {
		if !m.Advance.Valid() || ClockSpanBetween(old, MaxBusinessTime).Less(*m.Advance) {
			return nil, Errorf(EInvalid, "advance %s would move business time past %s (it is %s)",
				m.Advance, MaxBusinessTime.Format(time.RFC3339Nano), old.Format(time.RFC3339Nano))
		}
		to = m.Advance.AddTo(old)
	}
	if unit > 1 {
		to = to.Truncate(unit)
		if to.Before(old) { // a step smaller than the store keeps
			to = old
		}
	}
	off := ClockSpanBetween(base, to)
	if off.Less(cur) { // the clock stands at MaxBusinessTime
		off = cur
	}
	return &ClockPlan{Old: old, New: to, Offset: off}, nil
}

// ClockAuditEvent returns the audit event of a move that planned p; the
// stores write it in the move's transaction, at the new business time.
func ClockAuditEvent(m *ClockMove, p *ClockPlan) *AuditEvent {
	how := "now " + p.New.Format(time.RFC3339Nano)
	if m.Advance != nil {
		how = "advance " + m.Advance.String()
	}
	who := m.Operator
	switch {
	case who != "":
	case m.UserName != "":
		who = "user " + m.UserName
	case m.TokenID != "":
		who = "token " + m.TokenID
	default:
		who = "unknown"
	}
	return &AuditEvent{
		At: p.New, TenantID: m.TenantID, TokenID: m.TokenID, UserName: m.UserName, Action: AuditActionClockMove,
		Actor:     auditActor(cmp.Or(m.Actor, m.Operator), m.UserName),
		RequestID: m.RequestID, ClientAddr: m.ClientAddr, InstanceIDs: []string{}, ErrorCode: ECodeOK,
		Detail: fmt.Sprintf("test clock moved from %s to %s (%s) by %s",
			p.Old.Format(time.RFC3339Nano), p.New.Format(time.RFC3339Nano), how, who),
	}
}
