package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// A load drives one server with keep-alive connections, each sending a
// pre-built request and waiting for the answer before the next, as wrk
// does. It talks HTTP/1.1 over raw connections, so the client costs little
// and costs the same whichever server it measures.
type load struct {
	addr        string
	request     request
	ids         func(conn int) idSource
	connections int

	// duration bounds the run; it ends sooner when every id source is
	// spent.
	duration time.Duration

	// rate, when above zero, paces the requests to that many per second
	// over all connections. Latency is then counted from when a request
	// was due, not when it went out, so a server that falls behind shows
	// its queue in the percentiles.
	rate float64
}

// loadResult is what one run of a load saw.
type loadResult struct {
	ok      uint64 // answers with status 2xx or 304
	failed  uint64 // other answers, and requests lost to connection errors
	elapsed time.Duration
	latency *histogram // of the ok answers
	sample  string     // one failure, to show what went wrong
}

// served is the number of requests the server answered or lost.
func (r loadResult) served() uint64 { return r.ok + r.failed }

// rps is the rate of ok answers.
func (r loadResult) rps() float64 {
	if r.elapsed <= 0 {
		return 0
	}
	return float64(r.ok) / r.elapsed.Seconds()
}

// ioGrace is how long past its end a run waits for answers still due
// before it gives up on a connection.
const ioGrace = 30 * time.Second

// run opens the connections, sends until the duration is over (or ctx is
// done, or the ids are spent) and returns the merged result.
func (l load) run(ctx context.Context) (loadResult, error) {
	workers := make([]*worker, l.connections)
	for i := range workers {
		conn, err := dial(l.addr)
		if err != nil {
			closeAll(workers[:i])
			return loadResult{}, err
		}
		workers[i] = l.newWorker(i, conn)
	}

	var stop atomic.Bool
	halt := func() { stop.Store(true) }
	defer context.AfterFunc(ctx, halt)()
	start := time.Now()
	timer := time.AfterFunc(l.duration, halt)
	defer timer.Stop()

	var wg sync.WaitGroup
	for _, w := range workers {
		w.deadline = start.Add(l.duration + ioGrace)
		w.conn.SetDeadline(w.deadline)
		wg.Go(func() { w.loop(&stop, start) })
	}
	wg.Wait()
	elapsed := time.Since(start)
	closeAll(workers)
	return merge(workers, elapsed), nil
}

// newWorker gives connection i its copy of the request, its id source and,
// when paced, its place in the schedule.
func (l load) newWorker(i int, conn net.Conn) *worker {
	w := &worker{
		addr:    l.addr,
		conn:    conn,
		reader:  bufio.NewReaderSize(conn, 32<<10),
		request: l.request,
		buf:     bytes.Clone(l.request.raw),
		ids:     l.ids(i),
		latency: new(histogram),
	}
	if l.rate > 0 {
		w.interval = time.Duration(float64(l.connections) / l.rate * float64(time.Second))
		w.offset = w.interval * time.Duration(i) / time.Duration(l.connections)
	}
	return w
}

// worker is one connection of a load.
type worker struct {
	addr     string
	conn     net.Conn
	reader   *bufio.Reader
	request  request
	buf      []byte // this connection's copy of the request
	ids      idSource
	interval time.Duration // between requests when paced; 0 otherwise
	offset   time.Duration // of this connection's first request when paced
	deadline time.Time     // for I/O, kept across redials

	latency *histogram
	ok      uint64
	failed  uint64
	sample  string
}

// loop sends requests until stop is set or the ids are spent.
func (w *worker) loop(stop *atomic.Bool, start time.Time) {
	due := start.Add(w.offset)
	for !stop.Load() {
		id, more := w.ids.next()
		if !more {
			return
		}
		sent := time.Now()
		if w.interval > 0 {
			ready := sent
			time.Sleep(due.Sub(ready))
			sent = latencyStart(ready, due, time.Now())
			due = due.Add(w.interval)
		}

		status, err := w.roundTrip(id)
		switch {
		case err != nil:
			w.fail(err.Error())
			if w.redial() != nil {
				return
			}
		case status/100 == 2 || status == 304:
			w.ok++
			w.latency.record(time.Since(sent))
		default:
			w.fail(fmt.Sprintf("status %d", status))
		}
	}
}

// latencyStart is when a paced request's latency counts from. ready is
// when its connection was free to send (the previous answer was in), due
// is its place in the schedule, and woke is when the connection came back
// from waiting for that place. A connection that was ready in time waited
// for its place, and a sleep can overshoot by up to a millisecond: that
// lateness is the load generator's, so the count starts at woke. A
// connection ready only after its place was held up by the server's
// previous answer, and the count starts at due, so a server that falls
// behind still shows its queue.
func latencyStart(ready, due, woke time.Time) time.Time {
	if ready.After(due) {
		return due
	}
	return woke
}

// roundTrip sends the request for consumer id and reads the answer.
func (w *worker) roundTrip(id uint64) (int, error) {
	w.request.setID(w.buf, id)
	if _, err := w.conn.Write(w.buf); err != nil {
		return 0, err
	}
	status, closing, err := readResponse(w.reader)
	if err == nil && closing {
		err = w.redial()
	}
	return status, err
}

// fail counts a failed request, keeping the first as a sample.
func (w *worker) fail(what string) {
	w.failed++
	if w.sample == "" {
		w.sample = what
	}
}

// redial replaces the connection with a new one, after an I/O error or
// when the server closes.
func (w *worker) redial() error {
	w.conn.Close()
	conn, err := dial(w.addr)
	if err != nil {
		return err
	}
	conn.SetDeadline(w.deadline)
	w.conn = conn
	w.reader.Reset(conn)
	return nil
}

// dial opens a connection to addr, which is always on 127.0.0.1.
func dial(addr string) (net.Conn, error) {
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", addr, err)
	}
	return conn, nil
}

func closeAll(workers []*worker) {
	for _, w := range workers {
		w.conn.Close()
	}
}

// merge adds up the workers' counts and latencies.
func merge(workers []*worker, elapsed time.Duration) loadResult {
	res := loadResult{elapsed: elapsed, latency: new(histogram)}
	for _, w := range workers {
		res.ok += w.ok
		res.failed += w.failed
		res.latency.merge(w.latency)
		if res.sample == "" {
			res.sample = w.sample
		}
	}
	return res
}
