package http

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/phonefleet/phonefleet"
)

// The SDK-HMAC-SHA256 scheme of Huawei Cloud's API Gateway, as its SDKs
// sign requests with an access key (AK/SK):
//
//	Authorization: SDK-HMAC-SHA256 Access=<AK>, SignedHeaders=<h1;h2>, Signature=<hex>
//	X-Sdk-Date: 20261201T120000Z
//
// The canonical request is six lines: the method; the URI path with each
// segment percent-encoded and a trailing slash; the query with keys and
// values percent-encoded, sorted by key, then value; one "name:value" line
// per signed header (lower-cased, values trimmed) followed by an empty
// line; the signed header names joined by ";"; the hex SHA-256 of the body.
// The string to sign is "SDK-HMAC-SHA256", the X-Sdk-Date value and the hex
// SHA-256 of the canonical request, one per line; the signature is the hex
// HMAC-SHA256 of that string keyed with the secret.
const (
	signAlgorithm      = "SDK-HMAC-SHA256"
	signDateLayout     = "20060102T150405Z"
	signDateHeader     = "X-Sdk-Date"
	signContentHeader  = "X-Sdk-Content-Sha256"
	signUnsignedBody   = "UNSIGNED-PAYLOAD"
	maxSignClockSkew   = 15 * time.Minute
	maxSignedHeaders   = 64
	maxAuthorizationSz = 4096
)

// signedAuth is a parsed SDK-HMAC-SHA256 Authorization header.
type signedAuth struct {
	AccessKey     string
	SignedHeaders []string // lower-cased, in the order given
	Signature     []byte   // decoded from hex
}

// parseAuthorization parses an SDK-HMAC-SHA256 Authorization header value.
// ok is false for any other scheme or a malformed value: every part must be
// present once, the access key non-empty, the header names non-empty
// tokens and the signature 64 hex digits.
func parseAuthorization(v string) (a signedAuth, ok bool) {
	if len(v) > maxAuthorizationSz {
		return a, false
	}
	rest, found := strings.CutPrefix(v, signAlgorithm+" ")
	if !found {
		return a, false
	}
	var access, headers, sig string
	var seen [3]bool
	for part := range strings.SplitSeq(rest, ",") {
		name, value, found := strings.Cut(strings.TrimSpace(part), "=")
		if !found {
			return a, false
		}
		var i int
		var dst *string
		switch name {
		case "Access":
			i, dst = 0, &access
		case "SignedHeaders":
			i, dst = 1, &headers
		case "Signature":
			i, dst = 2, &sig
		default:
			return a, false
		}
		if seen[i] {
			return a, false
		}
		seen[i], *dst = true, value
	}
	if !seen[0] || !seen[1] || !seen[2] || access == "" || headers == "" || len(sig) != 2*sha256.Size {
		return a, false
	}
	signature, err := hex.DecodeString(sig)
	if err != nil {
		return a, false
	}
	names := strings.Split(headers, ";")
	if len(names) > maxSignedHeaders {
		return a, false
	}
	for i, n := range names {
		if n == "" || !isHeaderToken(n) {
			return a, false
		}
		names[i] = strings.ToLower(n)
	}
	return signedAuth{AccessKey: access, SignedHeaders: names, Signature: signature}, true
}

// isHeaderToken reports whether s is made of header-name characters.
func isHeaderToken(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0) {
			return false
		}
	}
	return true
}

// parseSignDate parses an X-Sdk-Date value.
func parseSignDate(v string) (time.Time, bool) {
	t, err := time.Parse(signDateLayout, v)
	return t, err == nil
}

// signEscape percent-encodes every byte outside RFC 3986's unreserved set
// (A-Z a-z 0-9 - _ . ~), with upper-case hex digits.
func signEscape(s string) string {
	const hexDigits = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.' || c == '~' {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hexDigits[c>>4])
		b.WriteByte(hexDigits[c&15])
	}
	return b.String()
}

// canonicalURI encodes each segment of the (decoded) path and ends it with
// a slash.
func canonicalURI(path string) string {
	segs := strings.Split(path, "/")
	for i, s := range segs {
		segs[i] = signEscape(s)
	}
	p := strings.Join(segs, "/")
	if !strings.HasSuffix(p, "/") {
		p += "/"
	}
	return p
}

// canonicalQuery encodes a raw query string: keys sorted, each key's values
// sorted, "key=value" joined by "&" (a key without value gives "key=").
func canonicalQuery(rawQuery string) (string, bool) {
	q, err := url.ParseQuery(rawQuery)
	if err != nil {
		return "", false
	}
	keys := make([]string, 0, len(q))
	for k := range q {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var parts []string
	for _, k := range keys {
		vs := slices.Clone(q[k])
		slices.Sort(vs)
		for _, v := range vs {
			parts = append(parts, signEscape(k)+"="+signEscape(v))
		}
	}
	return strings.Join(parts, "&"), true
}

// canonicalHeaders returns one "name:value" line per value of each signed
// header, the values of one header sorted and trimmed, and a final newline.
// The host header is the request's Host.
func canonicalHeaders(h http.Header, host string, names []string) string {
	var b strings.Builder
	for _, n := range names {
		var vs []string
		if n == "host" {
			vs = []string{host}
		} else {
			vs = slices.Clone(h.Values(n))
		}
		slices.Sort(vs)
		for _, v := range vs {
			b.WriteString(n)
			b.WriteByte(':')
			b.WriteString(strings.TrimSpace(v))
			b.WriteByte('\n')
		}
	}
	return b.String()
}

// canonicalRequest builds the canonical request of r with body, for the
// signed header names. ok is false if the query cannot be parsed.
func canonicalRequest(r *http.Request, body []byte, names []string) (string, bool) {
	query, ok := canonicalQuery(r.URL.RawQuery)
	if !ok {
		return "", false
	}
	sum := sha256.Sum256(body)
	payload := hex.EncodeToString(sum[:])
	// The SDKs mark bodies they do not hash; that is only accepted for an
	// empty body, so a signature always covers what the handler reads.
	if len(body) == 0 && r.Header.Get(signContentHeader) == signUnsignedBody {
		payload = signUnsignedBody
	}
	return r.Method + "\n" + canonicalURI(r.URL.Path) + "\n" + query + "\n" +
		canonicalHeaders(r.Header, r.Host, names) + "\n" + strings.Join(names, ";") + "\n" + payload, true
}

// stringToSign returns the string the signature is computed over.
func stringToSign(date, canonical string) string {
	sum := sha256.Sum256([]byte(canonical))
	return signAlgorithm + "\n" + date + "\n" + hex.EncodeToString(sum[:])
}

// sign returns the HMAC-SHA256 of s keyed with secret.
func sign(secret, s string) []byte {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(s))
	return m.Sum(nil)
}

