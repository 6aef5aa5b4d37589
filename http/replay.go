package http

import (
	"context"
	"sync"
	"time"
)

// DefaultReplayCacheSize is how many accepted signatures a node remembers
// in memory (a few MB), in front of the store.
const DefaultReplayCacheSize = 1 << 16

// replayCache is a node's bounded memory of the signatures it accepted or
// refused as replays, each until its window has passed: a replay it has
// seen is refused without asking the store. When full it forgets the
// oldest entry; the store, which every node shares, still refuses it.
type replayCache struct {
	mu    sync.Mutex
	until map[string]time.Time
	ring  []string // keys in the order they came; ring[next] is the oldest once full
	next  int
}

func newReplayCache(size int) *replayCache {
	return &replayCache{until: make(map[string]time.Time, size), ring: make([]string, 0, size)}
}

// seen reports whether key is remembered with a window not yet passed at now.
func (c *replayCache) seen(key string, now time.Time) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	u, ok := c.until[key]
	return ok && now.Before(u)
}

// add remembers key until until, forgetting the oldest entry when full.
func (c *replayCache) add(key string, until time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.until[key]; ok {
		c.until[key] = until
		return
	}
	if len(c.ring) < cap(c.ring) {
		c.ring = append(c.ring, key)
	} else if len(c.ring) > 0 {
		delete(c.until, c.ring[c.next])
		c.ring[c.next] = key
		c.next = (c.next + 1) % len(c.ring)
	} else {
		return
	}
	c.until[key] = until
}

// len returns the number of keys remembered.
func (c *replayCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.until)
}

// rememberSignature reports whether the signature under key is fresh: not
// in this node's memory and recorded now by the store, the authority for
// every node. A key the store had seen is kept in memory as well.
func (s *Server) rememberSignature(ctx context.Context, key string, until time.Time) (bool, error) {
	if s.replays.seen(key, s.Now()) {
		replaysRefusedTotal.WithLabelValues("memory").Inc()
		return false, nil
	}
	fresh, err := s.Store.RememberSignature(ctx, key, until)
	if err != nil {
		return false, err
	}
	s.replays.add(key, until)
	if !fresh {
		replaysRefusedTotal.WithLabelValues("store").Inc()
	}
	return fresh, nil
}
