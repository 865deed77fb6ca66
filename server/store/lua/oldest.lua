-- Apply retention now and return the lowest seq still held (head + 1 if none).
-- KEYS: 1 seq counter, 2 stream.  ARGV: 1 max length, 2 max age ms, 3 now ms.
trim(KEYS[2], tonumber(ARGV[1]), tonumber(ARGV[3]) - tonumber(ARGV[2]), 1000, true)
local first = redis.call('XRANGE', KEYS[2], '-', '+', 'COUNT', 1)
if #first > 0 then return tonumber(string.match(first[1][1], '^(%d+)')) end
return tonumber(redis.call('GET', KEYS[1]) or '0') + 1
