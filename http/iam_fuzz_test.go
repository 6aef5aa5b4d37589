package http

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/phonefleet/phonefleet"
)

// FuzzDecodeIAMTokenRequest checks that decoding any body never panics,
// that a success has a tenant, a user and a password within their limits
// that encoding/json reads the same way, and that a failure is an EInvalid
// *phonefleet.Error naming a field.
func FuzzDecodeIAMTokenRequest(f *testing.F) {
	f.Add([]byte(`{"auth":{"identity":{"methods":["password"],"password":{"user":{"name":"alice","password":"pw","domain":{"name":"acme"}}}},"scope":{"project":{"name":"cn-north-4"}}}}`))
	f.Add([]byte(`{"auth":{"identity":{"methods":["password"],"password":{"user":{"name":"a","password":"p","domain":{"name":"d"}}}},"scope":{"domain":{"id":"x"}}}}`))
	f.Add([]byte(`{"auth":{"identity":{"methods":["password"],"password":{"user":{"Name":"a","name":"a","password":"p","domain":{"name":"d"}}}}}}`))
	f.Add([]byte(`{"auth":{"identity":{"methods":["password"],"password":{"user":{"name":"a\u0000","password":"p","domain":{"name":"d"}}}}}}`))
	f.Add([]byte(`{"auth":{"scope":{"project":{"name":1}}}}`))
	f.Add([]byte(`{"auth":{"identity":{"methods":["password"],"password":{"user":{"name":"a","password":"p","domain":{"name":"d"}}}},"scope":{"project":{"name":"r","domain":{"name":"x","id":"y"}}}}}`))
	f.Add([]byte(`{"auth":null}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		req, err := decodeIAMTokenRequest(body)
		if err != nil {
			assertDecodeError(t, err, phonefleet.EInvalid)
			return
		}
		if req.User == "" || req.Domain == "" || req.Password == "" {
			t.Fatalf("decoded %+v without a user, tenant or password", req)
		}
		for _, s := range []string{req.User, req.Domain, req.Password, req.ProjectName, req.ProjectID,
			req.ProjectDomainName, req.ProjectDomainID, req.ScopeDomainName, req.ScopeDomainID} {
			if !utf8.ValidString(s) || strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
				t.Fatalf("decoded %q with control characters or invalid UTF-8", s)
			}
		}
		if len(req.Password) > maxIAMPasswordLen || len(req.User) > 64 || len(req.Domain) > 64 {
			t.Fatalf("decoded %+v over its limits", req)
		}
		var v struct {
			Auth struct {
				Identity struct {
					Methods  []string `json:"methods"`
					Password struct {
						User struct {
							Name     string `json:"name"`
							Password string `json:"password"`
							Domain   struct {
								Name string `json:"name"`
							} `json:"domain"`
						} `json:"user"`
					} `json:"password"`
				} `json:"identity"`
			} `json:"auth"`
		}
		if err := json.Unmarshal(body, &v); err != nil {
			t.Fatalf("decoded %q, which encoding/json refuses: %v", body, err)
		}
		u := v.Auth.Identity.Password.User
		// encoding/json matches names without case; the decoder refuses
		// such near names, so both must read the same values.
		if u.Name != req.User || u.Password != req.Password || u.Domain.Name != req.Domain {
			t.Fatalf("decoded %+v, encoding/json reads %+v", req, u)
		}
	})
}

// FuzzDecodeClockRequest checks that decoding any body never panics, that
// a success holds exactly one of a valid non-negative advance and a time no
// later than the end of year 9999, and that a failure is an EInvalid
// *phonefleet.Error.
func FuzzDecodeClockRequest(f *testing.F) {
	f.Add([]byte(`{"advance":"121h"}`))
	f.Add([]byte(`{"advance":"0s"}`))
	f.Add([]byte(`{"advance":"1ns"}`))
	f.Add([]byte(`{"advance":"3000000h"}`))
	f.Add([]byte(`{"now":"2027-01-01T00:00:00Z"}`))
	f.Add([]byte(`{"now":"9999-12-31T23:59:59.999999999Z"}`))
	f.Add([]byte(`{"now":"9999-12-31T23:59:59-01:00"}`))
	f.Add([]byte(`{"advance":"-1h"}`))
	f.Add([]byte(`{"advance":"1h","now":"2027-01-01T00:00:00Z"}`))
	f.Add([]byte(`{"ADVANCE":"1h"}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		req, err := decodeClockRequest(body)
		if err != nil {
			assertDecodeError(t, err, phonefleet.EInvalid)
			return
		}
		if (req.Advance == nil) == (req.Now == nil) {
			t.Fatalf("decoded %q into %+v: want exactly one", body, req)
		}
		if req.Advance != nil && !req.Advance.Valid() {
			t.Fatalf("decoded advance %+v", *req.Advance)
		}
		if req.Now != nil && req.Now.UTC().After(phonefleet.MaxBusinessTime) {
			t.Fatalf("decoded now %v", *req.Now)
		}
	})
}
