package chaos

import (
	"fmt"
	"io"
	"slices"
	"text/tabwriter"
	"time"
)

// Row summarises the trials of one kind (or all of them).
type Row struct {
	Kind    string
	Trials  int
	Faults  int // faults injected
	Matched int // trials whose final params_sha256 equals the fault-free one
	Failed  int // trials that did not finish (Result.Err)
	// MaxDetection and MaxRecovery are the slowest over the faults; −1
	// when none was measured.
	MaxDetection, MaxRecovery time.Duration
	// MaxRedone is the most steps a resumed coordinator computed again.
	MaxRedone uint64
}

// Summary is the soak's table: one row per kind that ran, then the total.
type Summary struct {
	Rows  []Row
	Total Row
}

// Summarize aggregates results by kind, in the order of Kinds.
func Summarize(results []Result) Summary {
	var s Summary
	s.Total = Row{Kind: "total", MaxDetection: -1, MaxRecovery: -1}
	for _, k := range Kinds() {
		row := Row{Kind: string(k), MaxDetection: -1, MaxRecovery: -1}
		for _, r := range results {
			if r.Trial.Kind == k {
				row.add(r)
				s.Total.add(r)
			}
		}
		if row.Trials > 0 {
			s.Rows = append(s.Rows, row)
		}
	}
	return s
}

func (row *Row) add(r Result) {
	row.Trials++
	row.Faults += len(r.Faults)
	if r.Err != nil {
		row.Failed++
	} else if r.Match {
		row.Matched++
	}
	for _, f := range r.Faults {
		row.MaxDetection = max(row.MaxDetection, f.Detection)
		row.MaxRecovery = max(row.MaxRecovery, f.Recovery)
		row.MaxRedone = max(row.MaxRedone, f.Redone)
	}
}

// Write prints the table.
func (s Summary) Write(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	if _, err := fmt.Fprintln(tw, "kind\ttrials\tfaults injected\thash matched\tdid not finish\tslowest detection\tslowest recovery\t"); err != nil {
		return err
	}
	for _, r := range append(slices.Clone(s.Rows), s.Total) {
		if _, err := fmt.Fprintf(tw, "%s\t%d\t%d\t%d/%d\t%d\t%s\t%s\t\n", r.Kind, r.Trials, r.Faults, r.Matched, r.Trials, r.Failed,
			dur(r.MaxDetection), dur(r.MaxRecovery)); err != nil {
			return err
		}
	}
	return tw.Flush()
}

// Markdown prints the table as Markdown.
func (s Summary) Markdown(w io.Writer) error {
	if _, err := fmt.Fprintln(w, "| kind | trials | faults injected | hash matched | did not finish | slowest detection | slowest recovery |\n|---|---:|---:|---:|---:|---:|---:|"); err != nil {
		return err
	}
	for _, r := range append(slices.Clone(s.Rows), s.Total) {
		if _, err := fmt.Fprintf(w, "| %s | %d | %d | %d/%d | %d | %s | %s |\n", r.Kind, r.Trials, r.Faults, r.Matched, r.Trials, r.Failed,
			dur(r.MaxDetection), dur(r.MaxRecovery)); err != nil {
			return err
		}
	}
	return nil
}

func dur(d time.Duration) string {
	if d < 0 {
		return "–"
	}
	return fmt.Sprintf("%.2fs", d.Seconds())
}
