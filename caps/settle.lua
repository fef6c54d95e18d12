-- Settle an ended call: free its slot and charge its talk minutes to today, once per
-- call id however often it is called (the call state key remembers it).
--
-- KEYS: 1 ready, 2 active, 3 minutes:<today>, 4 call:<id>
-- ARGV: 1 call id, 2 minutes to charge, 3 daily TTL (s), 4 call state TTL (s),
--       5 ready TTL (ms)
-- Returns 1 when it charged, 0 when already settled, -1 when not ready.

if redis.call('EXISTS', KEYS[1]) == 0 then
  return -1
end
redis.call('PEXPIRE', KEYS[1], ARGV[5])
if redis.call('GET', KEYS[4]) == 's' then
  return 0
end
redis.call('ZREM', KEYS[2], ARGV[1])
if tonumber(ARGV[2]) > 0 then
  redis.call('INCRBY', KEYS[3], ARGV[2])
  redis.call('EXPIRE', KEYS[3], ARGV[3])
end
redis.call('SET', KEYS[4], 's', 'EX', ARGV[4])
return 1
