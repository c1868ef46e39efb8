-- Inspect: returns {3, state, failures, epoch, retry_after_us, corrupt} without changing the
-- breaker (except that unreadable data is deleted). state: 0 closed, 1 open, 2 half-open.
-- retry_after_us is the time until the cooldown ends while open, the time until the running
-- probe's lease ends while half-open, and -1 otherwise.
local state, corrupt = load_clamped()

if threshold == 0 or state.state == 'closed' then
  return {3, 0, state.failures, state.epoch, -1, corrupt}
end
if now_us < state.open_until_us then
  return {3, 1, state.failures, state.epoch, state.open_until_us - now_us, corrupt}
end
if state.probe_until_us > now_us then
  return {3, 2, state.failures, state.epoch, state.probe_until_us - now_us, corrupt}
end
return {3, 2, state.failures, state.epoch, -1, corrupt}
