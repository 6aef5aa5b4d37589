package phonefleet_test

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/phonefleet/phonefleet"
)

// TestREADME_InstanceIDs: the README's examples name instances by IDs of
// the shape phonefleet makes (18 characters: 9 of milliseconds in base 36,
// 5 of the process, 4 of sequence), and tell the reader to use the IDs of
// their own create answer.
func TestREADME_InstanceIDs(t *testing.T) {
	b, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	readme := string(b)
	shape := regexp.MustCompile(`^[0-9a-z]{18}$`)
	var ids []string
	for _, m := range regexp.MustCompile(`"(?:instanceId|instance_id)":"([^"]*)"`).FindAllStringSubmatch(readme, -1) {
		ids = append(ids, m[1])
	}
	for _, m := range regexp.MustCompile(`"(?:instanceIdList|instance_ids)":\[([^\]]*)\]`).FindAllStringSubmatch(readme, -1) {
		for _, q := range strings.Split(m[1], ",") {
			ids = append(ids, strings.Trim(strings.TrimSpace(q), `"`))
		}
	}
	if len(ids) < 10 {
		t.Fatalf("found %d instance IDs in README.md's examples, want the walkthrough's", len(ids))
	}
	for _, id := range ids {
		if !shape.MatchString(id) || !phonefleet.ValidInstanceID(id) {
			t.Errorf("README.md names instance %q, not of the 18-character shape of %q", id, phonefleet.NewInstanceID())
		}
	}
	if !strings.Contains(readme, "from your create answer") {
		t.Error("README.md does not tell the reader to take instance IDs from the create answer")
	}
}
