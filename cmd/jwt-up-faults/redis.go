package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// redisServer is a redis-server of the lab's own, without persistence, so
// that a restart brings it back empty, as after losing its memory.
type redisServer struct {
	lab  *lab
	dir  string
	port int
	proc *proc
}

// startRedis starts a Redis on a free port in its own directory.
func startRedis(ctx context.Context, l *lab) (*redisServer, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	r := &redisServer{lab: l, dir: l.path("redis"), port: port}
	if err := os.Mkdir(r.dir, 0o700); err != nil {
		return nil, fmt.Errorf("redis dir: %w", err)
	}
	return r, r.start(ctx)
}

// start runs redis-server on r's port and waits until it answers PING.
func (r *redisServer) start(ctx context.Context) error {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return fmt.Errorf("redis: %w", err)
	}
	cmd := exec.Command(bin, "--port", strconv.Itoa(r.port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", r.dir)
	cmd.Dir = r.dir
	r.proc, err = r.lab.procs.start("redis", cmd, r.lab.path("redis.log"))
	if err != nil {
		return err
	}
	return r.waitPing(ctx, 10*time.Second)
}

// kill ends Redis with SIGKILL: no shutdown, no goodbye to its clients.
func (r *redisServer) kill() error {
	if err := r.proc.signal(syscall.SIGKILL); err != nil {
		return fmt.Errorf("kill redis: %w", err)
	}
	if err := r.proc.wait(10 * time.Second); err == nil || !isSignalled(err) {
		return fmt.Errorf("kill redis: unexpected exit: %v", err)
	}
	return nil
}

// url is the address replicas use, on database db.
func (r *redisServer) url(db int) string {
	return fmt.Sprintf("redis://127.0.0.1:%d/%d", r.port, db)
}

// waitPing waits until Redis answers PING, at most limit.
func (r *redisServer) waitPing(ctx context.Context, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		err := r.ping()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) || !r.proc.running() {
			return fmt.Errorf("redis on port %d does not answer (see %s): %w",
				r.port, r.lab.path("redis.log"), err)
		}
		if !sleep(ctx, 20*time.Millisecond) {
			return ctx.Err()
		}
	}
}

// ping sends one inline PING and expects +PONG.
func (r *redisServer) ping() error {
	c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", r.port), time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(time.Second))
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if strings.TrimSpace(line) != "+PONG" {
		return fmt.Errorf("PING answered %q", strings.TrimSpace(line))
	}
	return nil
}

// isSignalled reports whether a process's exit error says a signal ended
// it.
func isSignalled(err error) bool {
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		return false
	}
	ws, ok := ee.Sys().(syscall.WaitStatus)
	return ok && ws.Signaled()
}
