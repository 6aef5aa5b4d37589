package phonefleet

import (
	"unicode"
	"unicode/utf8"
)

// CheckText returns EInvalid naming field unless s is valid UTF-8 free of
// control characters and of the Unicode bidirectional embedding, override
// and isolate characters (U+202A–U+202E, U+2066–U+2069), which can make a
// name display as something it is not.
func CheckText(field, s string) error {
	if !utf8.ValidString(s) {
		return Errorf(EInvalid, "%s must be valid UTF-8", field)
	}
	for _, c := range s {
		if unicode.IsControl(c) {
			return Errorf(EInvalid, "%s must not contain control characters", field)
		}
		if IsBidiControl(c) {
			return Errorf(EInvalid, "%s must not contain bidirectional override characters (U+%04X)", field, c)
		}
	}
	return nil
}

// IsBidiControl reports whether c is a bidirectional embedding, override or
// isolate character.
func IsBidiControl(c rune) bool {
	return c >= 0x202A && c <= 0x202E || c >= 0x2066 && c <= 0x2069
}
