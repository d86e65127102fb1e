package main

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"time"
)

// scenarioLimit bounds one scenario, start to finish, whatever hangs.
const scenarioLimit = 5 * time.Minute

// scenario is one fault, run under load on a fresh cluster.
type scenario struct {
	name  string
	fault func(ctx context.Context, s *stage) (outcome, error)
}

// outcome is what a fault leaves for the accounting done after the load
// stops.
type outcome struct {
	recovery recovery

	// since, when set, measures recovery from the records instead: from
	// since to the end of the last failed request.
	since time.Time

	// after, when set, adds notes from the records and the tokens.
	after func(recs []record, tokens map[string]string)
}

// stage is one scenario's cluster, its load and the notes taken.
type stage struct {
	lab     *lab
	cluster *cluster
	load    *load
	notes   []string
}

// note adds a line under the table for this scenario.
func (s *stage) note(format string, args ...any) {
	s.notes = append(s.notes, fmt.Sprintf(format, args...))
}

// newStage gives scenario n a database of its own, a Redis database of its
// own, and three fresh replicas, all ready.
func newStage(ctx context.Context, l *lab, n int) (*stage, error) {
	name := fmt.Sprintf("jwtup_faults_%d_s%d", os.Getpid(), n)
	dbURL, err := l.db.create(ctx, name)
	if err != nil {
		return nil, err
	}
	c, err := newCluster(l, "s"+strconv.Itoa(n), 3, dbURL, l.redis.url(n))
	if err != nil {
		return nil, err
	}
	if err := c.startAll(ctx); err != nil {
		c.stopAll()
		return nil, err
	}
	return &stage{lab: l, cluster: c}, nil
}

// runScenario runs sc as scenario n: fresh cluster, load, warm-up, fault,
// settle, then counting and verification.
func runScenario(ctx context.Context, l *lab, n int, sc scenario) result {
	ctx, cancel := context.WithTimeout(ctx, scenarioLimit)
	defer cancel()
	res := result{name: sc.name}

	s, err := newStage(ctx, l, n)
	if err != nil {
		res.err = err
		return res
	}
	defer s.cluster.stopAll()

	s.load = startLoad(ctx, s.cluster, l.cfg, strconv.Itoa(n))
	var o outcome
	if sleep(ctx, l.cfg.warmup) {
		o, err = sc.fault(ctx, s)
	} else {
		err = ctx.Err()
	}
	if err == nil {
		sleep(ctx, l.cfg.settle)
	}
	recs, tokens := s.load.finish()

	s.account(&res, o, recs)
	if o.after != nil {
		o.after(recs, tokens)
	}
	res.tokens = len(tokens)
	res.notVerified, res.err = s.verify(ctx, tokens)
	if err != nil {
		res.err = err
	}
	res.notes = s.notes
	return res
}

// account fills res from the records and the fault's outcome.
func (s *stage) account(res *result, o outcome, recs []record) {
	t := count(recs)
	res.sent, res.failed = t.sent, t.failed
	res.recovery = o.recovery
	if !o.since.IsZero() {
		res.recovery = recovery{took: t.failingFor(o.since), what: "to the last failure", ok: true}
		if res.recovery.took == 0 {
			res.recovery.what = "no request failed after the fault"
		}
	}
	if t.failed > 0 {
		s.note("failures: %s; a client retrying once on another replica would have seen %d",
			t.breakdown(), t.afterRetry)
	}
}

// verify checks every token collected against the JWKS a replica serves
// now, and notes how the tokens were shared out. It returns how many did
// not verify, or -1 when none could be checked.
func (s *stage) verify(ctx context.Context, tokens map[string]string) (int, error) {
	set, err := fetchJWKS(ctx, s.cluster)
	if err != nil {
		return -1, err
	}
	v := verifier{keys: set, issuer: issuer, audience: issuer, now: time.Now()}
	bad, first := v.unverified(tokens)
	if bad > 0 {
		s.note("%d tokens did not verify, e.g.: %v", bad, first)
	}
	s.note("%d distinct tokens checked; consumers handed more than one: %s",
		len(tokens), multiTokenNote(multiToken(tokens)))
	return bad, nil
}
