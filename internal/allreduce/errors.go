package allreduce

import "errors"

// Sentinel errors. Every error this package returns wraps one of them; branch
// with errors.Is.
var (
	// ErrStale: the message belongs to a round older than the current one.
	ErrStale = errors.New("allreduce: stale round")
	// ErrRound: the round is not the current one and not older (never
	// started), or rounds were started out of order.
	ErrRound = errors.New("allreduce: round not started")
	// ErrDuplicate: some micro-shard of the contribution is already covered;
	// the first result wins and this one is ignored.
	ErrDuplicate = errors.New("allreduce: duplicate contribution")
	// ErrUnknownWorker: the sender never joined.
	ErrUnknownWorker = errors.New("allreduce: unknown worker")
	// ErrRange: the micro-shard range is not a node of the round's tree or
	// was never assigned in the round.
	ErrRange = errors.New("allreduce: bad micro-shard range")
	// ErrLength: a vector has the wrong number of elements.
	ErrLength = errors.New("allreduce: wrong vector length")
	// ErrNotFinite: a vector holds a NaN or an infinity.
	ErrNotFinite = errors.New("allreduce: non-finite value")
	// ErrJob: the message belongs to another job.
	ErrJob = errors.New("allreduce: wrong job")
	// ErrMalformed: bytes that do not decode, or a message or spec whose
	// fields are out of bounds.
	ErrMalformed = errors.New("allreduce: malformed message")
	// ErrNoWorkers: a round cannot start because no worker is live.
	ErrNoWorkers = errors.New("allreduce: no live workers")
	// ErrConfig: an invalid Config.
	ErrConfig = errors.New("allreduce: invalid config")
)
