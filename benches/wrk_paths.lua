-- wrk script: every request GETs a random path from a list file; prints one RESULT line.
-- usage: WRK_LABEL=name [WRK_CLASSIFY=1] wrk -t1 -cN -dDs -s wrk_paths.lua http://127.0.0.1:PORT -- PATHS_FILE
-- (done() runs in wrk's main Lua state, where init() never ran: the label comes from the
-- environment, the counts from the threads). WRK_CLASSIFY=1 also counts 200s, 503s with
-- Retry-After and other statuses (it costs wrk a Lua call per response).
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
if os.getenv("WRK_CLASSIFY") then
  function response(status, headers, body)
    if status == 200 then
      ok = ok + 1
    elseif status == 503 and (headers["retry-after"] or headers["Retry-After"]) then
      shed = shed + 1
    else
      other = other + 1
    end
  end
end
function done(summary, latency, requests)
  local n = {ok = 0, shed = 0, other = 0}
  for _, t in ipairs(threads) do
    for k in pairs(n) do n[k] = n[k] + t:get(k) end
  end
  local s = summary.duration / 1e6
  io.write(string.format(
    'RESULT {"label":"%s","requests":%d,"rps":%.1f,"MBps":%.1f,"p50_ms":%.3f,"p99_ms":%.3f,"max_ms":%.3f,"non2xx":%d,"errors":%d,"ok":%d,"shed":%d,"other":%d}\n',
    os.getenv("WRK_LABEL") or "", summary.requests, summary.requests / s, summary.bytes / s / 1e6,
    latency:percentile(50) / 1e3, latency:percentile(99) / 1e3, latency.max / 1e3, summary.errors.status,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    n.ok, n.shed, n.other))
end
