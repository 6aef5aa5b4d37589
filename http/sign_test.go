package http

import (
	"encoding/hex"
	"net/http/httptest"
	"strings"
	"testing"
)

// The vectors below were computed by a separate implementation of the
// SDK-HMAC-SHA256 description (Python's hashlib, hmac and urllib.parse),
// not by this package.
const (
	vectorSecret = "Zq3secretKeyForTests0123456789abcdefGHIJ"
	vectorDate   = "20261201T120000Z"
)

func TestSignature_Vectors(t *testing.T) {
	for _, tc := range []struct {
		name          string
		method, url   string
		header        map[string][]string
		signed        []string
		body          string
		wantCanonical string
		wantSignature string
	}{
		{
			name: "PostWithBody", method: "POST", url: "http://127.0.0.1:8080/v1/instances/delete",
			header: map[string][]string{"X-Sdk-Date": {vectorDate}, "Content-Type": {"application/json"}},
			signed: []string{"host", "x-sdk-date"}, body: `{"instanceIdList":["abc12345"]}`,
			wantCanonical: "POST\n/v1/instances/delete/\n\nhost:127.0.0.1:8080\nx-sdk-date:20261201T120000Z\n\nhost;x-sdk-date\nf78f3fa346787ecae0b0857a06edd749369e11602a9c105f5371573db24f6f3c",
			wantSignature: "ee86d9b21b0a2dbb5f383c32d3ce07976e427c4e2da8632263afe49dbfbfd3aa",
		},
		{
			// A repeated key, an escaped key and value, UTF-8, an empty
			// value, keys out of order; an empty body.
			name: "QueryEmptyBody", method: "GET",
			url:    "http://127.0.0.1:8080/v1/instances/batch-query?offset=0&limit=10&a=1&a=0&x%20y=%2F%3F&name=caf%C3%A9&empty=",
			header: map[string][]string{"X-Sdk-Date": {vectorDate}, "X-Project-Id": {"tn123"}},
			signed: []string{"x-project-id", "x-sdk-date"},
			wantCanonical: "GET\n/v1/instances/batch-query/\na=0&a=1&empty=&limit=10&name=caf%C3%A9&offset=0&x%20y=%2F%3F\n" +
				"x-project-id:tn123\nx-sdk-date:20261201T120000Z\n\nx-project-id;x-sdk-date\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
			wantSignature: "34f4feb5440eb620cf5514b70e56809f84f7e390cf56968b4a3a1f3e4c80e19c",
		},
		{
			// A path that already ends with a slash keeps one; a header
			// given twice has its values trimmed and sorted.
			name: "TrailingSlash", method: "GET", url: "http://127.0.0.1:8080/v3/projects/?name=cn-north-4",
			header: map[string][]string{"X-Sdk-Date": {vectorDate}, "X-Multi": {"b ", " a"}},
			signed: []string{"x-multi", "x-sdk-date"},
			wantCanonical: "GET\n/v3/projects/\nname=cn-north-4\nx-multi:a\nx-multi:b\nx-sdk-date:20261201T120000Z\n\nx-multi;x-sdk-date\n" +
				"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
			wantSignature: "1cb4c7951260f6f43fb23908c7cb46ccbad215262c4f3edbc5f4571ea36993a6",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(tc.method, tc.url, strings.NewReader(tc.body))
			for k, v := range tc.header {
				r.Header[k] = v
			}
			got, ok := canonicalRequest(r, []byte(tc.body), tc.signed)
			if !ok {
				t.Fatal("canonicalRequest failed")
			}
			if got != tc.wantCanonical {
				t.Fatalf("canonical request=\n%q\nwant\n%q", got, tc.wantCanonical)
			}
			if sig := hex.EncodeToString(sign(vectorSecret, stringToSign(vectorDate, got))); sig != tc.wantSignature {
				t.Fatalf("signature=%s, want %s", sig, tc.wantSignature)
			}
		})
	}
}

