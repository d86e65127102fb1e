package main

import "testing"

func TestParseMetrics(t *testing.T) {
	text := `# HELP go_memstats_mallocs_total Total number of heap objects allocated.
# TYPE go_memstats_mallocs_total counter
go_memstats_mallocs_total 1.234567e+06
jwtup_token_cache_requests_total{result="hit"} 10
jwtup_token_cache_requests_total{result="miss"} 3
broken line
`
	got := parseMetrics(text)
	want := map[string]float64{
		mallocsSeries: 1234567,
		`jwtup_token_cache_requests_total{result="hit"}`: 10,
		missesSeries: 3,
	}
	if len(got) != len(want) {
		t.Errorf("parsed %d series, want %d: %v", len(got), len(want), got)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
}
