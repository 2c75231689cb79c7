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
 * KEYS pending, claims, claimer, conf. ARGV n, windowEnd, leaseUntil, schedulerId.
 * Moves up to n due conferences from pending to claims; returns their request JSON.
 */
export const CLAIM = `
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[2], 'WITHSCORES', 'LIMIT', 0, tonumber(ARGV[1]))
local out = {}
for i = 1, #ids, 2 do
  local id = ids[i]
  redis.call('ZREM', KEYS[1], id)
  redis.call('ZADD', KEYS[2], ARGV[3], id)
  redis.call('HSET', KEYS[3], id, ARGV[4] .. '|' .. ids[i + 1])
  out[#out + 1] = redis.call('HGET', KEYS[4], id)
end
return out
`;

/** KEYS claims, claimer, pending. ARGV now. Expired claims go back to pending with their start time. */
export const RECLAIM = `
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
for _, id in ipairs(ids) do
  local c = redis.call('HGET', KEYS[2], id)
  redis.call('ZREM', KEYS[1], id)
  redis.call('HDEL', KEYS[2], id)
  if c then
    local startAt = string.match(c, '|([^|]*)$')
    redis.call('ZADD', KEYS[3], startAt, id)
  end
end
return #ids
`;

/**
 * KEYS claims, claimer, sched, reserved, down, epoch, expiry, unplaceable, pending, moves, count,
 * on:<cand1> … on:<candK>.
 * ARGV schedulerId, nConf, nCand, placedAt, then per conference (id, units, startAt, durationMs), then per candidate
 * (id, address, capacity, load, tier). For each conference, atomically: check the claim is still ours and the
 * conference is not placed, pick the least-loaded candidate of the lowest tier with room (same rule as pick.ts),
 * take a new epoch, write the schedule entry and the reservation. Returns per conference: status (1 placed,
 * 0 no room, -1 claim lost, -2 already placed), candidate index (1-based), epoch, moves.
 */
export const PLACE = `
local sid = ARGV[1]
local nConf = tonumber(ARGV[2])
local nCand = tonumber(ARGV[3])
local cands = {}
local placedAt = tonumber(ARGV[4])
local base = 4 + nConf * 4
for j = 1, nCand do
  local o = base + (j - 1) * 5
  local id = ARGV[o + 1]
  cands[j] = {
    id = id, address = ARGV[o + 2], capacity = tonumber(ARGV[o + 3]), load = tonumber(ARGV[o + 4]),
    tier = tonumber(ARGV[o + 5]), down = redis.call('SISMEMBER', KEYS[5], id) == 1,
    reserved = tonumber(redis.call('HGET', KEYS[4], id) or '0')
  }
end
local out = {}
for i = 1, nConf do
  local o = 4 + (i - 1) * 4
  local id = ARGV[o + 1]
  local units = tonumber(ARGV[o + 2])
  local startAt = ARGV[o + 3]
  local c = redis.call('HGET', KEYS[2], id)
  if (not c) or string.sub(c, 1, #sid + 1) ~= sid .. '|' then
    out[#out + 1] = -1; out[#out + 1] = 0; out[#out + 1] = 0; out[#out + 1] = 0
  elseif redis.call('HEXISTS', KEYS[3], id) == 1 then
    redis.call('ZREM', KEYS[1], id); redis.call('HDEL', KEYS[2], id)
    out[#out + 1] = -2; out[#out + 1] = 0; out[#out + 1] = 0; out[#out + 1] = 0
  else
    local best, bestLoad = nil, 0
    for j = 1, nCand do
      local k = cands[j]
      if k.capacity > 0 and (not k.down) and k.reserved + units <= k.capacity then
        local load = math.max(k.reserved, k.load) / k.capacity
        if best == nil or k.tier < cands[best].tier
          or (k.tier == cands[best].tier and (load < bestLoad or (load == bestLoad and k.id < cands[best].id))) then
          best = j; bestLoad = load
        end
      end
    end
    redis.call('ZREM', KEYS[1], id)
    redis.call('HDEL', KEYS[2], id)
    if best == nil then
      redis.call('ZADD', KEYS[9], startAt, id)
      redis.call('SADD', KEYS[8], id)
      out[#out + 1] = 0; out[#out + 1] = 0; out[#out + 1] = 0; out[#out + 1] = 0
    else
      local k = cands[best]
      local epoch = redis.call('INCR', KEYS[6])
      local moves = tonumber(redis.call('HGET', KEYS[10], id) or '0')
      local expiresAt = tonumber(startAt) + tonumber(ARGV[o + 4])
      redis.call('HSET', KEYS[3], id, cjson.encode({ serverId = k.id, address = k.address, epoch = epoch,
        expiresAt = expiresAt, moves = moves, units = units, startAt = tonumber(startAt), placedAt = placedAt }))
      k.reserved = tonumber(redis.call('HINCRBY', KEYS[4], k.id, units))
      redis.call('SADD', KEYS[11 + best], id)
      redis.call('HINCRBY', KEYS[11], k.id, 1)
      redis.call('ZADD', KEYS[7], expiresAt, id)
      redis.call('SREM', KEYS[8], id)
      out[#out + 1] = 1; out[#out + 1] = best; out[#out + 1] = epoch; out[#out + 1] = moves
    end
  end
end
return out
`;

/**
 * KEYS down, on:<server>, sched, reserved, expiry, pending, moves, count. ARGV serverId.
 * Marks the server down and sends every conference on it back to pending (the front: their start has passed).
 */
export const EVACUATE = `
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
  end
end
redis.call('DEL', KEYS[2])
redis.call('HDEL', KEYS[4], ARGV[1])
redis.call('HDEL', KEYS[8], ARGV[1])
return ids
`;

/**
 * KEYS conf, index, pending, claims, claimer, sched, reserved, expiry, unplaceable, moves, on:<server>, count.
 * ARGV id, serverId the caller read ('' when not placed). Returns 1 ended, 0 unknown, -1 placement changed
 * meanwhile (the caller reads again and retries).
 */
export const END = `
local id = ARGV[1]
if redis.call('HEXISTS', KEYS[1], id) == 0 then return 0 end
local a = redis.call('HGET', KEYS[6], id)
if a then
  local e = cjson.decode(a)
  if e.serverId ~= ARGV[2] then return -1 end
  local left = redis.call('HINCRBY', KEYS[7], e.serverId, -e.units)
  if left <= 0 then redis.call('HDEL', KEYS[7], e.serverId) end
  if redis.call('HINCRBY', KEYS[12], e.serverId, -1) <= 0 then redis.call('HDEL', KEYS[12], e.serverId) end
  redis.call('SREM', KEYS[11], id)
  redis.call('HDEL', KEYS[6], id)
elseif ARGV[2] ~= '' then
  return -1
end
redis.call('HDEL', KEYS[1], id)
redis.call('ZREM', KEYS[2], id)
redis.call('ZREM', KEYS[3], id)
redis.call('ZREM', KEYS[4], id)
redis.call('HDEL', KEYS[5], id)
redis.call('ZREM', KEYS[8], id)
redis.call('SREM', KEYS[9], id)
redis.call('HDEL', KEYS[10], id)
return 1
`;
