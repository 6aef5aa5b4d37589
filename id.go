package phonefleet

import (
	"crypto/rand"
	"regexp"
	"strconv"
	"strings"
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
	ms := strconv.FormatInt(time.Now().UnixMilli(), 36)
	return strings.Repeat("0", max(0, 9-len(ms))) + ms + NewID(11)
}

// NewInstanceID returns a new 8-character instance ID.
func NewInstanceID() string { return NewID(8) }

var instanceIDRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,32}$`)

// ValidInstanceID reports whether id is 1–32 characters of [A-Za-z0-9_-], the
// form every instance ID in a request must have.
func ValidInstanceID(id string) bool { return instanceIDRE.MatchString(id) }
