-- Shared prelude of append.lua and oldest.lua (prepended when the scripts load).
--
-- Retention of one order's stream: at most max_len entries (exact MAXLEN, so
-- `oldest` is the same on the memory and Redis stores), and no entry whose `at`
-- (field 'a', always the first field) is older than cutoff. Age trimming removes a
-- prefix only, stopping at the first entry young enough, exactly like MemoryStore.
-- It looks at one entry when nothing is due and at most `batches` x 64 entries
-- otherwise, so one call's work stays bounded; leftovers go on the next call, and
-- readers never see them (read/oldest trim first). check_age = false skips the age
-- part (append checks age on every 16th seq only: see append.lua).
local function trim(stream, max_len, cutoff, batches, check_age)
  redis.call('XTRIM', stream, 'MAXLEN', max_len)
  if not check_age then return end
  local first = redis.call('XRANGE', stream, '-', '+', 'COUNT', 1)
  if #first == 0 or tonumber(first[1][2][2]) >= cutoff then return end
  for _ = 1, batches do
    local entries = redis.call('XRANGE', stream, '-', '+', 'COUNT', 64)
    if #entries == 0 then return end
    for i = 1, #entries do
      if tonumber(entries[i][2][2]) >= cutoff then
        redis.call('XTRIM', stream, 'MINID', entries[i][1])
        return
      end
    end
    -- The whole batch is expired: drop through its last entry and look further.
    local last = tonumber(string.match(entries[#entries][1], '^(%d+)'))
    redis.call('XTRIM', stream, 'MINID', string.format('%d-0', last + 1))
  end
end
