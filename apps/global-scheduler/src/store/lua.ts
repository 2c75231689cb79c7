/**
 * The Lua scripts of the Redis schedule store. Every key carries the same hash tag, so each script touches one
 * slot and also runs on Redis Cluster; every key a script touches is passed in KEYS.
 */

/** KEYS conf, index, seq, pending. ARGV id, requestJson, startAt. Returns the sequence number, or 0 if it exists. */
export const CREATE = `
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
local seq = redis.call('INCR', KEYS[3])
redis.call('ZADD', KEYS[2], seq, ARGV[1])
redis.call('ZADD', KEYS[4], ARGV[3], ARGV[1])
return seq
`;

/**
 * KEYS round, pending. ARGV windowEnd, membersJson, ttlMs. The first caller of a round counts the window and
 * stores {total, members}; everyone gets the stored value, so all schedulers split the same total.
 */
export const SNAPSHOT = `
local v = redis.call('GET', KEYS[1])
if v then return v end
local total = redis.call('ZCOUNT', KEYS[2], '-inf', ARGV[1])
v = '{"total":' .. total .. ',"members":' .. ARGV[2] .. '}'
redis.call('SET', KEYS[1], v, 'PX', ARGV[3])
return v
`;

/**
 * Shared Lua helpers: one variadic command over a long list, cut into pieces (Lua's `unpack` is bounded by its C
 * stack; 500 items is far inside it). A placement batch makes a handful of such calls instead of several commands
 * per conference: a script's cost is mostly its `redis.call`s.
 */
const BULK = `
local function bulk(cmd, key, list, step)
  for s = 1, #list, step do
    redis.call(cmd, key, unpack(list, s, math.min(#list, s + step - 1)))
  end
end
local function hmget(key, list)
  local out = {}
  for s = 1, #list, 500 do
    local part = redis.call('HMGET', key, unpack(list, s, math.min(#list, s + 499)))
    for j = 1, #part do out[s + j - 1] = part[j] end
  end
  return out
end
`;

/**
 * KEYS pending, claims, claimer, conf. ARGV n, windowEnd, leaseUntil, schedulerId.
 * Moves up to n due conferences from pending to claims; returns their request JSON. Four variadic commands for
 * the whole claim (it was four per conference). (Answering one JSON array, `table.concat` of the rows, was tried:
 * it saved the caller ~1 µs per conference and cost Redis 2–4 µs more, so each row stays its own bulk reply.)
 */
export const CLAIM =
  BULK +
  `
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[2], 'WITHSCORES', 'LIMIT', 0, tonumber(ARGV[1]))
if #ids == 0 then return {} end
local members, leases, claimers = {}, {}, {}
local lease, sidp = ARGV[3], ARGV[4] .. '|'
for i = 1, #ids, 2 do
  local id = ids[i]
  members[#members + 1] = id
  leases[#leases + 1] = lease; leases[#leases + 1] = id
  claimers[#claimers + 1] = id; claimers[#claimers + 1] = sidp .. ids[i + 1]
end
bulk('ZREM', KEYS[1], members, 500)
bulk('ZADD', KEYS[2], leases, 1000)
bulk('HSET', KEYS[3], claimers, 1000)
return hmget(KEYS[4], members)
`;

/** Shared Lua helper: append one entry to a conference's move history (a JSON array), keeping the last max. */
const PUSH_HISTORY = `
local function pushHistory(hKey, id, entry, max)
  local raw = redis.call('HGET', hKey, id)
  local list = {}
  if raw then list = cjson.decode(raw) end
  list[#list + 1] = entry
  while #list > max do table.remove(list, 1) end
  redis.call('HSET', hKey, id, cjson.encode(list))
end
`;

/**
 * Shared Lua helper: forget a conference's unplaceable entry (KEYS unplaceable, ucount, backoff given as
 * arguments), keeping the per-reason counts right.
 */
const CLEAR_UNPLACEABLE = `
local function clearUnplaceable(uKey, countKey, backoffKey, id)
  local prev = redis.call('HGET', uKey, id)
  if prev then
    redis.call('HINCRBY', countKey, cjson.decode(prev).reason, -1)
    redis.call('HDEL', uKey, id)
  end
  redis.call('ZREM', backoffKey, id)
end
`;

/**
 * Shared Lua helpers: the best candidate with room for `units` (lowest tier, then least loaded — the larger of the
 * reservation and the reported load over capacity —, then the smaller id; as pick.ts), and the unplaceable
 * bookkeeping of a miss (attempts, doubling back-off capped, per-reason counts; KEYS given as arguments).
 */
