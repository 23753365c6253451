package inbound

import "sync"

// discussionCache remembers the discussion id of (user, thread key) pairs
// already ensured, so that a busy thread does not cost an upsert (and the
// store's message counts) per mail. A discussion's id never changes for its
// key, so a hit is always right; a miss falls back to the store. The cache
// is bounded: when full it starts over.
type discussionCache struct {
	mu sync.Mutex
	m  map[[2]string]string
}

// maxCachedDiscussions bounds the discussion cache of a Qualifier.
const maxCachedDiscussions = 10000

func (c *discussionCache) get(userID, key string) (string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	id, ok := c.m[[2]string{userID, key}]
	return id, ok
}

func (c *discussionCache) put(userID, key, id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) >= maxCachedDiscussions {
		c.m = make(map[[2]string]string)
	}
	c.m[[2]string{userID, key}] = id
}
