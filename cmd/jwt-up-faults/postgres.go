package main

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

// keyDB is the PostgreSQL the replicas keep their keys in, as a scenario
// needs it: a fresh database per scenario, and a way to take the server
// away and bring it back. It exists because there are two: a server of the
// lab's own, stopped and started for real, and, when that cannot run, an
// outside server behind a proxy that is cut.
type keyDB interface {
	// create makes an empty database and returns the URL replicas use.
	create(ctx context.Context, name string) (string, error)
	// stop makes the server unreachable; start brings it back.
	stop(ctx context.Context) error
	start(ctx context.Context) error
	// how says in a few words how stop works, for the table.
	how() string
	// close stops the server, or drops the databases on an outside one.
	close()
}

// ownPostgres is a PostgreSQL cluster made with initdb in the lab
// directory and run with pg_ctl, as the postgres user when this program
// runs as root (PostgreSQL refuses to run as root).
type ownPostgres struct {
	lab      *lab
	bin      string // directory of initdb and pg_ctl
	dir      string // owned by the server's user; holds data/ and the socket
	port     int
	asUser   string // "" to run as ourselves
	uid, gid int
}

// compile-time checks that both kinds of key database fit.
var (
	_ keyDB = (*ownPostgres)(nil)
	_ keyDB = (*proxiedPostgres)(nil)
)

// startPostgres makes and starts the lab's own PostgreSQL.
func startPostgres(ctx context.Context, l *lab) (*ownPostgres, error) {
	bin, err := postgresBin()
	if err != nil {
		return nil, err
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	pg := &ownPostgres{lab: l, bin: bin, dir: l.path("pg"), port: port}
	if err := pg.prepare(); err != nil {
		return nil, err
	}

	if err := pg.run(ctx, "initdb", "-D", pg.data(), "-U", "postgres",
		"--auth=trust", "--no-sync", "-E", "UTF8"); err != nil {
		return nil, err
	}
	if err := pg.start(ctx); err != nil {
		pg.close() // in case it came up after pg_ctl gave up waiting
		return nil, err
	}
	return pg, nil
}

// postgresBin finds the newest Debian PostgreSQL binary directory.
func postgresBin() (string, error) {
	found, _ := filepath.Glob("/usr/lib/postgresql/*/bin/pg_ctl")
	if len(found) == 0 {
		return "", errors.New("no /usr/lib/postgresql/*/bin/pg_ctl: install the postgresql package")
	}
	slices.SortFunc(found, func(a, b string) int { return version(a) - version(b) })
	return filepath.Dir(found[len(found)-1]), nil
}

// version reads the major version out of /usr/lib/postgresql/<v>/bin/….
func version(path string) int {
	v, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(path))))
	return v
}

// prepare makes the server's directory, owned by the postgres user when
// this program runs as root.
func (pg *ownPostgres) prepare() error {
	if err := os.Mkdir(pg.dir, 0o700); err != nil {
		return fmt.Errorf("postgres dir: %w", err)
	}
	if os.Geteuid() != 0 {
		return nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return fmt.Errorf("PostgreSQL refuses to run as root and there is no postgres user to run it as: %w", err)
	}
	pg.asUser = u.Username
	pg.uid, _ = strconv.Atoi(u.Uid)
	pg.gid, _ = strconv.Atoi(u.Gid)
	if err := os.Chown(pg.dir, pg.uid, pg.gid); err != nil {
		return fmt.Errorf("postgres dir: %w", err)
	}
	return nil
}

// data is the server's data directory.
func (pg *ownPostgres) data() string { return filepath.Join(pg.dir, "data") }

// run runs one PostgreSQL program to its end, as the server's user.
func (pg *ownPostgres) run(ctx context.Context, program string, args ...string) error {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	path := filepath.Join(pg.bin, program)
	cmd := exec.CommandContext(ctx, path, args...)
	if pg.asUser != "" {
		cmd = exec.CommandContext(ctx, "runuser", append([]string{"-u", pg.asUser, "--", path}, args...)...)
	}
	cmd.Dir = pg.dir // the server's user may not be able to read ours
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("%s: %w\n%s", program, err, strings.TrimSpace(string(out)))
	}
	return nil
}

// start starts the server on its port, listening on 127.0.0.1 and a
// socket in its own directory only, and waits until it accepts
// connections.
func (pg *ownPostgres) start(ctx context.Context) error {
	opts := fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1", pg.port, pg.dir)
	return pg.run(ctx, "pg_ctl", "-D", pg.data(), "-l", filepath.Join(pg.dir, "server.log"),
		"-o", opts, "-w", "-t", "30", "start")
}

// stop shuts the server down in fast mode: open sessions are ended at once.
func (pg *ownPostgres) stop(ctx context.Context) error {
	return pg.run(ctx, "pg_ctl", "-D", pg.data(), "-m", "fast", "-w", "-t", "30", "stop")
}

// how says how stop takes the server away.
func (pg *ownPostgres) how() string { return "pg_ctl stop -m fast" }

// create makes database name.
func (pg *ownPostgres) create(ctx context.Context, name string) (string, error) {
	admin := fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", pg.port)
	if err := createDatabase(ctx, admin, name); err != nil {
		return "", err
	}
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", pg.port, name), nil
}

// close stops the server at once. If pg_ctl cannot, the postmaster's
// process is killed: a server left running would hold its port and
// directory after the program ends.
func (pg *ownPostgres) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := pg.run(ctx, "pg_ctl", "-D", pg.data(), "-m", "immediate", "-w", "stop"); err == nil {
		return
	}
	if pid := pg.postmasterPID(); pid > 0 {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
}

// postmasterPID reads the server's process id from its pid file; 0 when
// there is none.
func (pg *ownPostgres) postmasterPID() int {
	b, err := os.ReadFile(filepath.Join(pg.data(), "postmaster.pid"))
	if err != nil {
		return 0
	}
	first, _, _ := strings.Cut(string(b), "\n")
	pid, _ := strconv.Atoi(strings.TrimSpace(first))
	return pid
}

// createDatabase connects to admin and creates database name.
func createDatabase(ctx context.Context, admin, name string) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		return fmt.Errorf("create database %s: %w", name, err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		return fmt.Errorf("create database %s: %w", name, err)
	}
	return nil
}

// withDatabase returns rawURL naming database name and host instead.
func withDatabase(rawURL, host, name string) (string, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return "", fmt.Errorf("database URL: %w", err)
	}
	u.Host = host
	u.Path = "/" + name
	return u.String(), nil
}
