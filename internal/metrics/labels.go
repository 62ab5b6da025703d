package metrics

import (
	"strings"
	"sync"
	"unicode/utf8"
)

// Kind is the kind of a message on the wire, the value of the "kind" label of
// the transport counters. The set is closed: use only the constants below.
type Kind string

// The kinds of message the transport counts.
const (
	// KindParams is a parameter broadcast (coordinator → workers).
	KindParams Kind = "params"
	// KindPlan is a step plan: which worker computes which micro-shards.
	KindPlan Kind = "plan"
	// KindContrib is a contribution (Σ gradient, Σ weight, Σ loss) of one
	// micro-shard range (worker → coordinator).
	KindContrib Kind = "contrib"
	// KindControl is a control message: join, leave, heartbeat, failure, job
	// description.
	KindControl Kind = "control"
	// KindShard is micro-shard data handed out through the object store.
	KindShard Kind = "shard"
)

// kinds lists every Kind, in the order the series are initialised.
var kinds = [...]Kind{KindParams, KindPlan, KindContrib, KindControl, KindShard}

// Kinds returns every Kind.
func Kinds() []Kind { return append([]Kind(nil), kinds[:]...) }

// RejectReason is why an inbound message was rejected and not applied, the
// value of the "reason" label of dpt_messages_rejected_total.
type RejectReason string

// The reasons a message is rejected (DESIGN.md promise 6).
const (
	// RejectStale is a message for a step that is already closed.
	RejectStale RejectReason = "stale"
	// RejectDuplicate is a second contribution for a micro-shard range that
	// already counted (a late original and its re-issue).
	RejectDuplicate RejectReason = "duplicate"
	// RejectUnknownWorker is a message from a worker that has not joined.
	RejectUnknownWorker RejectReason = "unknown_worker"
	// RejectRange is a micro-shard range that was not planned for the sender.
	RejectRange RejectReason = "range"
	// RejectLength is a vector whose length is not the model's.
	RejectLength RejectReason = "length"
	// RejectNotFinite is a vector holding NaN or ±Inf.
	RejectNotFinite RejectReason = "not_finite"
	// RejectJob is a message carrying another job's id.
	RejectJob RejectReason = "job"
	// RejectMalformed is a message that does not decode.
	RejectMalformed RejectReason = "malformed"
	// RejectOversized is a message or chunk count beyond the configured limits.
	RejectOversized RejectReason = "oversized"
	// RejectChecksum is a payload whose checksum does not match its header.
	RejectChecksum RejectReason = "checksum"
)

var rejectReasons = [...]RejectReason{
	RejectStale, RejectDuplicate, RejectUnknownWorker, RejectRange, RejectLength,
	RejectNotFinite, RejectJob, RejectMalformed, RejectOversized, RejectChecksum,
}

// RejectReasons returns every RejectReason.
func RejectReasons() []RejectReason { return append([]RejectReason(nil), rejectReasons[:]...) }

// Phase is a part of a training step, the value of the "phase" label of
// dpt_step_phase_duration_seconds. A step runs the phases in this order.
type Phase string

// The phases of a step.
const (
	// PhasePlan assigns the step's micro-shards to live workers.
	PhasePlan Phase = "plan"
	// PhaseBroadcast publishes the parameters and the plan.
	PhaseBroadcast Phase = "broadcast"
	// PhaseComputeWait waits for every micro-shard's contribution (worker
	// compute, transfer, re-issues).
	PhaseComputeWait Phase = "compute_wait"
	// PhaseReduce sums the contributions along the fixed tree.
	PhaseReduce Phase = "reduce"
	// PhaseUpdate applies the optimiser to the reduced gradient.
	PhaseUpdate Phase = "update"
	// PhaseCheckpoint writes the checkpoint, on steps that write one.
	PhaseCheckpoint Phase = "checkpoint"
)

var phases = [...]Phase{PhasePlan, PhaseBroadcast, PhaseComputeWait, PhaseReduce, PhaseUpdate, PhaseCheckpoint}

// Phases returns every Phase in step order.
func Phases() []Phase { return append([]Phase(nil), phases[:]...) }

// ReissueReason is why a micro-shard was issued again to another worker, the
// value of the "reason" label of dpt_microshards_reissued_total.
type ReissueReason string

// The reasons a micro-shard is re-issued.
const (
	// ReissueDead re-issues the share of a worker that left or stopped
	// sending heartbeats.
	ReissueDead ReissueReason = "dead"
	// ReissueStraggler issues speculatively the share of a worker that is
	// late; the first identical result wins.
	ReissueStraggler ReissueReason = "straggler"
)

var reissueReasons = [...]ReissueReason{ReissueDead, ReissueStraggler}

// Worker label bounds. The "worker" label of the coordinator's per-worker
// series takes at most MaxWorkerLabels distinct values over the life of the
// process; the names of workers that join after that are folded into
// OtherWorker. A worker name keeps its slot after the worker leaves, so a
// worker that rejoins under the same name continues its series, and a stream
// of fresh names cannot grow the series set without bound.
const (
	// MaxWorkerLabels is the number of distinct worker names tracked.
	MaxWorkerLabels = 256
	// OtherWorker is the label value of every worker past the first
	// MaxWorkerLabels, and of names that are empty.
	OtherWorker = "other"
	// maxWorkerNameBytes bounds the length of a label value: longer names
	// are cut at a rune boundary.
	maxWorkerNameBytes = 128
)

// workerLabels hands out label values for worker names, admitting at most
// limit distinct ones. It is safe for concurrent use.
type workerLabels struct {
	limit int

	mu   sync.Mutex
	seen map[string]struct{} // guarded by mu; admitted label values
}

func newWorkerLabels(limit int) *workerLabels {
	return &workerLabels{limit: limit, seen: make(map[string]struct{})}
}

// value returns the label value for the worker name: the sanitised name if it
// is admitted (already seen, or seen now while fewer than limit are), else
// OtherWorker.
func (l *workerLabels) value(name string) string {
	v := sanitizeWorker(name)
	if v == OtherWorker {
		return v
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, ok := l.seen[v]; ok {
		return v
	}
	if len(l.seen) >= l.limit {
		return OtherWorker
	}
	l.seen[v] = struct{}{}
	return v
}

// sanitizeWorker makes a worker name, which arrives from the network, a valid
// and bounded label value: invalid UTF-8 is replaced, the length is capped at
// maxWorkerNameBytes and the empty name becomes OtherWorker (an empty label
// value is the same as no label to Prometheus).
func sanitizeWorker(name string) string {
	if !utf8.ValidString(name) {
		name = strings.ToValidUTF8(name, "\uFFFD")
	}
	if len(name) > maxWorkerNameBytes {
		cut := maxWorkerNameBytes
		for cut > 0 && !utf8.RuneStart(name[cut]) {
			cut--
		}
		name = name[:cut]
	}
	if name == "" {
		return OtherWorker
	}
	return name
}