func TestCanonicalURI(t *testing.T) {
	for path, want := range map[string]string{
		"":                     "/",
		"/":                    "/",
		"/v1/instances/delete": "/v1/instances/delete/",
		"/v1/x/":               "/v1/x/",
		"/a b/c~d":             "/a%20b/c~d/",
		"/ü":                   "/%C3%BC/",
	} {
		if got := canonicalURI(path); got != want {
			t.Errorf("canonicalURI(%q)=%q, want %q", path, got, want)
		}
	}
}

func TestParseAuthorization(t *testing.T) {
	sig := strings.Repeat("ab", 32)
	t.Run("OK", func(t *testing.T) {
		for _, v := range []string{
			"SDK-HMAC-SHA256 Access=AK1, SignedHeaders=Host;X-Sdk-Date, Signature=" + sig,
			"SDK-HMAC-SHA256 Signature=" + sig + ",Access=AK1,SignedHeaders=host;x-sdk-date",
		} {
			a, ok := parseAuthorization(v)
			if !ok || a.AccessKey != "AK1" || strings.Join(a.SignedHeaders, ";") != "host;x-sdk-date" || hex.EncodeToString(a.Signature) != sig {
				t.Fatalf("parseAuthorization(%q)=%+v, %t", v, a, ok)
			}
		}
	})
	t.Run("Malformed", func(t *testing.T) {
		for _, v := range []string{
			"",
			"Bearer x",
			"SDK-HMAC-SHA256",
			"SDK-HMAC-SHA512 Access=AK1, SignedHeaders=host, Signature=" + sig,
			"SDK-HMAC-SHA256 Access=AK1, SignedHeaders=host",
			"SDK-HMAC-SHA256 Access=, SignedHeaders=host, Signature=" + sig,
			"SDK-HMAC-SHA256 Access=AK1, SignedHeaders=, Signature=" + sig,
			"SDK-HMAC-SHA256 Access=AK1, SignedHeaders=host;;date, Signature=" + sig,
			"SDK-HMAC-SHA256 Access=AK1, SignedHeaders=ho st, Signature=" + sig,
			"SDK-HMAC-SHA256 Access=AK1, SignedHeaders=host, Signature=" + sig[:62],
			"SDK-HMAC-SHA256 Access=AK1, SignedHeaders=host, Signature=" + strings.Repeat("zz", 32),
			"SDK-HMAC-SHA256 Access=AK1, Access=AK2, SignedHeaders=host, Signature=" + sig,
			"SDK-HMAC-SHA256 Access=AK1, SignedHeaders=host, Signature=" + sig + ", Extra=1",
			"SDK-HMAC-SHA256 Access=AK1 SignedHeaders=host Signature=" + sig,
		} {
			if a, ok := parseAuthorization(v); ok {
				t.Errorf("parseAuthorization(%q)=%+v, want malformed", v, a)
			}
		}
	})
}

func FuzzParseAuthorization(f *testing.F) {
	sig := strings.Repeat("0f", 32)
	f.Add("SDK-HMAC-SHA256 Access=AK1, SignedHeaders=host;x-sdk-date, Signature=" + sig)
	f.Add("SDK-HMAC-SHA256 Access=AK1,SignedHeaders=a,Signature=" + sig + ",")
	f.Add("SDK-HMAC-SHA256 =,=,=")
	f.Add("SDK-HMAC-SHA256 Access==, SignedHeaders=;, Signature=")
	f.Fuzz(func(t *testing.T, v string) {
		a, ok := parseAuthorization(v)
		if !ok {
			return
		}
		// Whatever parses is well formed.
		if a.AccessKey == "" || len(a.Signature) != 32 || len(a.SignedHeaders) == 0 || len(a.SignedHeaders) > maxSignedHeaders {
			t.Fatalf("parseAuthorization(%q)=%+v", v, a)
		}
		for _, h := range a.SignedHeaders {
			if h == "" || h != strings.ToLower(h) || !isHeaderToken(h) {
				t.Fatalf("parseAuthorization(%q): header name %q", v, h)
			}
		}
		if !strings.HasPrefix(v, signAlgorithm+" ") || !strings.Contains(v, a.AccessKey) {
			t.Fatalf("parseAuthorization(%q)=%+v: not from the value", v, a)
		}
	})
}
