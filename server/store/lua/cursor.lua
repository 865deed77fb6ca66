-- Advance a device's cumulative-ack cursor: never backwards, never past the head.
-- KEYS: 1 cursors hash, 2 seq counter.  ARGV: 1 device, 2 seq.
local want = math.min(tonumber(ARGV[2]), tonumber(redis.call('GET', KEYS[2]) or '0'))
if want > tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or '0') then
  redis.call('HSET', KEYS[1], ARGV[1], string.format('%d', want))
end
return 0
