/**
 * Lua scripts of the Redis backend. Every script touches only the keys of ONE service, which share the hash tag
 * `{service}`, so each runs in one slot (Redis Cluster ready). Time comes from the caller's injected clock (ARGV),
 * never from the server, so expiry follows the store's Clock.
 *
 * KEYS: 1 rec (HASH id→body JSON), 2 rv (HASH id→record revision), 3 exp (ZSET id→expiresAt),
 *       4 rev (STRING service revision counter), 5 feed (STREAM, entry id `<revision>-0`), 6 epoch (STRING)
 * ARGV: 1 feed max length, 2 GC TTL ms, 3 now ms, 4 epoch candidate, then per script.
 */
const PRELUDE = `
local rec, rv, exp, rev, feed, epoch = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6]
local maxlen, gcms, now = ARGV[1], ARGV[2], tonumber(ARGV[3])
local function touch()
  redis.call('SET', epoch, ARGV[4], 'NX')
  for i = 1, 6 do redis.call('PEXPIRE', KEYS[i], gcms) end
end
local function emit(t, id, body, recrev, expat)
  if redis.call('EXISTS', rev) == 0 and redis.call('EXISTS', feed) == 1 then
    -- the counter was garbage-collected apart from the feed: start a new epoch so watchers reset
    redis.call('DEL', feed)
    redis.call('SET', epoch, ARGV[4])
  end
  local r = redis.call('INCR', rev)
  if recrev == nil then recrev = r end
  redis.call('XADD', feed, 'MAXLEN', '~', maxlen, string.format('%d-0', r), 't', t, 'id', id, 'b', body, 'v', recrev, 'e', expat)
  return r
end
local function drop(id, t)
  local body = redis.call('HGET', rec, id)
  local v = redis.call('HGET', rv, id)
  local e = redis.call('ZSCORE', exp, id)
  redis.call('HDEL', rec, id)
  redis.call('HDEL', rv, id)
  redis.call('ZREM', exp, id)
  return emit(t, id, body, v, e)
end
-- live(id): true if the record exists and is not past expiresAt; a record past it is expired here, atomically,
-- so whichever caller (sweeper, renew, put) sees it first publishes the one 'expired' event
local function live(id)
  local e = redis.call('ZSCORE', exp, id)
  if not e then return false end
  if tonumber(e) <= now then
    drop(id, 'expired')
    touch()
    return false
  end
  return true
end
`;

/** ARGV 5 id, 6 body, 7 expiresAt ('' = keep), 8 expectRevision (-1 = none), 9 mode put|update → {status, revision, expiresAt}. */
export const WRITE = `${PRELUDE}
local id, body, expat, expect, mode = ARGV[5], ARGV[6], ARGV[7], tonumber(ARGV[8]), ARGV[9]
local isLive = live(id)
local cur = 0
if isLive then cur = tonumber(redis.call('HGET', rv, id)) end
if mode == 'update' and not isLive then return {'NOT_FOUND', 0, 0} end
if expect >= 0 and cur ~= expect then return {'CONFLICT', cur, 0} end
if expat == '' then expat = redis.call('ZSCORE', exp, id) end
local t = 'added'
if isLive then t = 'updated' end
local r = emit(t, id, body, nil, expat)
redis.call('HSET', rec, id, body)
redis.call('HSET', rv, id, r)
redis.call('ZADD', exp, expat, id)
touch()
return {'OK', r, expat}
`;

/**
 * Many puts of one service in one call (no compare-and-set). ARGV 5 n, 6 reply ('1' → {revision1, expiresAt1, …};
 * '0' → an empty reply, for a caller that does not use them), 7 packed ('1': the records are ONE argument next,
 * `id`, `expiresAt` and `body` each followed by a newline, for ids without a newline — a body is JSON, which has
 * none —; it saves the caller's client and Redis two of three arguments per record, `gmatch` splits it in C; '0':
 * three arguments per record (id, body, expiresAt)). Each record is published like a put, in order, with the same events and revisions as
 * n WRITE calls in a row (a record found past expiresAt publishes its 'expired' first). The cost is what differs: a
 * put made 8 commands (ZSCORE, EXISTS ×2, INCR, XADD, HSET ×2, ZADD); here a record makes its XADD only, the rest is
 * a handful of commands per batch (ZMSCORE of all ids, one GET and one SET of the counter, a variadic HSET ×2 and
 * ZADD). The counter is read once and kept in Lua: nothing else runs while a script does.
 */
