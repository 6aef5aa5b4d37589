package phonefleet

import "testing"

// TestIDSequence_Increases: IDs increase when the sequence of a millisecond
// runs out and when the clock goes back.
func TestIDSequence_Increases(t *testing.T) {
	s := &idSequence{node: "node0"}
	steps := []struct {
		name string
		now  int64
		seq  int64 // set before the call, -1 to leave it
		want string
	}{
		{"first", 1000, -1, pad36(1000, 9) + "node0" + "0000"},
		{"same millisecond", 1000, -1, pad36(1000, 9) + "node0" + "0001"},
		{"sequence runs out", 1000, idSeqMax - 1, pad36(1001, 9) + "node0" + "0000"},
		{"clock goes back", 900, -1, pad36(1001, 9) + "node0" + "0001"},
		{"later millisecond", 2000, -1, pad36(2000, 9) + "node0" + "0000"},
	}
	prev := ""
	for _, st := range steps {
		if st.seq >= 0 {
			s.seq = st.seq
		}
		got := s.next(st.now)
		if got != st.want || got <= prev {
			t.Fatalf("%s: next(%d)=%q after %q, want %q", st.name, st.now, got, prev, st.want)
		}
		prev = got
	}
}
