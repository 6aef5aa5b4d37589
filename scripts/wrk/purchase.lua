-- purchase.lua: wrk script; each request buys BATCH monthly instances
-- (POST /v1/instances/create) for the bench tenant:
--
--   wrk -t2 -c8 -d10s --latency -s scripts/wrk/purchase.lua URL -- IDS_FILE [BATCH]
--
-- IDS_FILE is what "phonefleet bench --serve" writes (see phonefleet.lua);
-- only its token is used. Every request has its own X-Request-Id, so none
-- is taken for a retry of another.

local pf = dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "phonefleet.lua")

local threads = {}
-- Main state only: each thread's run is set by setup().
local run_prefix

function setup(thread)
   threads[#threads + 1] = thread
   run_prefix = run_prefix or pf.run_id()
   thread:set("index", #threads - 1)
   thread:set("run", run_prefix)
end

function init(args)
   file, batch, _, headers = pf.load(args)
   if batch > 1500 then
      error("phonefleet: a purchase buys at most 1500 instances")
   end
   body = string.format('{"os":"AOSP11","instanceSkuId":"kp.pro.2u4g","bandSkuId":"kp.band.bgp.standard",' ..
      '"regionId":"cn-north-4","instanceNamePrefix":"bench","bandSize":2,"count":%d,' ..
      '"chargeParam":{"chargingMode":1,"periodType":2,"periodNum":1}}', batch)
   sent = 0
end

function request()
   sent = sent + 1
   headers["X-Request-Id"] = run .. "-" .. index .. "-" .. sent
   return wrk.format("POST", "/v1/instances/create", headers, body)
end

function done(summary, latency, requests)
   pf.report(summary, threads[1]:get("batch"))
end
