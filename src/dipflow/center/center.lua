-- The contact center's state machine as one Redis script (see redis_lua.py for ARGV,
-- keys and why it is a script). It mirrors core.py step for step; the contract tests run
-- the same scenarios, and random differential runs, on both stores.
-- Timer members are '<kind>|<id>' with the kinds of timers.TimerKind: ring, wait, wrap.
local cfg = cjson.decode(ARGV[1])
local P = ARGV[2]
local op = ARGV[3]
local now_s = ARGV[4]
local now = tonumber(now_s)
local out = {}
local TK = P .. 't'
local SEQ_SPAN = 4294967296

local function fmt(x) return string.format('%.17g', x) end
local function emit(t) out[#out + 1] = t end
local function ckey(id) return P .. 'c:' .. id end
local function akey(id) return P .. 'a:' .. id end
local function wkey(q) return P .. 'w:' .. q end
local function avkey(q) return P .. 'av:' .. q end
local function stkey(q) return P .. 'st:' .. q end
local function pwkey(a) return P .. 'pw:' .. a end
local AHT = P .. 'aht'
local ZERO = {proficiency = '0', boolean = 'false', text = '', enum = ''}

local function hash(key)
  local raw = redis.call('HGETALL', key)
  if #raw == 0 then return nil end
  local t = {}
  for i = 1, #raw, 2 do t[raw[i]] = raw[i + 1] end
  return t
end

local function get_contact(id)
  local c = hash(ckey(id))
  if c then
    c.id = id
    c.target = c.target or ''
  end
  return c
end

-- core._line: a contact for one named agent waits in that agent's personal line.
local function lkey(c)
  if c.target ~= '' then return pwkey(c.target) end
  return wkey(c.queue)
end

local function get_agent(id)
  local a = hash(akey(id)) or {}
  a.id = id
  a.state = a.state or 'logged_out'
  a.reason = a.reason or ''
  a.since = a.since or '0'
  a.call = a.call or ''
  a.teams = a.teams or '[]'
  a.queues = a.queues or '[]'
  a.qlist = cjson.decode(a.queues)
  return a
end

-- skills.matches: every requirement [skill, condition, value] met by the agent's skills
-- (configuration, normal text); a skill the agent lacks counts as its type's zero.
local function matches(agent_id, req)
  if req == nil or req == '' or req == '[]' then return true end
  local have_all = cfg.askills[agent_id] or {}
  for _, r in ipairs(cjson.decode(req)) do
    local skill, cond, want = r[1], r[2], r[3]
    local kind = cfg.stype[skill]
    local have = have_all[skill] or ZERO[kind]
    local ok
    if kind == 'proficiency' then
      local a, b = tonumber(have), tonumber(want)
      if cond == '==' then ok = a == b
      elseif cond == '!=' then ok = a ~= b
      elseif cond == '>' then ok = a > b
      elseif cond == '>=' then ok = a >= b
      elseif cond == '<' then ok = a < b
      else ok = a <= b end
    elseif cond == '==' then ok = have == want
    else ok = have ~= want end
    if not ok then return false end
  end
  return true
end

local function ewt(q, position)
  local staffed = redis.call('SCARD', stkey(q))
  if staffed == 0 then return cjson.null end
  local aht = tonumber(redis.call('HGET', AHT, q) or cfg.aht0)
  return math.floor(position * aht / staffed * 10 + 0.5) / 10
end

-- core._line_ewt: one agent serves a personal line.
local function line_ewt(target, q, position)
  if target == '' then return ewt(q, position) end
  local aht = tonumber(redis.call('HGET', AHT, q) or cfg.aht0)
  return math.floor(position * aht / 1 * 10 + 0.5) / 10
end

local function positions_from(c, start)
  if start >= cfg.npos then return end
  local ids = redis.call('ZRANGE', lkey(c), start, cfg.npos - 1)
  for i, id in ipairs(ids) do
    local pos = start + i
    local q = c.queue
    if c.target ~= '' then q = redis.call('HGET', ckey(id), 'queue') end
    emit({type = 'QueuePositionChanged', call_id = id, queue = q, position = pos,
          estimated_wait_s = line_ewt(c.target, q, pos)})
  end
end

local function insert_waiting(c)
  redis.call('ZADD', lkey(c), c.score, c.id)
  c.state = 'queued'
  c.agent = ''
  redis.call('HSET', ckey(c.id), 'state', 'queued', 'agent', '')
  if c.max_wait ~= '' then
    redis.call('ZADD', TK, fmt(tonumber(c.queued_at) + tonumber(c.max_wait)), 'wait|' .. c.id)
  end
  return redis.call('ZRANK', lkey(c), c.id)
end

local function remove_waiting(c)
  local idx = redis.call('ZRANK', lkey(c), c.id)
  redis.call('ZREM', lkey(c), c.id)
  redis.call('ZREM', TK, 'wait|' .. c.id)
  positions_from(c, idx)
end

-- core._leave: out of the center without an agent.
local function leave(c, reason)
  redis.call('ZREM', TK, 'relax|' .. c.id)
  redis.call('DEL', ckey(c.id))
  emit({type = 'ContactLeftQueue', call_id = c.id, queue = c.queue, reason = reason})
end

local function allowed(a, action)
  return cfg.tr[a.state][action] ~= nil
end

local function transition(a, action, reason)
  local nxt = cfg.tr[a.state][action]
  if nxt == nil then error('dipflow center: ' .. a.state .. ' cannot ' .. action) end
  if nxt == '' then return false end
  if a.state == 'available' then
    for _, q in ipairs(a.qlist) do redis.call('ZREM', avkey(q), a.id) end
  end
  a.state = nxt
  if nxt == 'idle' then a.reason = reason else a.reason = '' end
  a.since = now_s
  redis.call('HSET', akey(a.id), 'state', a.state, 'reason', a.reason, 'since', now_s)
  if nxt == 'available' then
    for _, q in ipairs(a.qlist) do redis.call('ZADD', avkey(q), now_s, a.id) end
  end
  local r = cjson.null
  if a.reason ~= '' then r = a.reason end
  emit({type = 'AgentStateChanged', agent_id = a.id, state = nxt, reason = r, since = now_s})
  return true
end

local dispatch_contact

local function offer(c, a)
  remove_waiting(c)
  c.state = 'offered'
  c.agent = a.id
  redis.call('HSET', ckey(c.id), 'state', 'offered', 'agent', a.id)
  a.call = c.id
  redis.call('HSET', akey(a.id), 'call', c.id)
  emit({type = 'ContactOffered', call_id = c.id, agent_id = a.id, queue = c.queue,
        data = cjson.decode(c.data)})
  transition(a, 'offer', '')
  redis.call('ZADD', TK, fmt(now + tonumber(cfg.queues[c.queue].ring)), 'ring|' .. c.id)
end

-- core._dispatch_contact: the longest-available agent of the queue who meets the contact's
-- requirements (every other waiting contact already has none).
dispatch_contact = function(c)
  if c.target ~= '' then
    local named = get_agent(c.target)
    if named.state == 'available' then offer(c, named) end
    return
  end
  local stop = -1
  if c.req == '' or c.req == '[]' then stop = 0 end
  for _, id in ipairs(redis.call('ZRANGE', avkey(c.queue), 0, stop)) do
    if matches(id, c.req) then
      offer(c, get_agent(id))
      return
    end
  end
end

-- core._dispatch_agent: the first contact in offer order, across the agent's queues,
-- whose requirements the agent meets (scores are unique: arrivals are numbered).
local BATCH = 64
local function dispatch_agent(a)
  if a.state ~= 'available' then return end
  local best_id, best_score = nil, nil
  local own = redis.call('ZRANGE', pwkey(a.id), 0, 0, 'WITHSCORES')
  if #own > 0 then best_id, best_score = own[1], tonumber(own[2]) end
  for _, q in ipairs(a.qlist) do
    local start, done = 0, false
    while not done do
      local items = redis.call('ZRANGE', wkey(q), start, start + BATCH - 1, 'WITHSCORES')
      if #items == 0 then break end
      for i = 1, #items, 2 do
        local score = tonumber(items[i + 1])
        if best_score ~= nil and score >= best_score then done = true break end
        if matches(a.id, redis.call('HGET', ckey(items[i]), 'req')) then
          best_id, best_score = items[i], score
          done = true
          break
        end
      end
      start = start + BATCH
    end
  end
  if best_id then offer(get_contact(best_id), a) end
end

local function requeue(c)
  local idx = insert_waiting(c)
  positions_from(c, idx)
  dispatch_contact(c)
end

-- core._relax: the next relaxation step's requirements (pre-encoded JSON text).
local function relax(c)
  local steps = cjson.decode(c.relax)
  local step = tonumber(c.step) + 1
  c.step = tostring(step)
  c.req = steps[step][2]
  redis.call('HSET', ckey(c.id), 'step', c.step, 'req', c.req)
  if step < #steps then
    redis.call('ZADD', TK, fmt(tonumber(c.entered_at) + tonumber(steps[step + 1][1])),
               'relax|' .. c.id)
  end
  if c.state == 'queued' then dispatch_contact(c) end
end

local function ring_no_answer(c, a, reason)
  redis.call('ZREM', TK, 'ring|' .. c.id)
  a.call = ''
  redis.call('HSET', akey(a.id), 'call', '')
  emit({type = 'OfferRescinded', call_id = c.id, agent_id = a.id, reason = reason})
  transition(a, 'ring_no_answer', 'rona')
  if c.target ~= '' then leave(c, 'agent_unavailable') else requeue(c) end
end

local function overflow(c)
  remove_waiting(c)
  local origin = c.queue
  local target = c.fallback
  local visited = cjson.decode(c.visited)
  local seen = false
  for _, q in ipairs(visited) do if q == target then seen = true end end
  if target == '' or seen then
    redis.call('ZREM', TK, 'relax|' .. c.id)
    redis.call('DEL', ckey(c.id))
    local reason = 'no_fallback'
    if target == '' then reason = 'max_wait' end
    emit({type = 'ContactLeftQueue', call_id = c.id, queue = origin, reason = reason})
    return
  end
  local qc = cfg.queues[target]
  visited[#visited + 1] = target
  c.queue = target
  c.visited = cjson.encode(visited)
  c.queued_at = now_s
  c.max_wait = qc.max_wait
  c.fallback = qc.fallback
  redis.call('HSET', ckey(c.id), 'queue', target, 'visited', c.visited, 'queued_at', now_s,
             'max_wait', c.max_wait, 'fallback', c.fallback)
  emit({type = 'ContactMovedQueue', call_id = c.id, from_queue = origin, to_queue = target})
  requeue(c)
end

local end_contact

local function abandon(id)
  local c = get_contact(id)
  if not c then return end
  if c.state == 'connected' then return end_contact(id) end
  if c.state == 'queued' then
    remove_waiting(c)
    redis.call('ZREM', TK, 'relax|' .. id)
    redis.call('DEL', ckey(id))
    emit({type = 'ContactLeftQueue', call_id = id, queue = c.queue, reason = 'abandoned'})
    return
  end
  local a = get_agent(c.agent)
  redis.call('ZREM', TK, 'ring|' .. id)
  redis.call('ZREM', TK, 'relax|' .. id)
  redis.call('DEL', ckey(id))
  a.call = ''
  redis.call('HSET', akey(a.id), 'call', '')
  emit({type = 'OfferRescinded', call_id = id, agent_id = a.id, reason = 'caller_hung_up'})
  emit({type = 'ContactLeftQueue', call_id = id, queue = c.queue, reason = 'abandoned'})
  transition(a, 'offer_withdrawn', '')
  dispatch_agent(a)
end

end_contact = function(id)
  local c = get_contact(id)
  if not c then return end
  if c.state ~= 'connected' then return abandon(id) end
  local a = get_agent(c.agent)
  local wrap = tonumber(cfg.wrap_up)
  local handle = math.max(0, now - tonumber(c.connected_at)) + wrap
  local aht = tonumber(redis.call('HGET', AHT, c.queue) or cfg.aht0)
  redis.call('HSET', AHT, c.queue, fmt(aht + tonumber(cfg.alpha) * (handle - aht)))
  redis.call('DEL', ckey(id))
  a.call = ''
  redis.call('HSET', akey(a.id), 'call', '')
  emit({type = 'ContactEnded', call_id = id, agent_id = a.id})
  transition(a, 'call_ended', '')
  redis.call('ZADD', TK, fmt(now + wrap), 'wrap|' .. a.id)
end

local function invalid(a, action)
  return cjson.encode({error = 'invalid_transition', state = a.state, action = action})
end

local function notes()
  if #out == 0 then return '[]' end
  return cjson.encode(out)
end

local function run()
if op == 'enqueue' then
  local id, q = ARGV[5], ARGV[6]
  if redis.call('EXISTS', ckey(id)) == 1 then
    return cjson.encode({error = 'exists'})
  end
  local target, park = ARGV[13], ARGV[14]
  if target ~= '' then
    local named = get_agent(target)
    if named.state == 'logged_out' or (named.state ~= 'available' and park ~= '1') then
      return cjson.encode({error = 'agent_unavailable', state = named.state})
    end
  end
  local priority = tonumber(ARGV[7])
  local seq = redis.call('INCR', P .. 'seq')
  local c = {id = id, queue = q, priority = ARGV[7], score = fmt(-priority * SEQ_SPAN + seq),
             entered_at = now_s, queued_at = now_s, max_wait = ARGV[8], fallback = ARGV[9],
             data = ARGV[10], visited = cjson.encode({q}), connected_at = '0',
             req = ARGV[11], relax = ARGV[12], step = '0', target = target}
  redis.call('HSET', ckey(id), 'queue', q, 'priority', c.priority, 'score', c.score,
             'entered_at', now_s, 'queued_at', now_s, 'max_wait', c.max_wait,
             'fallback', c.fallback, 'data', c.data, 'visited', c.visited,
             'connected_at', '0', 'req', c.req, 'relax', c.relax, 'step', '0',
             'target', target)
  local steps = cjson.decode(c.relax)
  if #steps > 0 then
    redis.call('ZADD', TK, fmt(now + tonumber(steps[1][1])), 'relax|' .. id)
  end
  local idx = insert_waiting(c)
  emit({type = 'ContactQueued', call_id = id, queue = q, position = idx + 1,
        estimated_wait_s = line_ewt(target, q, idx + 1)})
  positions_from(c, idx + 1)
  dispatch_contact(c)
  return notes()
elseif op == 'abandon' then
  abandon(ARGV[5])
  return notes()
elseif op == 'end_contact' then
  end_contact(ARGV[5])
  return notes()
elseif op == 'accept' then
  local a, c = get_agent(ARGV[5]), get_contact(ARGV[6])
  if not c or c.state ~= 'offered' or c.agent ~= a.id or a.call ~= c.id then
    return cjson.encode({ok = false, notes = {}})
  end
  redis.call('ZREM', TK, 'ring|' .. c.id)
  redis.call('ZREM', TK, 'relax|' .. c.id)
  redis.call('HSET', ckey(c.id), 'state', 'connected', 'connected_at', now_s)
  emit({type = 'ContactAssigned', call_id = c.id, agent_id = a.id})
  transition(a, 'accept', '')
  return cjson.encode({ok = true, notes = out})
elseif op == 'decline' then
  local a, c = get_agent(ARGV[5]), get_contact(ARGV[6])
  if c and c.state == 'offered' and c.agent == a.id and a.call == c.id then
    ring_no_answer(c, a, 'declined')
  end
  return notes()
elseif op == 'login' then
  local a = get_agent(ARGV[5])
  if not allowed(a, 'login') then return invalid(a, 'login') end
  if transition(a, 'login', 'login') then
    a.qlist = cjson.decode(ARGV[7])
    redis.call('HSET', akey(a.id), 'teams', ARGV[6], 'queues', ARGV[7], 'call', '')
    for _, q in ipairs(a.qlist) do redis.call('SADD', stkey(q), a.id) end
  end
  return notes()
elseif op == 'logout' then
  local a = get_agent(ARGV[5])
  if not allowed(a, 'logout') then return invalid(a, 'logout') end
  local c = nil
  if a.state == 'offered' and a.call ~= '' then c = get_contact(a.call) end
  if transition(a, 'logout', '') then
    redis.call('ZREM', TK, 'wrap|' .. a.id)
    for _, q in ipairs(a.qlist) do redis.call('SREM', stkey(q), a.id) end
    redis.call('HSET', akey(a.id), 'teams', '[]', 'queues', '[]')
    a.qlist = {}
    if c then
      redis.call('ZREM', TK, 'ring|' .. c.id)
      redis.call('HSET', akey(a.id), 'call', '')
      table.insert(out, 1, {type = 'OfferRescinded', call_id = c.id, agent_id = a.id,
                            reason = 'agent_logged_out'})
      if c.target ~= '' then leave(c, 'agent_unavailable') else requeue(c) end
    end
    for _, id in ipairs(redis.call('ZRANGE', pwkey(a.id), 0, -1)) do
      local parked = get_contact(id)
      remove_waiting(parked)
      leave(parked, 'agent_unavailable')
    end
  end
  return notes()
elseif op == 'set_available' then
  local a = get_agent(ARGV[5])
  if not allowed(a, 'set_available') then return invalid(a, 'set_available') end
  if transition(a, 'set_available', '') then
    redis.call('ZREM', TK, 'wrap|' .. a.id)
    dispatch_agent(a)
  end
  return notes()
elseif op == 'set_idle' then
  local a = get_agent(ARGV[5])
  local reason = ARGV[6]
  if a.state == 'idle' and a.reason == reason then return notes() end
  if not allowed(a, 'set_idle') then return invalid(a, 'set_idle') end
  if transition(a, 'set_idle', reason) then redis.call('ZREM', TK, 'wrap|' .. a.id) end
  return notes()
elseif op == 'end_wrap_up' then
  local a = get_agent(ARGV[5])
  if a.state == 'wrap_up' then
    redis.call('ZREM', TK, 'wrap|' .. a.id)
    transition(a, 'wrap_up_ended', '')
    dispatch_agent(a)
  end
  return notes()
elseif op == 'timers' then
  local limit = tonumber(ARGV[5])
  local fired = 0
  while fired < limit do
    local due = redis.call('ZRANGEBYSCORE', TK, '-inf', now_s, 'LIMIT', 0, 1)
    if #due == 0 then break end
    fired = fired + 1
    redis.call('ZREM', TK, due[1])
    local sep = string.find(due[1], '|', 1, true)
    local kind, key = string.sub(due[1], 1, sep - 1), string.sub(due[1], sep + 1)
    if kind == 'wrap' then
      local a = get_agent(key)
      if a.state == 'wrap_up' then
        transition(a, 'wrap_up_ended', '')
        dispatch_agent(a)
      end
    else
      local c = get_contact(key)
      if c then
        if kind == 'ring' and c.state == 'offered' then
          ring_no_answer(c, get_agent(c.agent), 'rona')
        elseif kind == 'wait' and c.state == 'queued' then
          overflow(c)
        elseif kind == 'relax' and c.state ~= 'connected' then
          relax(c)
        end
      end
    end
  end
  return cjson.encode({more = fired >= limit, notes = out})
elseif op == 'status' then
  local c = get_contact(ARGV[5])
  if not c then return cjson.encode({}) end
  local position = 0
  if c.state == 'queued' then position = redis.call('ZRANK', lkey(c), c.id) + 1 end
  local staffed = 1
  if c.target == '' then staffed = redis.call('SCARD', stkey(c.queue)) end
  return cjson.encode({queue = c.queue, state = c.state, position = position,
                       staffed = staffed,
                       aht = redis.call('HGET', AHT, c.queue) or cfg.aht0,
                       entered_at = c.entered_at})
elseif op == 'snapshot' then
  local queues = {}
  local names = cjson.decode(ARGV[5])
  local offered = {}
  for _, q in ipairs(names) do offered[q] = 0 end
  local agents = {}
  for _, id in ipairs(cjson.decode(ARGV[6])) do
    local a = get_agent(id)
    agents[#agents + 1] = {id, a.state, a.reason, a.since, a.call, a.teams,
                           redis.call('ZRANGE', pwkey(id), 0, -1)}
    if a.state == 'offered' and a.call ~= '' then
      local q = redis.call('HGET', ckey(a.call), 'queue')
      if q then offered[q] = offered[q] + 1 end
    end
  end
  for _, q in ipairs(names) do
    local waiting = {}
    for _, id in ipairs(redis.call('ZRANGE', wkey(q), 0, -1)) do
      local f = redis.call('HMGET', ckey(id), 'priority', 'entered_at', 'req')
      waiting[#waiting + 1] = {id, f[1], f[2], f[3] or ''}
    end
    queues[#queues + 1] = {q, waiting, offered[q], redis.call('ZCARD', avkey(q)),
                           redis.call('SCARD', stkey(q)),
                           redis.call('HGET', AHT, q) or cfg.aht0}
  end
  return cjson.encode({queues = queues, agents = agents})
elseif op == 'stats' then
  -- core.queue_statistics: the oldest waiting contact is the lowest arrival number.
  local q, call = ARGV[5], ARGV[6]
  local oldest_seq, oldest_id = nil, nil
  local items = redis.call('ZRANGE', wkey(q), 0, -1, 'WITHSCORES')
  for i = 1, #items, 2 do
    local seq = tonumber(items[i + 1]) % SEQ_SPAN
    if oldest_seq == nil or seq < oldest_seq then oldest_seq, oldest_id = seq, items[i] end
  end
  local oldest = ''
  if oldest_id then oldest = redis.call('HGET', ckey(oldest_id), 'entered_at') end
  local position = 0
  local c = get_contact(call)
  if c and c.target == '' and c.queue == q and c.state == 'queued' then
    position = redis.call('ZRANK', wkey(q), c.id) + 1
  end
  return cjson.encode({waiting = #items / 2, staffed = redis.call('SCARD', stkey(q)),
                       available = redis.call('ZCARD', avkey(q)), oldest = oldest,
                       position = position, aht = redis.call('HGET', AHT, q) or cfg.aht0})
end
return redis.error_reply('dipflow center: unknown operation ' .. tostring(op))
end

local result = run()
if #out > 0 then
  -- Other nodes relay these to their subscribers (an agent's desktop may be connected
  -- to another node than the caller). Published inside the script: in commit order.
  redis.call('PUBLISH', P .. 'events', cjson.encode({origin = cfg.origin, notes = out}))
end
return result
