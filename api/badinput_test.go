package api_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/jwt-up/jwt-up/service"
)

// badBody is one refused mint body: the status it must get and a part the
// detail must hold ("" for any).
type badBody struct {
	name   string
	body   string
	want   int
	detail string
}

// wrongTypes are JSON values of each kind, for fields that take another.
var wrongTypes = []struct{ kind, value string }{
	{"number", `42`},
	{"bool", `true`},
	{"array", `["x"]`},
	{"object", `{"x":"y"}`},
	{"string", `"x"`},
}

// typedFields are the places of a mint body, each a template with one %s
// for the value, and the kind of value it takes.
var typedFields = []struct {
	name, template, takes string
}{
	{"body", `%s`, "object"},
	{"consumer", `{"consumer":%s}`, "object"},
	{"consumer.id", `{"consumer":{"id":%s}}`, "string"},
	{"consumer.username", `{"consumer":{"username":%s}}`, "string"},
	{"consumer.custom_id", `{"consumer":{"custom_id":%s}}`, "string"},
	{"groups", `{"consumer":{"id":"alice"},"groups":%s}`, "array"},
	{"groups entry", `{"consumer":{"id":"alice"},"groups":["gold",%s]}`, "string"},
	{"scopes", `{"consumer":{"id":"alice"},"scopes":%s}`, "array"},
	{"scopes entry", `{"consumer":{"id":"alice"},"scopes":["read",%s]}`, "string"},
	{"credential", `{"consumer":{"id":"alice"},"credential":%s}`, "object"},
	{"credential.id", `{"consumer":{"id":"alice"},"credential":{"id":%s}}`, "string"},
	{"credential.identifier", `{"consumer":{"id":"alice"},"credential":{"identifier":%s}}`, "string"},
	{"authenticated_userid", `{"consumer":{"id":"alice"},"authenticated_userid":%s}`, "string"},
	{"audience", `{"consumer":{"id":"alice"},"audience":%s}`, "string"},
	{"claims", `{"consumer":{"id":"alice"},"claims":%s}`, "object"},
}

// wrongTypeCases puts every kind of value a field does not take into it,
// and null where null leaves the request without what it needs.
func wrongTypeCases() []badBody {
	var out []badBody
	for _, f := range typedFields {
		for _, v := range wrongTypes {
			if v.kind == f.takes {
				continue
			}
			out = append(out, badBody{
				name: f.name + " " + v.kind,
				body: fmt.Sprintf(f.template, v.value),
				want: http.StatusBadRequest,
			})
		}
	}
	// null decodes to nothing: it matters only where something is needed.
	for _, name := range []string{"body", "consumer", "consumer.id", "groups entry", "scopes entry"} {
		for _, f := range typedFields {
			if f.name == name {
				out = append(out, badBody{name: name + " null", body: fmt.Sprintf(f.template, `null`),
					want: http.StatusBadRequest})
			}
		}
	}
	return out
}

// over returns n+1 bytes of x: one more than a limit of n.
func over(n int) string { return strings.Repeat("x", n+1) }

// listOf returns a JSON array of n distinct short strings.
func listOf(n int) string {
	entries := make([]string, n)
	for i := range entries {
		entries[i] = fmt.Sprintf(`"e%d"`, i)
	}
	return "[" + strings.Join(entries, ",") + "]"
}

// manyClaims returns a claims object of n distinct claims.
func manyClaims(n int) string {
	claims := make([]string, n)
	for i := range claims {
		claims[i] = fmt.Sprintf(`"c%d":%d`, i, i)
	}
	return "{" + strings.Join(claims, ",") + "}"
}

// nested returns a JSON value with depth levels of arrays around 1.
func nested(depth int) string {
	return strings.Repeat("[", depth) + "1" + strings.Repeat("]", depth)
}

func withClaims(claims string) string {
	return `{"consumer":{"id":"alice"},"claims":` + claims + `}`
}

