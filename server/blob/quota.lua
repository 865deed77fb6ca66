-- Blob bytes held by one quota subject (an order, or an uploading device), on Redis's clock.
-- KEYS: 1 sorted set blobId -> expiry (ms), 2 hash blobId -> size, plus field "total".
--       Both keys share a hash tag, so this runs on one Cluster node.
-- ARGV: 1 'reserve' | 'restore', 2 blobId, then
--   reserve: 3 size, 4 ttlMs, 5 limit.  Count the blob (replacing an entry of the same id,
--            so a re-upload is not counted twice) unless the total would pass the limit.
--            Returns {1, previous expiry, previous size} (0, 0 when new) or {0, total} refused.
--   restore: 3 previous expiry, 4 previous size (the reserve's answer). Undo a reserve:
--            put the previous entry back, or drop the entry when there was none.
-- Entries past their expiry are dropped first, so usage drains as the blobs (SET PX, same
-- TTL) expire; the keys themselves expire with their last entry.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local total = tonumber(redis.call('HGET', KEYS[2], 'total') or '0')
local expired = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now)
for _, id in ipairs(expired) do
  total = total - tonumber(redis.call('HGET', KEYS[2], id) or '0')
  redis.call('HDEL', KEYS[2], id)
end
if #expired > 0 then redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now) end

local id = ARGV[2]
local prevExp = tonumber(redis.call('ZSCORE', KEYS[1], id) or '0')
local prevSize = tonumber(redis.call('HGET', KEYS[2], id) or '0')
local result
if ARGV[1] == 'reserve' then
  local size, ttl, limit = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
  if total - prevSize + size > limit then
    result = {0, total}
  else
    redis.call('ZADD', KEYS[1], now + ttl, id)
    redis.call('HSET', KEYS[2], id, size)
    total = total - prevSize + size
    result = {1, prevExp, prevSize}
  end
else
  local oldExp, oldSize = tonumber(ARGV[3]), tonumber(ARGV[4])
  total = total - prevSize
  if oldExp > now then
    redis.call('ZADD', KEYS[1], oldExp, id)
    redis.call('HSET', KEYS[2], id, oldSize)
    total = total + oldSize
  else
    redis.call('ZREM', KEYS[1], id)
    redis.call('HDEL', KEYS[2], id)
  end
  result = {1}
end

local last = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
if #last == 0 then
  redis.call('DEL', KEYS[1], KEYS[2])
else
  redis.call('HSET', KEYS[2], 'total', total)
  redis.call('PEXPIREAT', KEYS[1], last[2])
  redis.call('PEXPIREAT', KEYS[2], last[2])
end
return result
