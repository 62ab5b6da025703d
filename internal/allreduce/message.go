package allreduce

import (
	"fmt"
	"math"
	"sort"
)

// Bounds enforced on every message, encoded or decoded.
const (
	// MaxIDLen is the longest job or worker ID, in bytes.
	MaxIDLen = 255
	// MaxVecLen is the longest contribution vector a round may declare.
	MaxVecLen = 1 << 28
	// MaxRevision is the largest plan revision.
	MaxRevision = math.MaxUint32
	// MaxEpoch is the largest epoch number.
	MaxEpoch = math.MaxUint32
)

// WorkerID names a worker; it is unique within a job.
type WorkerID string

// Kind is what a round reduces.
type Kind uint8

const (
	// KindGrad rounds reduce gradient, loss and evaluation sums over the
	// training micro-shards.
	KindGrad Kind = 1
	// KindEval rounds reduce loss and evaluation sums over the test
	// micro-shards.
	KindEval Kind = 2
	// KindTrainEval rounds reduce loss and evaluation sums over the
	// training micro-shards (the training metrics, without a gradient).
	KindTrainEval Kind = 3
)

// String returns "grad" or "eval".
func (k Kind) String() string {
	switch k {
	case KindGrad:
		return "grad"
	case KindEval:
		return "eval"
	case KindTrainEval:
		return "train_eval"
	}
	return fmt.Sprintf("Kind(%d)", uint8(k))
}

// RoundSpec says what a round computes. Round numbers strictly increase over
// a coordinator's life; everything else is for the workers.
type RoundSpec struct {
	// Round identifies the round; contributions for older rounds are stale.
	Round uint64
	// Step is the optimizer step the round serves.
	Step uint64
	// Epoch is the pass over the data the step belongs to.
	Epoch int
	// Kind says which micro-shards and which sums.
	Kind Kind
	// ParamsVersion is the version of θ the contributions must be computed at.
	ParamsVersion uint64
	// Shards is M, the number of micro-shards: 1 ≤ M ≤ MaxShards.
	Shards int
	// VecLen is the length of every contribution: 1 ≤ VecLen ≤ MaxVecLen.
	VecLen int
}

// Validate checks the bounds of s.
func (s RoundSpec) Validate() error {
	switch {
	case s.Kind != KindGrad && s.Kind != KindEval && s.Kind != KindTrainEval:
		return fmt.Errorf("%w: round %d: kind %d", ErrMalformed, s.Round, s.Kind)
	case s.Epoch < 0 || s.Epoch > MaxEpoch:
		return fmt.Errorf("%w: round %d: epoch %d", ErrMalformed, s.Round, s.Epoch)
	case s.Shards < 1 || s.Shards > MaxShards:
		return fmt.Errorf("%w: round %d: %d micro-shards, want 1..%d", ErrMalformed, s.Round, s.Shards, MaxShards)
	case s.VecLen < 1 || s.VecLen > MaxVecLen:
		return fmt.Errorf("%w: round %d: vector length %d, want 1..%d", ErrMalformed, s.Round, s.VecLen, MaxVecLen)
	}
	return nil
}

// Plan tells the workers which blocks of micro-shards to compute in a round.
// The coordinator publishes revision 0 when the round starts and a new,
// complete revision whenever the assignment changes; a worker acts on the
// highest revision it has seen for the newest round and ignores the rest, so
// any one revision that arrives is enough.
type Plan struct {
	// Job identifies the training job.
	Job string
	RoundSpec
	// Revision counts the plan's changes within the round, from 0.
	Revision int
	// Assign lists, sorted by Worker, every live worker that has blocks
	// outstanding. A block may be assigned to several workers
	// (re-issues and speculative copies); whichever result arrives first
	// counts.
	Assign []Assignment
}

// Assignment is the work of one worker in a plan.
type Assignment struct {
	Worker WorkerID
	// Ranges are the blocks to compute, nodes of the round's tree, sorted
	// and disjoint.
	Ranges []Range
	// Issued[i] is the plan revision in which Ranges[i] was last issued to
	// Worker; nil means all 0. A worker that sent Ranges[i] while it knew
	// only revisions older than Issued[i] sends it again: the coordinator
	// re-issues a block to a worker that holds it only when it suspects
	// that the worker's result was lost. See [Worker].
	Issued []int
	// Relay, when set, is the leader of Worker's group in this round (see
	// [Config.GroupSize]): Worker sends the blocks issued to it in
	// revision 0 (Issued[i] = 0) to Relay, which adds its group's blocks
	// along the tree and sends the sums to the coordinator ([Relay]).
	// Blocks issued later, and every block when Relay is empty, go to the
	// coordinator. A leader's own assignment names the leader itself.
	Relay WorkerID
}

