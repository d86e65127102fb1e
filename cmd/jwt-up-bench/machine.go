package main

import (
	"os"
	"runtime"
	"strconv"
	"strings"
)

// machine describes where the bench ran, for the report.
type machine struct {
	cpus       int    // logical CPUs, as nproc counts them
	cpuModel   string // from /proc/cpuinfo
	memory     string // MemTotal from /proc/meminfo
	goVersion  string
	platform   string
	gomaxprocs int
	loadStart  string // /proc/loadavg when the run started
	loadEnd    string // and when it ended
}

// readMachine reads what the runtime and /proc say; what cannot be read
// stays empty.
func readMachine() machine {
	return machine{
		cpus:       runtime.NumCPU(),
		cpuModel:   procField("/proc/cpuinfo", "model name"),
		memory:     memTotal(),
		goVersion:  runtime.Version(),
		platform:   runtime.GOOS + "/" + runtime.GOARCH,
		gomaxprocs: runtime.GOMAXPROCS(0),
		loadStart:  loadAverage(),
	}
}

// loadAverage is the 1, 5 and 15 minute load average. On a machine shared
// with other work it says how much of the CPU the bench had to itself.
func loadAverage() string {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	fields := strings.Fields(string(data))
	if len(fields) < 3 {
		return ""
	}
	return strings.Join(fields[:3], " ")
}

// procField returns the value of the first "name : value" line of a /proc
// file.
func procField(path, name string) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	for line := range strings.Lines(string(data)) {
		key, value, ok := strings.Cut(line, ":")
		if ok && strings.TrimSpace(key) == name {
			return strings.TrimSpace(value)
		}
	}
	return ""
}

// memTotal is the machine's memory in GiB, from /proc/meminfo's kB.
func memTotal() string {
	kb, err := strconv.ParseFloat(strings.TrimSuffix(procField("/proc/meminfo", "MemTotal"), " kB"), 64)
	if err != nil {
		return ""
	}
	return strconv.FormatFloat(kb/(1<<20), 'f', 1, 64) + " GiB"
}
