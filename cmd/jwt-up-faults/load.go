package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// repeatConsumers is how many consumers come back again and again.
const repeatConsumers = 40

// recentWindow is how long a "recent" consumer is asked for before the
// next one takes its place.
const recentWindow = 250 * time.Millisecond

// consumerFor names the consumer of worker w's i-th request, sent at now.
// Of five requests, three go to the returning consumers; one to the
// consumer of the current quarter second, which every worker asks for and
// so reaches every replica while it is new; and one to a consumer never
// seen before. tag keeps the new ones new across scenarios.
func consumerFor(tag string, w, i int, now time.Time) string {
	switch i % 5 {
	case 3:
		return fmt.Sprintf("recent-%s-%d", tag, now.UnixNano()/int64(recentWindow))
	case 4:
		return fmt.Sprintf("new-%s-%d-%d", tag, w, i)
	}
	return fmt.Sprintf("repeat-%d", (w*7+i)%repeatConsumers)
}

// newClient returns an HTTP client that never goes through a proxy: all
// traffic stays on 127.0.0.1.
func newClient(timeout time.Duration, conns int) *http.Client {
	return &http.Client{
		Timeout: timeout,
		Transport: &http.Transport{
			Proxy:               nil,
			DialContext:         (&net.Dialer{Timeout: 2 * time.Second}).DialContext,
			MaxIdleConnsPerHost: conns,
			IdleConnTimeout:     30 * time.Second,
			DisableCompression:  true,
		},
	}
}

// load is the load driver: workers minting round-robin on the replicas in
// rotation, like a gateway would. A replica leaves the rotation on a
// transport error and comes back when its /readyz answers 200 again (a
// load balancer's passive ejection and active health check).
type load struct {
	cluster *cluster
	pool    *pool
	client  *http.Client
	think   time.Duration
	tag     string
	budget  atomic.Int64 // requests still allowed

	stop chan struct{}
	wg   sync.WaitGroup
	outs []output
}

// output is what one worker collected.
type output struct {
	recs   []record
	tokens map[string]string // token → consumer it was asked for
}

// startLoad starts workers on c until finish. Requests run under ctx, not
// under finish: a request in flight when the load stops ends normally.
func startLoad(ctx context.Context, c *cluster, cfg config, tag string) *load {
	l := &load{
		cluster: c,
		pool:    newPool(len(c.replicas)),
		client:  newClient(cfg.requestTimeout, cfg.workers),
		think:   cfg.think,
		tag:     tag,
		stop:    make(chan struct{}),
		outs:    make([]output, cfg.workers),
	}
	l.budget.Store(int64(cfg.maxRequests))
	for w := range l.outs {
		l.outs[w].tokens = map[string]string{}
		l.wg.Add(1)
		go l.work(ctx, w)
	}
	l.wg.Add(1)
	go l.readmit(ctx)
	return l
}

// finish stops the workers and returns everything they recorded.
func (l *load) finish() ([]record, map[string]string) {
	close(l.stop)
	l.wg.Wait()
	var recs []record
	tokens := map[string]string{}
	for _, o := range l.outs {
		recs = append(recs, o.recs...)
		for t, c := range o.tokens {
			tokens[t] = c
		}
	}
	return recs, tokens
}

// stopped reports whether finish was called or ctx ended.
func (l *load) stopped(ctx context.Context) bool {
	select {
	case <-l.stop:
		return true
	case <-ctx.Done():
		return true
	default:
		return false
	}
}

// work is one worker: send, record, retry once elsewhere on failure.
func (l *load) work(ctx context.Context, w int) {
	defer l.wg.Done()
	out := &l.outs[w]
	for i := 0; !l.stopped(ctx) && l.budget.Add(-1) >= 0; i++ {
		idx, ok := l.pool.pick()
		if !ok {
			l.budget.Add(1) // nothing was sent
			l.pause(ctx, 10*time.Millisecond)
			continue
		}
		consumer := consumerFor(l.tag, w, i, time.Now())
		rec := l.send(ctx, idx, consumer, out)
		if ctx.Err() != nil {
			return // the run was interrupted: this request says nothing of the fault
		}
		if rec.kind != kindOK {
			l.retry(ctx, &rec, consumer, out)
		}
		out.recs = append(out.recs, rec)
		l.pause(ctx, l.think)
	}
}

