package phonefleet_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/phonefleet/phonefleet"
)

// The worked example of docs/release.md, recomputed from the rule's text.
func TestSign_Example(t *testing.T) {
	secret := []byte("whsec-example")
	at := time.Unix(1765000000, 0)
	body := []byte(`{"state":"done"}`)
	m := hmac.New(sha256.New, secret)
	m.Write([]byte("1765000000.POST /v1/phonefleet/dataplane/jobs/job_0mxd5j3k2a1b9c8d7e6f." + string(body)))
	want := "t=1765000000,v1=" + hex.EncodeToString(m.Sum(nil))
	if got := phonefleet.Sign(secret, at, "POST", "/v1/phonefleet/dataplane/jobs/job_0mxd5j3k2a1b9c8d7e6f", body); got != want {
		t.Fatalf("Sign=%q, want %q", got, want)
	}
	// The value docs/release.md shows.
	if want != "t=1765000000,v1=9a504305547283c08c52d92109391b8cced4a13c1b5d96fe17a6a496c8a915d4" {
		t.Fatalf("the documented example is %q", want)
	}
}

func TestVerifySignature(t *testing.T) {
	secret, other := []byte("s3cret"), []byte("old-secret")
	now := time.Date(2026, 12, 8, 1, 0, 0, 0, time.UTC)
	const path = "/v1/phonefleet/dataplane/jobs/job_a"
	body := []byte(`{"state":"done"}`)
	sig := phonefleet.Sign(secret, now, "POST", path, body)
	v1 := strings.TrimPrefix(sig[strings.Index(sig, ","):], ",")
	old := phonefleet.Sign(other, now, "POST", path, body)
	oldV1 := strings.TrimPrefix(old[strings.Index(old, ","):], ",")
	tsec := strings.TrimPrefix(sig[:strings.Index(sig, ",")], "t=")
	for _, tt := range []struct {
		name   string
		header string
		method string
		path   string
		body   string
		now    time.Time
		err    error
	}{
		{"OK", sig, "POST", path, string(body), now, nil},
		{"Rotation", "t=" + tsec + "," + oldV1 + "," + v1, "POST", path, string(body), now, nil},
		{"Spaces", " t=" + tsec + " , " + v1 + " ", "POST", path, string(body), now, nil},
		{"UnknownScheme", "t=" + tsec + ",v0=abc," + v1, "POST", path, string(body), now, nil},
		{"EdgeOld", sig, "POST", path, string(body), now.Add(5 * time.Minute), nil},
		{"EdgeNew", sig, "POST", path, string(body), now.Add(-5 * time.Minute), nil},
		{"TooOld", sig, "POST", path, string(body), now.Add(5*time.Minute + time.Second), phonefleet.ErrSignatureTime},
		{"TooNew", sig, "POST", path, string(body), now.Add(-5*time.Minute - time.Second), phonefleet.ErrSignatureTime},
		{"OtherJob", sig, "POST", "/v1/phonefleet/dataplane/jobs/job_b", string(body), now, phonefleet.ErrSignatureMismatch},
		{"OtherMethod", sig, "PUT", path, string(body), now, phonefleet.ErrSignatureMismatch},
		{"OtherBody", sig, "POST", path, `{"state":"failed"}`, now, phonefleet.ErrSignatureMismatch},
		{"OtherSecret", old, "POST", path, string(body), now, phonefleet.ErrSignatureMismatch},
		{"OtherTime", "t=" + tsec + "1," + v1, "POST", path, string(body), now, phonefleet.ErrSignatureTime},
		{"BodyHMAC", "sha256=" + strings.TrimPrefix(v1, "v1="), "POST", path, string(body), now, phonefleet.ErrSignatureMalformed},
		{"Empty", "", "POST", path, string(body), now, phonefleet.ErrSignatureMalformed},
		{"NoTime", v1, "POST", path, string(body), now, phonefleet.ErrSignatureMalformed},
		{"NoV1", "t=" + tsec, "POST", path, string(body), now, phonefleet.ErrSignatureMalformed},
		{"TwoTimes", "t=" + tsec + ",t=" + tsec + "," + v1, "POST", path, string(body), now, phonefleet.ErrSignatureMalformed},
		{"SignedTime", "t=+" + tsec + "," + v1, "POST", path, string(body), now, phonefleet.ErrSignatureMalformed},
		{"ShortV1", "t=" + tsec + ",v1=abcd", "POST", path, string(body), now, phonefleet.ErrSignatureMalformed},
		{"BadHex", "t=" + tsec + ",v1=" + strings.Repeat("zz", 32), "POST", path, string(body), now, phonefleet.ErrSignatureMalformed},
		{"TooLong", "t=" + tsec + "," + v1 + strings.Repeat(",x=y", 300), "POST", path, string(body), now, phonefleet.ErrSignatureMalformed},
	} {
		t.Run(tt.name, func(t *testing.T) {
			v, err := phonefleet.VerifySignature(secret, tt.header, tt.method, tt.path, []byte(tt.body), tt.now)
			if !errors.Is(err, tt.err) || (err == nil) != (tt.err == nil) {
				t.Fatalf("VerifySignature=%v, want %v", err, tt.err)
			}
			if err == nil && (!v.At.Equal(now.Truncate(time.Second)) || v.ReplayKey() == "" || !v.Until().Equal(v.At.Add(6*time.Minute))) {
				t.Fatalf("verified=%+v", v)
			}
		})
	}
	// The replay key is the matching HMAC's: adding another v1= to a
	// captured header does not make it a new signature.
	a, _ := phonefleet.VerifySignature(secret, sig, "POST", path, body, now)
	b, _ := phonefleet.VerifySignature(secret, "t="+tsec+","+oldV1+","+v1, "POST", path, body, now)
	if a.ReplayKey() != b.ReplayKey() {
		t.Fatalf("replay keys %s and %s of one signature differ", a.ReplayKey(), b.ReplayKey())
	}
}

