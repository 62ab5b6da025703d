package allreduce

import "fmt"

// EventKind says what an Event records.
type EventKind uint8

// Event kinds.
const (
	// WorkerJoined: a worker joined, or came back after being declared
	// dead or leaving.
	WorkerJoined EventKind = iota + 1
	// WorkerLeft: a worker left (Leave).
	WorkerLeft
	// WorkerDead: a worker was silent for HeartbeatTimeout ticks.
	WorkerDead
	// Reissued: a block that had no live holder was issued to Worker.
	Reissued
	// Speculative: an overdue block was copied to the idle Worker.
	Speculative
	// Resent: an overdue block was issued again to its holder Worker,
	// whose result may have been lost.
	Resent
	// Delivered: Worker's result for the block Range was accepted; Ticks
	// is the time since the block was last issued to Worker (0 if it was
	// not Worker's). A block that arrived in a group leader's sum has one
	// event of its own, naming the member that computed it and, in Via,
	// the leader.
	Delivered
	// Stale: a contribution of an older round was rejected.
	Stale
	// Duplicate: a contribution for an already covered Range was ignored.
	Duplicate
	// Completed: every micro-shard of the round is covered and the result
	// is ready; Ticks is the time since Start.
	Completed
	// Abandoned: Start replaced a round that had not completed.
	Abandoned
)

// String returns a snake_case name, usable as a metric label.
func (k EventKind) String() string {
	switch k {
	case WorkerJoined:
		return "worker_joined"
	case WorkerLeft:
		return "worker_left"
	case WorkerDead:
		return "worker_dead"
	case Reissued:
		return "reissued"
	case Speculative:
		return "speculative"
	case Resent:
		return "resent"
	case Delivered:
		return "delivered"
	case Stale:
		return "stale"
	case Duplicate:
		return "duplicate"
	case Completed:
		return "completed"
	case Abandoned:
		return "abandoned"
	}
	return fmt.Sprintf("EventKind(%d)", uint8(k))
}

// Event records something the coordinator did or saw, for logs and metrics.
// Fields that do not apply to the kind are zero.
type Event struct {
	Kind   EventKind
	Round  uint64
	Worker WorkerID
	Range  Range
	Ticks  int64
	// Via is the group leader that delivered a member's block (Delivered).
	Via WorkerID
}
