-- wrk script: every request GETs a random path from a list file; prints one RESULT line.
-- usage: WRK_LABEL=name wrk -t1 -cN -dDs -s wrk_paths.lua http://127.0.0.1:PORT -- PATHS_FILE
-- (done() runs in wrk's main Lua state, where init() never ran: the label comes from the environment)
local paths = {}
function init(args)
  for line in io.lines(args[1]) do
    if #line > 0 then paths[#paths + 1] = line end
  end
  math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16) % 100000)
end
function request()
  return wrk.format("GET", paths[math.random(#paths)])
end
function done(summary, latency, requests)
  local s = summary.duration / 1e6
  local label = os.getenv("WRK_LABEL") or ""
  io.write(string.format(
    'RESULT {"label":"%s","requests":%d,"rps":%.1f,"MBps":%.1f,"p50_ms":%.3f,"p99_ms":%.3f,"non2xx":%d,"errors":%d}\n',
    label, summary.requests, summary.requests / s, summary.bytes / s / 1e6,
    latency:percentile(50) / 1e3, latency:percentile(99) / 1e3, summary.errors.status,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
