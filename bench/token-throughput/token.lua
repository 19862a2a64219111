-- wrk script for bench/token-throughput/run.sh: fire the same form-encoded token request
-- over and over and print one machine-readable summary line when the run ends.
--
-- The request body comes from the TOKEN_BODY environment variable (already form-encoded), so
-- the same script drives both servers. There is deliberately no response() callback: defining
-- one makes wrk hand every response to Lua, which costs load-generator CPU on a 2-core box.
-- Non-2xx responses are counted by wrk itself (summary.errors.status counts status >= 400).

local body = os.getenv("TOKEN_BODY")
if body == nil or body == "" then
  error("TOKEN_BODY is not set")
end

wrk.method = "POST"
wrk.body = body
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Accept"] = "application/json"

done = function(summary, latency, requests)
  local secs = summary.duration / 1e6
  local e = summary.errors
  local ok = summary.requests - e.status
  io.write(string.format(
    "WRKSUMMARY requests=%d ok=%d non2xx=%d sock_connect=%d sock_read=%d sock_write=%d sock_timeout=%d " ..
    "duration_s=%.3f rps=%.2f ok_rps=%.2f mean_ms=%.3f p50_ms=%.3f p90_ms=%.3f p99_ms=%.3f p999_ms=%.3f max_ms=%.3f\n",
    summary.requests, ok, e.status, e.connect, e.read, e.write, e.timeout,
    secs, summary.requests / secs, ok / secs,
    latency.mean / 1000, latency:percentile(50) / 1000, latency:percentile(90) / 1000,
    latency:percentile(99) / 1000, latency:percentile(99.9) / 1000, latency.max / 1000))
end
