package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// lab is what every scenario shares: a temporary directory, the processes
// started in it, the jwt-up binary, and one Redis and one PostgreSQL of
// its own.
type lab struct {
	cfg    config
	log    *slog.Logger
	dir    string
	procs  supervisor
	binary string
	redis  *redisServer
	db     keyDB

	// fallbackWhy is why PostgreSQL of our own could not start, when the
	// fallback relay stands in for it.
	fallbackWhy error
}

// newLab makes the temporary directory. The directory is left traversable
// by others (0711) because PostgreSQL runs as its own user below it.
func newLab(cfg config, log *slog.Logger) (*lab, error) {
	dir, err := os.MkdirTemp("", "jwt-up-faults-")
	if err != nil {
		return nil, fmt.Errorf("temp dir: %w", err)
	}
	if err := os.Chmod(dir, 0o711); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("temp dir: %w", err)
	}
	return &lab{cfg: cfg, log: log, dir: dir}, nil
}

// close stops everything the lab started and, unless asked to keep it,
// removes its directory.
func (l *lab) close() {
	l.procs.stopAll()
	if l.db != nil {
		l.db.close()
	}
	if l.cfg.keep {
		l.log.Info("kept the lab directory", "dir", l.dir)
		return
	}
	if err := os.RemoveAll(l.dir); err != nil {
		l.log.Warn("remove the lab directory", "dir", l.dir, "err", err)
	}
}

// path names a file in the lab directory.
func (l *lab) path(name string) string {
	return filepath.Join(l.dir, name)
}

// build compiles jwt-up once, from the module this program runs in.
func (l *lab) build(ctx context.Context) error {
	root, err := moduleRoot(ctx)
	if err != nil {
		return err
	}
	l.binary = l.path("jwt-up")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", l.binary, "./cmd/jwt-up")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build ./cmd/jwt-up: %w\n%s", err, out)
	}
	return nil
}

// moduleRoot is the directory of the go.mod that `go env GOMOD` names.
func moduleRoot(ctx context.Context) (string, error) {
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", fmt.Errorf("not inside a Go module: run this from the jwt-up repository")
	}
	return filepath.Dir(gomod), nil
}

// freePort returns a TCP port on 127.0.0.1 that nothing listened on a
// moment ago.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// sleep waits for d or until ctx ends, and reports whether the whole time
// passed.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
