package phonefleet

import (
	"sort"
	"time"
)

// MigrationStatus is one schema migration as phonefleet migrate --status
// shows it: known to this binary, applied to the database, or both.
type MigrationStatus struct {
	Name      string     `json:"name"`
	Known     bool       `json:"known"`   // this binary has it
	Applied   bool       `json:"applied"` // the database has had it
	AppliedAt *time.Time `json:"applied_at,omitempty"`
}

// PlanMigrationStatus lists the migrations this binary knows (known, in
// order) and those the database has had (applied, with their times), by
// name. An applied migration that is not known comes from a newer
// version that ran on the database.
func PlanMigrationStatus(known []string, applied map[string]time.Time) []MigrationStatus {
	var out []MigrationStatus
	seen := map[string]bool{}
	for _, name := range known {
		seen[name] = true
		st := MigrationStatus{Name: name, Known: true}
		if at, ok := applied[name]; ok {
			st.Applied, st.AppliedAt = true, &at
		}
		out = append(out, st)
	}
	for name, at := range applied {
		if !seen[name] {
			out = append(out, MigrationStatus{Name: name, Applied: true, AppliedAt: &at})
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// UnknownMigrations returns the names of the applied migrations in st that
// the binary does not know.
func UnknownMigrations(st []MigrationStatus) []string {
	var out []string
	for _, m := range st {
		if !m.Known {
			out = append(out, m.Name)
		}
	}
	return out
}