// issued returns Issued[i], 0 when Issued is nil.
func (a *Assignment) issued(i int) int {
	if a.Issued == nil {
		return 0
	}
	return a.Issued[i]
}

// assignment returns w's assignment in p, or nil.
func (p *Plan) assignment(w WorkerID) *Assignment {
	i := sort.Search(len(p.Assign), func(i int) bool { return p.Assign[i].Worker >= w })
	if i < len(p.Assign) && p.Assign[i].Worker == w {
		return &p.Assign[i]
	}
	return nil
}

// Route returns where w sends its result for block r of p: the group
// leader of w's assignment when r was issued in revision 0 and the
// assignment names one (w itself when w leads the group), else "" (the
// coordinator). A block p does not assign to w goes to the coordinator.
func (p *Plan) Route(w WorkerID, r Range) WorkerID {
	a := p.assignment(w)
	if a == nil || a.Relay == "" {
		return ""
	}
	i := sort.Search(len(a.Ranges), func(i int) bool { return a.Ranges[i].Lo >= r.Lo })
	if i < len(a.Ranges) && a.Ranges[i] == r && a.issued(i) == 0 {
		return a.Relay
	}
	return ""
}

// RangesFor returns the blocks p assigns to w (nil if none). The slice is
// p's own.
func (p *Plan) RangesFor(w WorkerID) []Range {
	if a := p.assignment(w); a != nil {
		return a.Ranges
	}
	return nil
}

// Validate checks every bound and invariant of p: the spec's bounds, ID
// lengths, workers sorted and unique, each worker's ranges nodes of the tree,
// sorted and disjoint, and issue revisions not after the plan's revision.
func (p *Plan) Validate() error {
	if err := validID("job", p.Job); err != nil {
		return err
	}
	if err := p.RoundSpec.Validate(); err != nil {
		return err
	}
	if p.Revision < 0 || p.Revision > MaxRevision {
		return fmt.Errorf("%w: plan revision %d", ErrMalformed, p.Revision)
	}
	for i := range p.Assign {
		a := &p.Assign[i]
		if err := validID("worker", string(a.Worker)); err != nil {
			return err
		}
		if len(a.Relay) > MaxIDLen {
			return fmt.Errorf("%w: plan: worker %q: relay ID of %d bytes, want 0..%d", ErrMalformed, a.Worker, len(a.Relay), MaxIDLen)
		}
		if i > 0 && p.Assign[i-1].Worker >= a.Worker {
			return fmt.Errorf("%w: plan: workers not sorted at %q", ErrMalformed, a.Worker)
		}
		if a.Issued != nil && len(a.Issued) != len(a.Ranges) {
			return fmt.Errorf("%w: plan: worker %q has %d ranges and %d issue revisions",
				ErrMalformed, a.Worker, len(a.Ranges), len(a.Issued))
		}
		for j, r := range a.Ranges {
			if !IsNode(r, p.Shards) {
				return fmt.Errorf("%w: plan: worker %q: %v is not a node of the tree over %d micro-shards",
					ErrRange, a.Worker, r, p.Shards)
			}
			if j > 0 && a.Ranges[j-1].Hi > r.Lo {
				return fmt.Errorf("%w: plan: worker %q: ranges %v and %v not sorted and disjoint",
					ErrRange, a.Worker, a.Ranges[j-1], r)
			}
			if is := a.issued(j); is < 0 || is > p.Revision {
				return fmt.Errorf("%w: plan: worker %q: %v issued in revision %d of %d",
					ErrMalformed, a.Worker, r, is, p.Revision)
			}
		}
	}
	return nil
}

// Contribution is the sum, over the fixed tree, of the micro-shard
// contributions of one node Range, computed by Worker in Round.
type Contribution struct {
	Job    string
	Round  uint64
	Worker WorkerID
	Range  Range
	Vec    []float64
}

