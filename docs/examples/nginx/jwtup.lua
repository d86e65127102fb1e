-- jwtup: ask jwt-up for a consumer's token, and keep it in a
-- lua_shared_dict until shortly before it expires.
--
-- The same module runs in nginx with the Lua module (docs/examples/nginx)
-- and in a Kong serverless function (docs/kong.md). What differs between
-- the two is how the HTTP call reaches jwt-up, so the caller passes that in:
--
--   local jwtup  = require "jwtup"
--   local minter = jwtup.new {
--     post     = function(body) ... end, -- POST body to /v1/tokens
--     dict     = "jwtup",                -- lua_shared_dict name; nil: no cache
--     audience = "orders-api",           -- nil: jwt-up's default audience
--     margin   = 10,                     -- seconds cut from expires_in
--   }
--   local token, err, status = minter:token(consumer, extra)
--
-- post(body) sends the JSON body to jwt-up's POST /v1/tokens with the
-- gateway key, and returns a table with `status` and `body`, or nil and an
-- error. The result of ngx.location.capture and of resty.http's
-- request_uri both have that shape.
--
-- consumer holds id, username and custom_id (a Kong consumer entity will
-- do: other fields are ignored). extra may hold credential ({id,
-- identifier}), groups and scopes (lists of strings), authenticated_userid
-- and audience (overrides the one given to new), and:
--   subject_token  an incoming token (bare, without "Bearer ") for jwt-up
--                  to verify against its trusted issuers and re-sign; the
--                  consumer may then be nil. Tokens are cached by it too.
--
-- On failure token returns nil, an error, and jwt-up's status when it
-- answered: 401 and 403 are the client's fault (a subject token that does
-- not verify, an audience jwt-up refuses), anything else jwt-up's.

local cjson = require "cjson.safe"

local concat = table.concat
local ipairs = ipairs
local type = type
local tostring = tostring

local _M = { _VERSION = "1.1" }
local mt = { __index = _M }

-- text returns v when it is a non-empty string, else nil: Kong gives
-- ngx.null or nothing for unset fields, and jwt-up treats "" as unset.
local function text(v)
  if type(v) == "string" and v ~= "" then
    return v
  end
  return nil
end

-- strings keeps the non-empty strings of a list; nil when none is left,
-- since jwt-up treats an empty list as no list.
local function strings(list)
  if type(list) ~= "table" then
    return nil
  end
  local out = {}
  for _, v in ipairs(list) do
    if text(v) then
      out[#out + 1] = v
    end
  end
  if #out == 0 then
    return nil
  end
  return out
end

-- request builds the body of POST /v1/tokens from the caller's tables,
-- keeping only the fields jwt-up knows: it refuses unknown ones.
local function request(consumer, extra, audience)
  consumer = type(consumer) == "table" and consumer or {}
  local req = {
    consumer = {
      id = text(consumer.id),
      username = text(consumer.username),
      custom_id = text(consumer.custom_id),
    },
    groups = strings(extra.groups),
    scopes = strings(extra.scopes),
    authenticated_userid = text(extra.authenticated_userid),
    audience = text(extra.audience) or text(audience),
    subject_token = text(extra.subject_token),
  }
  local c = req.consumer
  if not (c.id or c.username or c.custom_id) then
    req.consumer = nil -- cjson would send {}, which jwt-up refuses
  end
  local cred = extra.credential
  if type(cred) == "table" and (text(cred.id) or text(cred.identifier)) then
    req.credential = { id = text(cred.id), identifier = text(cred.identifier) }
  end
  return req
end

-- Each field of the cache key is written with its length, so that no two
-- different requests give the same key ("ab" + "c" is not "a" + "bc"). The
-- key is kept whole rather than hashed: a hash collision here would hand
-- one consumer's token to another.
local function field(v)
  if v == nil then
    return "-"
  end
  return #v .. ":" .. v
end

local function list_field(list)
  if list == nil then
    return "-"
  end
  local parts = {}
  for i, v in ipairs(list) do
    parts[i] = field(v)
  end
  return #list .. "[" .. concat(parts) .. "]"
end

local function cache_key(req)
  local c, cred = req.consumer or {}, req.credential or {}
  return concat({
    "jwtup/2",
    field(c.id), field(c.username), field(c.custom_id),
    list_field(req.groups), list_field(req.scopes),
    field(cred.id), field(cred.identifier),
    field(req.authenticated_userid), field(req.audience),
    field(req.subject_token),
  }, "|")
end

-- new returns a minter; see the top of this file for opts.
function _M.new(opts)
  if type(opts) ~= "table" or type(opts.post) ~= "function" then
    error("jwtup.new: opts.post must be a function", 2)
  end
  local dict
  if opts.dict ~= nil then
    dict = ngx.shared[opts.dict]
    if not dict then
      error("jwtup.new: no lua_shared_dict named " .. tostring(opts.dict), 2)
    end
  end
  return setmetatable({
    post = opts.post,
    dict = dict,
    audience = opts.audience,
    margin = opts.margin or 10,
  }, mt)
end

-- token returns a token for the consumer, from the cache or fresh from
-- jwt-up, or nil and an error. The error never holds the token or the
-- gateway key.
function _M:token(consumer, extra)
  local req = request(consumer, extra or {}, self.audience)
  if not (req.consumer or req.subject_token) then
    return nil, "the consumer has no id, username or custom_id, and there is no subject token"
  end

  local key = cache_key(req)
  if self.dict then
    local cached = self.dict:get(key)
    if cached then
      return cached
    end
  end

  local body, err = cjson.encode(req)
  if not body then
    return nil, "encode request: " .. tostring(err)
  end
  local res, perr = self.post(body)
  if not res then
    return nil, "call jwt-up: " .. tostring(perr)
  end
  if res.status ~= 200 then
    return nil, "jwt-up answered " .. tostring(res.status), res.status
  end
  local answer = cjson.decode(res.body or "")
  if type(answer) ~= "table" or type(answer.token) ~= "string"
      or type(answer.expires_in) ~= "number" then
    return nil, "jwt-up answered without a token"
  end

  -- Keep the token until `margin` seconds before it expires, so that no
  -- request goes upstream with a token about to lapse. Concurrent misses
  -- for one consumer each ask jwt-up; it hands them all the same token.
  local ttl = answer.expires_in - self.margin
  if self.dict and ttl > 0 then
    local ok, serr = self.dict:set(key, answer.token, ttl)
    if not ok then
      ngx.log(ngx.WARN, "jwtup: token not cached: ", serr)
    end
  end
  return answer.token
end

return _M
