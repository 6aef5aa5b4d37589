package http

import (
	"context"
	"testing"
	"time"

	"github.com/phonefleet/phonefleet/mock"
)

// The cache holds at most its size, forgetting the oldest key first, and a
// key only until its window has passed.
func TestReplayCache(t *testing.T) {
	now := time.Date(2026, 12, 8, 1, 0, 0, 0, time.UTC)
	c := newReplayCache(3)
	for _, k := range []string{"a", "b", "c", "d"} {
		c.add(k, now.Add(time.Minute))
	}
	if n := c.len(); n != 3 {
		t.Fatalf("len=%d, want 3", n)
	}
	if c.seen("a", now) || !c.seen("b", now) || !c.seen("d", now) {
		t.Fatal("want a forgotten, b and d remembered")
	}
	if c.seen("b", now.Add(time.Minute)) {
		t.Fatal("b seen at the end of its window")
	}
	c.add("b", now.Add(time.Hour)) // again: its window moves, nothing is evicted
	if c.len() != 3 || !c.seen("c", now) || !c.seen("b", now.Add(time.Minute)) {
		t.Fatal("re-adding a key evicted another or kept the old window")
	}
}

// A node asks the store about a signature once: a replay it has seen is
// refused from memory; a key the store says is taken is refused and kept.
func TestRememberSignature_Memory(t *testing.T) {
	calls := 0
	taken := map[string]bool{"other-node": true}
	s := NewServer()
	s.Store = &mock.Store{RememberSignatureFn: func(ctx context.Context, key string, until time.Time) (bool, error) {
		calls++
		fresh := !taken[key]
		taken[key] = true
		return fresh, nil
	}}
	until := s.Now().Add(time.Minute)
	for i, want := range []bool{true, false, false} {
		if fresh, err := s.rememberSignature(context.Background(), "k", until); err != nil || fresh != want {
			t.Fatalf("#%d: %v, %v; want %v", i+1, fresh, err, want)
		}
	}
	if calls != 1 {
		t.Fatalf("store asked %d times for one key, want 1", calls)
	}
	for range 2 {
		if fresh, _ := s.rememberSignature(context.Background(), "other-node", until); fresh {
			t.Fatal("a key another node took is fresh")
		}
	}
	if calls != 2 {
		t.Fatalf("store asked %d times, want 2", calls)
	}
}
