package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"syscall"
	"time"
)

// allReady is what the scenarios that end with a dependency coming back
// measure: every replica ready, its cache in order.
const allReady = "to all /readyz 200 with cache ok"

// scenarios lists the faults, in the order they run and are numbered.
func (l *lab) scenarios() []scenario {
	return []scenario{
		{name: "Redis killed (SIGKILL) and restarted", fault: redisOutage},
		{name: "PostgreSQL stopped (" + l.db.how() + ") and started", fault: postgresOutage},
		{name: "one of three replicas killed (SIGKILL)", fault: replicaKill},
		{name: "rolling restart (SIGTERM, wait, start, /readyz)", fault: rollingRestart},
		{name: "SIGTERM to one replica mid-load", fault: sigtermMidLoad},
	}
}

// redisOutage kills Redis, keeps it down for the outage, starts it again
// empty on the same port, and measures until every replica has its cache
// back.
func redisOutage(ctx context.Context, s *stage) (outcome, error) {
	cfg := s.lab.cfg
	if err := s.lab.redis.kill(); err != nil {
		return outcome{}, err
	}
	if !sleep(ctx, cfg.outage) {
		return outcome{}, ctx.Err()
	}
	s.note("/readyz after %s without Redis: %s", cfg.outage, s.cluster.states(ctx))
	s.note("a purge of %s's tokens on replica 0 during the outage %s", purged,
		s.cluster.admin(ctx, 0, http.MethodDelete, "/v1/consumers/"+purged+"/tokens"))

	if err := s.lab.redis.start(ctx); err != nil {
		return outcome{}, err
	}
	o, err := s.untilReady(ctx)
	o.after = func(_ []record, tokens map[string]string) {
		s.note("%s, the consumer purged, was handed %d distinct tokens",
			purged, tokensOf(tokens, purged))
	}
	return o, err
}

// purged is the consumer whose tokens the Redis scenario purges.
const purged = "repeat-0"

// tokensOf counts the distinct tokens handed to consumer.
func tokensOf(tokens map[string]string, consumer string) int {
	n := 0
	for _, c := range tokens {
		if c == consumer {
			n++
		}
	}
	return n
}

// postgresOutage stops the key database, keeps it down for the outage,
// starts it again, and measures until every replica is ready.
func postgresOutage(ctx context.Context, s *stage) (outcome, error) {
	cfg := s.lab.cfg
	if err := s.lab.db.stop(ctx); err != nil {
		return outcome{}, err
	}
	if !sleep(ctx, cfg.outage) {
		return outcome{}, ctx.Err()
	}
	s.note("/readyz after %s without PostgreSQL: %s", cfg.outage, s.cluster.states(ctx))
	s.note("a key rotation asked for during the outage %s",
		s.cluster.admin(ctx, 0, http.MethodPost, "/v1/keys/rotate"))

	if err := s.lab.db.start(ctx); err != nil {
		return outcome{}, err
	}
	return s.untilReady(ctx)
}

// untilReady measures from now until every replica is ready with its
// cache ok, at most the recovery limit.
func (s *stage) untilReady(ctx context.Context) (outcome, error) {
	took, err := s.cluster.waitReady(ctx, s.cluster.all(), s.lab.cfg.recoverLimit)
	if ctx.Err() != nil {
		return outcome{}, ctx.Err()
	}
	if err != nil {
		s.note("%v", err)
	}
	return outcome{recovery: recovery{took: took, what: allReady, ok: err == nil}}, nil
}

// replicaKill kills one replica outright. Its in-flight requests fail;
// the load driver takes it out of rotation at its first transport error.
func replicaKill(ctx context.Context, s *stage) (outcome, error) {
	const victim = 1
	r := s.cluster.replicas[victim]
	at := time.Now()
	if err := r.proc.signal(syscall.SIGKILL); err != nil {
		return outcome{}, err
	}
	if err := r.proc.wait(10 * time.Second); !isSignalled(err) {
		return outcome{}, fmt.Errorf("kill replica %d: unexpected exit: %v", victim, err)
	}
	if !sleep(ctx, s.lab.cfg.outage) {
		return outcome{}, ctx.Err()
	}
	return outcome{since: at, after: s.inFlightNote(victim, at, "the kill")}, nil
}

// rollingRestart stops each replica in turn with SIGTERM, waits for it to
// exit, starts it again and waits for it to be ready and back in
// rotation before the next.
func rollingRestart(ctx context.Context, s *stage) (outcome, error) {
	var longest time.Duration
	for i := range s.cluster.replicas {
		took, err := s.restart(ctx, i)
		if err != nil {
			return outcome{recovery: recovery{took: took, what: "to /readyz ok after a restart"}}, err
		}
		longest = max(longest, took)
	}
	return outcome{recovery: recovery{took: longest, what: "longest restart to /readyz ok", ok: true}}, nil
}

// restart is one step of the rolling restart. It returns how long the new
// process took to be ready.
func (s *stage) restart(ctx context.Context, i int) (time.Duration, error) {
	r := s.cluster.replicas[i]
	stopAt := time.Now()
	if err := r.proc.signal(syscall.SIGTERM); err != nil {
		return 0, err
	}
	exit := r.proc.wait(30 * time.Second)
	if errors.Is(exit, errStillRunning) {
		return 0, exit
	}
	exited := time.Since(stopAt)

	if err := s.cluster.start(i); err != nil {
		return 0, err
	}
	took, err := s.cluster.waitReady(ctx, []int{i}, s.lab.cfg.recoverLimit)
	if err != nil {
		return took, err
	}
	s.note("replica %d: exited (%s) %s after SIGTERM; restarted, ready in %s",
		i, exitStatus(exit), round(exited), round(took))
	s.waitInRotation(ctx, i)
	return took, nil
}

// waitInRotation waits, briefly, until the load driver sends to replica i
// again, as a load balancer would have it back before the next step.
func (s *stage) waitInRotation(ctx context.Context, i int) {
	for range 50 {
		if !slices.Contains(s.load.pool.out(), i) || !sleep(ctx, 20*time.Millisecond) {
			return
		}
	}
}

// sigtermMidLoad sends SIGTERM to one replica under load and leaves it
// down. Requests in flight should complete; new connections are refused
// once its listener closes.
func sigtermMidLoad(ctx context.Context, s *stage) (outcome, error) {
	const victim = 2
	r := s.cluster.replicas[victim]
	at := time.Now()
	if err := r.proc.signal(syscall.SIGTERM); err != nil {
		return outcome{}, err
	}
	exit := r.proc.wait(30 * time.Second)
	if errors.Is(exit, errStillRunning) {
		return outcome{}, exit
	}
	s.note("replica %d exited (%s) %s after SIGTERM", victim, exitStatus(exit), round(time.Since(at)))
	if !sleep(ctx, s.lab.cfg.outage) {
		return outcome{}, ctx.Err()
	}
	return outcome{since: at, after: s.inFlightNote(victim, at, "SIGTERM")}, nil
}

// inFlightNote returns a function that notes how the requests in flight
// to victim at the fault ended.
func (s *stage) inFlightNote(victim int, at time.Time, what string) func([]record, map[string]string) {
	return func(recs []record, _ map[string]string) {
		open, ok := inFlight(recs, victim, at)
		s.note("requests in flight to replica %d at %s: %d, of which %d got a token",
			victim, what, open, ok)
	}
}

// exitStatus describes a process's exit error in a few words.
func exitStatus(err error) string {
	if err == nil {
		return "status 0"
	}
	return err.Error()
}
