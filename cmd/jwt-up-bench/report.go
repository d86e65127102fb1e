package main

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// report is everything one run of the bench measured, and where.
type report struct {
	started time.Time
	took    time.Duration
	machine machine
	opts    options
	version string // of jwt-up
	results []scenarioResult
}

// Targets of issue 5 that are not a ratio of one scenario.
const (
	pacedP99Target    = 2 * time.Millisecond // hit, at half the ceiling's rate
	spreadScaleTarget = 0.9                  // hit-spread-1m over hit-spread-1k
	redisBytesTarget  = 1.2 * 1024           // per cached RS256 token
)

// renderMarkdown writes the report as markdown.
func renderMarkdown(rep report) string {
	var b strings.Builder
	b.WriteString("# jwt-up benchmark results\n\n")
	fmt.Fprintf(&b, "Measured on %s by `cmd/jwt-up-bench` in %s; jwt-up %s.\n\n",
		rep.started.UTC().Format("2006-01-02 15:04 MST"), rep.took.Round(time.Second), orDash(rep.version))
	writeMachine(&b, rep)
	writeResults(&b, rep.results)
	writeTargets(&b, rep.results)
	writeRounds(&b, rep.results)
	writeScenarios(&b, rep.results)
	writeNotRun(&b, rep.results)
	return b.String()
}

// writeMachine writes the machine and the settings of the run.
func writeMachine(b *strings.Builder, rep report) {
	m, o := rep.machine, rep.opts
	b.WriteString("## Machine and settings\n\n")
	b.WriteString("| | |\n|---|---|\n")
	fmt.Fprintf(b, "| CPU | %s, %d logical CPUs (nproc) |\n", orDash(m.cpuModel), m.cpus)
	fmt.Fprintf(b, "| memory | %s |\n", orDash(m.memory))
	fmt.Fprintf(b, "| load average | %s at the start, %s at the end |\n", orDash(m.loadStart), orDash(m.loadEnd))
	fmt.Fprintf(b, "| Go | %s %s, GOMAXPROCS %d (bench and servers alike) |\n",
		m.goVersion, m.platform, m.gomaxprocs)
	fmt.Fprintf(b, "| load | %d keep-alive connections, %s rounds after a %s warm-up per server |\n",
		o.connections, o.duration, o.warmup)
	fmt.Fprintf(b, "| rounds | %d per server (miss-*: %d), jwt-up and ceiling alternating |\n",
		o.rounds, o.missRounds)
	fmt.Fprintf(b, "| jwt-up | JWTUP_LOG_LEVEL=%s, JWTUP_LOG_FORMAT=json, JWTUP_TOKEN_TTL=%s, "+
		"SQLite key store in a temporary directory; more per scenario below |\n", o.logLevel, tokenTTL)
	redis := "not given: Redis scenarios skipped"
	if o.redisURL != "" {
		redis = o.redisURL + " (flushed before each Redis scenario)"
	}
	fmt.Fprintf(b, "| Redis | %s |\n\n", redis)
}

// writeResults writes the main table.
func writeResults(b *strings.Builder, results []scenarioResult) {
	b.WriteString("## Throughput, latency, allocations and CPU\n\n")
	b.WriteString("| scenario | ceiling | jwt-up req/s | ceiling req/s | jwt-up / ceiling | per pair " +
		"| jwt-up / constant | jwt-up p50 / p99 / p99.9 ms | ceiling p50 / p99 / p99.9 ms " +
		"| allocs/req jwt-up / ceiling | CPU µs/req jwt-up / ceiling | errors jwt-up / ceiling |\n")
	b.WriteString("|---|---|--:|--:|--:|---|--:|---|---|---|---|---|\n")
	for _, r := range results {
		if !r.ran() {
			continue
		}
		up, ceil := r.sides[0], r.sides[1]
		constant := "–"
		if len(r.sides) > 2 {
			constant = fmtRatio(median(r.ratios(2)))
		}
		fmt.Fprintf(b, "| %s | %s | %.0f | %.0f | %s | %s | %s | %s | %s | %s / %s | %s / %s | %s |\n",
			r.name, strings.TrimSuffix(ceil.name, " ceiling"), up.rps(), ceil.rps(),
			fmtRatio(median(r.ratios(1))), fmtRatios(r.ratios(1)), constant,
			fmtLatencies(up.latency), fmtLatencies(ceil.latency),
			fmtCount(up.allocs()), fmtCount(ceil.allocs()),
			fmtCount(up.cpuMicros()), fmtCount(ceil.cpuMicros()), fmtErrors(up, ceil))
	}
	b.WriteString("\nReq/s is the median over rounds. Ratios are jwt-up's req/s over the ceiling's " +
		"in the same pair of rounds; the figure is their median. Latencies cover every round. " +
		"Allocations are the server's heap objects per request, from go_memstats_mallocs_total " +
		"read before and after each round; CPU is the server process's user and system time " +
		"per request, from process_cpu_seconds_total read the same way.\n\n")
	for _, r := range results {
		if r.ran() && r.paced != nil {
			fmt.Fprintf(b, "At half the ceiling's rate (%.0f req/s), where neither server is saturated, "+
				"`%s` took %s µs of CPU per request in jwt-up and %s µs in the ceiling.\n\n",
				r.paced.rate, r.name, fmtCount(r.paced.sides[0].cpuMicros()), fmtCount(r.paced.sides[1].cpuMicros()))
		}
	}
}

