-- Extend the leases of calls the database says are still in progress. A call whose lease
-- lapsed (its replicas could not renew it in time) gets its slot back: it is still taking
-- one. Calls already settled or released are left out.
--
-- KEYS: 1 ready, 2 active, 3... call:<id> of each call id, in ARGV's order
-- ARGV: 1 now (ms), 2 lease (ms), 3 ready TTL (ms), 4... call ids
-- Returns the number of leases held, -1 when not ready.

if redis.call('EXISTS', KEYS[1]) == 0 then
  return -1
end
redis.call('PEXPIRE', KEYS[1], ARGV[3])

local now = tonumber(ARGV[1])
local until_ = now + tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
local n = 0
for i = 4, #ARGV do
  local state = redis.call('GET', KEYS[i - 1])
  if state ~= 's' and state ~= 'x' then
    redis.call('ZADD', KEYS[2], until_, ARGV[i])
    n = n + 1
  end
end
if n > 0 then
  local last = redis.call('ZRANGE', KEYS[2], -1, -1, 'WITHSCORES')
  redis.call('PEXPIRE', KEYS[2], math.max(1, tonumber(last[2]) - now))
end
return n
