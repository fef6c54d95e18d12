-- Release the reservation of a call that never came to exist (the carrier refused it):
-- free its slot and give back its counts in the per-minute window and in today's calls,
-- exactly once. A call that was settled, or a reservation made on an earlier UTC day,
-- gives back nothing more than its slot.
--
-- KEYS: 1 ready, 2 active, 3 minute, 4 calls:<today>, 5 call:<id>
-- ARGV: 1 call id, 2 today (UTC date), 3 call state TTL (s), 4 ready TTL (ms)
-- Returns 1 when counts were given back, 0 otherwise (also when not ready).

if redis.call('EXISTS', KEYS[1]) == 0 then
  return 0
end
redis.call('PEXPIRE', KEYS[1], ARGV[4])
redis.call('ZREM', KEYS[2], ARGV[1])

local state = redis.call('GET', KEYS[5])
if not state or string.sub(state, 1, 1) ~= 'r' then
  return 0
end
redis.call('ZREM', KEYS[3], ARGV[1])
if string.sub(state, 3) == ARGV[2] and tonumber(redis.call('GET', KEYS[4]) or '0') > 0 then
  redis.call('DECR', KEYS[4])
end
redis.call('SET', KEYS[5], 'x', 'EX', ARGV[3])
return 1
