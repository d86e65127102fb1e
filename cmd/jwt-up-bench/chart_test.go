package main

import (
	"image/png"
	"os"
	"path/filepath"
	"testing"
)

func TestWriteChart(t *testing.T) {
	hit, _ := findScenario("hit")
	miss, _ := findScenario("miss-RS256")
	rep := report{results: []scenarioResult{
		{scenario: hit, sides: []side{sideOf("jwt-up", 900, 950), sideOf("constant ceiling", 1000, 1000)}},
		{scenario: miss, sides: []side{sideOf("jwt-up", 40, 40), sideOf("sign ceiling", 50, 50)}},
	}}
	path := filepath.Join(t.TempDir(), "chart.png")
	if err := writeChart(rep, path); err != nil {
		t.Fatalf("writeChart: %v", err)
	}

	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("the chart is not a PNG: %v", err)
	}
	if b := img.Bounds(); b.Dx() < 800 || b.Dy() < 600 {
		t.Errorf("chart is %v, want at least 800×600", b.Size())
	}
}

func TestWriteChartNothingRan(t *testing.T) {
	rep := report{results: []scenarioResult{{note: "skipped: needs --redis"}}}
	if err := writeChart(rep, filepath.Join(t.TempDir(), "chart.png")); err == nil {
		t.Error("writeChart drew a chart of no results, want an error")
	}
}
