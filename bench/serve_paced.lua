-- wrk script for bench/serve_load.py: replays request lines from a file at a paced rate.
-- args: <lines file> <POST|GET> <requests/s for this thread, 0 = as fast as possible>
-- POST lines are JSON bodies for /v1/cart/recommend; GET lines are paths.
-- Each connection reserves the thread's next send slot in delay(), so the rate is held
-- as long as a connection is free (LuaJIT ffi gives a millisecond clock).
local ffi = require("ffi")
ffi.cdef[[
typedef struct { long tv_sec; long tv_usec; } xp_timeval;
int gettimeofday(xp_timeval *tv, void *tz);
]]
local tv = ffi.new("xp_timeval")
local function now_ms()
  ffi.C.gettimeofday(tv, nil)
  return tonumber(tv.tv_sec) * 1000 + tonumber(tv.tv_usec) / 1000
end

local counter = 0
function setup(thread)
  thread:set("tid", counter)
  counter = counter + 1
end

function init(args)
  lines = {}
  for line in io.lines(args[1]) do lines[#lines + 1] = line end
  mode = args[2]
  rate = tonumber(args[3])
  idx = ((tid or 0) * 7919) % #lines
  slot = 0
  start = nil
  headers = { ["Content-Type"] = "application/json" }
end

function delay()
  if rate <= 0 then return 0 end
  if start == nil then start = now_ms() end
  local due = start + slot * 1000 / rate
  slot = slot + 1
  local d = due - now_ms()
  if d < 0 then return 0 end
  return d
end

function request()
  idx = idx % #lines + 1
  if mode == "POST" then
    return wrk.format("POST", "/v1/cart/recommend", headers, lines[idx])
  end
  return wrk.format("GET", lines[idx])
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRK_JSON {"requests": %d, "duration_us": %d, "connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d, ' ..
    '"p50_us": %.1f, "p90_us": %.1f, "p99_us": %.1f, "p999_us": %.1f, "max_us": %.1f, "mean_us": %.1f}\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency:percentile(99.9),
    latency.max, latency.mean))
end
