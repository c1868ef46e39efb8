-- Record: applies the outcome of an admitted call and returns {2, transition, corrupt}.
--
-- ARGV[5]  epoch of the call's permit
-- ARGV[6]  1 when the permit is the half-open probe, else 0
-- ARGV[7]  'success', 'failure' or 'released'
--
-- transition: 0 ignored (breaker disabled or the permit's epoch has passed), 1 applied
-- without a state change, 2 opened, 3 closed, 4 re-opened, 5 probe permit freed.
local state, corrupt = load_clamped()
local epoch = tonumber(ARGV[5])
local probe = ARGV[6] == '1'
local result = ARGV[7]

if threshold == 0 or epoch ~= state.epoch then
  return {2, 0, corrupt}
end

if state.state == 'closed' then
  if probe then
    return {2, 0, corrupt}
  end
  if result == 'success' then
    if state.failures > 0 then
      state.failures = 0
      save(state)
    end
    return {2, 1, corrupt}
  end
  if result == 'failure' then
    state.failures = state.failures + 1
    if state.failures >= threshold then
      state.state = 'open'
      state.epoch = next_epoch(state.epoch)
      state.open_until_us = now_us + cooldown_us
      state.probe_until_us = 0
      save(state)
      return {2, 2, corrupt}
    end
    save(state)
    return {2, 1, corrupt}
  end
  return {2, 1, corrupt}
end

-- Open: the only permit that carries the current epoch is the probe's.
if not probe then
  return {2, 0, corrupt}
end
if result == 'success' then
  state.state = 'closed'
  state.failures = 0
  state.epoch = next_epoch(state.epoch)
  state.open_until_us = 0
  state.probe_until_us = 0
  save(state)
  return {2, 3, corrupt}
end
if result == 'failure' then
  state.epoch = next_epoch(state.epoch)
  state.open_until_us = now_us + cooldown_us
  state.probe_until_us = 0
  save(state)
  return {2, 4, corrupt}
end
state.probe_until_us = 0
save(state)
return {2, 5, corrupt}
