package phonefleet

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"strings"
)

// SignaturePrefix starts every X-Phonefleet-Signature value.
const SignaturePrefix = "sha256="

// Sign returns the X-Phonefleet-Signature value of body: "sha256=" and the
// hex HMAC-SHA256 of body keyed with secret. Webhooks to the data plane and
// the data plane's reports back are signed alike.
func Sign(secret, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write(body)
	return SignaturePrefix + hex.EncodeToString(m.Sum(nil))
}

// VerifySignature reports whether header is the valid signature of body
// under secret. The comparison runs in constant time.
func VerifySignature(secret, body []byte, header string) bool {
	hexSum, ok := strings.CutPrefix(header, SignaturePrefix)
	if !ok {
		return false
	}
	got, err := hex.DecodeString(hexSum)
	if err != nil {
		return false
	}
	m := hmac.New(sha256.New, secret)
	m.Write(body)
	return hmac.Equal(got, m.Sum(nil))
}