// pause waits d, less if the load stops meanwhile.
func (l *load) pause(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-l.stop:
	case <-ctx.Done():
	}
}

// retry sends the failed request once more, to another replica, the way
// a gateway with one retry would. rec keeps the first outcome.
func (l *load) retry(ctx context.Context, rec *record, consumer string, out *output) {
	idx, ok := l.pool.other(rec.replica)
	if !ok {
		return // nowhere else to go: the failure stands
	}
	again := l.send(ctx, idx, consumer, out)
	rec.retried, rec.retry = true, again.kind
}

// send mints one token for consumer on replica idx and records how it
// went. A transport error takes the replica out of rotation.
func (l *load) send(ctx context.Context, idx int, consumer string, out *output) record {
	rec := record{replica: idx, start: time.Now()}
	token, status, err := l.mint(ctx, l.cluster.replicas[idx].url(), consumer)
	rec.end, rec.status = time.Now(), status
	rec.kind = classify(err, status)

	if token != "" {
		out.tokens[token] = consumer
	}
	if rec.kind.transport() {
		l.pool.drop(idx)
	}
	return rec
}

// mint is one POST /v1/tokens. A body that cannot be read is an error
// even after a 200: the token did not arrive.
func (l *load) mint(ctx context.Context, base, consumer string) (string, int, error) {
	body, _ := json.Marshal(map[string]any{"consumer": map[string]string{"id": consumer}})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/v1/tokens",
		bytes.NewReader(body))
	if err != nil {
		return "", 0, err
	}
	req.Header.Set("Authorization", "Bearer "+l.cluster.gatewayKey)
	req.Header.Set("Content-Type", "application/json")

	res, err := l.client.Do(req)
	if err != nil {
		return "", 0, err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		_, err := io.Copy(io.Discard, res.Body)
		return "", res.StatusCode, err
	}
	var tok struct {
		Token string `json:"token"`
	}
	if err := json.NewDecoder(res.Body).Decode(&tok); err != nil {
		return "", res.StatusCode, fmt.Errorf("read token: %w", err)
	}
	return tok.Token, res.StatusCode, nil
}

// readmit checks every replica's /readyz, as a load balancer's health
// check does: a replica that is not ready (draining after SIGTERM, say)
// leaves the rotation, and one that answers 200 comes back.
func (l *load) readmit(ctx context.Context) {
	defer l.wg.Done()
	for !l.stopped(ctx) {
		for i := range l.cluster.replicas {
			if rd, err := l.cluster.probe(ctx, i); err == nil && rd.status == http.StatusOK {
				l.pool.add(i)
			} else {
				l.pool.drop(i)
			}
		}
		l.pause(ctx, 100*time.Millisecond)
	}
}

// pool is the rotation: which replicas get requests, taken in turn.
type pool struct {
	mu   sync.Mutex
	live []bool
	next int
}

// newPool returns a rotation of n replicas, all in.
func newPool(n int) *pool {
	p := &pool{live: make([]bool, n)}
	for i := range p.live {
		p.live[i] = true
	}
	return p
}

// pick returns the next replica in rotation; false if none is in.
func (p *pool) pick() (int, bool) {
	return p.other(-1)
}

// other returns the next replica in rotation that is not skip.
func (p *pool) other(skip int) (int, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := len(p.live)
	for k := range n {
		i := (p.next + k) % n
		if p.live[i] && i != skip {
			p.next = i + 1
			return i, true
		}
	}
	return 0, false
}

// drop takes replica i out of rotation.
func (p *pool) drop(i int) {
	p.mu.Lock()
	p.live[i] = false
	p.mu.Unlock()
}

// add puts replica i back in rotation.
func (p *pool) add(i int) {
	p.mu.Lock()
	p.live[i] = true
	p.mu.Unlock()
}

// out lists the replicas out of rotation.
func (p *pool) out() []int {
	p.mu.Lock()
	defer p.mu.Unlock()
	var idx []int
	for i, in := range p.live {
		if !in {
			idx = append(idx, i)
		}
	}
	return idx
}
