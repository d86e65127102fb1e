// Command jwt-up-faults runs fault scenarios against real jwt-up processes
// and prints what each cost: requests sent, requests failed, tokens that
// did not verify, and the time to recover.
//
// It builds jwt-up, starts a Redis and a PostgreSQL of its own in a
// temporary directory, and for each scenario three replicas sharing them,
// all on 127.0.0.1. Load workers mint tokens round-robin on the replicas
// while one fault happens: Redis killed, PostgreSQL stopped, a replica
// killed, a rolling restart, a SIGTERM mid-load. Every token collected is
// verified offline against the JWKS afterwards. Every process it started
// is stopped when it ends, also on Ctrl-C.
//
//	go run ./cmd/jwt-up-faults [-workers 16] [-only 1,3] [-out docs/reliability-results.md]
//
// PostgreSQL comes from Debian's /usr/lib/postgresql/*/bin; run as root, it
// runs the server as the postgres user. When it cannot start, the program
// says why and, given -fallback-database-url (default
// $JWTUP_TEST_DATABASE_URL) on loopback, cuts a TCP relay to that server
// instead of stopping it.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"os/signal"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// config is the program's flags.
type config struct {
	workers        int
	think          time.Duration
	requestTimeout time.Duration
	maxRequests    int
	warmup         time.Duration
	outage         time.Duration
	settle         time.Duration
	recoverLimit   time.Duration
	timeout        time.Duration
	only           map[int]bool // nil: every scenario
	out            string
	keep           bool
	fallbackDB     string
}

func main() {
	cfg, err := parseFlags(os.Args[1:])
	if err != nil {
		fmt.Fprintln(os.Stderr, "jwt-up-faults:", err)
		os.Exit(2)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))

	// Signals stay caught until cleanup is over, so that a second Ctrl-C
	// cannot cut it short and leave servers running.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	ctx, cancel := context.WithTimeout(ctx, cfg.timeout)
	err = run(ctx, cfg, log)
	cancel()
	stop()
	if err != nil {
		log.Error("fault run failed", "err", err)
		os.Exit(1)
	}
}

// parseFlags reads the flags into a config.
func parseFlags(args []string) (config, error) {
	var cfg config
	fs := flag.NewFlagSet("jwt-up-faults", flag.ContinueOnError)
	fs.IntVar(&cfg.workers, "workers", 16, "concurrent load workers")
	fs.DurationVar(&cfg.think, "think", 2*time.Millisecond, "pause of each worker between requests")
	fs.DurationVar(&cfg.requestTimeout, "request-timeout", 5*time.Second, "limit of one request")
	fs.IntVar(&cfg.maxRequests, "max-requests", 500000, "most requests per scenario")
	fs.DurationVar(&cfg.warmup, "warmup", 2*time.Second, "load before the fault")
	fs.DurationVar(&cfg.outage, "outage", 5*time.Second,
		"how long Redis or PostgreSQL stays down; load time after a replica fault")
	fs.DurationVar(&cfg.settle, "settle", 2*time.Second, "load after recovery")
	fs.DurationVar(&cfg.recoverLimit, "recover-limit", 60*time.Second, "longest wait for recovery")
	fs.DurationVar(&cfg.timeout, "timeout", 20*time.Minute, "limit of the whole run")
	only := fs.String("only", "", "comma-separated scenario numbers to run (default: all)")
	fs.StringVar(&cfg.out, "out", "docs/reliability-results.md", "file to write the results to (empty: none)")
	fs.BoolVar(&cfg.keep, "keep", false, "keep the temporary directory with every log")
	fs.StringVar(&cfg.fallbackDB, "fallback-database-url", os.Getenv("JWTUP_TEST_DATABASE_URL"),
		"loopback PostgreSQL to cut through a relay when our own cannot start")
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}

	var err error
	if cfg.only, err = parseOnly(*only); err != nil {
		return cfg, err
	}
	if cfg.workers < 1 || cfg.maxRequests < 1 {
		return cfg, fmt.Errorf("-workers and -max-requests must be at least 1")
	}
	return cfg, nil
}

// parseOnly reads a list like "1,3" into a set; "" selects every scenario.
func parseOnly(v string) (map[int]bool, error) {
	if strings.TrimSpace(v) == "" {
		return nil, nil
	}
	set := map[int]bool{}
	for _, part := range strings.Split(v, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(part))
		if err != nil || n < 1 {
			return nil, fmt.Errorf("-only: %q is not a scenario number", part)
		}
		set[n] = true
	}
	return set, nil
}

