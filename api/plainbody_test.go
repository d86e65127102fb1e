package api

import (
	"testing"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"

	"github.com/jwt-up/jwt-up/service"
)

// gatewayBody is a mint request as a gateway plugin writes it.
const gatewayBody = `{"consumer":{"id":"c-000123","username":"user-000123"},"groups":["gold","eu"],` +
	`"scopes":["orders:read","orders:write"],"audience":"orders-api","claims":{"tenant":"acme"}}`

// FuzzPlainMint holds decodePlainMint to decodeJSON's general path: a body
// it takes must decode with encoding/json to the same request, and hold no
// name twice.
func FuzzPlainMint(f *testing.F) {
	for _, body := range append(plainBodies, notPlainBodies...) {
		f.Add([]byte(body))
	}
	addCorpus(f, "FuzzMintRequest")

	f.Fuzz(func(t *testing.T, data []byte) {
		if !utf8.Valid(data) {
			return // decodeJSON refuses it before either decoder
		}
		var plain service.MintRequest
		if !decodePlainMint(data, &plain) {
			return
		}
		var standard service.MintRequest
		if err := decodeStandard(data, &standard); err != nil {
			t.Fatalf("taken as plain, refused by encoding/json (%v): %q", err, data)
		}
		if name, dup := duplicateName(data); dup {
			t.Fatalf("taken as plain, but %q is given twice: %q", name, data)
		}
		if diff := cmp.Diff(standard, plain); diff != "" {
			t.Fatalf("decoded differently (-encoding/json +plain):\n%s\nbody %q", diff, data)
		}
	})
}

// plainBodies are bodies the plain decoder must take.
var plainBodies = []string{
	gatewayBody,
	`{"consumer":{"id":"4e1c"}}`,
	" \r\n\t{ \"consumer\" : { \"custom_id\" : \"c-42\" } , \"groups\" : [ ] , \"scopes\":[ \"a\" ] }\n",
	`{"consumer":{"username":"zoë 🙂"},"credential":{"id":"9b7","identifier":"k1"},"authenticated_userid":"u1"}`,
	`{"consumer":{},"subject_token":"a.b.c","request":{"method":"POST","path":"/p?q=1","body_sha256":"x"}}`,
	`{"consumer":{"id":"a"},"claims":{}}`,
	`{"consumer":{"id":"a"},"claims":{"n":-0.5e+10,"m":0,"t":true,"f":false,"z":null,"s":"a\"\\\/\b\f\n\r\t\u00e9",` +
		`"l":[1,[2,["x"]],[]],"E":1E-3}}`,
	`{"consumer":{"id":"a"},"claims":{"tenant":"acme","Tier":"gold"}}`,
}

// notPlainBodies are bodies the plain decoder must leave to the general
// path: some are fine but not plain, the rest are faulty.
var notPlainBodies = []string{
	`{"consumer":{"id":"\u0061"}}`,                                   // an escape in a field
	`{"Consumer":{"id":"a"}}`,                                        // a name in another case
	`{"consumer":{"id":"a"},"groups":null}`,                          // null
	`{"consumer":{"id":"a"},"credential":null}`,                      // null
	`{"consumer":{"id":"a"},"claims":{"t":{"x":1}}}`,                 // an object in a claim
	`{"consumer":{"id":"a"},"claims":{"été":1}}`,                     // a claim name past ASCII
	`{"consumer":{"id":"a"},"claims":{"t":1,"T":2}}`,                 // a claim given twice
	`{"consumer":{"id":"a"},"consumer":{"id":"b"}}`,                  // a field given twice
	`{"consumer":{"id":"a","id":"b"}}`,                               // a field given twice
	`{"consumer":{"id":"a","extra":1}}`,                              // an unknown field
	`{"consumer":{"id":"a"}} {}`,                                     // trailing data
	`{"consumer":{"id":"a"},}`,                                       // a trailing comma
	`{"consumer":{"id":1}}`,                                          // a number for a string
	`{"consumer":{"id":"a"},"groups":["a",1]}`,                       // a number in a list
	`{"consumer":{"id":"a"},"claims":{"n":01}}`,                      // a bad number
	`{"consumer":{"id":"a"},"claims":{"n":1.}}`,                      // a bad number
	`{"consumer":{"id":"a"},"claims":{"s":"\x"}}`,                    // a bad escape
	`{"consumer":{"id":"a"},"claims":{"s":"\u12"}}`,                  // a short escape
	`{"consumer":{"id":"a"},"claims":{"l":[[[[[[[[[[[1]]]]]]]]]]]}}`, // deeper than a claim may be
	"{\"consumer\":{\"id\":\"a\nb\"}}",                               // a raw line break
	`{"consumer":{"id":"a"},"claims":{"t":tru}}`,                     // a cut literal
	`{"consumer":{"id":"a"}`,                                         // cut short
	`[]`,
	``,
}

func TestPlainMintTakesGatewayBodies(t *testing.T) {
	for _, body := range plainBodies {
		var plain, standard service.MintRequest
		if !decodePlainMint([]byte(body), &plain) {
			t.Errorf("left to the general path: %s", body)
			continue
		}
		if err := decodeStandard([]byte(body), &standard); err != nil {
			t.Fatalf("encoding/json refuses %s: %v", body, err)
		}
		if diff := cmp.Diff(standard, plain); diff != "" {
			t.Errorf("decoded differently (-encoding/json +plain):\n%s\nbody %s", diff, body)
		}
	}
}

func TestPlainMintLeavesTheRest(t *testing.T) {
	for _, body := range notPlainBodies {
		var r service.MintRequest
		if decodePlainMint([]byte(body), &r) {
			t.Errorf("taken as plain: %s", body)
		}
	}
}

// TestPlainMintSizesListsOnce checks that a list costs one allocation,
// however its commas are spread, and that a list of commas alone does not
// make a large one.
func TestPlainMintSizesListsOnce(t *testing.T) {
	var r service.MintRequest
	if !decodePlainMint([]byte(`{"groups":["a","b","c"]}`), &r) {
		t.Fatal("left to the general path")
	}
	if cap(r.Groups) != 3 {
		t.Errorf("cap(groups) = %d, want 3", cap(r.Groups))
	}
	body := []byte(`{"groups":["a","b"],"scopes":[` + commas(10000) + `]}`)
	r = service.MintRequest{}
	if decodePlainMint(body, &r) {
		t.Fatal("a list of commas taken as plain")
	}
	if cap(r.Groups) != 2 {
		t.Errorf("cap(groups) = %d, want 2", cap(r.Groups))
	}
}

func commas(n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = ','
	}
	return string(b)
}

func BenchmarkDecodeMintBody(b *testing.B) {
	data := []byte(gatewayBody)
	b.Run("plain", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var r service.MintRequest
			if !decodePlainMint(data, &r) {
				b.Fatal("left to the general path")
			}
		}
	})
	b.Run("general", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var r service.MintRequest
			if err := decodeBody(data, &r); err != nil {
				b.Fatal(err)
			}
			if _, dup := duplicateName(data); dup {
				b.Fatal("duplicate")
			}
		}
	})
}
