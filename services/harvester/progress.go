package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/dbt-harvester/harvester/services/internal/dbtcloud"
	"github.com/dbt-harvester/harvester/services/internal/fetcher"
)

// progress shows the backfill: a bar redrawn in place on a terminal, one
// line per run otherwise.
type progress struct {
	w     io.Writer
	tty   bool
	total int
	begun time.Time
	line  string // the bar as last drawn
}

func newProgress(w io.Writer) *progress { return &progress{w: w, tty: isTerminal(w)} }

// isTerminal reports whether w is a character device (a terminal).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

func (p *progress) printf(format string, a ...any) { fmt.Fprintf(p.w, format, a...) }

// Start is backfill.Reporter's.
func (p *progress) Start(total int) {
	p.total, p.begun = total, time.Now()
	p.printf("backfill: %d completed run(s) to harvest, oldest first\n", total)
	if p.tty {
		p.draw(0, "")
	}
}

// Step reports run done (the i-th of total).
func (p *progress) Step(i int, run dbtcloud.Run, out fetcher.Outcome, err error) {
	what := fmt.Sprintf("run %d (finished %s): %s", run.ID, run.FinishedAt.UTC().Format("2006-01-02 15:04"), out)
	if err != nil {
		what += ": " + err.Error()
	}
	if !p.tty {
		p.printf("backfill %d/%d %s\n", i, p.total, what)
		return
	}
	if err != nil {
		p.Note(what)
	}
	p.draw(i, fmt.Sprintf("run %d %s", run.ID, out))
}

// Note prints a message above the bar (or as a line).
func (p *progress) Note(msg string) {
	if !p.tty {
		p.printf("backfill: %s\n", msg)
		return
	}
	p.printf("\r\x1b[K%s\n%s", msg, p.line)
}

// draw redraws the bar: [#####-----] i/total last ETA.
func (p *progress) draw(i int, last string) {
	const width = 30
	filled := width
	if p.total > 0 {
		filled = width * i / p.total
	}
	eta := ""
	if i > 0 && i < p.total {
		left := time.Since(p.begun) / time.Duration(i) * time.Duration(p.total-i)
		eta = " ETA " + left.Round(time.Second).String()
	}
	p.line = fmt.Sprintf("[%s%s] %d/%d %s%s", strings.Repeat("#", filled), strings.Repeat("-", width-filled), i, p.total, last, eta)
	p.printf("\r\x1b[K%s", p.line)
}

// Finish ends the bar.
func (p *progress) Finish() {
	if p.tty && p.line != "" {
		p.printf("\n")
		p.line = ""
	}
}
