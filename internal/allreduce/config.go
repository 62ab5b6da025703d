package allreduce

import (
	"fmt"
	"math"
)

// Config configures a Coordinator. Durations are in ticks, the unit of
// [Coordinator.Tick]; the transport decides how long a tick is (the defaults
// assume about 100 ms).
type Config struct {
	// Job identifies the job; messages of other jobs are rejected with
	// ErrJob. Required, 1..MaxIDLen bytes.
	Job string
	// HeartbeatTimeout is the number of ticks without a heartbeat or a
	// contribution after which a worker is declared dead and its
	// outstanding blocks are re-issued. At least 1.
	HeartbeatTimeout int
	// MinStragglerTicks, StragglerFactor and MaxStragglerTicks set the
	// straggler threshold
	//
	//	T = min(MaxStragglerTicks, max(MinStragglerTicks, ⌈StragglerFactor · p99⌉))
	//
	// where p99 is the 99th percentile of the ticks the last 256 blocks took
	// from their issue to the worker that delivered them to their arrival.
	// A block outstanding for more than T ticks since it was last issued is
	// issued again: to an idle live worker (a speculative copy) when there
	// is one, else to its own holders, in case their result was lost.
	// The ceiling breaks the feedback in which lost messages lengthen the
	// observed times, which raise T, which delays the recovery of the next
	// loss. 1 ≤ MinStragglerTicks ≤ MaxStragglerTicks, StragglerFactor ≥ 1.
	MinStragglerTicks int
	StragglerFactor   float64
	MaxStragglerTicks int
	// GroupSize, when 2 or more, makes each round's plan group the workers
	// with work, in order, into groups of GroupSize consecutive runs (the
	// last group may be smaller; a group of one has no leader). The first
	// worker of a group leads it: the others send it the blocks issued to
	// them in revision 0, and it adds the group's blocks along the tree
	// ([Relay]) and sends the coordinator a few node sums instead of one
	// vector per block. The coordinator then adds about W/GroupSize
	// vectors a round and each leader about GroupSize, so ⌈√W⌉ keeps both
	// O(√W); GroupSqrt chooses that size in each round. Results are the
	// same bits. 0 or 1: every worker sends to the coordinator.
	GroupSize int
}

// GroupSqrt as Config.GroupSize groups the W workers with work in a round
// by ⌈√W⌉.
const GroupSqrt = -1

// DefaultConfig returns a Config with 3 s of heartbeat timeout and a
// straggler threshold of 5 s to 60 s at a 100 ms tick. Job must still be
// set.
func DefaultConfig() Config {
	return Config{HeartbeatTimeout: 30, MinStragglerTicks: 50, StragglerFactor: 3, MaxStragglerTicks: 600}
}

// Validate reports the first invalid field of c, wrapping ErrConfig.
func (c Config) Validate() error {
	switch {
	case len(c.Job) < 1 || len(c.Job) > MaxIDLen:
		return fmt.Errorf("%w: job ID of %d bytes, want 1..%d", ErrConfig, len(c.Job), MaxIDLen)
	case c.HeartbeatTimeout < 1:
		return fmt.Errorf("%w: heartbeat timeout %d ticks, want ≥ 1", ErrConfig, c.HeartbeatTimeout)
	case c.MinStragglerTicks < 1:
		return fmt.Errorf("%w: minimum straggler threshold %d ticks, want ≥ 1", ErrConfig, c.MinStragglerTicks)
	case c.MaxStragglerTicks < c.MinStragglerTicks:
		return fmt.Errorf("%w: maximum straggler threshold %d ticks below the minimum %d",
			ErrConfig, c.MaxStragglerTicks, c.MinStragglerTicks)
	case c.GroupSize < GroupSqrt:
		return fmt.Errorf("%w: group size %d, want ≥ 0 or GroupSqrt (%d)", ErrConfig, c.GroupSize, GroupSqrt)
	case !(c.StragglerFactor >= 1) || math.IsInf(c.StragglerFactor, 1):
		return fmt.Errorf("%w: straggler factor %v, want finite and ≥ 1", ErrConfig, c.StragglerFactor)
	}
	return nil
}