const PICK_AND_MISS = `
local function pickBest(cands, units)
  local best, bestLoad = nil, 0
  for j = 1, #cands do
    local k = cands[j]
    if k.capacity > 0 and (not k.down) and k.reserved + units <= k.capacity then
      local load = math.max(k.reserved, k.load) / k.capacity
      if best == nil or k.tier < cands[best].tier
        or (k.tier == cands[best].tier and (load < bestLoad or (load == bestLoad and k.id < cands[best].id))) then
        best = j; bestLoad = load
      end
    end
  end
  return best
end
local function markUnplaceable(uKey, countKey, backoffKey, id, reason, startAt, now, backoffMs, backoffMax)
  local attempts = 1
  local prev = redis.call('HGET', uKey, id)
  if prev then
    local p = cjson.decode(prev)
    attempts = p.attempts + 1
    redis.call('HINCRBY', countKey, p.reason, -1)
  end
  local delay = backoffMs * math.pow(2, math.min(attempts - 1, 30))
  if delay > backoffMax then delay = backoffMax end
  local retryAt = now + delay
  redis.call('HSET', uKey, id, cjson.encode({ reason = reason, attempts = attempts, retryAt = retryAt,
    startAt = startAt }))
  redis.call('HINCRBY', countKey, reason, 1)
  redis.call('ZADD', backoffKey, retryAt, id)
  return retryAt, attempts
end
`;

/**
 * KEYS claims, claimer, pending, backoff, unplaceable, wake[, xfer]. ARGV now, wakeLimit.
 * Expired claims go back to pending with their start time (and lose any cross-region transfer token: a
 * reservation taken under the old claim can then never be committed). Unplaceable conferences whose retry time has come go
 * back to pending too; so do all of them when capacity appeared (wake flag 'capacity': a server joined, grew, came
 * back) and all but the too-large ones when room was freed (wake flag 'room': a placed conference ended).
 * Returns how many went back to pending.
 */
export const RECLAIM = `
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
for _, id in ipairs(ids) do
  local c = redis.call('HGET', KEYS[2], id)
  redis.call('ZREM', KEYS[1], id)
  redis.call('HDEL', KEYS[2], id)
  if KEYS[7] then redis.call('HDEL', KEYS[7], id) end
  if c then
    local startAt = string.match(c, '|([^|]*)$')
    redis.call('ZADD', KEYS[3], startAt, id)
  end
end
local now = tonumber(ARGV[1])
local wake = redis.call('GET', KEYS[6])
local due
if wake then
  redis.call('DEL', KEYS[6])
  due = redis.call('ZRANGE', KEYS[4], 0, tonumber(ARGV[2]) - 1, 'WITHSCORES')
else
  due = redis.call('ZRANGEBYSCORE', KEYS[4], '-inf', now, 'WITHSCORES', 'LIMIT', 0, tonumber(ARGV[2]))
end
local woken = 0
for i = 1, #due, 2 do
  local id = due[i]
  local info = redis.call('HGET', KEYS[5], id)
  if not info then
    redis.call('ZREM', KEYS[4], id)
  else
    local e = cjson.decode(info)
    if wake ~= 'room' or e.reason ~= 'too-large' or tonumber(due[i + 1]) <= now then
      redis.call('ZREM', KEYS[4], id)
      redis.call('ZADD', KEYS[3], e.startAt, id)
      woken = woken + 1
    end
  end
end
return #ids + woken
`;

/** KEYS wake. ARGV kind ('capacity' | 'room'). 'capacity' wins over 'room'; the next reclaim consumes it. */
export const WAKE = `
if ARGV[1] == 'capacity' then redis.call('SET', KEYS[1], 'capacity') else redis.call('SET', KEYS[1], 'room', 'NX') end
return 1
`;

/**
 * KEYS claims, claimer, sched, reserved, down, epoch, expiry, unplaceable, pending, moves, count, ucount, backoff,
 * on:<cand1> … on:<candK>.
 * ARGV schedulerId, nConf, nCand, now, backoffMs, backoffMaxMs, deferMisses ('1': a conference no candidate takes
 * keeps its claim and answers status 2 with the miss status second, for a fallback to another region's shard),
 * packed ('1': the conferences are ONE argument next, `id units startAt durationMs` and a newline per conference, for
 * ids without a space or newline; '0': four arguments per conference (id, units, startAt, durationMs)), then per
 * candidate (id, address, capacity, load, tier). Packing saves the caller's client and Redis's argument parsing three
 * quarters of a batch's arguments (800 of ~1,060 for 200 conferences); `gmatch` splits it in C. For each conference, atomically: check the
 * claim is still ours and the conference is not placed, pick the least-loaded candidate of the lowest tier with
 * room (same rule as pick.ts), take a new epoch, write the schedule entry and the reservation. A conference no
 * candidate can take leaves the pending set for a back-off (doubling per miss, capped), with its reason: no
 * candidate at all, larger than every candidate, or no room now. Returns per conference: status (1 placed, 0 no
 * room, -3 too large, -4 no servers, -1 claim lost, -2 already placed), candidate index (1-based) or the retry
 * time, epoch, moves. The batch's reads are one HMGET each and its writes one variadic command each (per server for
 * the reservation), so a conference costs hardly any command of its own: the epochs of a batch come from one GET
 * and one SET of the counter, the same as one INCR each inside one atomic script.
 */
