-- Shared head of the breaker scripts: arguments, server time, and reading and writing the
-- breaker hash. Each script is this prelude followed by one command, so a command reads and
-- updates the breaker in one atomic step.
--
-- KEYS[1]  the breaker hash
-- ARGV[1]  failure threshold (0 disables the breaker)
-- ARGV[2]  cooldown in microseconds
-- ARGV[3]  probe lease in microseconds
-- ARGV[4]  TTL of the key in milliseconds, set again on every write

-- Redis 3.2 to 4.x replicate scripts verbatim by default, and a script that reads
-- TIME before writing must replicate its effects instead. From Redis 5 this is the default
-- and from 7.0 the call is a no-op.
if redis.replicate_commands then
  redis.replicate_commands()
end

local key = KEYS[1]
local threshold = tonumber(ARGV[1])
local cooldown_us = tonumber(ARGV[2])
local lease_us = tonumber(ARGV[3])
local ttl_ms = tonumber(ARGV[4])

local time = redis.call('TIME')
local now_us = tonumber(time[1]) * 1000000 + tonumber(time[2])

local FIELDS = {'version', 'state', 'failures', 'epoch', 'open_until_us', 'probe_until_us'}
local MAX_EXACT = 9007199254740992 -- 2^53: larger integers lose precision as Lua numbers

local function fresh_state()
  return {state = 'closed', failures = 0, epoch = 0, open_until_us = 0, probe_until_us = 0}
end

local function parse_count(text)
  local value = tonumber(text)
  if value == nil or value < 0 or value >= MAX_EXACT or value ~= math.floor(value) then
    return nil
  end
  return value
end

-- Reads the breaker. A missing key is a closed breaker at epoch 0. A key holding anything
-- else than a hash written by these scripts is deleted and read as a fresh closed breaker.
-- The second return value is 1 in that case, so the client can log it.
local function load()
  local raw = redis.pcall('HMGET', key, unpack(FIELDS))
  if type(raw) == 'table' and raw.err then
    redis.call('DEL', key)
    return fresh_state(), 1
  end

  local present = false
  for i = 1, #FIELDS do
    if raw[i] then
      present = true
    end
  end
  if not present then
    if redis.call('EXISTS', key) == 1 then
      redis.call('DEL', key)
      return fresh_state(), 1
    end
    return fresh_state(), 0
  end

  local state = {
    state = raw[2],
    failures = parse_count(raw[3]),
    epoch = parse_count(raw[4]),
    open_until_us = parse_count(raw[5]),
    probe_until_us = parse_count(raw[6]),
  }
  local valid = raw[1] == '1'
    and (state.state == 'closed' or state.state == 'open')
    and state.failures ~= nil
    and state.failures < 4294967296
    and state.epoch ~= nil
    and state.open_until_us ~= nil
    and state.probe_until_us ~= nil
  if not valid then
    redis.call('DEL', key)
    return fresh_state(), 1
  end
  return state, 0
end

-- Formats an integer without the exponent notation Lua's tostring uses above 1e14.
local function int(value)
  return string.format('%d', value)
end

local function save(state)
  redis.call('HSET', key,
    'version', '1',
    'state', state.state,
    'failures', int(state.failures),
    'epoch', int(state.epoch),
    'open_until_us', int(state.open_until_us),
    'probe_until_us', int(state.probe_until_us))
  redis.call('PEXPIRE', key, int(ttl_ms))
end

-- The next epoch: larger than the current one and at least the server time in microseconds.
-- A key that expired and was created again starts at epoch 0. Its first transition jumps to
-- the current time, past every epoch issued before it expired, so a permit from the old key
-- can never match the new one.
local function next_epoch(epoch)
  return math.max(epoch + 1, now_us)
end

-- Loads the breaker like load(), and clamps a cooldown or probe lease that ends further away
-- than the policy allows: such a deadline comes from foreign data or from a server clock that
-- moved back (a failover to a replica, say), and would otherwise hold the circuit open for as
-- long as it says. The clamped state is saved and reported as corrupt.
local function load_clamped()
  local state, corrupt = load()
  local clamped = false
  if state.open_until_us > now_us + cooldown_us then
    state.open_until_us = now_us + cooldown_us
    clamped = true
  end
  if state.probe_until_us > now_us + lease_us then
    state.probe_until_us = now_us + lease_us
    clamped = true
  end
  if clamped then
    save(state)
    corrupt = 1
  end
  return state, corrupt
end
