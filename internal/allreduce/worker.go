package allreduce

import "fmt"

// ComputeBlocks returns, in order, the blocks plan p assigns to w for which
// done reports false. It is the stateless form of [Worker.Next].
func ComputeBlocks(p *Plan, w WorkerID, done func(Range) bool) []Range {
	var out []Range
	for _, r := range p.RangesFor(w) {
		if !done(r) {
			out = append(out, r)
		}
	}
	return out
}

// Worker is a worker's side of the protocol: which blocks of the newest
// round it still has to compute and send. Like Coordinator it does no I/O.
//
// A worker acts on the highest plan revision of the newest round it has
// seen. It sends each block once, and again only when a later revision
// re-issues the block to it (Assignment.Issued above the revision the
// worker knew when it sent): the coordinator does that when the result seems
// lost, since there are no acknowledgements. Blocks that a newer revision no
// longer assigns to the worker (covered by someone else) are skipped.
//
// The loop of a worker:
//
//	on plan p:  w.Apply(p)
//	repeatedly: r, ok := w.Next(); if ok { compute r with TreeSum; send; w.Sent(round, r) }
type Worker struct {
	job  string
	id   WorkerID
	plan *Plan
	sent map[Range]int // block → plan revision known when it was sent, this round
}

// NewWorker returns the state of worker id of job.
func NewWorker(job string, id WorkerID) *Worker {
	return &Worker{job: job, id: id, sent: make(map[Range]int)}
}

// Apply takes plan p if it is newer than the current one (a newer round, or
// a higher revision of the same round) and reports whether it did; older
// and repeated plans are ignored. A plan of another job is an error wrapping
// ErrJob. The Worker keeps p; the caller must not modify it.
func (w *Worker) Apply(p *Plan) (bool, error) {
	if p.Job != w.job {
		return false, fmt.Errorf("%w: plan of job %q for worker %q of job %q", ErrJob, p.Job, w.id, w.job)
	}
	if q := w.plan; q != nil && (p.Round < q.Round || (p.Round == q.Round && p.Revision <= q.Revision)) {
		return false, nil
	}
	if w.plan == nil || p.Round != w.plan.Round {
		clear(w.sent)
	}
	w.plan = p
	return true, nil
}

// Plan returns the current plan, nil before the first.
func (w *Worker) Plan() *Plan { return w.plan }

// Next returns the first block of the current plan that the worker must
// compute and send, false when there is none.
func (w *Worker) Next() (Range, bool) {
	if w.plan == nil {
		return Range{}, false
	}
	a := w.plan.assignment(w.id)
	if a == nil {
		return Range{}, false
	}
	for i, r := range a.Ranges {
		if rev, ok := w.sent[r]; !ok || rev < a.issued(i) {
			return r, true
		}
	}
	return Range{}, false
}

// Sent records that block r of round was sent. Blocks of other rounds than
// the current plan's are ignored (the plan moved on while r was computed).
func (w *Worker) Sent(round uint64, r Range) {
	if w.plan != nil && w.plan.Round == round {
		w.sent[r] = w.plan.Revision
	}
}