export const WRITE_MANY = `${PRELUDE}
local n = tonumber(ARGV[5])
local ids, bodies, expats = {}, {}, {}
if ARGV[7] == '1' then
  local i = 0
  for id, e, b in string.gmatch(ARGV[8], '([^\\n]*)\\n([^\\n]*)\\n([^\\n]*)\\n') do
    i = i + 1
    ids[i] = id; expats[i] = e; bodies[i] = b
  end
  if i ~= n then return redis.error_reply('ERR WRITE_MANY packed records: ' .. i .. ' of ' .. n) end
else
  for i = 1, n do
    ids[i] = ARGV[5 + i * 3]; bodies[i] = ARGV[6 + i * 3]; expats[i] = ARGV[7 + i * 3]
  end
end
local reply = ARGV[6] == '1'
if redis.call('EXISTS', rev) == 0 and redis.call('EXISTS', feed) == 1 then
  -- the counter was garbage-collected apart from the feed: start a new epoch so watchers reset (as emit)
  redis.call('DEL', feed)
  redis.call('SET', epoch, ARGV[4])
end
local r = tonumber(redis.call('GET', rev) or '0')
-- expiresAt of every id as stored before this call; updated below as the batch writes, so an id given twice
-- sees its first write, as consecutive puts would
local scores = {}
for s = 1, n, 500 do
  local part = redis.call('ZMSCORE', exp, unpack(ids, s, math.min(n, s + 499)))
  for j = 1, #part do
    if part[j] then scores[ids[s + j - 1]] = part[j] end
  end
end
local function add(t, id, body, v, e)
  redis.call('XADD', feed, 'MAXLEN', '~', maxlen, string.format('%d-0', r), 't', t, 'id', id, 'b', body, 'v', v, 'e', e)
end
-- what this call wrote per id (body, revision): two flat maps, not a table per record
local mineBody, mineRev = {}, {}
local recs, rvs, exps, out = {}, {}, {}, {}
for i = 0, n - 1 do
  local id, body, expat = ids[i + 1], bodies[i + 1], expats[i + 1]
  local t = 'added'
  local e = scores[id]
  if e then
    if tonumber(e) <= now then
      -- live() would expire it here: its 'expired' event carries what was stored (or written earlier in this call)
      local prev = mineBody[id]
      r = r + 1
      if prev then add('expired', id, prev, mineRev[id], e)
      else add('expired', id, redis.call('HGET', rec, id), redis.call('HGET', rv, id), e) end
    else
      t = 'updated'
    end
  end
  r = r + 1
  add(t, id, body, r, expat)
  scores[id] = expat
  mineBody[id] = body; mineRev[id] = r
  local k = 2 * i
  recs[k + 1] = id; recs[k + 2] = body
  rvs[k + 1] = id; rvs[k + 2] = r
  exps[k + 1] = expat; exps[k + 2] = id
  if reply then out[k + 1] = r; out[k + 2] = expat end
end
for s = 1, #recs, 1000 do
  local last = math.min(#recs, s + 999)
  redis.call('HSET', rec, unpack(recs, s, last))
  redis.call('HSET', rv, unpack(rvs, s, last))
  redis.call('ZADD', exp, unpack(exps, s, last))
end
redis.call('SET', rev, r)
touch()
return out
`;

/** ARGV 5 id, 6 expiresAt → {status, revision, body}. */
export const RENEW = `${PRELUDE}
local id, expat = ARGV[5], ARGV[6]
if not live(id) then return {'NOT_FOUND', 0, ''} end
redis.call('ZADD', exp, 'XX', expat, id)
touch()
return {'OK', tonumber(redis.call('HGET', rv, id)), redis.call('HGET', rec, id)}
`;

/** ARGV 5 id → 1 removed, 0 not live. */
export const REMOVE = `${PRELUDE}
local id = ARGV[5]
if not live(id) then return 0 end
drop(id, 'removed')
touch()
return 1
`;

/** ARGV 5 limit → number of records expired. */
export const SWEEP = `${PRELUDE}
local ids = redis.call('ZRANGEBYSCORE', exp, '-inf', now, 'LIMIT', 0, tonumber(ARGV[5]))
for _, id in ipairs(ids) do drop(id, 'expired') end
if #ids > 0 then touch() end
return #ids
`;

/**
 * ARGV 5 mode all|one|none, 6 id → {epoch, revision, firstFeedId, id1, body1, rv1, exp1, ...}. Creates the
 * epoch if missing, so a watcher can later tell that the data it saw is gone (restart, GC).
 */
export const READ = `${PRELUDE}
redis.call('SET', epoch, ARGV[4], 'NX')
redis.call('PEXPIRE', epoch, gcms)
local out = {redis.call('GET', epoch), tonumber(redis.call('GET', rev) or '0'), ''}
local first = redis.call('XRANGE', feed, '-', '+', 'COUNT', 1)
if #first > 0 then out[3] = first[1][1] end
local ids
if ARGV[5] == 'one' then ids = {ARGV[6]} elseif ARGV[5] == 'all' then ids = redis.call('ZRANGEBYSCORE', exp, '(' .. ARGV[3], '+inf') else ids = {} end
for _, id in ipairs(ids) do
  local e = redis.call('ZSCORE', exp, id)
  if e and tonumber(e) > now then
    table.insert(out, id)
    table.insert(out, redis.call('HGET', rec, id))
    table.insert(out, redis.call('HGET', rv, id))
    table.insert(out, e)
  end
end
return out
`;