// Messages of APIGW.0301 for signed requests.
const (
	msgSignatureFail = "Incorrect IAM authentication information: verify aksk signature fail"
	msgKeyLocked     = "Incorrect IAM authentication information: AK access failed to reach the limit,forbidden"
	msgReplayed      = "Incorrect IAM authentication information: replayed request"
)

// signsRequired reports whether the signed header names include
// x-sdk-date and, unless unsignedHost, host: without host a signature
// would be good for any server, without the date for any time.
func signsRequired(names []string, unsignedHost bool) bool {
	return (unsignedHost || slices.Contains(names, "host")) && slices.Contains(names, "x-sdk-date")
}

// dummySecret stands in for the secret of an unknown key, so that a
// signature of an unknown key costs the same as a wrong one.
const dummySecret = "phonefleet-no-such-access-key-0000000000"

// verifySignature checks an SDK-HMAC-SHA256 request and returns the
// principal of its access key (the key's user, with the user's role), or
// APIGW.0301. The body is read first, within the body cap (an oversized one
// is answered 413), and put back for the handler. SignedHeaders must
// include host (unless AllowUnsignedHost) and x-sdk-date; X-Sdk-Date must be within 15 minutes of the
// server's wall time; the key must exist and its user be enabled; the
// signature is compared in constant time. Five failures of one key in a row
// lock it for 5 minutes. A signature accepted before, by this node or (on
// PostgreSQL) another, is refused as a replayed request until its window
// has passed.
func (s *Server) verifySignature(r *http.Request) (*phonefleet.Principal, error) {
	body, err := io.ReadAll(r.Body)
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		return nil, &statusError{err: phonefleet.Errorf(phonefleet.EInvalid, msgBodyTooLarge), status: http.StatusRequestEntityTooLarge}
	} else if err != nil {
		return nil, phonefleet.Errorf(phonefleet.EInvalid, msgBodyUnread)
	}
	r.Body = io.NopCloser(bytes.NewReader(body))

	fail := phonefleet.Errorf(phonefleet.EUnauthorized, msgSignatureFail)
	auth, ok := parseAuthorization(r.Header.Get("Authorization"))
	if !ok {
		return nil, fail
	}
	now := s.Now()
	if s.keyFailures.locked(auth.AccessKey, now) {
		return nil, phonefleet.Errorf(phonefleet.EUnauthorized, msgKeyLocked)
	}
	failed := func() error {
		s.keyFailures.fail(auth.AccessKey, now)
		return fail
	}

	if !signsRequired(auth.SignedHeaders, s.AllowUnsignedHost) {
		return nil, failed()
	}
	date := r.Header.Get(signDateHeader)
	at, ok := parseSignDate(date)
	if !ok || at.Sub(now).Abs() > maxSignClockSkew {
		return nil, failed()
	}
	canonical, ok := canonicalRequest(r, body, auth.SignedHeaders)
	if !ok {
		return nil, failed()
	}

	key, err := s.Store.FindAccessKey(r.Context(), auth.AccessKey)
	secret := dummySecret
	if phonefleet.ErrorCode(err) == phonefleet.ENotFound {
		key = nil
	} else if err != nil {
		return nil, err
	} else {
		secret = key.Secret
	}
	match := hmac.Equal(sign(secret, stringToSign(date, canonical)), auth.Signature)
	if !match || key == nil || key.UserDisabled {
		return nil, failed()
	}
	actions, err := phonefleet.UserRoleActions(key.TenantName, key.UserRole)
	if err != nil {
		return nil, err
	}
	// A replay is the key owner's request sent again by someone else: it
	// does not count against the key.
	fresh, err := s.rememberSignature(r.Context(), phonefleet.ReplayKey("aksk", []byte(key.ID), auth.Signature),
		at.Add(maxSignClockSkew+phonefleet.ReplayGrace))
	if err != nil {
		return nil, err
	} else if !fresh {
		return nil, phonefleet.Errorf(phonefleet.EUnauthorized, msgReplayed)
	}
	s.keyFailures.succeed(auth.AccessKey)
	return &phonefleet.Principal{
		TenantID: key.TenantID, TenantName: key.TenantName, TokenID: key.ID, AccessKeyID: key.ID,
		UserID: key.UserID, UserName: key.UserName, Actions: actions,
	}, nil
}
