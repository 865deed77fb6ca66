-- Store key packages for recipients of one order, at most `keep` per group.
-- A group is (recipient, sender, epoch, scope); its list holds the sorted-set members
-- of that group, newest first, so the oldest beyond `keep` are dropped from both.
-- KEYS: pairs (recipient sorted set, group list) per package, in ARGV order.
-- ARGV: 1 keep, then per package: epoch (score), member (4-byte epoch ‖ bytes).
-- Returns how many packages were new.
local keep = tonumber(ARGV[1])
local added = 0
for i = 1, #KEYS / 2 do
  local zset, group = KEYS[2 * i - 1], KEYS[2 * i]
  local score, member = ARGV[2 * i], ARGV[2 * i + 1]
  if redis.call('ZADD', zset, 'NX', score, member) == 1 then
    added = added + 1
    redis.call('LPUSH', group, member)
    while redis.call('LLEN', group) > keep do
      redis.call('ZREM', zset, redis.call('RPOP', group))
    end
  end
end
return added