export const PLACE =
  BULK +
  CLEAR_UNPLACEABLE +
  PICK_AND_MISS +
  `
local sid = ARGV[1]
local nConf = tonumber(ARGV[2])
local nCand = tonumber(ARGV[3])
local now = tonumber(ARGV[4])
local backoffMs = tonumber(ARGV[5])
local backoffMax = tonumber(ARGV[6])
local cands = {}
local maxCap = 0
-- the conferences: id, units, startAt, durationMs each
local ids, unitsOf, startOf, durOf = {}, {}, {}, {}
local base
if ARGV[8] == '1' then
  local i = 0
  for id, u, st, d in string.gmatch(ARGV[9], '([^ ]+) ([^ ]+) ([^ ]+) ([^\\n]+)\\n') do
    i = i + 1
    ids[i] = id; unitsOf[i] = tonumber(u); startOf[i] = st; durOf[i] = d
  end
  if i ~= nConf then return redis.error_reply('ERR PLACE packed conferences: ' .. i .. ' of ' .. nConf) end
  base = 9
else
  for i = 1, nConf do
    local o = 8 + (i - 1) * 4
    ids[i] = ARGV[o + 1]; unitsOf[i] = tonumber(ARGV[o + 2]); startOf[i] = ARGV[o + 3]; durOf[i] = ARGV[o + 4]
  end
  base = 8 + nConf * 4
end
-- the candidates' down flags and reservations: one SMISMEMBER and one HMGET for all (it was two commands each)
local candIds = {}
for j = 1, nCand do candIds[j] = ARGV[base + (j - 1) * 5 + 1] end
local downs, reservedOf = {}, {}
for s = 1, nCand, 500 do
  local part = redis.call('SMISMEMBER', KEYS[5], unpack(candIds, s, math.min(nCand, s + 499)))
  for j = 1, #part do downs[s + j - 1] = part[j] end
end
reservedOf = hmget(KEYS[4], candIds)
for j = 1, nCand do
  local o = base + (j - 1) * 5
  local id = ARGV[o + 1]
  cands[j] = {
    id = id, address = ARGV[o + 2], capacity = tonumber(ARGV[o + 3]), load = tonumber(ARGV[o + 4]),
    tier = tonumber(ARGV[o + 5]), down = downs[j] == 1,
    reserved = tonumber(reservedOf[j] or '0'), units = 0, ids = {}
  }
  if (not cands[j].down) and cands[j].capacity > maxCap then maxCap = cands[j].capacity end
end
-- the candidates in a binary heap by (tier, load, id), pickBest's order: its top is the answer whenever it has
-- room (it is the least of all), so a conference costs O(log K) instead of a scan of the K candidates; only when
-- the top has no room for this conference's units does the full scan decide (and the heap is rebuilt)
local heap = {}
local function less(a, b)
  if a.tier ~= b.tier then return a.tier < b.tier end
  if a.key ~= b.key then return a.key < b.key end
  return a.id < b.id
end
local function siftDown(i)
  local n = #heap
  while true do
    local l, m = 2 * i, i
    if l <= n and less(heap[l], heap[m]) then m = l end
    if l + 1 <= n and less(heap[l + 1], heap[m]) then m = l + 1 end
    if m == i then return end
    heap[i], heap[m] = heap[m], heap[i]
    i = m
  end
end
local function heapify()
  for i = math.floor(#heap / 2), 1, -1 do siftDown(i) end
end
for j = 1, nCand do
  local k = cands[j]
  if k.capacity > 0 and not k.down then
    k.key = math.max(k.reserved, k.load) / k.capacity
    k.idx = j
    heap[#heap + 1] = k
  end
end
heapify()
-- what is read per conference, read for the whole batch at once; what is written, written at the end
local claimers = hmget(KEYS[2], ids)
local placed = hmget(KEYS[3], ids)
local movesOf = hmget(KEYS[10], ids)
-- no unplaceable entry at all: no placed conference has one to clear (backoff only holds unplaceable ids)
local anyUnplaceable = redis.call('HLEN', KEYS[8]) > 0
local epoch0 = tonumber(redis.call('GET', KEYS[6]) or '0')
local epoch = epoch0
local dropClaims, entries, expiries = {}, {}, {}
local seen = {}
local out = {}
local sidp, sidn = sid .. '|', #sid + 1
for i = 1, nConf do
  local id = ids[i]
  local units = unitsOf[i]
  local startAt = startOf[i]
  local c = claimers[i]
  if seen[id] then
    -- the same id twice in one batch: the first took (or dropped) the claim, so this one has none
    out[#out + 1] = -1; out[#out + 1] = 0; out[#out + 1] = 0; out[#out + 1] = 0
  elseif (not c) or string.sub(c, 1, sidn) ~= sidp then
    out[#out + 1] = -1; out[#out + 1] = 0; out[#out + 1] = 0; out[#out + 1] = 0
  elseif placed[i] then
    dropClaims[#dropClaims + 1] = id
    seen[id] = true
    out[#out + 1] = -2; out[#out + 1] = 0; out[#out + 1] = 0; out[#out + 1] = 0
  else
    local top, best, scanned = heap[1], nil, false
    if top and top.reserved + units <= top.capacity then best = top.idx
    else best = pickBest(cands, units); scanned = true end
    local reason, status = 'no-room', 0
    if best == nil then
      if maxCap == 0 then reason, status = 'no-servers', -4 elseif units > maxCap then reason, status = 'too-large', -3 end
    end
    if best == nil and ARGV[7] == '1' then
      -- deferred: the claim stays ours, the caller tries other regions' shards (reserve, then COMMIT here)
      out[#out + 1] = 2; out[#out + 1] = status; out[#out + 1] = 0; out[#out + 1] = 0
    elseif best == nil then
      dropClaims[#dropClaims + 1] = id
      seen[id] = true
      local retryAt, attempts = markUnplaceable(KEYS[8], KEYS[12], KEYS[13], id, reason, tonumber(startAt), now,
        backoffMs, backoffMax)
      out[#out + 1] = status; out[#out + 1] = retryAt; out[#out + 1] = attempts; out[#out + 1] = 0
    else
      dropClaims[#dropClaims + 1] = id
      seen[id] = true
      local k = cands[best]
      epoch = epoch + 1
      local moves = tonumber(movesOf[i] or '0')
      local expiresAt = tonumber(startAt) + tonumber(durOf[i])
      entries[#entries + 1] = id
      -- the entry's JSON by concatenation (as cjson.encode would write it: strings encoded, numbers with %.14g):
      -- a table and an encode per conference cost more than the rest of its placement
      if not k.head then
        k.head = '{"serverId":' .. cjson.encode(k.id) .. ',"address":' .. cjson.encode(k.address) .. ',"epoch":'
      end
      entries[#entries + 1] = k.head .. epoch .. ',"expiresAt":' .. expiresAt .. ',"moves":' .. moves ..
        ',"units":' .. units .. ',"startAt":' .. tonumber(startAt) .. ',"placedAt":' .. now .. '}'
      expiries[#expiries + 1] = expiresAt; expiries[#expiries + 1] = id
      k.reserved = k.reserved + units
      k.key = math.max(k.reserved, k.load) / k.capacity
      if scanned then heapify() else siftDown(1) end
      k.units = k.units + units
      k.ids[#k.ids + 1] = id
      if anyUnplaceable then clearUnplaceable(KEYS[8], KEYS[12], KEYS[13], id) end
      out[#out + 1] = 1; out[#out + 1] = best; out[#out + 1] = epoch; out[#out + 1] = moves
    end
  end
end
bulk('ZREM', KEYS[1], dropClaims, 500)
bulk('HDEL', KEYS[2], dropClaims, 500)
bulk('HSET', KEYS[3], entries, 1000)
bulk('ZADD', KEYS[7], expiries, 1000)
if epoch ~= epoch0 then redis.call('SET', KEYS[6], epoch) end
for j = 1, nCand do
  local k = cands[j]
  if #k.ids > 0 then
    redis.call('HINCRBY', KEYS[4], k.id, k.units)
    redis.call('HINCRBY', KEYS[11], k.id, #k.ids)
    bulk('SADD', KEYS[13 + j], k.ids, 500)
  end
end
return out
`;

