package main

import (
	"net/http"
	"net/http/httptest"
	"runtime"
	"testing"
)

// The ceiling serves the counters the bench reads around each round, under
// the names jwt-up's collectors give them.
func TestCeilingMetrics(t *testing.T) {
	c, err := newCeiling(modeConstant, "", sample{})
	if err != nil {
		t.Fatal(err)
	}
	w := httptest.NewRecorder()
	c.router().ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if w.Code != http.StatusOK {
		t.Fatalf("status %d: %s", w.Code, w.Body)
	}
	got := parseMetrics(w.Body.String())
	if got[mallocsSeries] <= 0 {
		t.Errorf("%s = %v, want a positive count in\n%s", mallocsSeries, got[mallocsSeries], w.Body)
	}
	if _, known := processCPU(); !known {
		if _, served := got[cpuSeries]; served {
			t.Errorf("%s served where the CPU time is unknown", cpuSeries)
		}
		return
	}
	// A test binary that has started, run the router and allocated has
	// used some CPU time.
	if got[cpuSeries] <= 0 {
		t.Errorf("%s = %v on %s, want a positive time in\n%s", cpuSeries, got[cpuSeries], runtime.GOOS, w.Body)
	}
}
