package phonefleet

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strconv"
	"strings"
	"time"
)

// Messages between phonefleet and the data plane (webhook deliveries and
// the data plane's reports) are signed, version 2, over their time, method,
// path and body:
//
//	X-Phonefleet-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256>
//
// where the HMAC, keyed with the webhook secret, is of the text
// "<t>.<METHOD> <path>.<raw body>" (path as in the request line, without
// the query). Several v1= entries may be given while a secret rotates; the
// signature is valid if any matches. A receiver refuses a time more than
// SignatureTolerance away from its own and a signature it already accepted.
const (
	SignatureHeader    = "X-Phonefleet-Signature"
	SignatureTolerance = 5 * time.Minute

	// maxSignatureHeader bounds the header a verifier parses, and
	// maxSignatureEntries the v1= entries it tries.
	maxSignatureHeader  = 1024
	maxSignatureEntries = 8
)

// Why a signature is refused.
var (
	ErrSignatureMalformed = errors.New("X-Phonefleet-Signature is missing or not t=<unix seconds>,v1=<hex HMAC-SHA256>")
	ErrSignatureTime      = errors.New("X-Phonefleet-Signature time is more than 5 minutes away from the server's")
	ErrSignatureMismatch  = errors.New("X-Phonefleet-Signature is not the signature of this request's time, method, path and body")
)

// signatureMAC returns the HMAC-SHA256 of "<t>.<METHOD> <path>.<body>".
func signatureMAC(secret []byte, t int64, method, path string, body []byte) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(strconv.FormatInt(t, 10) + "." + method + " " + path + "."))
	m.Write(body)
	return m.Sum(nil)
}

// Sign returns the X-Phonefleet-Signature value of a request (method, path
// without the query, raw body) sent at time at, keyed with secret.
func Sign(secret []byte, at time.Time, method, path string, body []byte) string {
	t := at.Unix()
	return "t=" + strconv.FormatInt(t, 10) + ",v1=" + hex.EncodeToString(signatureMAC(secret, t, method, path, body))
}

// Signature is a parsed X-Phonefleet-Signature value.
type Signature struct {
	Time int64    // t=, unix seconds
	V1   [][]byte // the v1= HMACs, decoded
}

// ParseSignature parses an X-Phonefleet-Signature value: comma-separated
// key=value entries, exactly one t= (decimal unix seconds) and at least one
// v1= (64 hex digits). Entries with other keys are ignored, so a later
// version can be sent alongside; at most 8 v1= entries are taken.
func ParseSignature(header string) (Signature, error) {
	var sig Signature
	if len(header) > maxSignatureHeader {
		return sig, ErrSignatureMalformed
	}
	seenT := false
	for part := range strings.SplitSeq(header, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return sig, ErrSignatureMalformed
		}
		switch k {
		case "t":
			if seenT || v == "" || len(v) > 18 || strings.Trim(v, "0123456789") != "" {
				return sig, ErrSignatureMalformed
			}
			t, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return sig, ErrSignatureMalformed
			}
			sig.Time, seenT = t, true
		case "v1":
			mac, err := hex.DecodeString(v)
			if err != nil || len(mac) != sha256.Size {
				return sig, ErrSignatureMalformed
			}
			if len(sig.V1) < maxSignatureEntries {
				sig.V1 = append(sig.V1, mac)
			}
		}
	}
	if !seenT || len(sig.V1) == 0 {
		return sig, ErrSignatureMalformed
	}
	return sig, nil
}

// VerifiedSignature is a signature that VerifySignature accepted.
type VerifiedSignature struct {
	At  time.Time // its t=
	MAC []byte    // the v1= that matched
}

// ReplayKey returns the key under which the signature is remembered as
// accepted (see ReplayService).
func (v VerifiedSignature) ReplayKey() string { return ReplayKey("report", v.MAC) }

// Until returns until when the signature must be remembered: the end of its
// tolerance, plus ReplayGrace.
func (v VerifiedSignature) Until() time.Time { return v.At.Add(SignatureTolerance + ReplayGrace) }

// VerifySignature checks header, an X-Phonefleet-Signature value, against a
// request (method, path without the query, raw body) received at now,
// keyed with secret: its time must be within SignatureTolerance of now and
// one of its v1= entries the HMAC, compared in constant time. The error is
// ErrSignatureMalformed, ErrSignatureTime or ErrSignatureMismatch. The
// caller still has to refuse a signature it accepted before (ReplayKey).
func VerifySignature(secret []byte, header, method, path string, body []byte, now time.Time) (VerifiedSignature, error) {
	sig, err := ParseSignature(header)
	if err != nil {
		return VerifiedSignature{}, err
	}
	at := time.Unix(sig.Time, 0).UTC()
	if d := at.Sub(now); d > SignatureTolerance || d < -SignatureTolerance {
		return VerifiedSignature{}, ErrSignatureTime
	}
	want := signatureMAC(secret, sig.Time, method, path, body)
	for _, mac := range sig.V1 {
		if hmac.Equal(mac, want) {
			return VerifiedSignature{At: at, MAC: mac}, nil
		}
	}
	return VerifiedSignature{}, ErrSignatureMismatch
}
