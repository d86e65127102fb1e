package main

import (
	"testing"
	"time"
)

func TestLatencyStart(t *testing.T) {
	due := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
	ms := time.Millisecond
	cases := []struct {
		name        string
		ready, woke time.Time
		want        time.Time
	}{
		{"ready early, woke late: the sleep's overshoot is not the server's",
			due.Add(-ms), due.Add(ms), due.Add(ms)},
		{"ready exactly on time", due, due.Add(ms / 10), due.Add(ms / 10)},
		{"ready late: the server held the connection, its queue counts",
			due.Add(3 * ms), due.Add(3 * ms), due},
	}
	for _, c := range cases {
		if got := latencyStart(c.ready, due, c.woke); !got.Equal(c.want) {
			t.Errorf("%s: latencyStart = %s after due, want %s", c.name, got.Sub(due), c.want.Sub(due))
		}
	}
}
