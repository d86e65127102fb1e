package main

import (
	"encoding/base64"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jwt-up/jwt-up/store/storetest"
)

// proxy forwards TCP connections to a real server, and can be cut and
// restored on the same port: an outage of that server as its clients see
// it, without stopping a server other tests share.
type proxy struct {
	t      *testing.T
	target string
	addr   string

	mu    sync.Mutex
	ln    net.Listener
	conns map[net.Conn]bool
}

func newProxy(t *testing.T, target string) *proxy {
	t.Helper()
	p := &proxy{t: t, target: target, conns: map[net.Conn]bool{}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p.addr = ln.Addr().String()
	p.serve(ln)
	t.Cleanup(p.cut)
	return p
}

func (p *proxy) serve(ln net.Listener) {
	p.mu.Lock()
	p.ln = ln
	p.mu.Unlock()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go p.pipe(c)
		}
	}()
}

func (p *proxy) pipe(c net.Conn) {
	up, err := net.Dial("tcp", p.target)
	if err != nil {
		c.Close()
		return
	}
	if !p.track(c, up) {
		return
	}
	go func() { io.Copy(up, c); up.Close() }()
	io.Copy(c, up)
	c.Close()
}

// track registers a connection pair, refusing it once the proxy is cut.
func (p *proxy) track(c, up net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln == nil {
		c.Close()
		up.Close()
		return false
	}
	p.conns[c], p.conns[up] = true, true
	return true
}

// cut closes the listener and every open connection.
func (p *proxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for c := range p.conns {
		c.Close()
		delete(p.conns, c)
	}
}

// restore listens again on the same address.
func (p *proxy) restore() {
	ln, err := net.Listen("tcp", p.addr)
	if err != nil {
		p.t.Fatalf("restore proxy: %v", err)
	}
	p.serve(ln)
}

// viaProxy returns rawURL with its host replaced by the proxy's address,
// and the proxy.
func viaProxy(t *testing.T, rawURL string) (string, *proxy) {
	t.Helper()
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	p := newProxy(t, u.Host)
	u.Host = p.addr
	return u.String(), p
}

// load mints for a rotating set of consumers until stop is closed, counting
// requests and failures.
type load struct {
	sent, failed atomic.Int64
	stop         chan struct{}
	done         sync.WaitGroup
}

func startLoad(t *testing.T, r *replica) *load {
	l := &load{stop: make(chan struct{})}
	l.done.Add(1)
	go func() {
		defer l.done.Done()
		for i := 0; ; i++ {
			select {
			case <-l.stop:
				return
			default:
			}
			req, _ := http.NewRequest(http.MethodGet, r.srv.URL+"/v1/auth", nil)
			req.Header.Set("Authorization", "Bearer "+replicaGatewayKey)
			// Mostly cached consumers, and a new one now and then, so
			// that misses reach the shared cache too.
			consumer := "load-" + strconv.Itoa(i%20)
			if i%5 == 0 {
				consumer = uniqueConsumer("load")
			}
			req.Header.Set("X-Consumer-ID", consumer)
			res, err := r.srv.Client().Do(req)
			l.sent.Add(1)
			if err != nil || res.StatusCode != http.StatusOK {
				l.failed.Add(1)
			}
			if res != nil {
				res.Body.Close()
			}
			time.Sleep(2 * time.Millisecond)
		}
	}()
	return l
}

func (l *load) finish() (sent, failed int64) {
	close(l.stop)
	l.done.Wait()
	return l.sent.Load(), l.failed.Load()
}

// readiness returns /readyz's status and component states.
func readiness(t *testing.T, r *replica) (int, map[string]string) {
	t.Helper()
	res, err := r.srv.Client().Get(r.srv.URL + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var body struct {
		Components map[string]struct{ Status string } `json:"components"`
	}
	if err := json.NewDecoder(res.Body).Decode(&body); err != nil {
		t.Fatal(err)
	}
	states := map[string]string{}
	for name, c := range body.Components {
		states[name] = c.Status
	}
	return res.StatusCode, states
}

// startFaultReplica starts one replica whose PostgreSQL and Redis are
// reached through proxies.
func startFaultReplica(t *testing.T) (r *replica, pg, rd *proxy) {
	t.Helper()
	schema := storetest.NewSchema(t)
	dbURL, pg := viaProxy(t, schema.URL)
	redisURL, rd := viaProxy(t, storetest.RedisURL(t))
	env := map[string]string{
		"JWTUP_DATABASE_URL": dbURL,
		"JWTUP_REDIS_URL":    redisURL,
		"JWTUP_GATEWAY_KEYS": replicaGatewayKey,
		"JWTUP_KEK":          base64.StdEncoding.EncodeToString(make([]byte, 32)),
		"JWTUP_SIGNING_ALG":  "ES256",
		"JWTUP_KEY_REFRESH":  "100ms",
		"JWTUP_DATA_DIR":     t.TempDir(),
	}
	r = startReplica(t, env)
	if r == nil {
		t.FailNow()
	}
	return r, pg, rd
}

func TestRedisOutageDuringMinting(t *testing.T) {
	r, _, rd := startFaultReplica(t)
	l := startLoad(t, r)

	time.Sleep(100 * time.Millisecond)
	rd.cut()
	eventually(t, "readiness reports the cache degraded", func() bool {
		status, states := readiness(t, r)
		return status == http.StatusOK && states["cache"] == "degraded"
	})
	time.Sleep(300 * time.Millisecond) // mint on through the outage
	rd.restore()
	eventually(t, "the cache recovers without a restart", func() bool {
		_, states := readiness(t, r)
		return states["cache"] == "ok"
	})

	sent, failed := l.finish()
	t.Logf("Redis outage: %d requests, %d failed, %d calls to Redis failed", sent, failed, r.app.tiered.Failures())
	if failed != 0 || sent == 0 {
		t.Errorf("%d of %d mints failed during the Redis outage, want none", failed, sent)
	}
	if r.app.tiered.Failures() == 0 {
		t.Error("no Redis failure was counted")
	}
}

func TestPostgresOutageKeepsSigning(t *testing.T) {
	r, pg, _ := startFaultReplica(t)
	kid := r.app.keys.ActiveKID()
	l := startLoad(t, r)

	pg.cut()
	eventually(t, "readiness says the key store is down", func() bool {
		status, states := readiness(t, r)
		return status == http.StatusServiceUnavailable && states["key_store"] == "down"
	})
	if _, gotKID := r.mint(t, "during-outage"); gotKID != kid {
		t.Errorf("signed with %s during the outage, want the held key %s", gotKID, kid)
	}
	_, err := r.app.keys.Rotate(t.Context(), true)
	if err == nil {
		t.Error("rotation succeeded without a key store")
	}

	pg.restore()
	eventually(t, "readiness recovers", func() bool {
		status, _ := readiness(t, r)
		return status == http.StatusOK
	})
	sent, failed := l.finish()
	t.Logf("PostgreSQL outage: %d requests, %d failed", sent, failed)
	if failed != 0 || sent == 0 {
		t.Errorf("%d of %d mints failed during the PostgreSQL outage, want none", failed, sent)
	}
}
