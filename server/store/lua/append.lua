-- Append a batch of messages: for each, dedup + sequence + XADD + retention + hints, in
-- batch order (one script call for many appends: the per-call cost of EVALSHA, of the
-- client's command and of its reply is paid once per batch, not once per message).
-- On a standalone Redis a batch may hold messages of many orders; on a Cluster every
-- key of one call must be in one slot, so the store batches per order there.
-- KEYS, 6 per message: seq counter, stream, dedup key of (device, clientMsgId), watchers
--       (sorted set: relay node id -> lease expiry ms), rosters hash (its HLEN is the
--       order's current epoch), hint channel prefix (a node listens on <prefix>:<node>;
--       declared as a key so Redis Cluster checks the slot)
-- ARGV: 1 dedup window ms, 2 max length, 3 max age ms, 4 now ms, 5 node id, then 5 per
--       message: envelope, at, epoch, scope, sender
-- Returns a flat array, 3 per message: seq, status (0 stored, 1 duplicate, 2 stale
-- epoch, 3 failed), and the current epoch when the status is 2 (else 0).

local function append_one(k_seq, k_stream, k_dedup, k_watchers, k_rosters, k_prefix, envelope, at, epoch, scope, sender, window, max_len, max_age, now, node)
  -- 1. Dedup: a retry of an appended message answers its original seq and stores nothing.
  local prior = redis.call('GET', k_dedup)
  if prior then return tonumber(prior), 1, 0 end

  -- 1b. Epoch: the store is the source of truth for the current roster epoch, so a relay
  --     node with a stale roster cache cannot store a message sealed for an old epoch
  --     (say, by a member the new epoch removed). An order with no roster accepts any.
  local current = redis.call('HLEN', k_rosters)
  if current > 0 and current ~= tonumber(epoch) then return 0, 2, current end

  -- 2. Sequence. Nothing below can fail for a well-formed call (the entry id is always
  --    above the stream's last id because the counter never goes back), so INCR never
  --    leaves a gap: Lua scripts are not rolled back, and a failing XADD after INCR would.
  local seq = redis.call('INCR', k_seq)
  local id = string.format('%d-0', seq)

  -- 3. Store. Entry id = seq, so replay is XRANGE <afterSeq+1>-0 + COUNT n. Field 'a' first: trim reads it.
  redis.call('XADD', k_stream, id, 'a', at, 'p', epoch, 's', scope, 'f', sender, 'e', envelope)
  redis.call('SET', k_dedup, seq, 'PX', window)

  -- 4. Retention. Length on every append. Age on every 16th: reading the oldest entry
  --    to learn its age costs an XRANGE that copies its envelope (measured ~4 us at
  --    256 B, ~22 us at 16 KiB), and read/oldest trim before they answer anyway, so
  --    lazier trimming only lets expired entries linger in memory a little longer.
  --    The stream also expires max age after the last append: by then every entry is
  --    too old, so idle orders cost nothing. The counter stays (seq never restarts).
  trim(k_stream, tonumber(max_len), tonumber(now) - tonumber(max_age), 1, seq % 16 == 0)
  redis.call('PEXPIRE', k_stream, max_age)

  -- 5. Hints for the OTHER relay nodes watching the order (format: server/store/redis-hint.ts).
  --    The appending node told its own subscribers already; sending its hint back to it
  --    cost Redis a push and the node a parse per message for nothing. Watchers hold
  --    leases (hints.lua): a crashed node drops out when its lease runs out.
  publish_hints(k_watchers, k_prefix, node, now, function()
    local header = string.format('%d,%s,%s,%d,%d,%d\n', seq, at, epoch, #scope, #sender, #node)
    return header .. scope .. sender .. node .. envelope
  end)
  return seq, 0, 0
end

-- Each message on its own: one that fails (a damaged key, say) answers status 3 and
-- does not take the others of the batch, possibly of other orders, down with it.
-- (Lua is not rolled back: what a failed message wrote before failing stays, and is
-- what its retry finds; every write before the INCR is idempotent or a read.)
local out = {}
for i = 0, #KEYS / 6 - 1 do
  local k, a = i * 6, 5 + i * 5
  local ok, seq, status, current = pcall(append_one, KEYS[k + 1], KEYS[k + 2], KEYS[k + 3], KEYS[k + 4], KEYS[k + 5], KEYS[k + 6],
    ARGV[a + 1], ARGV[a + 2], ARGV[a + 3], ARGV[a + 4], ARGV[a + 5], ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5])
  if not ok then seq, status, current = 0, 3, 0 end
  out[#out + 1] = seq
  out[#out + 1] = status
  out[#out + 1] = current
end
return out
