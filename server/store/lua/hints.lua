-- Shared prelude: send a hint to every node watching the order except `self`, on
-- each node's own shard channel (<prefix>:<node>, same hash tag, same slot).
-- Watchers are a sorted set of node id -> lease expiry (ms): a node renews its
-- lease while it watches, and a node that crashed drops out when its lease runs
-- out. (Removing a node whose channel had no subscriber at that instant was
-- permanent, and a node re-subscribing, reconnecting or following a slot move is
-- exactly such an instant.) The message is built only if another node watches.
local function publish_hints(watchers, prefix, self, now, build)
  redis.call('ZREMRANGEBYSCORE', watchers, '-inf', now)
  local nodes = redis.call('ZRANGE', watchers, 0, -1)
  local msg = nil
  for i = 1, #nodes do
    local n = nodes[i]
    if n ~= self then
      msg = msg or build()
      redis.call('SPUBLISH', prefix .. ':' .. n, msg)
    end
  end
end