/**
 * KEYS down, on:<server>, sched, reserved, expiry, pending, moves, count, history[, foreign, fcheck]. ARGV serverId,
 * now, historyMax. Marks the server down and sends every conference on it back to pending (the front: their start
 * has passed). A conference of another region's shard reserved on it is marked `evicted` in `foreign` and queued in
 * `fcheck`: the reconciler sends it back to pending in its home shard (no script may touch both).
 */
export const EVACUATE =
  PUSH_HISTORY +
  `
redis.call('SADD', KEYS[1], ARGV[1])
local ids = redis.call('SMEMBERS', KEYS[2])
for _, id in ipairs(ids) do
  local a = redis.call('HGET', KEYS[3], id)
  if a then
    local e = cjson.decode(a)
    redis.call('HDEL', KEYS[3], id)
    redis.call('ZREM', KEYS[5], id)
    redis.call('HINCRBY', KEYS[7], id, 1)
    redis.call('ZADD', KEYS[6], e.startAt, id)
    pushHistory(KEYS[9], id, { from = ARGV[1], at = tonumber(ARGV[2]), reason = 'server-down' }, tonumber(ARGV[3]))
  elseif KEYS[10] then
    -- a conference of another region's shard, reserved here: its home shard must send it back to pending
    local f = redis.call('HGET', KEYS[10], id)
    if f then
      local r = cjson.decode(f)
      if r.serverId == ARGV[1] and r.state ~= 'evicted' then
        r.state = 'evicted'
        redis.call('HSET', KEYS[10], id, cjson.encode(r))
        redis.call('ZADD', KEYS[11], 0, id)
      end
    end
  end
end
redis.call('DEL', KEYS[2])
redis.call('HDEL', KEYS[4], ARGV[1])
redis.call('HDEL', KEYS[8], ARGV[1])
return ids
`;