// run sets up the lab, runs the selected scenarios and reports them. The
// lab is torn down however it ends.
func run(ctx context.Context, cfg config, log *slog.Logger) error {
	l, err := newLab(cfg, log)
	if err != nil {
		return err
	}
	defer l.close()
	if err := l.setUp(ctx); err != nil {
		return err
	}

	var results []result
	for i, sc := range l.scenarios() {
		if cfg.only != nil && !cfg.only[i+1] {
			continue
		}
		log.Info("scenario", "n", i+1, "name", sc.name)
		res := runScenario(ctx, l, i+1, sc)
		log.Info("scenario done", "n", i+1, "sent", res.sent, "failed", res.failed, "err", res.err)
		results = append(results, res)
		if ctx.Err() != nil {
			break
		}
	}
	return l.report(results, ctx.Err())
}

// setUp builds jwt-up and starts Redis and PostgreSQL.
func (l *lab) setUp(ctx context.Context) error {
	l.log.Info("building jwt-up", "dir", l.dir)
	if err := l.build(ctx); err != nil {
		return err
	}
	var err error
	if l.redis, err = startRedis(ctx, l); err != nil {
		return err
	}
	pg, err := startPostgres(ctx, l)
	if err == nil {
		l.db = pg
		return nil
	}

	l.log.Warn("PostgreSQL of our own could not start", "why", err)
	if l.cfg.fallbackDB == "" {
		return fmt.Errorf("%w: ours could not start (%v), and no -fallback-database-url names one to cut instead",
			errNoPostgres, err)
	}
	l.fallbackWhy = err
	p, err := newProxiedPostgres(l.cfg.fallbackDB)
	if err != nil {
		return err
	}
	l.db = p
	return nil
}

// report prints the table and notes, and writes them to the out file.
func (l *lab) report(results []result, stopped error) error {
	text := renderReport(l.describe(), results)
	fmt.Print(text)
	if stopped != nil {
		return fmt.Errorf("stopped early: %w", stopped)
	}
	if l.cfg.out == "" {
		return nil
	}
	if err := os.WriteFile(l.cfg.out, []byte(text), 0o644); err != nil {
		return fmt.Errorf("write results: %w", err)
	}
	l.log.Info("results written", "path", l.cfg.out)
	return nil
}

// describe says how the run was set up, for the head of the report.
func (l *lab) describe() string {
	c := l.cfg
	s := fmt.Sprintf("Run %s as `%s` on %s/%s, %d CPUs, %s: "+
		"three jwt-up replicas (ES256, key refresh 1s) on 127.0.0.1, %d load workers "+
		"(pause %s; of five requests three for 40 returning consumers, one for a consumer new "+
		"each quarter second, one for a consumer never seen before), warm-up %s, outage %s, settle %s.",
		time.Now().UTC().Format("2006-01-02 15:04 MST"), commandLine(), runtime.GOOS, runtime.GOARCH,
		runtime.NumCPU(), runtime.Version(), c.workers, c.think, c.warmup, c.outage, c.settle)
	if l.fallbackWhy != nil {
		s += fmt.Sprintf("\n\nPostgreSQL of our own could not start, so the PostgreSQL scenario cut a relay "+
			"to the server at -fallback-database-url instead. Why: %s", oneLine(l.fallbackWhy.Error()))
	}
	return s
}

// commandLine is how this run was started, as one would type it, with
// any password in a URL masked.
func commandLine() string {
	parts := []string{"jwt-up-faults"}
	for _, a := range os.Args[1:] {
		parts = append(parts, maskArg(a))
	}
	return strings.Join(parts, " ")
}

// maskArg hides the password of a URL argument and shows an empty one.
func maskArg(a string) string {
	if a == "" {
		return "''"
	}
	u, err := url.Parse(a)
	if err != nil || u.User == nil {
		return a
	}
	if _, ok := u.User.Password(); ok {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	return u.String()
}

// renderReport assembles the markdown report.
func renderReport(head string, results []result) string {
	var b strings.Builder
	b.WriteString("# jwt-up fault run\n\n")
	b.WriteString(head + "\n\n")
	b.WriteString(renderTable(results))
	if notes := renderNotes(results); notes != "" {
		b.WriteString("\nNotes:\n\n" + notes)
	}
	return b.String()
}
