package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"time"
)

// bench holds what every scenario needs.
type bench struct {
	opts     options
	jwtUp    string      // the jwt-up binary
	version  string      // of jwt-up, for the report
	self     string      // this binary, run again as a ceiling
	work     string      // temporary directory, removed by close
	key      string      // the gateway key of every jwt-up started
	redis    *redisProbe // nil without --redis
	progress *log.Logger // to stderr, while the report goes to stdout
}

// newBench makes the temporary directory, builds jwt-up unless --jwt-up
// names it, and connects to Redis when asked.
func newBench(ctx context.Context, opts options) (*bench, error) {
	b := &bench{opts: opts, progress: log.New(os.Stderr, "", log.Ltime)}
	var err error
	if b.self, err = os.Executable(); err != nil {
		return nil, err
	}
	if b.key, err = gatewayKey(); err != nil {
		return nil, err
	}
	if b.work, err = os.MkdirTemp("", "jwt-up-bench-"); err != nil {
		return nil, err
	}

	if err := b.findJWTUp(ctx); err != nil {
		b.close()
		return nil, err
	}
	if opts.redisURL != "" {
		if b.redis, err = openRedis(ctx, opts.redisURL); err != nil {
			b.close()
			return nil, err
		}
	}
	return b, nil
}

// findJWTUp takes the binary --jwt-up names, or builds one.
func (b *bench) findJWTUp(ctx context.Context) error {
	if b.opts.jwtUp != "" {
		b.jwtUp, b.version = b.opts.jwtUp, "binary "+b.opts.jwtUp
		return nil
	}
	b.progress.Print("building jwt-up")
	bin, err := buildJWTUp(ctx, b.work)
	b.jwtUp, b.version = bin, moduleVersion(ctx)
	return err
}

// close removes the temporary directory and drops the Redis connection.
func (b *bench) close() {
	if b.redis != nil {
		b.redis.close()
	}
	os.RemoveAll(b.work)
}

// gatewayKey makes a random gateway key for this run.
func gatewayKey() (string, error) {
	raw := make([]byte, 16)
	if _, err := rand.Read(raw); err != nil {
		return "", err
	}
	return hex.EncodeToString(raw), nil
}

// runAll runs the selected scenarios one after the other.
func (b *bench) runAll(ctx context.Context) report {
	rep := report{
		started: time.Now(),
		machine: readMachine(),
		opts:    b.opts,
		version: b.version,
	}
	for _, name := range b.opts.scenarios {
		if ctx.Err() != nil {
			break
		}
		sc, _ := findScenario(name) // checked with the flags
		b.progress.Printf("scenario %s: %s", sc.name, sc.about)
		res := b.runScenario(ctx, sc)
		if res.note != "" {
			b.progress.Printf("scenario %s: %s", sc.name, res.note)
		}
		rep.results = append(rep.results, res)
	}
	rep.took = time.Since(rep.started)
	rep.machine.loadEnd = loadAverage()
	return rep
}

// runScenario starts jwt-up and the ceilings for sc, fills the cache if
// sc asks, and measures the rounds. Every process it started is stopped
// when it returns.
func (b *bench) runScenario(ctx context.Context, sc scenario) scenarioResult {
	res := scenarioResult{scenario: sc}
	if sc.redis && b.redis == nil {
		res.note = "skipped: needs --redis"
		return res
	}

	run, stop, err := b.startServers(ctx, sc)
	defer stop()
	if err != nil {
		res.note = err.Error()
		return res
	}
	if err := b.measure(ctx, run, &res); err != nil {
		res.note = "failed: " + err.Error()
	}
	return res
}