/**
 * KEYS conf, index, pending, claims, claimer, sched, reserved, expiry, unplaceable, moves, on:<server>, count,
 * ucount, backoff, wake, history. ARGV id, serverId the caller read ('' when not placed). Returns 1 ended, 0 unknown, -1
 * placement changed meanwhile (the caller reads again and retries). Ending a placed conference frees room: the
 * next round retries the unplaceable conferences (wake flag 'room').
 */
export const END =
  CLEAR_UNPLACEABLE +
  `
local id = ARGV[1]
if redis.call('HEXISTS', KEYS[1], id) == 0 then return 0 end
local a = redis.call('HGET', KEYS[6], id)
if a then
  local e = cjson.decode(a)
  if e.serverId ~= ARGV[2] then return -1 end
  if not e.resv then
    local left = redis.call('HINCRBY', KEYS[7], e.serverId, -e.units)
    if left <= 0 then redis.call('HDEL', KEYS[7], e.serverId) end
    if redis.call('HINCRBY', KEYS[12], e.serverId, -1) <= 0 then redis.call('HDEL', KEYS[12], e.serverId) end
    redis.call('SREM', KEYS[11], id)
  end
  redis.call('HDEL', KEYS[6], id)
  redis.call('SET', KEYS[15], 'room', 'NX')
elseif ARGV[2] ~= '' then
  return -1
end
redis.call('HDEL', KEYS[1], id)
redis.call('ZREM', KEYS[2], id)
redis.call('ZREM', KEYS[3], id)
redis.call('ZREM', KEYS[4], id)
redis.call('HDEL', KEYS[5], id)
redis.call('ZREM', KEYS[8], id)
clearUnplaceable(KEYS[9], KEYS[13], KEYS[14], id)
redis.call('HDEL', KEYS[10], id)
redis.call('HDEL', KEYS[16], id)
return 1
`;

/**
 * KEYS conf, sched, reserved, down, epoch, moves, count, history, on:<from>, on:<cand1> … on:<candK>.
 * ARGV id, from (the server the caller read), now, nCand, historyMax, then per candidate (id, address, capacity,
 * load, tier). Moves a placed conference off its server onto the best candidate with room (same rule as PLACE;
 * its own server and servers marked down are skipped): new epoch, moves + 1, an 'operator' history entry, the
 * reservation and counts moved, in one step. Returns {1, candidate index, epoch, moves}, {0} unknown, {-1} the
 * placement changed meanwhile (read again), {-2} not placed, {-3} no candidate has room.
 */
