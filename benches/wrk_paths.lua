-- wrk script: every request GETs a random path from a list file; prints one RESULT line.
-- usage: wrk -t1 -cN -dDs -s wrk_paths.lua http://127.0.0.1:PORT -- PATHS_FILE LABEL
local paths, label = {}, ""
function init(args)
  for line in io.lines(args[1]) do
    if #line > 0 then paths[#paths + 1] = line end
  end
  label = args[2] or ""
  math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16) % 100000)
end
function request()
  return wrk.format("GET", paths[math.random(#paths)])
end
function done(summary, latency, requests)
  local s = summary.duration / 1e6
  io.write(string.format(
    'RESULT {"label":"%s","requests":%d,"rps":%.1f,"MBps":%.1f,"p50_ms":%.3f,"p99_ms":%.3f,"non2xx":%d,"errors":%d}\n',
    label, summary.requests, summary.requests / s, summary.bytes / s / 1e6,
    latency:percentile(50) / 1e3, latency:percentile(99) / 1e3, summary.errors.status,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
