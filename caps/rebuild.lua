-- Set an account's counters from the database's truth and mark it ready, unless it is
-- ready already (the first replica to rebuild wins; later ones change nothing).
--
-- KEYS: 1 ready, 2 active, 3 minute, 4 calls:<today>, 5 minutes:<today>, then call:<id> of
--       each ended call whose minutes "minutes today" already counts: they are marked settled
--       so that a late Settle does not charge them again
-- ARGV: 1 now (ms), 2 lease (ms), 3 calls today, 4 minutes today, 5 daily TTL (s),
--       6 ready TTL (ms), 7 call state TTL (s), 8 number of active call ids n,
--       9..8+n active call ids, then the creation times (ms) of the calls in the last minute
-- Returns 1 when it wrote, 0 when the account was ready.

if redis.call('EXISTS', KEYS[1]) == 1 then
  return 0
end

local now = tonumber(ARGV[1])
local window = 60000
local n = tonumber(ARGV[8])
redis.call('DEL', KEYS[2], KEYS[3], KEYS[4], KEYS[5])

for i = 6, #KEYS do
  redis.call('SET', KEYS[i], 's', 'EX', ARGV[7])
end
for i = 9, 8 + n do
  redis.call('ZADD', KEYS[2], now + tonumber(ARGV[2]), ARGV[i])
end
if n > 0 then
  redis.call('PEXPIRE', KEYS[2], ARGV[2])
end

local latest = nil
for i = 9 + n, #ARGV do
  local t = tonumber(ARGV[i])
  -- members are not call ids: a rebuilt entry is never given back by Release
  redis.call('ZADD', KEYS[3], t, 'rebuilt:' .. (i - 8 - n))
  if not latest or t > latest then
    latest = t
  end
end
if latest then
  redis.call('PEXPIRE', KEYS[3], math.max(1, latest + window - now))
end

redis.call('SET', KEYS[4], ARGV[3], 'EX', ARGV[5])
redis.call('SET', KEYS[5], ARGV[4], 'EX', ARGV[5])
redis.call('SET', KEYS[1], '1', 'PX', ARGV[6])
return 1