func TestReplayKey(t *testing.T) {
	a := phonefleet.ReplayKey("aksk", []byte("ab"), []byte("c"))
	b := phonefleet.ReplayKey("aksk", []byte("a"), []byte("bc"))
	if a == b || !strings.HasPrefix(a, "aksk:") || len(a) != 5+64 || phonefleet.ValidateReplayKey(a) != nil {
		t.Fatalf("keys %q and %q", a, b)
	}
	if phonefleet.ErrorCode(phonefleet.ValidateReplayKey("")) != phonefleet.EInvalid ||
		phonefleet.ErrorCode(phonefleet.ValidateReplayKey(strings.Repeat("k", phonefleet.MaxReplayKey+1))) != phonefleet.EInvalid {
		t.Fatal("ValidateReplayKey accepted an empty or oversized key")
	}
}

// FuzzParseSignature: any header parses or is refused without a panic, and
// what parses has a time and 1–8 HMACs of 32 bytes.
func FuzzParseSignature(f *testing.F) {
	f.Add("t=1765000000,v1=" + strings.Repeat("ab", 32))
	f.Add("t=1,v1=" + strings.Repeat("00", 32) + ",v1=" + strings.Repeat("ff", 32) + ",v2=x")
	f.Add("sha256=" + strings.Repeat("ab", 32))
	f.Add(",,=,t=")
	f.Fuzz(func(t *testing.T, header string) {
		sig, err := phonefleet.ParseSignature(header)
		if err != nil {
			return
		}
		if sig.Time < 0 || len(sig.V1) == 0 || len(sig.V1) > 8 {
			t.Fatalf("ParseSignature(%q)=%+v", header, sig)
		}
		for _, mac := range sig.V1 {
			if len(mac) != 32 {
				t.Fatalf("ParseSignature(%q): HMAC of %d bytes", header, len(mac))
			}
		}
	})
}