// targetRow is one line of the targets table.
type targetRow struct {
	what     string
	measured string
	met      bool
	ran      bool
}

// atLeast is a target met when got ≥ want.
func atLeast(what string, got, want float64, ran bool, format func(float64) string) targetRow {
	return targetRow{what: what, measured: fmtAgainst(got, want, format), met: got >= want, ran: ran}
}

// atMost is a target met when got ≤ want.
func atMost(what string, got, want float64, ran bool, format func(float64) string) targetRow {
	return targetRow{what: what, measured: fmtAgainst(got, want, format), met: got <= want, ran: ran}
}

// fmtAgainst formats got, with two more digits when the usual ones would
// show it equal to want though it is not: beside a target of 0.45, a ratio
// of 0.4496 would read 0.45 and look met.
func fmtAgainst(got, want float64, format func(float64) string) string {
	text := format(got)
	if got == want || text != format(want) {
		return text
	}
	decimals := 0
	if i := strings.IndexByte(text, '.'); i >= 0 {
		decimals = len(text) - i - 1
	}
	return strconv.FormatFloat(got, 'f', decimals+2, 64)
}

// writeTargets compares the results with the targets of issue 5.
func writeTargets(b *strings.Builder, results []scenarioResult) {
	rows := targetRows(results)
	if len(rows) == 0 {
		return
	}
	b.WriteString("## Targets\n\n| target | measured | |\n|---|--:|---|\n")
	for _, t := range rows {
		switch {
		case !t.ran:
			fmt.Fprintf(b, "| %s | – | not run |\n", t.what)
		case t.met:
			fmt.Fprintf(b, "| %s | %s | met |\n", t.what, t.measured)
		default:
			fmt.Fprintf(b, "| %s | %s | **missed** |\n", t.what, t.measured)
		}
	}
	b.WriteString("\n")
}

// targetRows lists the targets that apply to the scenarios selected.
func targetRows(results []scenarioResult) []targetRow {
	var rows []targetRow
	byName := map[string]scenarioResult{}
	for _, r := range results {
		byName[r.name] = r
		if r.target > 0 {
			rows = append(rows, atLeast(fmt.Sprintf("`%s` ≥ %.2f of its ceiling", r.name, r.target),
				median(r.ratios(1)), r.target, r.ran(), fmtRatio))
		}
		if r.constTarget > 0 {
			rows = append(rows, atLeast(fmt.Sprintf("`%s` ≥ %.2f of the constant ceiling", r.name, r.constTarget),
				median(r.ratios(2)), r.constTarget, r.ran(), fmtRatio))
		}
		if r.paced != nil {
			rows = append(rows, pacedRow(r))
		}
		if r.redis && r.fill.consumers > 0 {
			what := fmt.Sprintf("Redis used_memory per cached %s token, `%s`, ≤ %.0f bytes",
				r.alg, r.name, redisBytesTarget)
			rows = append(rows, atMost(what, r.fill.redisBytesPerToken(), redisBytesTarget, r.ran(), fmtBytes))
		}
	}

	if small, large := byName["hit-spread-1k"], byName["hit-spread-1m"]; small.name != "" && large.name != "" {
		rows = append(rows, scaleRow(small, large))
	}
	return rows
}

// pacedRow checks jwt-up's p99 at half the ceiling's rate: the median of
// the paced rounds' p99s, each round's beside it, and the ceiling's median
// too: on a busy machine both suffer.
func pacedRow(r scenarioResult) targetRow {
	what := fmt.Sprintf("`%s` p99 ≤ %s ms at half the ceiling's rate (%.0f req/s), median of the rounds",
		r.name, fmtMillis(pacedP99Target), r.paced.rate)
	up, ceiling := r.paced.sides[0].p99s(), r.paced.sides[1].p99s()
	row := atMost(what, median(up), millis(pacedP99Target), len(up) > 0, fmtRatio)
	row.measured += fmt.Sprintf(" (rounds %s; ceiling %s: %s)",
		fmtRatios(up), fmtRatio(median(ceiling)), fmtRatios(ceiling))
	return row
}

