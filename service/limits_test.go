package service

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func TestJSONDepth(t *testing.T) {
	cases := []struct {
		json string
		want int
	}{
		{`1`, 0},
		{`"[{["`, 0},
		{`"a\"[b"`, 0},
		{`"\\"`, 0},
		{`[]`, 1},
		{`{"a":1}`, 1},
		{`{"[":"]"}`, 1},
		{`{"a":[1]}`, 2},
		{`[[],[[]],[]]`, 3},
		{`[{"a\\":"\"["},[[{}]]]`, 4},
		{`{"a":"\\\\","b":[[1]]}`, 3},
	}
	for _, tc := range cases {
		if got := jsonDepth([]byte(tc.json)); got != tc.want {
			t.Errorf("jsonDepth(%s): got %d, want %d", tc.json, got, tc.want)
		}
	}
}

// TestValidateLimits checks each limit at its value and one past it.
func TestValidateLimits(t *testing.T) {
	alice := Consumer{ID: "alice"}
	text := func(n int) string { return strings.Repeat("x", n) }
	list := func(n int) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = "e"
		}
		return out
	}
	claims := func(n int) map[string]json.RawMessage {
		out := map[string]json.RawMessage{}
		for i := range n {
			out["c"+strings.Repeat("x", i)] = json.RawMessage(`1`)
		}
		return out
	}
	claim := func(value string) map[string]json.RawMessage {
		return map[string]json.RawMessage{"c": json.RawMessage(value)}
	}
	nested := func(depth int) string { return strings.Repeat("[", depth) + strings.Repeat("]", depth) }

	cases := []struct {
		name     string
		at, past MintRequest
	}{
		{"consumer.id", MintRequest{Consumer: Consumer{ID: text(MaxTextLength)}},
			MintRequest{Consumer: Consumer{ID: text(MaxTextLength + 1)}}},
		{"consumer.username", MintRequest{Consumer: Consumer{Username: text(MaxTextLength)}},
			MintRequest{Consumer: Consumer{Username: text(MaxTextLength + 1)}}},
		{"consumer.custom_id", MintRequest{Consumer: Consumer{CustomID: text(MaxTextLength)}},
			MintRequest{Consumer: Consumer{CustomID: text(MaxTextLength + 1)}}},
		{"credential.id", MintRequest{Consumer: alice, Credential: &Credential{ID: text(MaxTextLength)}},
			MintRequest{Consumer: alice, Credential: &Credential{ID: text(MaxTextLength + 1)}}},
		{"credential.identifier",
			MintRequest{Consumer: alice, Credential: &Credential{Identifier: text(MaxTextLength)}},
			MintRequest{Consumer: alice, Credential: &Credential{Identifier: text(MaxTextLength + 1)}}},
		{"authenticated_userid", MintRequest{Consumer: alice, AuthenticatedUserID: text(MaxTextLength)},
			MintRequest{Consumer: alice, AuthenticatedUserID: text(MaxTextLength + 1)}},
		{"audience", MintRequest{Consumer: alice, Audience: text(MaxTextLength)},
			MintRequest{Consumer: alice, Audience: text(MaxTextLength + 1)}},
		{"groups", MintRequest{Consumer: alice, Groups: list(MaxGroups)},
			MintRequest{Consumer: alice, Groups: list(MaxGroups + 1)}},
		{"group", MintRequest{Consumer: alice, Groups: []string{text(MaxEntryLength)}},
			MintRequest{Consumer: alice, Groups: []string{text(MaxEntryLength + 1)}}},
		{"scopes", MintRequest{Consumer: alice, Scopes: list(MaxScopes)},
			MintRequest{Consumer: alice, Scopes: list(MaxScopes + 1)}},
		{"scope", MintRequest{Consumer: alice, Scopes: []string{text(MaxEntryLength)}},
			MintRequest{Consumer: alice, Scopes: []string{text(MaxEntryLength + 1)}}},
		{"claims", MintRequest{Consumer: alice, Claims: claims(MaxClaims)},
			MintRequest{Consumer: alice, Claims: claims(MaxClaims + 1)}},
		{"claim name", MintRequest{Consumer: alice, Claims: map[string]json.RawMessage{
			text(MaxClaimNameLength): json.RawMessage(`1`)}},
			MintRequest{Consumer: alice, Claims: map[string]json.RawMessage{
				text(MaxClaimNameLength + 1): json.RawMessage(`1`)}}},
		{"claim value", MintRequest{Consumer: alice, Claims: claim(`"` + text(MaxClaimValueSize-2) + `"`)},
			MintRequest{Consumer: alice, Claims: claim(`"` + text(MaxClaimValueSize-1) + `"`)}},
		{"claim value compacted", MintRequest{Consumer: alice, Claims: claim(`  "` + text(MaxClaimValueSize-2) + `"  `)},
			MintRequest{Consumer: alice, Claims: claim(`  "` + text(MaxClaimValueSize-1) + `"  `)}},
		{"claim depth", MintRequest{Consumer: alice, Claims: claim(nested(MaxClaimDepth))},
			MintRequest{Consumer: alice, Claims: claim(nested(MaxClaimDepth + 1))}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.at.Validate(ProfileStandard); err != nil {
				t.Errorf("at the limit: got %v, want no error", err)
			}
			err := tc.past.Validate(ProfileStandard)
			if !errors.Is(err, ErrInvalidRequest) {
				t.Errorf("past the limit: got %v, want ErrInvalidRequest", err)
			}
		})
	}
}

func TestReservedIgnoresCase(t *testing.T) {
	for _, tc := range []struct {
		p    Profile
		name string
	}{
		{ProfileStandard, "ISS"},
		{ProfileStandard, "Exp"},
		{ProfileStandard, "Consumer"},
		{ProfileKongHeaders, "x-consumer-id"},
		{ProfileKongHeaders, "SUB"},
	} {
		r := MintRequest{Consumer: Consumer{ID: "alice"},
			Claims: map[string]json.RawMessage{tc.name: json.RawMessage(`"x"`)}}
		if err := r.Validate(tc.p); !errors.Is(err, ErrReservedClaim) {
			t.Errorf("%s claim %q: got %v, want ErrReservedClaim", tc.p, tc.name, err)
		}
	}
}