export const MOVE =
  PUSH_HISTORY +
  `
local id = ARGV[1]
if redis.call('HEXISTS', KEYS[1], id) == 0 then return {0} end
local a = redis.call('HGET', KEYS[2], id)
if not a then return {-2} end
local e = cjson.decode(a)
if e.serverId ~= ARGV[2] then return {-1} end
-- placed on another region's shard: its reservation is not in this slot, this script cannot move it
if e.resv then return {-3} end
local now = tonumber(ARGV[3])
local nCand = tonumber(ARGV[4])
local best, bestLoad, bestTier, bestId = nil, 0, 0, ''
for j = 1, nCand do
  local o = 5 + (j - 1) * 5
  local cid, cap, ld, tier = ARGV[o + 1], tonumber(ARGV[o + 3]), tonumber(ARGV[o + 4]), tonumber(ARGV[o + 5])
  if cid ~= e.serverId and cap > 0 and redis.call('SISMEMBER', KEYS[4], cid) == 0 then
    local res = tonumber(redis.call('HGET', KEYS[3], cid) or '0')
    if res + e.units <= cap then
      local load = math.max(res, ld) / cap
      if best == nil or tier < bestTier or (tier == bestTier and (load < bestLoad or (load == bestLoad and cid < bestId))) then
        best, bestLoad, bestTier, bestId = j, load, tier, cid
      end
    end
  end
end
if best == nil then return {-3} end
local o = 5 + (best - 1) * 5
local to, address = ARGV[o + 1], ARGV[o + 2]
local left = redis.call('HINCRBY', KEYS[3], e.serverId, -e.units)
if left <= 0 then redis.call('HDEL', KEYS[3], e.serverId) end
if redis.call('HINCRBY', KEYS[7], e.serverId, -1) <= 0 then redis.call('HDEL', KEYS[7], e.serverId) end
redis.call('SREM', KEYS[9], id)
redis.call('HINCRBY', KEYS[3], to, e.units)
redis.call('HINCRBY', KEYS[7], to, 1)
redis.call('SADD', KEYS[9 + best], id)
local epoch = redis.call('INCR', KEYS[5])
local moves = redis.call('HINCRBY', KEYS[6], id, 1)
e.serverId = to
e.address = address
e.epoch = epoch
e.moves = moves
e.placedAt = now
redis.call('HSET', KEYS[2], id, cjson.encode(e))
pushHistory(KEYS[8], id, { from = ARGV[2], to = to, epoch = epoch, at = now, reason = 'operator' }, tonumber(ARGV[5]))
return {1, best, epoch, moves}
`;

/*
 * Cross-region fallback on a partitioned schedule (one hash tag per region, so no script may touch two regions).
 * The home shard A holds the conference, its claim and its schedule entry; the server's shard B holds the
 * server's reservations. Protocol: PREPARE (A: the claim is still ours → transfer token T) · RESERVE (B: capacity
 * checked and reserved under T, unconfirmed with a deadline) · COMMIT (A: the claim is still ours and T is still the
 * transfer token → schedule entry naming T) · SETTLE (B: confirm, or release). A crash between any two steps leaves
 * an unconfirmed (or orphaned) reservation in B that the reconciler RESOLVEs in A: atomically either the entry
 * names T (confirm) or T is fenced (deleted, so no COMMIT with T can ever succeed) and B releases the units.
 */

/** KEYS claimer, sched, xfer. ARGV schedulerId, n, then per conference (id, token). Returns 1/0 per conference. */
export const PREPARE = `
local sid = ARGV[1]
local out = {}
for i = 1, tonumber(ARGV[2]) do
  local id, token = ARGV[2 + (i - 1) * 2 + 1], ARGV[2 + (i - 1) * 2 + 2]
  local c = redis.call('HGET', KEYS[1], id)
  if c and string.sub(c, 1, #sid + 1) == sid .. '|' and redis.call('HEXISTS', KEYS[2], id) == 0 then
    redis.call('HSET', KEYS[3], id, token)
    out[#out + 1] = 1
  else
    out[#out + 1] = 0
  end
end
return out
`;

/**
 * KEYS reserved, down, count, foreign, fcheck, on:<cand1> … on:<candK>. ARGV nConf, nCand, deadline, then per
 * conference (id, token, units, home region), then per candidate (id, address, capacity, load, tier). Reserves each
 * conference on the best candidate with room (same rule as PLACE) under its token, unconfirmed until SETTLE (or
 * the reconciler after the deadline). A reservation of the same conference under another token is dead (PREPARE
 * replaced its token at home) and is released first. Returns per conference: status (1 reserved, 0 no room,
 * -3 too large, -4 no servers), candidate index.
 */
