// Command jwt-up-bench measures jwt-up side by side with ceiling servers
// under the same load, and writes what it saw as a markdown table and a PNG
// chart.
//
// A ceiling is the least work a server can do to give the same answer: a
// bare gin handler that decodes the same JSON body and returns a constant
// token response of the same size (mode constant), or that also signs a
// fixed payload on every request with the algorithm under test (mode sign).
// jwt-up's throughput divided by the ceiling's says how much of the machine
// jwt-up leaves on the table.
//
// Every server runs as its own process, so that its CPU time and its
// allocations are its own and not the load generator's: jwt-up is built
// once and started per scenario with that scenario's settings, and the
// ceilings are this binary run again with the hidden subcommand "ceiling".
// Traffic goes to 127.0.0.1 only. The rounds alternate between jwt-up and
// its ceiling (A B A B …), so that a slow minute of the machine hurts both.
//
// Usage, from the module root:
//
//	go run ./cmd/jwt-up-bench [--redis redis://127.0.0.1:6379/1] [flags]
//
// See docs/performance.md for what each scenario means.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"
)

// options are the flags of a benchmark run.
type options struct {
	jwtUp       string
	redisURL    string
	scenarios   []string
	connections int
	duration    time.Duration
	warmup      time.Duration
	rounds      int
	missRounds  int
	fillTimeout time.Duration
	logLevel    string
	outMD       string
	outPNG      string
}

func main() {
	if len(os.Args) > 1 && os.Args[1] == ceilingCommand {
		if err := runCeiling(os.Args[2:]); err != nil {
			fmt.Fprintln(os.Stderr, "jwt-up-bench ceiling:", err)
			os.Exit(1)
		}
		return
	}

	opts, err := parseOptions(os.Args[1:], os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "jwt-up-bench:", err)
		os.Exit(2)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err = run(ctx, opts)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "jwt-up-bench:", err)
		os.Exit(1)
	}
}

// parseOptions reads the flags and checks them, reporting every problem.
func parseOptions(args []string, out io.Writer) (options, error) {
	var (
		o         options
		scenarios string
	)
	fs := flag.NewFlagSet("jwt-up-bench", flag.ContinueOnError)
	fs.SetOutput(out)
	fs.StringVar(&o.jwtUp, "jwt-up", "", "jwt-up binary to run (default: built from this module)")
	fs.StringVar(&o.redisURL, "redis", "", "Redis for the Redis scenarios, e.g. redis://127.0.0.1:6379/1 "+
		"(database 1 only: it is flushed)")
	fs.StringVar(&scenarios, "scenarios", "all", "comma-separated scenarios, or all: "+
		strings.Join(scenarioNames(), ", "))
	fs.IntVar(&o.connections, "connections", 64, "keep-alive connections per round")
	fs.DurationVar(&o.duration, "duration", 5*time.Second, "length of one round")
	fs.DurationVar(&o.warmup, "warmup", time.Second, "load before the first round of each server")
	fs.IntVar(&o.rounds, "rounds", 3, "rounds per server (jwt-up and ceiling alternate)")
	fs.IntVar(&o.missRounds, "miss-rounds", 0, "rounds for the miss-<alg> scenarios (default: --rounds)")
	fs.DurationVar(&o.fillTimeout, "fill-timeout", 20*time.Minute, "longest time to fill the cache "+
		"before a spread scenario")
	fs.StringVar(&o.logLevel, "log-level", "warn", "JWTUP_LOG_LEVEL of jwt-up under test")
	fs.StringVar(&o.outMD, "out-md", "docs/performance-results.md", "markdown report to write")
	fs.StringVar(&o.outPNG, "out-png", "docs/performance.png", "PNG chart to write")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments: %s", strings.Join(fs.Args(), " "))
	}

	if o.missRounds == 0 {
		o.missRounds = o.rounds
	}
	o.scenarios = splitScenarios(scenarios)
	return o, o.check()
}

// check reports every wrong flag together.
func (o options) check() error {
	var errs []error
	if o.connections < 1 {
		errs = append(errs, errors.New("--connections must be at least 1"))
	}
	if o.duration <= 0 || o.warmup < 0 || o.fillTimeout <= 0 {
		errs = append(errs, errors.New("--duration and --fill-timeout must be positive, --warmup not negative"))
	}
	if o.rounds < 1 || o.missRounds < 1 {
		errs = append(errs, errors.New("--rounds and --miss-rounds must be at least 1"))
	}
	if !slices.Contains([]string{"debug", "info", "warn", "error"}, o.logLevel) {
		errs = append(errs, fmt.Errorf("--log-level %q is not debug, info, warn or error", o.logLevel))
	}
	for _, name := range o.scenarios {
		if _, ok := findScenario(name); !ok {
			errs = append(errs, fmt.Errorf("unknown scenario %q", name))
		}
	}
	if o.redisURL != "" {
		if err := checkRedisURL(o.redisURL); err != nil {
			errs = append(errs, fmt.Errorf("--redis: %w", err))
		}
	}
	return errors.Join(errs...)
}

// splitScenarios turns the --scenarios value into names; "all" is every
// scenario in table order.
func splitScenarios(v string) []string {
	if strings.TrimSpace(v) == "all" {
		return scenarioNames()
	}
	var names []string
	for _, n := range strings.Split(v, ",") {
		if n = strings.TrimSpace(n); n != "" {
			names = append(names, n)
		}
	}
	return names
}

// run measures every selected scenario and writes the report.
func run(ctx context.Context, opts options) error {
	b, err := newBench(ctx, opts)
	if err != nil {
		return err
	}
	defer b.close()

	rep := b.runAll(ctx)
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("interrupted; no report written: %w", err)
	}

	md := renderMarkdown(rep)
	fmt.Print(md)
	if err := os.WriteFile(opts.outMD, []byte(md), 0o644); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	if err := writeChart(rep, opts.outPNG); err != nil {
		return fmt.Errorf("write chart: %w", err)
	}
	b.progress.Printf("wrote %s and %s", opts.outMD, opts.outPNG)
	return nil
}
