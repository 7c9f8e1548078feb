-- pages.lua — wrk script for make bench: GET /messages at a random page.
--
-- Environment (set by tests/bench/bench.sh):
--   BENCH_AUTH      base64 of "user:password" (HTTP Basic)
--   BENCH_PAGES     pages are drawn uniformly from 1..BENCH_PAGES
--   BENCH_PER_PAGE  per_page (default 50)
--   BENCH_SORT      sort=... (default arrival)
--   BENCH_PATH      when set, every request is GET of this path instead (downloads)
--   BENCH_GZIP      when "1", requests send Accept-Encoding: gzip
--
-- Every response that is not 200 is counted by status; done() prints one line
-- "BENCH key=value ..." that bench.sh reads (latencies in microseconds).

local pages = tonumber(os.getenv("BENCH_PAGES") or "1")
local per_page = os.getenv("BENCH_PER_PAGE") or "50"
local sort = os.getenv("BENCH_SORT") or "arrival"
local fixed = os.getenv("BENCH_PATH")

wrk.method = "GET"
wrk.headers["Authorization"] = "Basic " .. (os.getenv("BENCH_AUTH") or "")
if os.getenv("BENCH_GZIP") == "1" then
	wrk.headers["Accept-Encoding"] = "gzip"
end

local threads = {}

function setup(thread)
	table.insert(threads, thread)
	thread:set("id", #threads)
end

function init(args)
	math.randomseed(os.time() * 1000 + id * 7919)
	non200 = 0
	codes = {}
	prefix = "/messages?per_page=" .. per_page .. "&sort=" .. sort .. "&page="
end

function request()
	if fixed and fixed ~= "" then
		return wrk.format(nil, fixed)
	end
	return wrk.format(nil, prefix .. math.random(1, pages))
end

function response(status, headers, body)
	if status ~= 200 then
		non200 = non200 + 1
		local k = tostring(status)
		codes[k] = (codes[k] or 0) + 1
	end
end

function done(summary, latency, requests)
	local bad, byc = 0, {}
	for _, t in ipairs(threads) do
		bad = bad + t:get("non200")
		for k, v in pairs(t:get("codes")) do
			byc[k] = (byc[k] or 0) + v
		end
	end
	local list = {}
	for k, v in pairs(byc) do
		table.insert(list, k .. ":" .. v)
	end
	table.sort(list)
	local e = summary.errors
	io.write(string.format(
		"BENCH requests=%d duration_us=%d bytes=%d p50_us=%d p99_us=%d max_us=%d non200=%d codes=%s " ..
		"connect_err=%d read_err=%d write_err=%d timeouts=%d\n",
		summary.requests, summary.duration, summary.bytes, latency:percentile(50), latency:percentile(99),
		latency.max, bad, #list > 0 and table.concat(list, ",") or "-",
		e.connect, e.read, e.write, e.timeout))
end
