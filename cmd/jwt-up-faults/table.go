package main

import (
	"fmt"
	"strings"
	"time"
)

// result is one row of the table, and the notes that explain it.
type result struct {
	name        string
	sent        int
	failed      int
	tokens      int // distinct tokens collected and checked
	notVerified int // -1: not checked
	recovery    recovery
	notes       []string

	// err is set when the scenario could not be carried out; its row
	// then shows what it got and the error.
	err error
}

// recovery is how long a scenario took to get well after its fault.
type recovery struct {
	took time.Duration
	what string // what was measured, e.g. "to all /readyz ok"
	ok   bool   // false: it did not get well within the limit
}

// String renders a recovery for a table cell.
func (r recovery) String() string {
	switch {
	case r.what == "":
		return "—"
	case !r.ok:
		return "not within " + round(r.took) + " " + r.what
	case r.took == 0:
		return r.what
	}
	return round(r.took) + " " + r.what
}

// round shows a duration to the millisecond, or to the microsecond below
// one millisecond so that a fast recovery does not read as zero.
func round(d time.Duration) string {
	if d > 0 && d < time.Millisecond {
		return d.Round(time.Microsecond).String()
	}
	return d.Round(time.Millisecond).String()
}

// renderTable returns the results as a markdown table.
func renderTable(rs []result) string {
	var b strings.Builder
	b.WriteString("| scenario | sent | failed | not verified | recovery |\n")
	b.WriteString("|---|---:|---:|---:|---|\n")
	for _, r := range rs {
		rec := r.recovery.String()
		if r.err != nil {
			rec = "did not complete: " + r.err.Error()
		}
		fmt.Fprintf(&b, "| %s | %d | %s | %s | %s |\n",
			cell(r.name), r.sent, failedCell(r.failed, r.sent),
			verifiedCell(r.notVerified, r.tokens), cell(rec))
	}
	return b.String()
}

// verifiedCell shows the tokens that did not verify out of those checked.
func verifiedCell(bad, tokens int) string {
	if bad < 0 {
		return "not checked"
	}
	return fmt.Sprintf("%d of %d", bad, tokens)
}

// failedCell shows failures with their share of requests sent.
func failedCell(failed, sent int) string {
	if failed == 0 || sent == 0 {
		return fmt.Sprint(failed)
	}
	return fmt.Sprintf("%d (%.2f%%)", failed, 100*float64(failed)/float64(sent))
}

// renderNotes returns one list item per note, grouped by scenario.
func renderNotes(rs []result) string {
	var b strings.Builder
	for _, r := range rs {
		if len(r.notes) == 0 {
			continue
		}
		fmt.Fprintf(&b, "- **%s**\n", r.name)
		for _, n := range r.notes {
			fmt.Fprintf(&b, "  - %s\n", oneLine(n))
		}
	}
	return b.String()
}

// cell makes text safe inside a table cell: no pipe ends the cell early
// and no line break ends the row.
func cell(s string) string {
	return strings.ReplaceAll(oneLine(s), "|", `\|`)
}

// oneLine folds every run of white space, line breaks included, into one
// space.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}
