package phonefleet

import (
	"crypto/rand"
	"regexp"
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

// NewInstanceID returns a new 8-character instance ID.
func NewInstanceID() string { return NewID(8) }

var instanceIDRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,32}$`)

// ValidInstanceID reports whether id is 1–32 characters of [A-Za-z0-9_-], the
// form every instance ID in a request must have.
func ValidInstanceID(id string) bool { return instanceIDRE.MatchString(id) }
