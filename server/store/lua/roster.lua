-- Compare-and-set of a roster epoch: accept epoch e only if the current epoch is e - 1.
-- Epochs are 1, 2, 3 … with no holes, so the current epoch is HLEN of the roster hash.
-- KEYS: 1 rosters hash, 2 roster-accepted-at-seq hash, 3 seq counter.  ARGV: 1 epoch, 2 bytes.
if redis.call('HLEN', KEYS[1]) ~= tonumber(ARGV[1]) - 1 then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('HSET', KEYS[2], ARGV[1], redis.call('GET', KEYS[3]) or '0')
return 1
