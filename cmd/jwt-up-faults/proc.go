package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"
)

// proc is a child process the program started and must stop.
type proc struct {
	name string
	cmd  *exec.Cmd
	done chan struct{} // closed when the process has exited
	err  error         // its exit error, valid once done is closed
}

// supervisor starts child processes and stops every one still running at
// the end, whatever ended the program.
type supervisor struct {
	mu    sync.Mutex
	procs []*proc
}

// start runs cmd with its output appended to logPath. The child gets its
// own process group, so a Ctrl-C on the terminal reaches only this
// program, which then stops its children in order; and it is killed by
// the kernel if this program dies without cleaning up.
func (s *supervisor) start(name string, cmd *exec.Cmd, logPath string) (*proc, error) {
	out, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		out.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}

	p := &proc{name: name, cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		out.Close()
		close(p.done)
	}()
	s.mu.Lock()
	s.procs = append(s.procs, p)
	s.mu.Unlock()
	return p, nil
}

// running reports whether the process has not exited yet.
func (p *proc) running() bool {
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// signal sends sig to the process.
func (p *proc) signal(sig syscall.Signal) error {
	if !p.running() {
		return fmt.Errorf("%s: already exited", p.name)
	}
	return p.cmd.Process.Signal(sig)
}

// kill sends SIGKILL to the process's group and waits for it to exit.
func (p *proc) kill() error {
	if p.running() {
		// The group, not the process: a child of a child must not outlive
		// its parent holding a port.
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
	}
	return p.wait(10 * time.Second)
}

// errStillRunning is returned by wait when the process outlived the limit.
var errStillRunning = errors.New("still running")

// wait waits at most limit for the process to exit and returns its exit
// error (nil for status 0).
func (p *proc) wait(limit time.Duration) error {
	select {
	case <-p.done:
		return p.err
	case <-time.After(limit):
		return fmt.Errorf("%s: %w after %s", p.name, errStillRunning, limit)
	}
}

// stopAll kills every process still running. It is safe to call more than
// once.
func (s *supervisor) stopAll() {
	s.mu.Lock()
	procs := s.procs
	s.procs = nil
	s.mu.Unlock()
	for _, p := range procs {
		_ = p.kill()
	}
}
