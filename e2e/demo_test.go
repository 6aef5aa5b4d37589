package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/phonefleet/phonefleet/internal/testingutil"
)

// TestDemo boots "serve --demo" on a new database, runs the curl it prints
// and checks that it unsubscribed the instance it names; a second run on the
// same database prints a fresh token that works too.
func TestDemo(t *testing.T) {
	db := filepath.Join(t.TempDir(), "demo.db")
	var firstPassword string

	for run := 1; run <= 2; run++ {
		n := MustServe(t, db, "--demo")
		curl, token, id := demoOutput(t, n)
		out := runCurl(t, curl)
		var body map[string]any
		if err := json.Unmarshal(out, &body); err != nil || body["error_code"] != "0" || body["error_msg"] != "OK" {
			t.Fatalf("run %d: curl answered %q (%v)", run, out, err)
		}
		if s := statuses(t, n.URL, token, []string{id}); s[id] != 3 && s[id] != 0 {
			t.Fatalf("run %d: instance %s status %v after the demo curl, want 3 or 0", run, id, s[id])
		}

		// The demo user signs in with the printed password; the previous
		// run's password no longer works.
		password := demoPassword(t, n)
		if r := iamLogin(t, n.URL, "demo", "demo", password); r.Status != 201 || r.Header.Get("X-Subject-Token") == "" {
			t.Fatalf("run %d: demo user login: %d %s", run, r.Status, r.Raw)
		}
		if run == 2 {
			if r := iamLogin(t, n.URL, "demo", "demo", firstPassword); r.Status != 401 {
				t.Fatalf("run 2: the first run's password still works: %d", r.Status)
			}
		}
		firstPassword = password

		tenants := jsonLines(t, MustCLI(t, db, "tenant", "list"))
		if len(tenants) != 1 || tenants[0]["name"] != "demo" {
			t.Fatalf("run %d: tenants %v, want only demo", run, tenants)
		}
		if run == 1 {
			r := call(t, "GET", n.URL+"/v1/instances/batch-query?page_no=1&page_size=10&include_released=true", token, "", nil)
			wantOK(t, r)
			var prepaid, postpaid int
			for _, it := range r.Data()["result"].([]any) {
				if it.(map[string]any)["billing_mode"] == "prePaid" {
					prepaid++
				} else {
					postpaid++
				}
			}
			if prepaid != 2 || postpaid != 1 {
				t.Fatalf("demo bought %d prepaid and %d pay-per-use, want 2 and 1", prepaid, postpaid)
			}
		}
	}
}

// demoOutput waits for serve --demo to print its curl and returns it with the
// token and instance ID it carries.
func demoOutput(t *testing.T, n *testingutil.Node) (curl, token, id string) {
	t.Helper()
	re := regexp.MustCompile(`(?m)^curl .*X-Auth-Token: ([^']+)'.*"instanceIdList":\["([a-z0-9]+)"\]}'$`)
	timeout := time.After(20 * time.Second)
	for {
		out, changed := n.Stdout.Snapshot()
		if m := re.FindStringSubmatch(out); m != nil {
			return m[0], m[1], m[2]
		}
		select {
		case <-changed:
		case <-n.Exited():
			t.Fatalf("serve --demo exited; stdout %q", out)
		case <-timeout:
			t.Fatalf("serve --demo printed no curl within 20s: %q", out)
		}
	}
}

// demoPassword waits for serve --demo to print the demo user's password
// with its login command and the console address, and returns the password.
func demoPassword(t *testing.T, n *testingutil.Node) string {
	t.Helper()
	re := regexp.MustCompile(`(?m)^printf '%s\\n' '([a-z0-9]{20})' \| phonefleet login --endpoint '` + regexp.QuoteMeta(n.URL) +
		`' --domain demo --user demo --password-stdin\n\nor in the console: ` + regexp.QuoteMeta(n.URL) + `/console/$`)
	timeout := time.After(20 * time.Second)
	for {
		out, changed := n.Stdout.Snapshot()
		if m := re.FindStringSubmatch(out); m != nil {
			if !strings.Contains(out, "password (new on every --demo run):\n"+m[1]+"\n") {
				t.Fatalf("the password line and the login command differ: %q", out)
			}
			return m[1]
		}
		select {
		case <-changed:
		case <-n.Exited():
			t.Fatalf("serve --demo exited; stdout %q", out)
		case <-timeout:
			t.Fatalf("serve --demo printed no login within 20s: %q", out)
		}
	}
}

// iamLogin asks for a token with a tenant user's password.
func iamLogin(t *testing.T, url, domain, user, password string) *testingutil.Response {
	t.Helper()
	body := fmt.Sprintf(`{"auth":{"identity":{"methods":["password"],"password":{"user":{"name":%q,"password":%q,"domain":{"name":%q}}}},"scope":{"project":{"name":"cn-north-4"}}}}`,
		user, password, domain)
	return call(t, "POST", url+"/v3/auth/tokens", "", "application/json", []byte(body))
}

// runCurl runs the printed command with the real curl when there is one,
// else performs the same request from its parsed arguments.
func runCurl(t *testing.T, line string) []byte {
	t.Helper()
	if _, err := exec.LookPath("curl"); err == nil {
		out, err := exec.Command("sh", "-c", line).Output()
		if err != nil {
			t.Fatalf("%s: %v", line, err)
		}
		return out
	}
	args := shellWords(line)
	var method, url string
	var body []byte
	hdr := http.Header{}
	for i := 1; i < len(args); i++ {
		switch args[i] {
		case "-X":
			i++
			method = args[i]
		case "-H":
			i++
			k, v, _ := strings.Cut(args[i], ":")
			hdr.Set(strings.TrimSpace(k), strings.TrimSpace(v))
		case "-d":
			i++
			body = []byte(args[i])
		case "-sS":
		default:
			url = args[i]
		}
	}
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header = hdr
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var buf bytes.Buffer
	buf.ReadFrom(resp.Body)
	return buf.Bytes()
}

// shellWords splits a line the way sh does for plain and single-quoted words.
func shellWords(line string) []string {
	var words []string
	var cur strings.Builder
	inQuote, inWord := false, false
	for _, c := range line {
		switch {
		case c == '\'':
			inQuote, inWord = !inQuote, true
		case c == ' ' && !inQuote:
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteRune(c)
			inWord = true
		}
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words
}
