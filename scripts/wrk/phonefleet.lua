-- phonefleet.lua: what the wrk scripts of this folder share. They load it
-- with dofile; wrk does not run it on its own.
--
-- Each script takes, after wrk's "--", the file "phonefleet bench --serve"
-- writes (the admin token on its first line, then one running instance ID a
-- line) and the instances per request (default 1):
--
--   wrk -t2 -c64 -d10s --latency -s scripts/wrk/unsubscribe.lua URL -- IDS_FILE [BATCH]
--
-- Requests carry the headers phonefleet bench's own load generator sends:
-- X-Auth-Token, a fresh X-Request-Id and Content-Type: application/json.

local pf = {}

-- pf.args returns the IDs file and the batch of a script's arguments.
function pf.args(args)
   local file, batch = args[1], tonumber(args[2] or "1")
   if not file or not batch or batch < 1 then
      error("usage: wrk ... -s SCRIPT URL -- IDS_FILE [BATCH] (IDS_FILE from phonefleet bench --serve)")
   end
   return file, math.floor(batch)
end

-- pf.read returns the token and the instance IDs of an IDs file.
function pf.read(file)
   local f, err = io.open(file, "r")
   if not f then
      error("phonefleet: " .. err)
   end
   local token = f:read("*l")
   local ids = {}
   for line in f:lines() do
      if line ~= "" then
         ids[#ids + 1] = line
      end
   end
   f:close()
   if not token or token == "" then
      error("phonefleet: " .. file .. " holds no token")
   end
   return token, ids
end

-- pf.load is what init() of each script reads from its arguments: it
-- returns the IDs file, the batch, the instance IDs and the headers of
-- every request.
function pf.load(args)
   local file, batch = pf.args(args)
   local token, ids = pf.read(file)
   return file, batch, ids, pf.headers(token)
end

-- pf.headers returns the headers of every request; request() adds the
-- X-Request-Id.
function pf.headers(token)
   return { ["X-Auth-Token"] = token, ["Content-Type"] = "application/json" }
end

-- pf.all holds, in the main state, every thread pf.setup saw, for done().
pf.all = {}
local counted, run_prefix

-- pf.setup is setup() of the scripts whose threads split the IDs file: it
-- tells each thread its index, wrk's thread count and the run's
-- X-Request-Id prefix.
function pf.setup(thread)
   pf.all[#pf.all + 1] = thread
   counted = counted or pf.threads()
   run_prefix = run_prefix or pf.run_id()
   thread:set("index", #pf.all - 1)
   thread:set("nthreads", counted)
   thread:set("run", run_prefix)
end

-- pf.threads returns wrk's thread count (-t), which wrk tells no script: the
-- environment variable WRK_THREADS, or else wrk's own command line. Threads
-- start before later threads are set up, so setup() cannot count them.
function pf.threads()
   local n = tonumber(os.getenv("WRK_THREADS") or "")
   if n then
      return n
   end
   local f = io.open("/proc/self/cmdline", "rb")
   if not f then
      error("phonefleet: cannot read wrk's command line; set WRK_THREADS to the -t value")
   end
   local cmdline = f:read("*a")
   f:close()
   local argv = {}
   for a in cmdline:gmatch("([^%z]*)%z") do
      argv[#argv + 1] = a
   end
   n = 2 -- wrk's default
   for i, a in ipairs(argv) do
      if a == "--" then
         break
      end
      local v = a:match("^%-t(%d+)$") or a:match("^%-%-threads=(%d+)$")
      if (a == "-t" or a == "--threads") and argv[i + 1] then
         v = argv[i + 1]
      end
      n = tonumber(v or "") or n
   end
   return n
end

-- pf.run_id returns a prefix of request IDs no other run uses.
function pf.run_id()
   math.randomseed(os.time())
   return string.format("wrk-%x-%06x", os.time(), math.random(0, 0xffffff))
end

-- pf.ids_body returns {"member":[...]} of the n IDs at(1), ..., at(n).
function pf.ids_body(member, n, at)
   local list = {}
   for j = 1, n do
      list[j] = at(j)
   end
   return '{"' .. member .. '":["' .. table.concat(list, '","') .. '"]}'
end

-- pf.report prints what wrk's own summary leaves out: instances/s, and
-- every kind of error in one line.
function pf.report(summary, batch)
   local e = summary.errors
   io.write(string.format("%d requests of %d instances: %.0f instances/s; " ..
      "errors: status >= 400 %d, connect %d, read %d, write %d, timeout %d\n",
      summary.requests, batch, summary.requests * batch / (summary.duration / 1e6),
      e.status, e.connect, e.read, e.write, e.timeout))
end

return pf
