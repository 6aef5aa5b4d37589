-- query.lua: wrk script; each request asks the status of BATCH instances
-- (POST /v1/instances/batch-query-status), windows of the IDs file in turn:
--
--   wrk -t2 -c64 -d10s --latency -s scripts/wrk/query.lua URL -- IDS_FILE [BATCH]
--
-- IDS_FILE is what "phonefleet bench --serve" writes (see phonefleet.lua).
-- Queries change nothing, so runs may repeat at will.

local pf = dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "phonefleet.lua")

local threads = pf.all
setup = pf.setup

function init(args)
   file, batch, ids, headers = pf.load(args)
   if #ids < batch then
      error("phonefleet: " .. file .. " holds fewer than " .. batch .. " IDs")
   end
   sent = 0
end

function request()
   -- Window index+nthreads*sent, as phonefleet bench's own generator does.
   local start = ((index + nthreads * sent) * batch) % (#ids - batch + 1)
   sent = sent + 1
   headers["X-Request-Id"] = run .. "-" .. index .. "-" .. sent
   return wrk.format("POST", "/v1/instances/batch-query-status", headers,
      pf.ids_body("instance_ids", batch, function(j) return ids[start + j] end))
end

function done(summary, latency, requests)
   pf.report(summary, threads[1]:get("batch"))
end
