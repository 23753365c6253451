package inbound

import "sync"

// DiscussionCache remembers the discussion id of (user, thread key) pairs
// already ensured, so that a busy thread does not cost an upsert (and the
// store's message counts) per mail. A discussion's id never changes for its
// key, so a hit is always right; a miss falls back to the store. The cache
// is bounded: when full it starts over.
type DiscussionCache struct {
	mu sync.Mutex
	m  map[[2]string]string
}

// maxCachedDiscussions bounds a DiscussionCache.
const maxCachedDiscussions = 10000

// Get returns the discussion of (userID, key), if remembered.
func (c *DiscussionCache) Get(userID, key string) (string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	id, ok := c.m[[2]string{userID, key}]
	return id, ok
}

// Put remembers the discussion of (userID, key).
func (c *DiscussionCache) Put(userID, key, id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) >= maxCachedDiscussions {
		c.m = make(map[[2]string]string)
	}
	c.m[[2]string{userID, key}] = id
}
