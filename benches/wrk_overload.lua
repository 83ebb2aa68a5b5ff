-- wrk script for the cold-overload row: random paths from a list file, every response
-- classified (200, 503 with Retry-After, anything else); prints one RESULT line.
-- usage: WRK_LABEL=name wrk -t1 -cN -dDs -s wrk_overload.lua http://127.0.0.1:PORT -- PATHS_FILE
local threads = {}
function setup(thread)
  threads[#threads + 1] = thread
end
local paths = {}
function init(args)
  for line in io.lines(args[1]) do
    if #line > 0 then paths[#paths + 1] = line end
  end
  math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16) % 100000)
  ok, shed, other = 0, 0, 0
end
function request()
  return wrk.format("GET", paths[math.random(#paths)])
end
function response(status, headers, body)
  if status == 200 then
    ok = ok + 1
  elseif status == 503 and (headers["retry-after"] or headers["Retry-After"]) then
    shed = shed + 1
  else
    other = other + 1
  end
end
function done(summary, latency, requests)
  local n_ok, n_shed, n_other = 0, 0, 0
  for _, t in ipairs(threads) do
    n_ok = n_ok + t:get("ok")
    n_shed = n_shed + t:get("shed")
    n_other = n_other + t:get("other")
  end
  local s = summary.duration / 1e6
  io.write(string.format(
    'RESULT {"label":"%s","requests":%d,"rps":%.1f,"ok":%d,"shed":%d,"other":%d,"p50_ms":%.3f,"p99_ms":%.3f,"max_ms":%.3f,"errors":%d}\n',
    os.getenv("WRK_LABEL") or "", summary.requests, summary.requests / s, n_ok, n_shed, n_other,
    latency:percentile(50) / 1e3, latency:percentile(99) / 1e3, latency.max / 1e3,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
