package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// issuer is the iss of every token. It is only a claim: nothing ever
// connects to it (.invalid names never resolve).
const issuer = "http://jwt-up.invalid"

// replica is one jwt-up process. Its address and data directory stay the
// same across restarts.
type replica struct {
	index   int
	addr    string // 127.0.0.1:port
	dataDir string
	proc    *proc
}

// url is the replica's base URL.
func (r *replica) url() string { return "http://" + r.addr }

// cluster is three (or more) replicas sharing one key database, one Redis
// database and the same secrets.
type cluster struct {
	lab        *lab
	env        []string
	gatewayKey string
	adminKey   string
	replicas   []*replica
	client     *http.Client // for probes, apart from the load's
}

// newCluster prepares n replicas on databaseURL and redisURL, with fresh
// secrets. It starts nothing.
func newCluster(l *lab, name string, n int, databaseURL, redisURL string) (*cluster, error) {
	gatewayKey, adminKey, kek, err := secrets()
	if err != nil {
		return nil, err
	}
	c := &cluster{lab: l, gatewayKey: gatewayKey, adminKey: adminKey, client: newClient(2*time.Second, 4)}
	c.env = append(cleanEnv(os.Environ()),
		"JWTUP_DATABASE_URL="+databaseURL,
		"JWTUP_REDIS_URL="+redisURL,
		"JWTUP_GATEWAY_KEYS="+gatewayKey,
		"JWTUP_ADMIN_KEYS="+adminKey,
		"JWTUP_KEK="+kek,
		"JWTUP_ISSUER="+issuer,
		"JWTUP_SIGNING_ALG=ES256",
		"JWTUP_KEY_REFRESH=1s",
		// Stay ready through a database outage shorter than a minute, and
		// keep serving for a second after SIGTERM while /readyz says 503,
		// so the load driver's health check takes a stopping replica out
		// before its port closes.
		"JWTUP_READY_STORE_TIMEOUT=1m",
		"JWTUP_SHUTDOWN_DELAY=1s",
		"JWTUP_LOG_FORMAT=json",
	)
	for i := range n {
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		c.replicas = append(c.replicas, &replica{
			index:   i,
			addr:    "127.0.0.1:" + strconv.Itoa(port),
			dataDir: l.path(fmt.Sprintf("%s-replica-%d", name, i)),
		})
	}
	return c, nil
}

// secrets makes a gateway key, an admin key and a base64 KEK.
func secrets() (gatewayKey, adminKey, kek string, err error) {
	b := make([]byte, 80)
	if _, err := rand.Read(b); err != nil {
		return "", "", "", fmt.Errorf("secrets: %w", err)
	}
	return hex.EncodeToString(b[:24]), hex.EncodeToString(b[24:48]),
		base64.StdEncoding.EncodeToString(b[48:]), nil
}

// cleanEnv drops every JWTUP_ variable of ours, so that a setting in the
// caller's shell cannot change what the replicas do.
func cleanEnv(env []string) []string {
	var out []string
	for _, kv := range env {
		if !strings.HasPrefix(kv, "JWTUP_") {
			out = append(out, kv)
		}
	}
	return out
}

// start starts replica i. It does not wait for it to be ready.
func (c *cluster) start(i int) error {
	r := c.replicas[i]
	cmd := exec.Command(c.lab.binary)
	cmd.Env = append(c.env, "JWTUP_LISTEN="+r.addr, "JWTUP_DATA_DIR="+r.dataDir)
	p, err := c.lab.procs.start("jwt-up "+r.addr, cmd, r.dataDir+".log")
	if err != nil {
		return err
	}
	r.proc = p
	return nil
}

// startAll starts every replica and waits until all are ready.
func (c *cluster) startAll(ctx context.Context) error {
	for i := range c.replicas {
		if err := c.start(i); err != nil {
			return err
		}
	}
	_, err := c.waitReady(ctx, c.all(), time.Minute)
	return err
}

// all lists every replica's index.
func (c *cluster) all() []int {
	idx := make([]int, len(c.replicas))
	for i := range idx {
		idx[i] = i
	}
	return idx
}