// hugeCases are one past each limit, and the body size and media type.
func hugeCases() []badBody {
	text := fmt.Sprint(service.MaxTextLength)
	return []badBody{
		{"consumer.id too long", `{"consumer":{"id":"` + over(service.MaxTextLength) + `"}}`, 400, text},
		{"consumer.username too long", `{"consumer":{"username":"` + over(service.MaxTextLength) + `"}}`, 400, text},
		{"consumer.custom_id too long", `{"consumer":{"custom_id":"` + over(service.MaxTextLength) + `"}}`, 400, text},
		{"credential.id too long",
			`{"consumer":{"id":"a"},"credential":{"id":"` + over(service.MaxTextLength) + `"}}`, 400, text},
		{"credential.identifier too long",
			`{"consumer":{"id":"a"},"credential":{"identifier":"` + over(service.MaxTextLength) + `"}}`, 400, text},
		{"authenticated_userid too long",
			`{"consumer":{"id":"a"},"authenticated_userid":"` + over(service.MaxTextLength) + `"}`, 400, text},
		{"audience too long", `{"consumer":{"id":"a"},"audience":"` + over(service.MaxTextLength) + `"}`, 400, text},
		{"too many groups", `{"consumer":{"id":"a"},"groups":` + listOf(service.MaxGroups+1) + `}`, 400,
			fmt.Sprint(service.MaxGroups)},
		{"group too long", `{"consumer":{"id":"a"},"groups":["` + over(service.MaxEntryLength) + `"]}`, 400,
			fmt.Sprint(service.MaxEntryLength)},
		{"too many scopes", `{"consumer":{"id":"a"},"scopes":` + listOf(service.MaxScopes+1) + `}`, 400,
			fmt.Sprint(service.MaxScopes)},
		{"scope too long", `{"consumer":{"id":"a"},"scopes":["` + over(service.MaxEntryLength) + `"]}`, 400,
			fmt.Sprint(service.MaxEntryLength)},
		{"too many claims", withClaims(manyClaims(service.MaxClaims + 1)), 400, fmt.Sprint(service.MaxClaims)},
		{"claim name too long", withClaims(`{"` + over(service.MaxClaimNameLength) + `":1}`), 400,
			fmt.Sprint(service.MaxClaimNameLength)},
		{"claim value too large", withClaims(`{"blob":"` + over(service.MaxClaimValueSize-2) + `"}`), 400,
			fmt.Sprint(service.MaxClaimValueSize)},
		{"claim value too large once compacted",
			withClaims(`{"blob":[` + strings.Repeat(`1, `, service.MaxClaimValueSize/2) + `1]}`), 400,
			fmt.Sprint(service.MaxClaimValueSize)},
		{"body over 64 KiB", withClaims(`{"blob":"` + over(64<<10) + `"}`), 413, "65536"},
		{"not JSON media type", "", 415, "application/json"}, // sent as text/plain below
	}
}

// nestingCases nest claims too deeply, in arrays, objects and both.
func nestingCases() []badBody {
	depth := fmt.Sprint(service.MaxClaimDepth)
	objects := strings.Repeat(`{"a":`, service.MaxClaimDepth+1) + "1" + strings.Repeat("}", service.MaxClaimDepth+1)
	return []badBody{
		{"claim arrays one too deep", withClaims(`{"deep":` + nested(service.MaxClaimDepth+1) + `}`), 400, depth},
		{"claim objects one too deep", withClaims(`{"deep":` + objects + `}`), 400, depth},
		{"claim nested 2000 deep", withClaims(`{"deep":` + nested(2000) + `}`), 400, depth},
		{"claim nested past the decoder", withClaims(`{"deep":` + nested(20000) + `}`), 400, depth},
		{"groups nested deeply", `{"consumer":{"id":"a"},"groups":` + nested(1000) + `}`, 400, "groups"},
		{"brackets in strings do not count",
			withClaims(`{"deep":` + nested(service.MaxClaimDepth) + `,"x":"` + strings.Repeat("[", 50) + `"}`),
			200, ""},
	}
}

