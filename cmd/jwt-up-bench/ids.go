package main

import (
	"math/rand/v2"
	"sync/atomic"
)

// zipfS and zipfV shape the spread of consumers: rank k is asked for in
// proportion to 1/(zipfV+k)^zipfS. With s = 1.1 over 100 000 consumers the
// busiest 1 % of them send three quarters of the requests and the busiest
// 10 % nearly 90 %: a few heavy clients and a long tail.
const (
	zipfS = 1.1
	zipfV = 1.0
)

// idSource yields the consumer number of each request one connection
// sends. ok false means the source is spent and the connection stops.
type idSource interface {
	next() (id uint64, ok bool)
}

// oneConsumer asks for consumer 0 every time: a cache hit after the first.
type oneConsumer struct{}

func (oneConsumer) next() (uint64, bool) { return 0, true }

// zipfConsumers picks among a fixed number of consumers, a few of them
// far more often than the rest.
type zipfConsumers struct {
	z *rand.Zipf
}

// newZipfConsumers returns a picker of numbers in [0, n), n ≥ 1, seeded so
// that the same seed gives the same sequence.
func newZipfConsumers(n, seed uint64) *zipfConsumers {
	r := rand.New(rand.NewPCG(seed, 0x6a77742d7570)) // any fixed second word
	return &zipfConsumers{z: rand.NewZipf(r, zipfS, zipfV, n-1)}
}

func (c *zipfConsumers) next() (uint64, bool) { return c.z.Uint64(), true }

// countingConsumers hands out 0, 1, 2, … shared by every connection, up to
// limit (exclusive): a new consumer on every request.
type countingConsumers struct {
	n     *atomic.Uint64
	limit uint64
}

func (c countingConsumers) next() (uint64, bool) {
	id := c.n.Add(1) - 1
	return id, id < c.limit
}
