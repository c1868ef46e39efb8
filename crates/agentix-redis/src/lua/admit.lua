-- Admit: returns {0, epoch, is_probe, corrupt} when the call may proceed, or
-- {1, retry_after_us, 0, corrupt} when it is rejected. Rejections never write.
local state, corrupt = load_clamped()

if threshold == 0 or state.state == 'closed' then
  return {0, state.epoch, 0, corrupt}
end

if now_us < state.open_until_us then
  return {1, state.open_until_us - now_us, 0, corrupt}
end

if state.probe_until_us > now_us then
  return {1, state.probe_until_us - now_us, 0, corrupt}
end

state.epoch = next_epoch(state.epoch)
state.probe_until_us = now_us + lease_us
save(state)
return {0, state.epoch, 1, corrupt}