// textCases hold control characters and invalid UTF-8, escaped and raw.
func textCases() []badBody {
	return []badBody{
		{"NUL escape in consumer.id", `{"consumer":{"id":"a\u0000b"}}`, 400, "consumer.id"},
		{"newline escape in username", `{"consumer":{"username":"a\nb"}}`, 400, "consumer.username"},
		{"tab escape in custom_id", `{"consumer":{"custom_id":"a\tb"}}`, 400, "consumer.custom_id"},
		{"unit separator in group", `{"consumer":{"id":"a"},"groups":["a\u001fb"]}`, 400, "groups[0]"},
		{"DEL in scope", `{"consumer":{"id":"a"},"scopes":["a\u007fb"]}`, 400, "scopes[0]"},
		{"C1 control in audience", `{"consumer":{"id":"a"},"audience":"a\u0085b"}`, 400, "audience"},
		{"escape in credential", `{"consumer":{"id":"a"},"credential":{"identifier":"\u001b[31m"}}`, 400,
			"credential.identifier"},
		{"control in userid", `{"consumer":{"id":"a"},"authenticated_userid":"a\rb"}`, 400, "authenticated_userid"},
		{"control in claim name", withClaims(`{"a\u0007":1}`), 400, "claim name"},
		{"raw control byte in a string", "{\"consumer\":{\"id\":\"a\x01b\"}}", 400, "JSON"},
		{"raw newline in a string", "{\"consumer\":{\"id\":\"a\nb\"}}", 400, "JSON"},
		{"invalid UTF-8 in consumer.id", "{\"consumer\":{\"id\":\"a\xffb\"}}", 400, "UTF-8"},
		{"invalid UTF-8 in a group", "{\"consumer\":{\"id\":\"a\"},\"groups\":[\"\xfe\"]}", 400, "UTF-8"},
		{"invalid UTF-8 in a claim value", withClaims("{\"t\":\"\xc3\"}"), 400, "UTF-8"},
		{"invalid UTF-8 in a claim name", withClaims("{\"\xff\":1}"), 400, "UTF-8"},
		{"invalid UTF-8 in a field name", "{\"consumer\":{\"id\":\"a\"},\"\xff\":1}", 400, "UTF-8"},
		{"overlong encoding", "{\"consumer\":{\"id\":\"\xc0\xaf\"}}", 400, "UTF-8"},
		{"encoded surrogate", "{\"consumer\":{\"id\":\"\xed\xa0\x80\"}}", 400, "UTF-8"},
		{"truncated sequence", "{\"consumer\":{\"id\":\"\xe2\x82\"}}", 400, "UTF-8"},
	}
}

// duplicateCases repeat a name in one object, at every level.
func duplicateCases() []badBody {
	return []badBody{
		{"consumer twice", `{"consumer":{"id":"alice"},"consumer":{"id":"bob"}}`, 400, `"consumer"`},
		{"consumer.id twice", `{"consumer":{"id":"alice","id":"bob"}}`, 400, `"id"`},
		{"audience twice", `{"consumer":{"id":"a"},"audience":"x","audience":"y"}`, 400, `"audience"`},
		{"groups twice", `{"consumer":{"id":"a"},"groups":["x"],"groups":["y"]}`, 400, `"groups"`},
		{"credential.identifier twice",
			`{"consumer":{"id":"a"},"credential":{"identifier":"k1","identifier":"k2"}}`, 400, `"identifier"`},
		{"claim twice", withClaims(`{"tenant":"acme","tenant":"evil"}`), 400, `"tenant"`},
		{"name twice inside a claim value", withClaims(`{"t":{"role":"user","role":"admin"}}`), 400, `"role"`},
		{"name twice in an array in a claim", withClaims(`{"t":[1,{"a":1,"b":2,"a":3}]}`), 400, `"a"`},
		{"consumer in other case", `{"consumer":{"id":"alice"},"Consumer":{"id":"bob"}}`, 400, "Consumer"},
		{"id in other case", `{"consumer":{"id":"alice","ID":"bob"}}`, 400, "ID"},
		{"id escaped", `{"consumer":{"id":"alice","\u0069d":"bob"}}`, 400, `"id"`},
		{"claim in other case", withClaims(`{"tenant":"acme","TENANT":"evil"}`), 400, "TENANT"},
		{"claim with Kelvin sign", withClaims(`{"k":1,"\u212a":2}`), 400, "twice"},
		{"custom claim in other case of a reserved one", withClaims(`{"ISS":"https://evil"}`), 422, "ISS"},
	}
}