export const RESERVE =
  PICK_AND_MISS +
  `
local nConf, nCand = tonumber(ARGV[1]), tonumber(ARGV[2])
local deadline = tonumber(ARGV[3])
local base = 3 + nConf * 4
local cands = {}
local maxCap = 0
for j = 1, nCand do
  local o = base + (j - 1) * 5
  local id = ARGV[o + 1]
  cands[j] = { id = id, capacity = tonumber(ARGV[o + 3]), load = tonumber(ARGV[o + 4]), tier = tonumber(ARGV[o + 5]),
    down = redis.call('SISMEMBER', KEYS[2], id) == 1, reserved = tonumber(redis.call('HGET', KEYS[1], id) or '0') }
  if (not cands[j].down) and cands[j].capacity > maxCap then maxCap = cands[j].capacity end
end
local function release(r, id)
  if r.state ~= 'evicted' then
    local left = redis.call('HINCRBY', KEYS[1], r.serverId, -r.units)
    if left <= 0 then redis.call('HDEL', KEYS[1], r.serverId) end
    if redis.call('HINCRBY', KEYS[3], r.serverId, -1) <= 0 then redis.call('HDEL', KEYS[3], r.serverId) end
    for j = 1, nCand do if cands[j].id == r.serverId then
      cands[j].reserved = cands[j].reserved - r.units
      redis.call('SREM', KEYS[5 + j], id)
    end end
  end
end
local out = {}
for i = 1, nConf do
  local o = 3 + (i - 1) * 4
  local id, token, units, home = ARGV[o + 1], ARGV[o + 2], tonumber(ARGV[o + 3]), ARGV[o + 4]
  local prev = redis.call('HGET', KEYS[4], id)
  if prev then
    local r = cjson.decode(prev)
    if r.token ~= token then release(r, id); redis.call('HDEL', KEYS[4], id); redis.call('ZREM', KEYS[5], id) end
  end
  local best = pickBest(cands, units)
  if best == nil then
    local status = 0
    if maxCap == 0 then status = -4 elseif units > maxCap then status = -3 end
    out[#out + 1] = status; out[#out + 1] = 0
  else
    local k = cands[best]
    k.reserved = tonumber(redis.call('HINCRBY', KEYS[1], k.id, units))
    redis.call('HINCRBY', KEYS[3], k.id, 1)
    redis.call('SADD', KEYS[5 + best], id)
    redis.call('HSET', KEYS[4], id, cjson.encode({ token = token, home = home, serverId = k.id, units = units,
      state = 'reserved' }))
    redis.call('ZADD', KEYS[5], deadline, id)
    out[#out + 1] = 1; out[#out + 1] = best
  end
end
return out
`;

/**
 * KEYS claims, claimer, sched, epoch, expiry, moves, xfer, unplaceable, ucount, backoff. ARGV schedulerId, now, n,
 * then per conference (id, token, serverId, address, region, units, startAt, durationMs). Writes the schedule entry
 * of a conference reserved on another region's shard, if the claim is still ours, it is not placed and its transfer
 * token is still `token`. Returns per conference: status (1 committed, 0 refused), epoch, moves. A refused token is
 * fenced (deleted) at once: it can never be committed later, so the caller (or the reconciler) may release it.
 */
export const COMMIT =
  CLEAR_UNPLACEABLE +
  `
local sid = ARGV[1]
local now = tonumber(ARGV[2])
local out = {}
for i = 1, tonumber(ARGV[3]) do
  local o = 3 + (i - 1) * 8
  local id, token = ARGV[o + 1], ARGV[o + 2]
  local c = redis.call('HGET', KEYS[2], id)
  local x = redis.call('HGET', KEYS[7], id)
  if c and string.sub(c, 1, #sid + 1) == sid .. '|' and x == token and redis.call('HEXISTS', KEYS[3], id) == 0 then
    redis.call('ZREM', KEYS[1], id)
    redis.call('HDEL', KEYS[2], id)
    redis.call('HDEL', KEYS[7], id)
    local epoch = redis.call('INCR', KEYS[4])
    local moves = tonumber(redis.call('HGET', KEYS[6], id) or '0')
    local startAt = tonumber(ARGV[o + 7])
    local expiresAt = startAt + tonumber(ARGV[o + 8])
    redis.call('HSET', KEYS[3], id, cjson.encode({ serverId = ARGV[o + 3], address = ARGV[o + 4], epoch = epoch,
      expiresAt = expiresAt, moves = moves, units = tonumber(ARGV[o + 6]), startAt = startAt, placedAt = now,
      resv = token, resvRegion = ARGV[o + 5] }))
    redis.call('ZADD', KEYS[5], expiresAt, id)
    clearUnplaceable(KEYS[8], KEYS[9], KEYS[10], id)
    out[#out + 1] = 1; out[#out + 1] = epoch; out[#out + 1] = moves
  else
    if x == token then redis.call('HDEL', KEYS[7], id) end
    out[#out + 1] = 0; out[#out + 1] = 0; out[#out + 1] = 0
  end
end
return out
`;

/**
 * KEYS sched, xfer, pending, expiry, moves, history. ARGV now, historyMax, n, then per reservation (id, token,
 * serverId, evict '1'|'0'). The home shard's verdict on reservations held elsewhere: 'placed' when the schedule
 * entry names the token (with evict: the server went down, so the conference goes back to pending and the answer is
 * 'evicted'), else 'gone' after fencing the token (a later COMMIT with it is refused).
 */
