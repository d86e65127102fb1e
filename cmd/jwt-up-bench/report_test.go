package main

import (
	"strings"
	"testing"
	"time"
)

func TestRenderMarkdown(t *testing.T) {
	hit, _ := findScenario("hit")
	miss, _ := findScenario("miss-EdDSA")
	redis, _ := findScenario("hit-redis")
	rep := report{
		started: time.Date(2026, 12, 3, 17, 0, 0, 0, time.UTC),
		took:    3 * time.Minute,
		machine: machine{cpus: 2, cpuModel: "Test CPU", goVersion: "go1.26.8", gomaxprocs: 2},
		opts:    options{connections: 64, duration: 5 * time.Second, rounds: 3, missRounds: 2, logLevel: "warn"},
		version: "abc1234",
		results: []scenarioResult{
			{
				scenario: hit,
				sides: []side{
					sideOf("jwt-up", 900, 950, 1000),
					withCPU(sideOf("constant ceiling", 1000, 1000, 1000), 30),
				},
				paced: &pacedResult{rate: 500, sides: []side{
					withCPU(latencySideOf("jwt-up", 1, 6, 1.5), 40),
					withCPU(latencySideOf("constant ceiling", 3, 6, 1.5), 25),
				}},
			},
			{scenario: miss, sides: []side{
				sideOf("jwt-up", 400, 400), sideOf("sign ceiling", 500, 500), sideOf("constant ceiling", 1000, 1000),
			}},
			{scenario: redis, note: "skipped: needs --redis"},
		},
	}
	md := renderMarkdown(rep)

	for _, want := range []string{
		"| CPU | Test CPU, 2 logical CPUs (nproc) |",
		"JWTUP_LOG_LEVEL=warn",
		"| hit | constant | 950 | 1000 | 0.95 | 0.90 0.95 1.00 | – | 1.00 / 1.00 / 1.00 | 1.00 / 1.00 / 1.00 " +
			"| 10.0 / 10.0 | 50.0 / 30.0 | 0 / 0 |",
		"At half the ceiling's rate (500 req/s), where neither server is saturated, " +
			"`hit` took 40.0 µs of CPU per request in jwt-up and 25.0 µs in the ceiling.",
		"| miss-EdDSA | sign | 400 | 500 | 0.80 | 0.80 0.80 | 0.40 |",
		"| `hit` ≥ 0.90 of its ceiling | 0.95 | met |",
		// The median of the rounds' p99s, not the p99 of the pooled
		// rounds, which the 6 ms round would make 6 ms.
		"| `hit` p99 ≤ 2.00 ms at half the ceiling's rate (500 req/s), median of the rounds | " +
			"1.50 (rounds 1.00 6.00 1.50; ceiling 3.00: 3.00 6.00 1.50) | met |",
		"| `miss-EdDSA` ≥ 0.85 of its ceiling | 0.80 | **missed** |",
		"| `miss-EdDSA` ≥ 0.45 of the constant ceiling | 0.40 | **missed** |",
		"| `hit-redis` ≥ 0.50 of its ceiling | – | not run |",
		"- `hit-redis`: skipped: needs --redis",
		"| hit | jwt-up | 900 950 1000 |",
		"| miss-EdDSA | constant ceiling | 1000 1000 |",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("report lacks %q\n%s", want, md)
		}
	}
	if strings.Contains(md, "| hit-redis | constant |") {
		t.Errorf("report has a results row for a scenario that did not run\n%s", md)
	}
}

// withCPU sets every round of s to micros of CPU time per request.
func withCPU(s side, micros float64) side {
	for i := range s.rounds {
		s.rounds[i].cpu = micros * 1e-6 * float64(s.rounds[i].load.served())
	}
	return s
}

// latencySideOf is a side whose rounds each answered 100 requests, all
// taking that round's latency in milliseconds.
func latencySideOf(name string, ms ...float64) side {
	s := side{name: name, latency: new(histogram)}
	for _, m := range ms {
		h := new(histogram)
		for range 100 {
			h.record(time.Duration(m * float64(time.Millisecond)))
		}
		s.add(round{load: loadResult{ok: 100, elapsed: time.Second, latency: h}})
	}
	return s
}

func TestFmtAgainst(t *testing.T) {
	for _, c := range []struct {
		got, want float64
		format    func(float64) string
		text      string
	}{
		{0.4496, 0.45, fmtRatio, "0.4496"},  // would read as the target itself
		{0.4512, 0.45, fmtRatio, "0.4512"},  // met, but not equal either
		{0.45, 0.45, fmtRatio, "0.45"},      // exactly the target
		{0.61, 0.45, fmtRatio, "0.61"},      // far from it
		{1229.4, 1229, fmtBytes, "1229.40"}, // bytes have no decimals to begin with
	} {
		if got := fmtAgainst(c.got, c.want, c.format); got != c.text {
			t.Errorf("fmtAgainst(%v, %v) = %q, want %q", c.got, c.want, got, c.text)
		}
	}
}
