-- Shared prelude: send a hint to every node in the watchers set except `self`,
-- on each node's own shard channel (<prefix>:<node>, same hash tag, same slot).
-- The message is built only if some other node watches. A watcher with no
-- subscriber left (SPUBLISH reaches nobody) is removed from the set.
local function publish_hints(watchers, prefix, self, build)
  local nodes = redis.call('SMEMBERS', watchers)
  local msg = nil
  for i = 1, #nodes do
    local n = nodes[i]
    if n ~= self then
      msg = msg or build()
      if redis.call('SPUBLISH', prefix .. ':' .. n, msg) == 0 then redis.call('SREM', watchers, n) end
    end
  end
end
