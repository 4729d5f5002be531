-- Names the field in Envoy's own 400 answers (gateway/config.py, _edge_replies_filter).
--
-- The local reply mappers give every answer Envoy makes by itself the services' error shape,
-- {"code", "details": [], "message"}, and mark it with a header. The transcoder's messages name
-- the field they refuse only in words ("page_size: invalid value ...", "Could not find field
-- \"colour\" ..."); Envoy's formatters cannot cut a field out of a message, so this script does,
-- and adds the google.rpc.BadRequest detail the services would have sent. Answers that came from
-- a service carry no mark and pass untouched; so do messages naming no field.

local MARK = "x-voka-local-reply"
local BAD_REQUEST = "type.googleapis.com/google.rpc.BadRequest"

-- The field a transcoder message names, or nil. `message` is as it stands in the JSON body
-- (quotes escaped). Only names made of field-path characters are taken, so the detail needs no
-- escaping of its own.
local function field_of(message)
  return message:match("^([%w_%.%[%]]+): ")
    or message:match('^Could not find field \\"([%w_%.%-]+)\\"')
    or message:match("of the field ([%w_%.]+) is conflicting")
    or message:match("^: invalid value .- for type ([%l_][%w_]*)$")
end

function envoy_on_response(handle)
  local headers = handle:headers()
  if headers:get(MARK) == nil then
    return
  end
  headers:remove(MARK)
  if headers:get(":status") ~= "400" then
    return
  end
  local body = handle:body()
  local text = body:getBytes(0, body:length())
  -- The mappers' JSON has its keys in order, "message" last.
  local message = text:match('"message":"(.*)"}%s*$')
  local field = message and field_of(message)
  local start, stop = text:find('"details":[]', 1, true)
  if field == nil or start == nil then
    return
  end
  local detail = '{"@type":"' .. BAD_REQUEST .. '","fieldViolations":[{"field":"' .. field
    .. '","description":"' .. message .. '"}]}'
  -- Envoy sets content-length to the new body's.
  body:setBytes(text:sub(1, start - 1) .. '"details":[' .. detail .. "]" .. text:sub(stop + 1))
end
