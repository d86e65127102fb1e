package api

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/jwt-up/jwt-up/service"
)

// FuzzDecodeBody holds decodeBody, which decodes with go-json when it can,
// to what encoding/json alone makes of the same body: both refuse it, or
// both decode it to the same request.
func FuzzDecodeBody(f *testing.F) {
	f.Add([]byte(`{"consumer":{"id":"4e1c","username":"alice","custom_id":"c-42"},"groups":["gold","eu"],` +
		`"scopes":["orders:read"],"credential":{"id":"9b7","identifier":"k1"},"audience":"orders-api",` +
		`"claims":{"tenant":"acme","tier":{"level":2,"tags":["a",null,true,1.5e3]}},` +
		`"request":{"method":"POST","path":"/p","body_sha256":"x"},"subject_token":"a.b.c"}`))
	f.Add([]byte(`{"CONSUMER":{"Id":"\u00e9\ud83d\ude00"},"groups":null,"claims":{"a":"\ud800"}}`))
	f.Add([]byte(`{"consumer":{"id":"a"},"groups":["a",1]}`))
	f.Add([]byte(`{"consumer":{"id":"a"}} {}`))
	f.Add([]byte(`{"consumer":{"id":"a","extra":1}}`))
	f.Add([]byte("{\"consumer\":{\"id\":\"a\nb\"}}"))
	f.Add([]byte(`{"consumer":"a"}`))
	f.Add([]byte(`[]`))
	addCorpus(f, "FuzzMintRequest")

	f.Fuzz(func(t *testing.T, data []byte) {
		var fast, standard service.MintRequest
		fastErr := decodeBody(data, &fast)
		standardErr := decodeStandard(data, &standard)
		if (fastErr == nil) != (standardErr == nil) {
			t.Fatalf("decodeBody: %v; encoding/json: %v; body %q", fastErr, standardErr, data)
		}
		if fastErr != nil {
			if decodeDetail(fastErr) != decodeDetail(standardErr) {
				t.Fatalf("details differ: %q and %q; body %q",
					decodeDetail(fastErr), decodeDetail(standardErr), data)
			}
			return
		}
		if diff := cmp.Diff(standard, fast); diff != "" {
			t.Fatalf("decoded differently (-encoding/json +decodeBody):\n%s\nbody %q", diff, data)
		}
	})
}

// addCorpus adds the seeds another fuzz target keeps in testdata, bodies
// of every kind the router refuses.
func addCorpus(f *testing.F, target string) {
	files, _ := filepath.Glob(filepath.Join("testdata", "fuzz", target, "*"))
	for _, name := range files {
		data, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		// A corpus file is "go test fuzz v1" and one []byte("…") line.
		lines := strings.SplitN(string(data), "\n", 2)
		if len(lines) < 2 {
			continue
		}
		quoted, ok := strings.CutPrefix(strings.TrimSpace(lines[1]), "[]byte(")
		if !ok {
			continue
		}
		if body, err := strconv.Unquote(strings.TrimSuffix(quoted, ")")); err == nil {
			f.Add([]byte(body))
		}
	}
}
