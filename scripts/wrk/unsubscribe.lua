-- unsubscribe.lua: wrk script; each request unsubscribes BATCH running
-- instances (POST /v1/instances/delete) that no other request names:
--
--   wrk -t2 -c64 -d10s --latency -s scripts/wrk/unsubscribe.lua URL -- IDS_FILE [BATCH]
--
-- IDS_FILE is what "phonefleet bench --serve" writes (see phonefleet.lua).
-- Thread t of T takes the IDs at positions offset+t, offset+t+T, ... so no
-- two threads share one. offset is where earlier runs against the same port
-- stopped, kept in IDS_FILE.used-PORT: runs in a row go on with fresh IDs.
-- Past the file's end the IDs come round again: harmless against the static
-- handler, which consumes nothing; phonefleet answers success for an
-- instance already unsubscribed but does far less work for it, so done()
-- says the IDs ran out and the figures are not those of fresh unsubscribes.

local pf = dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "phonefleet.lua")

local threads = pf.all
setup = pf.setup

function init(args)
   file, batch, ids, headers = pf.load(args)
   count = #ids
   used_file = file .. ".used-" .. (wrk.port or wrk.scheme)
   local f = io.open(used_file, "r")
   offset = f and tonumber(f:read("*l") or "") or 0
   if f then
      f:close()
   end
   taken, sent = 0, 0
end

local function at()
   local p = offset + index + nthreads * taken
   taken = taken + 1
   return ids[p % count + 1]
end

function request()
   sent = sent + 1
   headers["X-Request-Id"] = run .. "-" .. index .. "-" .. sent
   return wrk.format("POST", "/v1/instances/delete", headers, pf.ids_body("instanceIdList", batch, at))
end

function done(summary, latency, requests)
   local first = threads[1]
   local nthreads, offset, count = first:get("nthreads"), first:get("offset"), first:get("count")
   -- Past the last position any thread took.
   local next_offset = offset
   for _, t in ipairs(threads) do
      local taken = t:get("taken")
      if taken > 0 then
         next_offset = math.max(next_offset, offset + t:get("index") + nthreads * (taken - 1) + 1)
      end
   end
   local f = io.open(first:get("used_file"), "w")
   if f then
      f:write(next_offset, "\n")
      f:close()
   end
   pf.report(summary, first:get("batch"))
   if nthreads ~= #threads then
      io.write(string.format("WARNING: counted %d threads, wrk ran %d, so threads shared IDs and the figures are wrong: set WRK_THREADS to -t\n",
         nthreads, #threads))
   end
   if next_offset > count then
      io.write(string.format("the %d IDs ran out and came round again: fine against the static handler; " ..
         "against phonefleet, instances already unsubscribed are cheap no-ops, so discard the figures " ..
         "(restart phonefleet bench --serve, with more --instances)\n", count))
   end
end