// TestPostTokenBadInput sends every kind of bad body through the router:
// each must be a 4xx problem with the status of its kind, never a 5xx.
func TestPostTokenBadInput(t *testing.T) {
	t.Parallel()
	e := newEnv(t, setup{})

	groups := map[string][]badBody{
		"type":      wrongTypeCases(),
		"limit":     hugeCases(),
		"nesting":   nestingCases(),
		"text":      textCases(),
		"duplicate": duplicateCases(),
	}
	for group, cases := range groups {
		for _, tc := range cases {
			t.Run(group+"/"+tc.name, func(t *testing.T) {
				contentType := "application/json"
				if tc.want == http.StatusUnsupportedMediaType {
					tc.body, contentType = consumerBody("alice"), "text/plain"
				}
				r := e.do(t, newRequest(http.MethodPost, "/v1/tokens", tc.body,
					"Authorization", gatewayAuth, "Content-Type", contentType))
				if tc.want == http.StatusOK {
					if r.Status != http.StatusOK {
						t.Fatalf("got status %d, want 200; body %s", r.Status, r.Body)
					}
					return
				}
				p := checkProblem(t, r, tc.want)
				if !strings.Contains(p.Detail, tc.detail) {
					t.Errorf("got detail %q, want it to mention %q", p.Detail, tc.detail)
				}
			})
		}
	}
}

// TestPostTokenAtLimits sends bodies exactly at each limit: all pass, so
// the limits in the refusals above are not off by one.
func TestPostTokenAtLimits(t *testing.T) {
	t.Parallel()
	e := newEnv(t, setup{})

	text := strings.Repeat("x", service.MaxTextLength)
	entry := strings.Repeat("x", service.MaxEntryLength)
	cases := []struct{ name, body string }{
		{"text fields", `{"consumer":{"id":"` + text + `","username":"` + text + `","custom_id":"` + text +
			`"},"credential":{"id":"` + text + `","identifier":"` + text + `"},"authenticated_userid":"` + text +
			`","audience":"` + text + `"}`},
		{"groups and scopes", `{"consumer":{"id":"a"},"groups":` + listOf(service.MaxGroups) +
			`,"scopes":` + listOf(service.MaxScopes) + `}`},
		{"long group and scope", `{"consumer":{"id":"a"},"groups":["` + entry + `"],"scopes":["` + entry + `"]}`},
		{"claims", withClaims(manyClaims(service.MaxClaims))},
		{"claim name", withClaims(`{"` + strings.Repeat("n", service.MaxClaimNameLength) + `":1}`)},
		{"claim value", withClaims(`{"blob":"` + strings.Repeat("x", service.MaxClaimValueSize-2) + `"}`)},
		{"claim value with spaces", withClaims(`{"blob":[` + // [1,1,…,11] is 4096 bytes
			strings.Repeat(`1,  `, service.MaxClaimValueSize/2-2) + `11]}`)},
		{"claim depth", withClaims(`{"deep":` + nested(service.MaxClaimDepth) + `}`)},
		{"number past float64", withClaims(`{"big":1e400}`)},
		{"equal names in sibling objects", withClaims(`{"a":{"k":1},"b":{"k":2},"c":[{"k":1},{"k":2}]}`)},
		{"names equal to values", `{"consumer":{"id":"id","username":"consumer"},"claims":{"x":"x"}}`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := e.postToken(t, tc.body)
			if r.Status != http.StatusOK {
				t.Fatalf("got status %d, want 200; body %.300s", r.Status, r.Body)
			}
		})
	}
}

