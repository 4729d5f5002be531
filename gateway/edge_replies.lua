-- Error answers in the shape their callers expect (gateway/config.py, _edge_replies_filter).
--
-- 1. Envoy's own answers. The local reply mappers give every answer Envoy makes by itself the
--    services' error shape, {"code", "details": [], "message"}, and mark it with a header. The
--    transcoder's messages name the field they refuse only in words ("page_size: invalid value
--    ...", "Could not find field \"colour\" ..."); Envoy's formatters cannot cut a field out of
--    a message, so this script does, and adds the google.rpc.BadRequest detail the services
--    would have sent. Answers that came from a service carry no mark and pass untouched here.
-- 2. Foreign APIs' dialects. A route whose metadata names an `error_dialect` serves an API whose
--    clients know another error shape (the OpenAI API under /v1/, LibreTranslate's paths): every
--    error answer on it, a service's status converted by the transcoder or Envoy's own, is
--    rewritten into that shape, its param taken from the BadRequest detail.
--
-- Only error statuses are read: a successful answer (an SSE stream above all) is never buffered.

local MARK = "x-voka-local-reply"
local DETAILS = "type.googleapis.com/google.rpc."

-- The field a transcoder message names, or nil. `message` is as it stands in the JSON body
-- (quotes escaped). Only names made of field-path characters are taken, so the detail needs no
-- escaping of its own.
local function field_of(message)
  return message:match("^([%w_%.%[%]]+): ")
    or message:match('^Could not find field \\"([%w_%.%-]+)\\"')
    or message:match("of the field ([%w_%.]+) is conflicting")
    or message:match("^: invalid value .- for type ([%l_][%w_]*)$")
end

-- The first string value under `key` in a JSON text, as it stands there (escapes kept, so it
-- can be written into another JSON string as is), or nil. `"key":"` cannot occur inside a JSON
-- string, where every quote is escaped, so the first hit is a key. Both producers of error bodies
-- write the top-level "message" before any detail that has a "message" of its own: the
-- transcoder in field order (code, message, details), the mappers with only BadRequest details.
local function string_value(text, key)
  local _, open = text:find('"' .. key .. '":"', 1, true)
  local at = open and open + 1
  while at do
    local stop = text:find('["\\]', at)
    if stop == nil then
      return nil
    elseif text:sub(stop, stop) == '"' then
      return text:sub(open + 1, stop - 1)
    end
    at = stop + 2
  end
  return nil
end

-- An error body of Envoy's own with the refused field named in a BadRequest detail, when its
-- message names one; otherwise the body as it was.
local function with_field_named(text)
  local message = string_value(text, "message")
  local field = message and field_of(message)
  local start, stop = text:find('"details":[]', 1, true)
  if field == nil or start == nil then
    return text
  end
  local detail = '{"@type":"' .. DETAILS .. 'BadRequest","fieldViolations":[{"field":"' .. field
    .. '","description":"' .. message .. '"}]}'
  return text:sub(1, start - 1) .. '"details":[' .. detail .. "]" .. text:sub(stop + 1)
end

-- A JSON string of a raw (escaped) value, or null for nil or false.
local function quoted(raw)
  return raw and '"' .. raw .. '"' or "null"
end

-- OpenAI's `type` by HTTP status (other 4xx: invalid_request_error, 5xx: server_error) and its
-- `code`: OpenAI's own where one fits, else the gRPC code's name.
local OPENAI_TYPES = {
  ["400"] = "invalid_request_error",
  ["401"] = "authentication_error",
  ["403"] = "permission_error",
  ["404"] = "not_found_error",
  ["429"] = "rate_limit_error",
}
local OPENAI_CODES = { ["401"] = "invalid_api_key", ["429"] = "rate_limit_exceeded" }
local GRPC_CODES = {
  "cancelled", "unknown", "invalid_argument", "deadline_exceeded", "not_found",
  "already_exists", "permission_denied", "resource_exhausted", "failed_precondition", "aborted",
  "out_of_range", "unimplemented", "internal", "unavailable", "data_loss", "unauthenticated",
}

-- {"error": {"message", "type", "param", "code"}}, read by the openai SDK into e.message,
-- e.type, e.param and e.code.
local function openai_error(status, text, message)
  local kind = OPENAI_TYPES[status] or (status:sub(1, 1) == "5" and "server_error")
    or "invalid_request_error"
  local code = OPENAI_CODES[status] or GRPC_CODES[tonumber(text:match('^{"code":(%d+),'))]
  if text:find(DETAILS .. "QuotaFailure", 1, true) then
    code = "insufficient_quota"
  end
  local param = text:find(DETAILS .. "BadRequest", 1, true) and string_value(text, "field")
  return '{"error":{"message":"' .. message .. '","type":"' .. kind .. '","param":'
    .. quoted(param) .. ',"code":' .. quoted(code) .. "}}"
end

-- {"error": "..."}, as LibreTranslate's error handlers answer (its 429s say "Slowdown: ...").
local function libretranslate_error(status, _, message)
  return '{"error":"' .. (status == "429" and "Slowdown: " or "") .. message .. '"}'
end

local DIALECTS = { openai = openai_error, libretranslate = libretranslate_error }

function envoy_on_response(handle)
  local headers = handle:headers()
  local envoys_own = headers:get(MARK) ~= nil
  headers:remove(MARK)
  local status = headers:get(":status")
  local dialect = DIALECTS[handle:metadata():get("error_dialect")]
  local name_field = envoys_own and status == "400"
  if tonumber(status) < 400 or not (name_field or dialect) then
    return
  end
  local body = handle:body()
  if body == nil or body:length() == 0 then
    return
  end
  local text = body:getBytes(0, body:length())
  if name_field then
    text = with_field_named(text)
  end
  if dialect then
    local message = string_value(text, "message") or ("HTTP status " .. status)
    text = dialect(status, text, message)
    -- Headers taken before body() cannot be used after it.
    handle:headers():replace("content-type", "application/json")
  end
  -- Envoy sets content-length to the new body's.
  body:setBytes(text)
end
