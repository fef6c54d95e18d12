-- Reserve one call against all four caps of an account, atomically: every
-- dimension admits it and it is counted in each, or nothing is written.
--
-- KEYS: 1 ready, 2 active, 3 minute, 4 calls:<today>, 5 minutes:<today>, 6 call:<id>
-- ARGV: 1 call id, 2 now (ms), 3 lease (ms), 4-7 limits in the order concurrent,
--       callsPerMinute, dailyCalls, dailyMinutes (-1 = unlimited), 8 today (UTC date),
--       9 ms until the next UTC midnight, 10 daily TTL (s), 11 ready TTL (ms),
--       12 call state TTL (s)
-- Returns {-1} not ready, {0} admitted and counted, {1} already holding a slot
-- (or already settled): nothing counted, {2, dimension 1-4, limit, retry ms} refused.

local window = 60000
local id = ARGV[1]
local now = tonumber(ARGV[2])
local lease = tonumber(ARGV[3])

if redis.call('EXISTS', KEYS[1]) == 0 then
  return {-1}
end
redis.call('PEXPIRE', KEYS[1], ARGV[11])

redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now - window)

local state = redis.call('GET', KEYS[6])
if state then
  state = string.sub(state, 1, 1)
end
if state == 's' or redis.call('ZSCORE', KEYS[2], id) then
  return {1}
end
-- 'r': reserved and counted before, but its lease lapsed: it only needs a slot again.
local counted = state == 'r'

local counts = {
  redis.call('ZCARD', KEYS[2]),
  redis.call('ZCARD', KEYS[3]),
  tonumber(redis.call('GET', KEYS[4]) or '0'),
  tonumber(redis.call('GET', KEYS[5]) or '0'),
}

-- Of the refusing dimensions report a kill switch (limit 0) first, else the one that
-- stays closed longest, so that a client waiting RetryAfter is not refused by another.
local worst, worstLimit, worstRetry = 0, 0, -1
for i = 1, 4 do
  local limit = tonumber(ARGV[3 + i])
  if limit == 0 then
    return {2, i, 0, 0}
  end
  if limit > 0 and (i == 1 or not counted) and counts[i] >= limit then
    local retry
    if i == 1 then
      retry = 1000
    elseif i == 2 then
      -- the entry whose leaving brings the window below the limit
      local e = redis.call('ZRANGE', KEYS[3], counts[2] - limit, counts[2] - limit, 'WITHSCORES')
      retry = tonumber(e[2]) + window - now
    else
      retry = tonumber(ARGV[9])
    end
    if retry > worstRetry then
      worst, worstLimit, worstRetry = i, limit, retry
    end
  end
end
if worst > 0 then
  return {2, worst, worstLimit, worstRetry}
end

-- A key with scored members lives as long as its latest member counts.
local function expireWithLatest(key, extra)
  local last = redis.call('ZRANGE', key, -1, -1, 'WITHSCORES')
  redis.call('PEXPIRE', key, math.max(1, tonumber(last[2]) + extra - now))
end

redis.call('ZADD', KEYS[2], now + lease, id)
expireWithLatest(KEYS[2], 0)
if not counted then
  redis.call('ZADD', KEYS[3], now, id)
  expireWithLatest(KEYS[3], window)
  redis.call('INCR', KEYS[4])
  redis.call('EXPIRE', KEYS[4], ARGV[10])
  redis.call('SET', KEYS[6], 'r ' .. ARGV[8], 'EX', ARGV[12])
end
return {0}
