-- Advance devices' cumulative-ack cursors: never backwards, never past the head.
-- A batch: the relay coalesces the acks of one event-loop turn into one call.
-- KEYS, 2 per update: cursors hash, seq counter.  ARGV, 2 per update: device, seq.
for i = 1, #KEYS, 2 do
  local device, seq = ARGV[i], ARGV[i + 1]
  local want = math.min(tonumber(seq), tonumber(redis.call('GET', KEYS[i + 1]) or '0'))
  if want > tonumber(redis.call('HGET', KEYS[i], device) or '0') then
    redis.call('HSET', KEYS[i], device, string.format('%d', want))
  end
end
return 0
