-- wrk script. With BENCH_TARGET, POSTs AWS JSON 1.1 calls of that operation; the body is
-- BENCH_BODY, or each line of the file BENCH_BODIES in turn (threads take alternate lines, so
-- no two send the same one). Without it, sends wrk's own request (the URL and -H headers),
-- as a POST of BENCH_BODY if that is set.
-- BENCH_DELAY_MS makes each connection pause between requests, for runs at a set rate below
-- the peak.
local threads, counter = tonumber(os.getenv("BENCH_THREADS") or "2"), 0
local target = os.getenv("BENCH_TARGET")
local headers = {
  ["Content-Type"] = "application/x-amz-json-1.1",
  ["X-Amz-Target"] = "AWSCognitoIdentityService." .. (target or ""),
}
local bodies, next_line = {}, 1

function setup(thread)
  thread:set("thread_index", counter)
  counter = counter + 1
end

function init(args)
  if not target then
    bodies[1] = os.getenv("BENCH_BODY")
    return
  end
  local file = os.getenv("BENCH_BODIES")
  if file and file ~= "" then
    for line in io.lines(file) do bodies[#bodies + 1] = line end
  else
    bodies[1] = os.getenv("BENCH_BODY")
  end
  next_line = (thread_index or 0) % #bodies + 1
end

function request()
  if not target then return wrk.format(bodies[1] and "POST" or nil, nil, nil, bodies[1]) end
  local body = bodies[next_line]
  next_line = (next_line - 1 + threads) % #bodies + 1
  return wrk.format("POST", "/", headers, body)
end

-- wrk pauses in whole milliseconds: a fractional pause is met on average by rounding up or
-- down at random.
local pause = tonumber(os.getenv("BENCH_DELAY_MS") or "")
if pause then
  local whole = math.floor(pause)
  local fraction = pause - whole
  function delay()
    if math.random() < fraction then return whole + 1 end
    return whole
  end
end