export const RESOLVE =
  PUSH_HISTORY +
  `
local now = tonumber(ARGV[1])
local out = {}
for i = 1, tonumber(ARGV[3]) do
  local o = 3 + (i - 1) * 4
  local id, token, serverId = ARGV[o + 1], ARGV[o + 2], ARGV[o + 3]
  local a = redis.call('HGET', KEYS[1], id)
  local e = a and cjson.decode(a)
  if e and e.resv == token then
    if ARGV[o + 4] == '1' then
      redis.call('HDEL', KEYS[1], id)
      redis.call('ZREM', KEYS[4], id)
      redis.call('HINCRBY', KEYS[5], id, 1)
      redis.call('ZADD', KEYS[3], e.startAt, id)
      pushHistory(KEYS[6], id, { from = serverId, at = now, reason = 'server-down' }, tonumber(ARGV[2]))
      out[#out + 1] = 'evicted'
    else
      out[#out + 1] = 'placed'
    end
  else
    if redis.call('HGET', KEYS[2], id) == token then redis.call('HDEL', KEYS[2], id) end
    out[#out + 1] = 'gone'
  end
end
return out
`;

/**
 * KEYS reserved, count, foreign, fcheck, on:<server of each reservation>…. ARGV auditAt, n, then per reservation
 * (id, token, verdict 'placed'|'gone'|'evicted'). 'placed' confirms it (checked again at auditAt: a conference
 * ended at home releases it then); otherwise the reservation is dropped and its units freed (an evicted one's units
 * went with its server's). A reservation under another token is left alone.
 */
export const SETTLE = `
local out = 0
for i = 1, tonumber(ARGV[2]) do
  local o = 2 + (i - 1) * 3
  local id, token, verdict = ARGV[o + 1], ARGV[o + 2], ARGV[o + 3]
  local f = redis.call('HGET', KEYS[3], id)
  local r = f and cjson.decode(f)
  if r and r.token == token then
    if verdict == 'placed' and r.state ~= 'evicted' then
      r.state = 'confirmed'
      redis.call('HSET', KEYS[3], id, cjson.encode(r))
      redis.call('ZADD', KEYS[4], ARGV[1], id)
    elseif verdict ~= 'placed' then
      if r.state ~= 'evicted' then
        local left = redis.call('HINCRBY', KEYS[1], r.serverId, -r.units)
        if left <= 0 then redis.call('HDEL', KEYS[1], r.serverId) end
        if redis.call('HINCRBY', KEYS[2], r.serverId, -1) <= 0 then redis.call('HDEL', KEYS[2], r.serverId) end
        redis.call('SREM', KEYS[4 + i], id)
      end
      redis.call('HDEL', KEYS[3], id)
      redis.call('ZREM', KEYS[4], id)
      out = out + 1
    end
  end
end
return out
`;

/**
 * KEYS claimer, claims, xfer, unplaceable, ucount, backoff. ARGV schedulerId, now, backoffMs, backoffMaxMs, n, then
 * per conference (id, reason, startAt). A deferred conference no region could take: unplaceable with its reason
 * (the PLACE bookkeeping), if the claim is still ours. Returns per conference: retryAt and attempts (0 0 if lost).
 */
export const UNPLACE =
  PICK_AND_MISS +
  `
local sid = ARGV[1]
local now, backoffMs, backoffMax = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local out = {}
for i = 1, tonumber(ARGV[5]) do
  local o = 5 + (i - 1) * 3
  local id, reason, startAt = ARGV[o + 1], ARGV[o + 2], tonumber(ARGV[o + 3])
  local c = redis.call('HGET', KEYS[1], id)
  if c and string.sub(c, 1, #sid + 1) == sid .. '|' then
    redis.call('HDEL', KEYS[1], id)
    redis.call('ZREM', KEYS[2], id)
    redis.call('HDEL', KEYS[3], id)
    local retryAt, attempts = markUnplaceable(KEYS[4], KEYS[5], KEYS[6], id, reason, startAt, now, backoffMs,
      backoffMax)
    out[#out + 1] = retryAt; out[#out + 1] = attempts
  else
    out[#out + 1] = 0; out[#out + 1] = 0
  end
end
return out
`;

/**
 * The scripts by name, for tools that read Redis's own accounting (the bench maps `SLOWLOG` entries, which name a
 * script by its SHA1 only, back to these names).
 */
export const SCHEDULE_SCRIPTS: Readonly<Record<string, string>> = {
  CREATE,
  SNAPSHOT,
  CLAIM,
  RECLAIM,
  WAKE,
  PLACE,
  EVACUATE,
  END,
  MOVE,
  PREPARE,
  RESERVE,
  COMMIT,
  RESOLVE,
  SETTLE,
  UNPLACE,
};
