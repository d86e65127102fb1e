package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// The series the bench reads from a server's /metrics. jwt-up's Go and
// process collectors and the ceiling both serve mallocsSeries, the count
// of heap objects the process allocated since it started, and cpuSeries,
// the CPU time it has used, user and system, in seconds.
const (
	mallocsSeries = "go_memstats_mallocs_total"
	cpuSeries     = "process_cpu_seconds_total"
	missesSeries  = `jwtup_token_cache_requests_total{result="miss"}`
)

// readMetrics fetches http://addr/metrics and parses it.
func readMetrics(ctx context.Context, addr string) (map[string]float64, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/metrics", nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("read metrics: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("read metrics: status %d", resp.StatusCode)
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("read metrics: %w", err)
	}
	return parseMetrics(string(body)), nil
}

// parseMetrics reads the Prometheus text format into a map from series
// (name and labels, as written) to value. Comments and lines it cannot
// read are skipped.
func parseMetrics(text string) map[string]float64 {
	series := map[string]float64{}
	for line := range strings.Lines(text) {
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			continue
		}
		series[strings.TrimSpace(line[:i])] = v
	}
	return series
}