// TestForwardAuthBadInput sends bad consumer headers through the router:
// each must be a 400 problem that names the header, and carry no token.
func TestForwardAuthBadInput(t *testing.T) {
	t.Parallel()
	e := newEnv(t, setup{})

	type badHeader struct {
		name   string
		header string
		values []string
	}
	var cases []badHeader
	all := []string{"X-Consumer-ID", "X-Consumer-Username", "X-Consumer-Custom-ID", "X-Consumer-Groups",
		"X-Credential-Identifier", "X-Credential-Username", "X-Authenticated-Scope",
		"X-Authenticated-Userid", "X-JWT-Audience", "X-Anonymous-Consumer"}
	for _, h := range all {
		cases = append(cases,
			badHeader{h + " NUL", h, []string{"a\x00b"}},
			badHeader{h + " line feed", h, []string{"a\nX-Admin: 1"}},
			badHeader{h + " DEL", h, []string{"a\x7fb"}},
			badHeader{h + " C1 control", h, []string{"a\u0085b"}},
			badHeader{h + " invalid UTF-8", h, []string{"a\xffb"}},
			badHeader{h + " overlong UTF-8", h, []string{"\xc0\xaf"}},
			badHeader{h + " given twice", h, []string{"a", "b"}},
		)
		if h != "X-Consumer-Groups" && h != "X-Authenticated-Scope" {
			cases = append(cases, badHeader{h + " too long", h, []string{over(service.MaxTextLength)}})
		}
	}
	manyGroups := strings.TrimSuffix(strings.Repeat("g,", service.MaxGroups+1), ",")
	manyScopes := strings.TrimSpace(strings.Repeat("s ", service.MaxScopes+1))
	cases = append(cases,
		badHeader{"too many groups", "X-Consumer-Groups", []string{manyGroups}},
		badHeader{"group too long", "X-Consumer-Groups", []string{"gold, " + over(service.MaxEntryLength)}},
		badHeader{"too many scopes", "X-Authenticated-Scope", []string{manyScopes}},
		badHeader{"scope too long", "X-Authenticated-Scope", []string{"read " + over(service.MaxEntryLength)}},
	)

	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req := authRequest(http.MethodGet, "/v1/auth")
			if tc.header != "X-Consumer-ID" {
				req.Header.Set("X-Consumer-ID", "alice")
			}
			// Written to the map directly, as a proxy in front might hand it on.
			req.Header[http.CanonicalHeaderKey(tc.header)] = tc.values
			r := e.do(t, req)
			p := checkProblem(t, r, http.StatusBadRequest)
			if !strings.Contains(strings.ToLower(p.Detail), strings.ToLower(tc.header)) {
				t.Errorf("got detail %q, want it to name %s", p.Detail, tc.header)
			}
			if got := r.Header.Get("Authorization"); got != "" {
				t.Errorf("got token header %q on a refusal", got)
			}
		})
	}
}

// TestForwardAuthAtLimits sends headers exactly at each limit: all pass.
func TestForwardAuthAtLimits(t *testing.T) {
	t.Parallel()
	e := newEnv(t, setup{})

	text := strings.Repeat("x", service.MaxTextLength)
	entry := strings.Repeat("x", service.MaxEntryLength)
	groups := make([]string, service.MaxGroups)
	scopes := make([]string, service.MaxScopes)
	for i := range groups {
		groups[i] = fmt.Sprintf("g%d", i)
	}
	for i := range scopes {
		scopes[i] = fmt.Sprintf("s%d", i)
	}
	cases := []struct {
		name string
		kv   []string
	}{
		{"text headers", []string{"X-Consumer-ID", text, "X-Consumer-Username", text,
			"X-Consumer-Custom-ID", text, "X-Credential-Identifier", text, "X-Authenticated-Userid", text,
			"X-JWT-Audience", text}},
		{"lists", []string{"X-Consumer-ID", "a", "X-Consumer-Groups", strings.Join(groups, ", "),
			"X-Authenticated-Scope", strings.Join(scopes, " ")}},
		{"list with empty entries", []string{"X-Consumer-ID", "a",
			"X-Consumer-Groups", strings.Join(groups, ",,") + strings.Repeat(",", 1000)}},
		{"long entries", []string{"X-Consumer-ID", "a", "X-Consumer-Groups", entry,
			"X-Authenticated-Scope", entry}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := e.do(t, authRequest(http.MethodGet, "/v1/auth", tc.kv...))
			if r.Status != http.StatusOK {
				t.Fatalf("got status %d, want 200; body %s", r.Status, r.Body)
			}
			bearerToken(t, r.Header.Get("Authorization"))
		})
	}
}
