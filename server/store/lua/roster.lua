-- Compare-and-set of a roster epoch: accept epoch e only if the current epoch is e - 1.
-- Epochs are 1, 2, 3 … with no holes, so the current epoch is HLEN of the roster hash.
-- KEYS: 1 rosters hash, 2 roster-accepted-at-seq hash, 3 seq counter, 4 watchers
--       (sorted set: node id -> lease expiry ms), 5 hint channel prefix.
-- ARGV: 1 epoch, 2 bytes, 3 node id, 4 now ms.
-- On success, SPUBLISH `roster,<epoch>,<node>` to every other node watching the order: each
-- refreshes its roster cache at once (ends removed members' subscriptions).
if redis.call('HLEN', KEYS[1]) ~= tonumber(ARGV[1]) - 1 then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('HSET', KEYS[2], ARGV[1], redis.call('GET', KEYS[3]) or '0')
publish_hints(KEYS[4], KEYS[5], ARGV[3], ARGV[4], function() return 'roster,' .. ARGV[1] .. ',' .. ARGV[3] end)
return 1