// scaleRow checks that hits cost no more with a million consumers than
// with a thousand. Each throughput is taken as its ratio to the ceiling
// of its own rounds, so that the two scenarios, run minutes apart, are
// compared on the same footing.
func scaleRow(small, large scenarioResult) targetRow {
	ran := small.ran() && large.ran()
	got := math.NaN()
	if ran {
		got = median(large.ratios(1)) / median(small.ratios(1))
	}
	what := fmt.Sprintf("`%s` ≥ %.2f of `%s`, each relative to its ceiling",
		large.name, spreadScaleTarget, small.name)
	return atLeast(what, got, spreadScaleTarget, ran, fmtRatio)
}

// writeRounds lists every round's req/s, in the order they ran.
func writeRounds(b *strings.Builder, results []scenarioResult) {
	b.WriteString("## Rounds\n\nRequests per second of each round; the rounds of a scenario ran " +
		"in turns (jwt-up, ceiling, jwt-up, …).\n\n| scenario | server | req/s per round |\n|---|---|---|\n")
	for _, r := range results {
		if !r.ran() {
			continue
		}
		for _, s := range r.sides {
			parts := make([]string, len(s.rounds))
			for i, rd := range s.rounds {
				parts[i] = fmt.Sprintf("%.0f", rd.load.rps())
			}
			fmt.Fprintf(b, "| %s | %s | %s |\n", r.name, s.name, strings.Join(parts, " "))
		}
	}
	b.WriteString("\n")
}

// writeScenarios lists what each scenario ran with.
func writeScenarios(b *strings.Builder, results []scenarioResult) {
	b.WriteString("## Scenarios as run\n\n")
	b.WriteString("| scenario | what | alg | further settings | cache filled | jwt-up cache misses/req |\n")
	b.WriteString("|---|---|---|---|---|--:|\n")
	for _, r := range results {
		fill := "–"
		if r.fill.consumers > 0 {
			fill = fmt.Sprintf("%d consumers in %s", r.fill.consumers, r.fill.took.Round(100*time.Millisecond))
		}
		misses := "–"
		if r.ran() {
			misses = fmtCount(r.sides[0].misses())
		}
		fmt.Fprintf(b, "| %s | %s | %s | %s | %s | %s |\n",
			r.name, r.about, r.alg, fmtEnv(r.scenario), fill, misses)
	}
	b.WriteString("\n")
}

// writeNotRun explains every scenario that was skipped or failed.
func writeNotRun(b *strings.Builder, results []scenarioResult) {
	var notes []string
	for _, r := range results {
		if r.note != "" {
			notes = append(notes, fmt.Sprintf("- `%s`: %s\n", r.name, r.note))
		}
	}
	if len(notes) == 0 {
		return
	}
	b.WriteString("## Not run\n\n" + strings.Join(notes, "") + "\n")
}

// fmtEnv lists the scenario's jwt-up settings beyond the common ones.
func fmtEnv(sc scenario) string {
	var parts []string
	if sc.redis {
		parts = append(parts, "JWTUP_REDIS_URL=--redis")
	}
	for _, k := range sortedKeys(sc.env) {
		parts = append(parts, k+"="+sc.env[k])
	}
	if len(parts) == 0 {
		return "–"
	}
	return strings.Join(parts, ", ")
}

func fmtLatencies(h *histogram) string {
	return fmtMillis(h.quantile(0.50)) + " / " + fmtMillis(h.quantile(0.99)) + " / " +
		fmtMillis(h.quantile(0.999))
}

func fmtErrors(up, ceil side) string {
	text := fmt.Sprintf("%d / %d", up.failed(), ceil.failed())
	if s := up.sample(); s != "" {
		text += " (jwt-up: " + s + ")"
	}
	return text
}

func fmtMillis(d time.Duration) string { return fmtFloat(millis(d), 2) }

func millis(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func fmtRatios(v []float64) string {
	parts := make([]string, len(v))
	for i, x := range v {
		parts[i] = fmtRatio(x)
	}
	return strings.Join(parts, " ")
}

func fmtRatio(x float64) string { return fmtFloat(x, 2) }
func fmtCount(x float64) string { return fmtFloat(x, 1) }
func fmtBytes(x float64) string { return fmtFloat(x, 0) }

func fmtFloat(x float64, digits int) string {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return "–"
	}
	return fmt.Sprintf("%.*f", digits, x)
}

func orDash(s string) string {
	if s == "" {
		return "–"
	}
	return s
}