// startServers empties Redis if sc uses it, starts jwt-up, takes a sample
// of its answers and starts the ceilings with it. stop ends whatever was
// started, even when err is not nil.
func (b *bench) startServers(ctx context.Context, sc scenario) (run *scenarioRun, stop func(), err error) {
	run = &scenarioRun{sc: sc}
	stop = func() {
		for _, p := range run.servers {
			p.stop()
		}
	}
	dir := filepath.Join(b.work, sc.name)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return run, stop, fmt.Errorf("failed: %w", err)
	}
	if sc.redis {
		if err := b.redis.flush(ctx); err != nil {
			return run, stop, fmt.Errorf("failed: %w", err)
		}
	}

	up, err := b.startJWTUp(ctx, sc, dir)
	if err != nil {
		return run, stop, fmt.Errorf("not run: jwt-up did not start with these settings: %w", err)
	}
	run.servers = append(run.servers, up)
	smp, err := fetchSample(ctx, up.addr, b.key)
	if err != nil {
		return run, stop, fmt.Errorf("failed: %w", err)
	}
	run.etag = smp.ETag

	ceilings, err := b.startCeilings(ctx, sc, dir, smp)
	run.servers = append(run.servers, ceilings...)
	if err != nil {
		return run, stop, fmt.Errorf("failed: %w", err)
	}
	return run, stop, nil
}

// startJWTUp starts jwt-up with the scenario's settings and waits until it
// is ready to sign.
func (b *bench) startJWTUp(ctx context.Context, sc scenario, dir string) (*proc, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	settings := b.jwtUpSettings(sc, addr, dir)
	p, err := startProc("jwt-up", addr, []string{b.jwtUp}, childEnv(settings),
		filepath.Join(dir, "jwt-up.log"))
	if err != nil {
		return nil, err
	}
	if err := p.waitReady(ctx, "/readyz", time.Minute); err != nil {
		p.stop()
		return nil, err
	}
	return p, nil
}

// jwtUpSettings are the JWTUP_ variables of sc's jwt-up.
func (b *bench) jwtUpSettings(sc scenario, addr, dir string) map[string]string {
	settings := map[string]string{
		"JWTUP_LISTEN":       addr,
		"JWTUP_DATA_DIR":     filepath.Join(dir, "data"),
		"JWTUP_GATEWAY_KEYS": b.key,
		"JWTUP_SIGNING_ALG":  sc.alg,
		"JWTUP_LOG_LEVEL":    b.opts.logLevel,
		"JWTUP_LOG_FORMAT":   "json",
		"JWTUP_TOKEN_TTL":    tokenTTL,
	}
	if sc.redis {
		settings["JWTUP_REDIS_URL"] = b.opts.redisURL
	}
	for k, v := range sc.env {
		settings[k] = v
	}
	return settings
}

// tokenTTL is long enough that no token filled before the rounds goes
// stale during them; the default 5m would start re-signing the first
// consumers of a million-consumer fill before its rounds are over.
const tokenTTL = "1h"

// startCeilings starts the ceiling of sc, and for a sign scenario the
// constant one too, with the sample of jwt-up's answers to copy.
func (b *bench) startCeilings(ctx context.Context, sc scenario, dir string, s sample) ([]*proc, error) {
	samplePath := filepath.Join(dir, "sample.json")
	data, _ := json.Marshal(s) // a struct of strings and bytes
	if err := os.WriteFile(samplePath, data, 0o600); err != nil {
		return nil, err
	}

	modes := []string{modeConstant}
	if sc.sign {
		modes = []string{modeSign, modeConstant}
	}
	var started []*proc
	for _, mode := range modes {
		p, err := b.startCeiling(ctx, mode, sc.alg, dir, samplePath)
		if err != nil {
			return started, err
		}
		started = append(started, p)
	}
	return started, nil
}

// startCeiling runs this binary as a ceiling of mode and waits for it.
func (b *bench) startCeiling(ctx context.Context, mode, alg, dir, samplePath string) (*proc, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	argv := []string{b.self, ceilingCommand, "--mode", mode, "--alg", alg,
		"--listen", addr, "--sample", samplePath}
	p, err := startProc(mode+" ceiling", addr, argv, childEnv(nil),
		filepath.Join(dir, mode+"-ceiling.log"))
	if err != nil {
		return nil, err
	}
	if err := p.waitReady(ctx, "/metrics", 30*time.Second); err != nil {
		p.stop()
		return nil, err
	}
	return p, nil
}
