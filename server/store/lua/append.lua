-- Append one message to an order: dedup + sequence + XADD + retention + hint, atomically.
-- KEYS: 1 seq counter, 2 stream, 3 dedup key of (device, clientMsgId), 4 watchers set
--       (ids of the relay nodes watching the order), 5 rosters hash (its HLEN is the
--       order's current epoch), 6 hint channel prefix (a node listens on <prefix>:<node>;
--       declared as a key so Redis Cluster checks the slot)
-- ARGV: 1 envelope, 2 at, 3 epoch, 4 scope, 5 sender, 6 dedup window ms,
--       7 max length, 8 max age ms, 9 now ms, 10 node id
-- Returns {seq, duplicate (0|1)}, or {0, 2, currentEpoch} when ARGV[3] is not the current epoch.

-- 1. Dedup: a retry of an appended message answers its original seq and stores nothing.
local prior = redis.call('GET', KEYS[3])
if prior then return {tonumber(prior), 1} end

-- 1b. Epoch: the store is the source of truth for the current roster epoch, so a relay
--     node with a stale roster cache cannot store a message sealed for an old epoch
--     (say, by a member the new epoch removed). An order with no roster accepts any.
local current = redis.call('HLEN', KEYS[5])
if current > 0 and current ~= tonumber(ARGV[3]) then return {0, 2, current} end

-- 2. Sequence. Nothing below can fail for a well-formed call (the entry id is always
--    above the stream's last id because the counter never goes back), so INCR never
--    leaves a gap: Lua scripts are not rolled back, and a failing XADD after INCR would.
local seq = redis.call('INCR', KEYS[1])
local id = string.format('%d-0', seq)

-- 3. Store. Entry id = seq, so replay is XRANGE <afterSeq+1>-0 + COUNT n. Field 'a' first: trim reads it.
redis.call('XADD', KEYS[2], id, 'a', ARGV[2], 'p', ARGV[3], 's', ARGV[4], 'f', ARGV[5], 'e', ARGV[1])
redis.call('SET', KEYS[3], seq, 'PX', ARGV[6])

-- 4. Retention. Length on every append. Age on every 16th: reading the oldest entry
--    to learn its age costs an XRANGE that copies its envelope (measured ~4 us at
--    256 B, ~22 us at 16 KiB), and read/oldest trim before they answer anyway, so
--    lazier trimming only lets expired entries linger in memory a little longer.
--    The stream also expires max age after the last append: by then every entry is
--    too old, so idle orders cost nothing. The counter stays (seq never restarts).
trim(KEYS[2], tonumber(ARGV[7]), tonumber(ARGV[9]) - tonumber(ARGV[8]), 1, seq % 16 == 0)
redis.call('PEXPIRE', KEYS[2], ARGV[8])

-- 5. Hints for the OTHER relay nodes watching the order (format: server/store/redis-hint.ts).
--    The appending node told its own subscribers already; sending its hint back to it
--    cost Redis a push and the node a parse per message for nothing. A watcher nobody
--    listens for (a crashed node, or one whose subscriber is reconnecting) is dropped
--    from the set; a node re-adds itself when its subscriber is back, then reads the head.
publish_hints(KEYS[4], KEYS[6], ARGV[10], function()
  local header = string.format('%d,%s,%s,%d,%d,%d\n', seq, ARGV[2], ARGV[3], #ARGV[4], #ARGV[5], #ARGV[10])
  return header .. ARGV[4] .. ARGV[5] .. ARGV[10] .. ARGV[1]
end)

return {seq, 0}