// running lists the replicas whose process has not exited.
func (c *cluster) running() []int {
	var idx []int
	for i, r := range c.replicas {
		if r.proc != nil && r.proc.running() {
			idx = append(idx, i)
		}
	}
	return idx
}

// stopAll sends SIGTERM to every running replica and waits for each; one
// that does not leave in time is killed.
func (c *cluster) stopAll() {
	for _, i := range c.running() {
		_ = c.replicas[i].proc.signal(syscall.SIGTERM)
	}
	for _, i := range c.all() {
		if p := c.replicas[i].proc; p != nil && p.wait(30*time.Second) != nil && p.running() {
			_ = p.kill()
		}
	}
}

// admin sends one admin API request to replica i and says in a few words
// how it was answered.
func (c *cluster) admin(ctx context.Context, i int, method, path string) string {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, c.replicas[i].url()+path, nil)
	if err != nil {
		return err.Error()
	}
	req.Header.Set("Authorization", "Bearer "+c.adminKey)
	res, err := newClient(10*time.Second, 1).Do(req)
	if err != nil {
		return "no answer: " + err.Error()
	}
	res.Body.Close()
	return "answered " + strconv.Itoa(res.StatusCode)
}

// readiness is what one /readyz answered.
type readiness struct {
	status     int
	components map[string]string // name → status, e.g. cache → degraded
}

// ready reports whether the replica is ready with its cache in order.
func (r readiness) ready() bool {
	return r.status == http.StatusOK && r.components["cache"] == "ok"
}

// probe asks replica i's /readyz.
func (c *cluster) probe(ctx context.Context, i int) (readiness, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.replicas[i].url()+"/readyz", nil)
	if err != nil {
		return readiness{}, err
	}
	res, err := c.client.Do(req)
	if err != nil {
		return readiness{}, err
	}
	defer res.Body.Close()
	var body struct {
		Components map[string]struct{ Status string } `json:"components"`
	}
	if err := json.NewDecoder(res.Body).Decode(&body); err != nil {
		return readiness{}, fmt.Errorf("readyz: %w", err)
	}
	rd := readiness{status: res.StatusCode, components: map[string]string{}}
	for name, comp := range body.Components {
		rd.components[name] = comp.Status
	}
	return rd, nil
}

// waitReady polls the replicas until every one of them is ready with its
// cache ok, and returns how long that took. After limit it gives up with
// an error saying which replica was not.
func (c *cluster) waitReady(ctx context.Context, idx []int, limit time.Duration) (time.Duration, error) {
	start := time.Now()
	pending := append([]int(nil), idx...)
	for {
		pending = c.unready(ctx, pending)
		if len(pending) == 0 {
			return time.Since(start), nil
		}
		if time.Since(start) > limit {
			return time.Since(start), fmt.Errorf("replica %d not ready after %s (log: %s.log; -keep keeps it)",
				pending[0], limit, c.replicas[pending[0]].dataDir)
		}
		if !sleep(ctx, 20*time.Millisecond) {
			return time.Since(start), ctx.Err()
		}
	}
}

// unready returns those of idx that are not ready now.
func (c *cluster) unready(ctx context.Context, idx []int) []int {
	var out []int
	for _, i := range idx {
		if rd, err := c.probe(ctx, i); err != nil || !rd.ready() {
			out = append(out, i)
		}
	}
	return out
}

// states describes every running replica's /readyz in one phrase, e.g.
// "3 of 3: 200 (key_store ok, cache degraded)".
func (c *cluster) states(ctx context.Context) string {
	seen := map[string]int{}
	running := c.running()
	for _, i := range running {
		rd, err := c.probe(ctx, i)
		if err != nil {
			seen["no answer"]++
			continue
		}
		seen[fmt.Sprintf("%d (key_store %s, cache %s)",
			rd.status, rd.components["key_store"], rd.components["cache"])]++
	}
	var parts []string
	for s, n := range seen {
		parts = append(parts, fmt.Sprintf("%d of %d: %s", n, len(running), s))
	}
	slices.Sort(parts)
	return strings.Join(parts, "; ")
}
