package phonefleet

import (
	"crypto/rand"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
)

const idAlphabet = "abcdefghijklmnopqrstuvwxyz0123456789"

// NewID returns n random characters of [a-z0-9] from crypto/rand. Instance,
// order, tenant and token IDs are made with it.
func NewID(n int) string {
	b := make([]byte, n)
	buf := make([]byte, n*2)
	for i := 0; i < n; {
		rand.Read(buf)
		for _, c := range buf {
			// 252 = 7*36: reject the tail so every character is equally likely.
			if c >= 252 {
				continue
			}
			b[i] = idAlphabet[int(c)%len(idAlphabet)]
			if i++; i == n {
				break
			}
		}
	}
	return string(b)
}

// NewTimeID returns 20 characters of [a-z0-9]: the current Unix time in
// milliseconds in base 36, zero-padded to 9 characters, then 11 random ones
// (NewID). IDs made later sort after earlier ones (to the millisecond), so
// a table keyed by them grows at its end: a command's insert touches the
// last pages of its primary key and event ID indexes instead of a random
// page of each.
func NewTimeID() string {
	return pad36(time.Now().UnixMilli(), 9) + NewID(11)
}

// NewInstanceID returns a new 18-character instance ID of [a-z0-9]: the
// Unix time in milliseconds in base 36 (9 characters), 5 random characters
// drawn once per process, and a 4-character sequence. IDs made by one
// process increase, so the instances of one purchase are neighbours in
// every index keyed by instance ID, and a request naming instances bought
// together touches a few pages instead of one page each.
func NewInstanceID() string { return instanceIDs.next(time.Now().UnixMilli()) }

var instanceIDs = &idSequence{node: NewID(5)}

// idSequence makes increasing IDs: a millisecond, a node part and a
// sequence within the millisecond. When the clock goes back, it goes on
// counting in the last millisecond it used; when a millisecond's sequence
// runs out, it goes on in the millisecond after.
type idSequence struct {
	node string
	mu   sync.Mutex
	ms   int64
	seq  int64
}

// idSeqMax is the number of IDs of one millisecond: 4 characters of base 36.
const idSeqMax = 36 * 36 * 36 * 36

func (s *idSequence) next(now int64) string {
	s.mu.Lock()
	if now > s.ms {
		s.ms, s.seq = now, 0
	} else if s.seq++; s.seq == idSeqMax {
		s.ms, s.seq = s.ms+1, 0
	}
	ms, seq := s.ms, s.seq
	s.mu.Unlock()
	return pad36(ms, 9) + s.node + pad36(seq, 4)
}

// pad36 returns n in base 36, zero-padded to width characters.
func pad36(n int64, width int) string {
	d := strconv.FormatInt(n, 36)
	return strings.Repeat("0", max(0, width-len(d))) + d
}

var instanceIDRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,32}$`)

// ValidInstanceID reports whether id is 1–32 characters of [A-Za-z0-9_-], the
// form every instance ID in a request must have.
func ValidInstanceID(id string) bool { return instanceIDRE.MatchString(id) }
