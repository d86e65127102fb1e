package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"
)

// proc is a server process the bench started, listening on 127.0.0.1.
type proc struct {
	name    string
	addr    string
	cmd     *exec.Cmd
	logPath string
	exited  chan struct{} // closed once the process is gone
}

// startProc starts argv with env, its output going to logPath.
func startProc(name, addr string, argv, env []string, logPath string) (*proc, error) {
	out, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = childAttr()
	if err := cmd.Start(); err != nil {
		out.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}

	p := &proc{name: name, addr: addr, cmd: cmd, logPath: logPath, exited: make(chan struct{})}
	go func() {
		_ = cmd.Wait() // how it ended shows in its log
		out.Close()
		close(p.exited)
	}()
	return p, nil
}

// waitReady polls path until it answers 200. It fails at once if the
// process exits, with the end of its log, and after timeout otherwise.
func (p *proc) waitReady(ctx context.Context, path string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		if p.answers(ctx, path) {
			return nil
		}
		select {
		case <-p.exited:
			return fmt.Errorf("%s exited: %s", p.name, p.logTail())
		case <-ctx.Done():
			return fmt.Errorf("%s not ready after %s: %s", p.name, timeout, p.logTail())
		case <-tick.C:
		}
	}
}

// answers reports whether GET path answers 200.
func (p *proc) answers(ctx context.Context, path string) bool {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+p.addr+path, nil)
	if err != nil {
		return false
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// stop asks the process to end, and kills it if it has not within a few
// seconds. It returns once the process is gone.
func (p *proc) stop() {
	select {
	case <-p.exited:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(5 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.exited
	}
}

// logTail returns the last lines of the process's output, on one line.
func (p *proc) logTail() string {
	data, _ := os.ReadFile(p.logPath)
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	if len(lines) > 3 {
		lines = lines[len(lines)-3:]
	}
	if tail := strings.Join(lines, " | "); tail != "" {
		return tail
	}
	return "no output"
}

// freeAddr returns a 127.0.0.1 address with a port free at the time of the
// call.
func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// buildJWTUp builds ./cmd/jwt-up of the module the go command finds from
// the working directory, into dir.
func buildJWTUp(ctx context.Context, dir string) (string, error) {
	gomod, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	root := filepath.Dir(strings.TrimSpace(string(gomod)))
	if root == "." || root == filepath.Dir(os.DevNull) {
		return "", errors.New("not inside the jwt-up module: run from its root, or name a binary with --jwt-up")
	}

	bin := filepath.Join(dir, "jwt-up")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/jwt-up")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build jwt-up: %w\n%s", err, out)
	}
	return bin, nil
}

// moduleVersion describes the commit checked out in the working directory,
// and whether its tracked files have changes, for the report; empty when
// git cannot tell.
func moduleVersion(ctx context.Context) string {
	out, err := exec.CommandContext(ctx, "git", "rev-parse", "--short", "HEAD").Output()
	if err != nil {
		return ""
	}
	version := strings.TrimSpace(string(out))
	status, err := exec.CommandContext(ctx, "git", "status", "--porcelain", "--untracked-files=no").Output()
	if err == nil && len(bytes.TrimSpace(status)) > 0 {
		version += " with uncommitted changes"
	}
	return version
}

// childEnv is this process's environment without any JWTUP_ variable, so
// that a setting of the caller's shell cannot leak into a measurement,
// plus settings.
func childEnv(settings map[string]string) []string {
	env := slices.DeleteFunc(os.Environ(), func(kv string) bool {
		return strings.HasPrefix(kv, "JWTUP_")
	})
	for _, k := range sortedKeys(settings) {
		env = append(env, k+"="+settings[k])
	}
	return env
}
