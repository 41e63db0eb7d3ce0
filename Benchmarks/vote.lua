-- The work of one PollTally VOTE, as a Redis script, for Benchmarks/compare-redis.sh.
-- Called as: EVALSHA <sha> 0 <poll> <voter> <option>   (keys built from ARGV: single-node Redis only)
-- Keys per poll:  opts:<poll>    set of the poll's options (created by the bench's setup)
--                 voters:<poll>  hash voter -> current option
--                 counts:<poll>  hash option -> voters holding it
-- Replies: 1 when the vote changed something (first vote or move, also PUBLISHed on poll:<poll>),
--          0 for a repeat of the voter's current option (nothing written),
--          an error no-such-poll / no-such-option like PollTally's ERR codes.
local poll, voter, option = ARGV[1], ARGV[2], ARGV[3]
local opts = 'opts:' .. poll
if redis.call('SISMEMBER', opts, option) == 0 then
  if redis.call('EXISTS', opts) == 0 then
    return redis.error_reply('no-such-poll no poll named ' .. poll)
  end
  return redis.error_reply('no-such-option poll ' .. poll .. ' has no option ' .. option)
end
local voters = 'voters:' .. poll
local old = redis.call('HGET', voters, voter)
if old == option then
  return 0
end
redis.call('HSET', voters, voter, option)
local counts = 'counts:' .. poll
if old then
  redis.call('HINCRBY', counts, old, -1)
end
redis.call('HINCRBY', counts, option, 1)
redis.call('PUBLISH', 'poll:' .. poll, voter .. ' ' .. option)
return 1
