package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

// proxiedPostgres is the fallback key database: an outside PostgreSQL on
// this machine, reached through a TCP relay that stop cuts and start
// restores. The server itself is shared, so it is never stopped; each
// scenario's database is dropped at the end.
type proxiedPostgres struct {
	admin   string // the outside server's URL, as given
	relay   *relay
	created []string
}

// newProxiedPostgres relays to the server that admin names, which must be
// on the loopback interface.
func newProxiedPostgres(admin string) (*proxiedPostgres, error) {
	u, err := url.Parse(admin)
	if err != nil {
		return nil, fmt.Errorf("fallback database URL: %w", err)
	}
	if ip := net.ParseIP(u.Hostname()); u.Hostname() != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return nil, fmt.Errorf("fallback database URL: %s is not on the loopback interface", u.Hostname())
	}
	port := u.Port()
	if port == "" {
		port = "5432"
	}
	r, err := newRelay(net.JoinHostPort(u.Hostname(), port))
	if err != nil {
		return nil, err
	}
	return &proxiedPostgres{admin: admin, relay: r}, nil
}

// create makes database name on the outside server and returns its URL
// through the relay.
func (p *proxiedPostgres) create(ctx context.Context, name string) (string, error) {
	if err := createDatabase(ctx, p.admin, name); err != nil {
		return "", err
	}
	p.created = append(p.created, name)
	return withDatabase(p.admin, p.relay.addr, name)
}

// stop cuts the relay: the server stays up for its other clients.
func (p *proxiedPostgres) stop(context.Context) error { p.relay.cut(); return nil }

// start restores the relay on the same port.
func (p *proxiedPostgres) start(context.Context) error { return p.relay.restore() }

// how says how stop takes the server away.
func (p *proxiedPostgres) how() string { return "proxy cut, as fallback" }

// close cuts the relay for good and drops the databases it made.
func (p *proxiedPostgres) close() {
	p.relay.cut()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, p.admin)
	if err != nil {
		return
	}
	defer conn.Close(context.Background())
	for _, name := range p.created {
		_, _ = conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)")
	}
}

// relay copies TCP connections from a port on 127.0.0.1 to a target. Cut,
// it closes its listener and every open connection, as the target's
// clients see a server that went away; restored, it listens on the same
// port again.
type relay struct {
	target string
	addr   string

	mu    sync.Mutex
	ln    net.Listener // nil while cut
	conns map[net.Conn]struct{}
}

// newRelay starts relaying from a free port on 127.0.0.1 to target.
func newRelay(target string) (*relay, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("relay: %w", err)
	}
	r := &relay{target: target, addr: ln.Addr().String(), conns: map[net.Conn]struct{}{}}
	r.accept(ln)
	return r, nil
}

// accept serves ln until it is closed.
func (r *relay) accept(ln net.Listener) {
	r.mu.Lock()
	r.ln = ln
	r.mu.Unlock()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go r.join(c)
		}
	}()
}

// join dials the target for client c and copies both ways until either
// side closes.
func (r *relay) join(c net.Conn) {
	up, err := net.DialTimeout("tcp", r.target, 5*time.Second)
	if err != nil {
		c.Close()
		return
	}
	if !r.hold(c, up) {
		return
	}
	defer r.release(c, up)
	go func() {
		_, _ = io.Copy(up, c)
		up.Close()
	}()
	_, _ = io.Copy(c, up)
	c.Close()
}

// hold registers a pair of connections so that cut can close them; while
// cut, it closes them instead.
func (r *relay) hold(conns ...net.Conn) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, c := range conns {
		if r.ln == nil {
			c.Close()
			continue
		}
		r.conns[c] = struct{}{}
	}
	return r.ln != nil
}

// release closes and forgets a pair of connections.
func (r *relay) release(conns ...net.Conn) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, c := range conns {
		c.Close()
		delete(r.conns, c)
	}
}

// cut stops listening and closes every connection.
func (r *relay) cut() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.ln != nil {
		r.ln.Close()
		r.ln = nil
	}
	for c := range r.conns {
		c.Close()
	}
	clear(r.conns)
}

// restore listens on the relay's port again.
func (r *relay) restore() error {
	ln, err := net.Listen("tcp", r.addr)
	if err != nil {
		return fmt.Errorf("restore relay: %w", err)
	}
	r.accept(ln)
	return nil
}

// errNoPostgres explains, with why, that no key database could be had.
var errNoPostgres = errors.New("no PostgreSQL to run the scenarios on")
