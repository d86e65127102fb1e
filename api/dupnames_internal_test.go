package api

import (
	"fmt"
	"testing"
)

func TestDuplicateName(t *testing.T) {
	cases := []struct {
		json string
		want string // "" for none
	}{
		{`{}`, ""},
		{`{"a":1,"b":2}`, ""},
		{`{"a":1,"a":2}`, "a"},
		{`{"a":{"b":1},"b":2}`, ""},
		{`{"a":{"b":1,"b":2}}`, "b"},
		{`{"a":[{"b":1},{"b":2}]}`, ""},
		{`{"a":[1,{"b":1,"c":[],"b":2}]}`, "b"},
		{`{"a":"{\"a\":1,\"a\":2}"}`, ""},
		{`{"a\"b":1,"a\"b":2}`, `a"b`},
		{`{"a\\":1,"b":"a\\","a\\\\":2}`, ""},
		{`{"x":"a","y":"a"}`, ""},
		{`{"id":1,"\u0069d":2}`, "id"},
		{`{"id":1,"ID":2}`, "ID"},
		{`{"k":1,"K":2}`, "K"},
		{`{"scopes":1,"ſcopes":2}`, "ſcopes"},
		{`{"ß":1,"ẞ":2}`, "ẞ"},
		{`[{"a":1},{"a":1}]`, ""},
		{`{"a":[],"b":{},"a":null}`, "a"},
		{`"{\"a\":1,\"a\":1}"`, ""},
		{`{"":1,"":2}`, ""},
	}
	for _, tc := range cases {
		got, ok := duplicateName([]byte(tc.json))
		if got != tc.want || ok != (tc.want != "" || tc.json == `{"":1,"":2}`) {
			t.Errorf("duplicateName(%s): got %q, %v, want %q", tc.json, got, ok, tc.want)
		}
		// The in-place path, where it applies, agrees with the folding one.
		plain, plainDup, applies := duplicatePlainName([]byte(tc.json))
		folded, foldedDup := duplicateFoldedName([]byte(tc.json))
		if applies && (plain != folded || plainDup != foldedDup) {
			t.Errorf("%s: in place %q %v, folded %q %v", tc.json, plain, plainDup, folded, foldedDup)
		}
	}
}

// A body with more names than the in-place path compares still has its
// duplicates found.
func TestDuplicateNameManyNames(t *testing.T) {
	body := []byte("{")
	for i := range plainNames + 5 {
		body = append(body, fmt.Sprintf(`"n%d":1,`, i)...)
	}
	body = append(body, `"N3":2}`...)
	if got, ok := duplicateName(body); !ok || got != "N3" {
		t.Errorf("got %q, %v; want N3, true", got, ok)
	}
}
