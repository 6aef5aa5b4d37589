package http_test

import (
	"context"
	"io"
	"net/http"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	pfhttp "github.com/phonefleet/phonefleet/http"
)

// TestOpenAPI_Document checks the served document is valid OpenAPI 3 (by
// kin-openapi's validator) and describes every route the server registers,
// and nothing else.
func TestOpenAPI_Document(t *testing.T) {
	s := MustOpenServer(t)
	resp, err := http.Get(s.URL() + "/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/json" || string(body) != string(pfhttp.OpenAPI()) {
		t.Fatalf("GET /openapi.json: %d %s, %d bytes", resp.StatusCode, resp.Header.Get("Content-Type"), len(body))
	}
	doc, err := openapi3.NewLoader().LoadFromData(body)
	if err != nil {
		t.Fatal(err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("the OpenAPI document is not valid: %v", err)
	}

	// Every "METHOD /path" the server registers, read from its source.
	src, err := os.ReadFile("server.go")
	if err != nil {
		t.Fatal(err)
	}
	registered := map[string]bool{}
	for _, m := range regexp.MustCompile(`s\.mux\.Handle(?:Func)?\("([A-Z]+) ([^"]+)"`).FindAllStringSubmatch(string(src), -1) {
		registered[m[1]+" "+strings.TrimSuffix(m[2], "{$}")] = true // "/{$}" is the path "/" alone
	}
	// The admin API's routes, registered by s.admin under AdminPrefix.
	adminSrc, err := os.ReadFile("admin.go")
	if err != nil {
		t.Fatal(err)
	}
	admin := regexp.MustCompile(`s\.admin\("([A-Z]+) ([^"]+)"`).FindAllStringSubmatch(string(adminSrc), -1)
	if len(admin) < 20 {
		t.Fatalf("found only %d admin routes in admin.go", len(admin))
	}
	for _, m := range admin {
		registered[m[1]+" "+pfhttp.AdminPrefix+m[2]] = true
	}
	if len(registered) < 20 {
		t.Fatalf("found only %d routes in server.go: %v", len(registered), registered)
	}
	documented := map[string]bool{}
	for path, item := range doc.Paths.Map() {
		for method := range item.Operations() {
			documented[method+" "+path] = true
		}
	}
	for r := range registered {
		if !documented[r] {
			t.Errorf("route %s is not in openapi.json", r)
		}
	}
	for d := range documented {
		if !registered[d] && !strings.HasPrefix(d, "GET /console/") {
			t.Errorf("openapi.json documents %s, which the server does not serve", d)
		}
	}
}
