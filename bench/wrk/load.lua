-- wrk script for bench/web.py.
--
--   wrk ... -s bench/wrk/load.lua URL -- TARGETS_FILE INTERVAL_MS
--
-- TARGETS_FILE has one request a line: "PATH<TAB>HEADER: VALUE<TAB>HEADER: VALUE...".
-- Each request goes to a random line, so many clients (tokens, orders) are mixed.
-- With INTERVAL_MS > 0 each connection waits that long between its requests, as a
-- client polling every INTERVAL_MS does; 0 sends the next request at once.
-- done() prints one JSON line with the counts and the latency percentiles.

local requests = {}
local interval_ms = 0

function init(args)
  local path = args[1]
  interval_ms = tonumber(args[2] or "0")
  for line in io.lines(path) do
    local fields = {}
    for field in string.gmatch(line, "[^\t]+") do
      table.insert(fields, field)
    end
    local headers = {}
    for i = 2, #fields do
      local name, value = string.match(fields[i], "^([^:]+):%s*(.*)$")
      headers[name] = value
    end
    table.insert(requests, wrk.format("GET", fields[1], headers))
  end
  math.randomseed(os.time() + (tonumber(tostring({}):match("0x(%x+)") or "0", 16) or 0))
end

function request()
  return requests[math.random(#requests)]
end

function delay()
  if interval_ms <= 0 then
    return 0
  end
  -- Independent clients are not in step: each wait is uniform in [0.5, 1.5] x the
  -- interval (mean: the interval). wrk also waits before a connection's first
  -- request, so the clients start spread over a whole interval, not in one burst.
  return interval_ms * (0.5 + math.random())
end

function done(summary, latency, _)
  local e = summary.errors
  io.write(string.format(
    '{"requests": %d, "duration_us": %d, "errors": {"connect": %d, "read": %d, "write": %d, ' ..
    '"status": %d, "timeout": %d}, "p50_us": %d, "p95_us": %d, "p99_us": %d, "max_us": %d, ' ..
    '"mean_us": %.1f}\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(95), latency:percentile(99), latency.max,
    latency.mean))
end
