-- wrk script for HTTP/1.1 pipelining, as TechEmpower's plaintext test runs wrk:
--   wrk -t1 -c64 -d10s -s bench/pipeline.lua URL -- 16
-- Each write carries DEPTH copies of wrk's request; wrk counts every response.
local batch

init = function(args)
  local depth = tonumber(args[1]) or 1
  local copies = {}
  for i = 1, depth do
    copies[i] = wrk.format()
  end
  batch = table.concat(copies)
end

request = function()
  return batch
end