// Validate checks the bounds of c that do not depend on the round: IDs, a
// non-empty range inside [0, MaxShards), a non-empty vector of finite values.
func (c *Contribution) Validate() error {
	if err := validID("job", c.Job); err != nil {
		return err
	}
	if err := validID("worker", string(c.Worker)); err != nil {
		return err
	}
	if c.Range.Lo < 0 || c.Range.Lo >= c.Range.Hi || c.Range.Hi > MaxShards {
		return fmt.Errorf("%w: contribution range %v", ErrRange, c.Range)
	}
	if len(c.Vec) < 1 || len(c.Vec) > MaxVecLen {
		return fmt.Errorf("%w: contribution of %d elements", ErrLength, len(c.Vec))
	}
	return checkFinite("contribution", c.Vec)
}

// Params is a version of the parameter vector θ, published by the
// coordinator after each update: the whole of θ, or a patch against the
// version before.
type Params struct {
	Job     string
	Version uint64
	// Base, when non-zero, makes the message a patch: Theta holds, element
	// by element, the bits of θ XOR the bits of θ at version Base, which
	// are +0 wherever the parameter kept its bits. With sparse data most
	// parameters keep their bits from one step to the next and the patch
	// travels as runs (see the wire format). [Params.Resolve] gives θ back
	// exactly.
	Base  uint64
	Theta []float64
}

// Validate checks the job ID, the length of θ (at most MaxVecLen), that a
// patch's base is older than its version and that θ (not a patch) is
// finite.
func (p *Params) Validate() error {
	if err := validID("job", p.Job); err != nil {
		return err
	}
	if len(p.Theta) > MaxVecLen {
		return fmt.Errorf("%w: parameters of %d elements", ErrLength, len(p.Theta))
	}
	if p.Base != 0 {
		if p.Base >= p.Version {
			return fmt.Errorf("%w: parameters version %d patch against version %d", ErrMalformed, p.Version, p.Base)
		}
		return nil
	}
	return checkFinite("parameters", p.Theta)
}

// PatchParams returns version of θ as a patch against base, the parameters
// of version baseVersion (same length). dst, when long enough, holds the
// patch's vector.
func PatchParams(job string, version uint64, theta []float64, baseVersion uint64, base, dst []float64) *Params {
	if cap(dst) < len(theta) {
		dst = make([]float64, len(theta))
	}
	dst = dst[:len(theta)]
	base = base[:len(theta)]
	for i, x := range theta {
		dst[i] = math.Float64frombits(math.Float64bits(x) ^ math.Float64bits(base[i]))
	}
	return &Params{Job: job, Version: version, Base: baseVersion, Theta: dst}
}

// Compact reports whether p.Theta travels in the runs form of the wire
// format (mostly +0), which is when a patch is worth sending.
func (p *Params) Compact() bool {
	r, nnz := zeroRuns(p.Theta)
	return runsSmaller(len(p.Theta), r, nnz)
}

// Resolve returns θ: p.Theta itself, or for a patch the parameters of
// version p.Base (base) XOR p.Theta, bit by bit, in a new slice. It fails
// with ErrLength if base does not have the patch's length and with
// ErrNotFinite if the result is not finite.
func (p *Params) Resolve(base []float64) ([]float64, error) {
	if p.Base == 0 {
		return p.Theta, nil
	}
	if len(base) != len(p.Theta) {
		return nil, fmt.Errorf("%w: patch of %d parameters against %d", ErrLength, len(p.Theta), len(base))
	}
	theta := make([]float64, len(base))
	for i, x := range p.Theta {
		theta[i] = math.Float64frombits(math.Float64bits(x) ^ math.Float64bits(base[i]))
	}
	if err := checkFinite("parameters", theta); err != nil {
		return nil, err
	}
	return theta, nil
}

func validID(what, id string) error {
	if len(id) < 1 || len(id) > MaxIDLen {
		return fmt.Errorf("%w: %s ID of %d bytes, want 1..%d", ErrMalformed, what, len(id), MaxIDLen)
	}
	return nil
}

func checkFinite(what string, v []float64) error {
	for i, x := range v {
		if x-x != 0 { // NaN − NaN and ±Inf − ±Inf are NaN; finite x − x is 0
			return fmt.Errorf("%w: %s element %d is %v", ErrNotFinite, what, i, x)
		}
	}
	return nil
}
