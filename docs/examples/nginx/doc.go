// Package nginx holds the nginx examples of jwt-up's gateway documentation
// and the end-to-end tests that run them with a real nginx: auth_request.conf
// (forward-auth against GET /v1/auth), lua.conf with jwtup.lua (POST
// /v1/tokens from Lua, with a shared-dict cache, for consumers nginx
// authenticated and, under /partner/, for a client's own identity-provider
// token that jwt-up re-signs; the same module serves the Kong function in
// docs/kong.md).
//
// The tests need Debian's nginx, libnginx-mod-http-lua and lua-cjson, and
// skip with a message when one is missing, unless
// JWTUP_TEST_REQUIRE_SERVICES=1.
package nginx
