// Package allreduce is the pure core of the distributed step: the messages of
// the protocol and their binary codec, the fixed reduction tree over
// micro-shards, and the coordinator's round state machine. It does no I/O,
// reads no clock and starts no goroutines; the transport feeds it events and
// delivers what it returns (the shape of etcd's raft package).
//
// # The fixed reduction tree
//
// A round reduces M micro-shard contributions (gradient, loss and evaluation
// sums: vectors that add element-wise). Let P be the smallest power of two
// ≥ M. The nodes of the tree are the aligned blocks [lo, lo+2^l) with
// lo mod 2^l = 0, clipped to [0, M); a block that clips to nothing does not
// exist, and
//
//	sum(leaf i)  = contribution of micro-shard i
//	sum(node)    = sum(left) + sum(right)   element-wise, left operand first
//	sum(node)    = sum(left)                when the right child does not exist
//
// The root [0, M) is the round's result. Floating-point addition is not
// associative, so the order is part of the definition: any worker, or the
// coordinator, that computes a node gets the same bits, whatever grouping of
// micro-shards computed which nodes. That makes the result a function of the
// data alone, independent of the number of workers, their speed, arrival
// order, failures and re-issues (one GOARCH; addition has no fused form, so
// no FMA question arises). [TreeSum] and [Summer] compute node sums on a
// worker; the coordinator stores arriving nodes and merges siblings as soon
// as both are present, so it holds at most one vector per gap in the
// coverage and the root appears when the last micro-shard is covered.
//
// # A round
//
// [Coordinator.Start] splits [0, M) over the live workers, sorted, into
// contiguous runs of near-equal length and covers each run with the fewest
// tree nodes ([Cover]); each node is a block, the unit of work, of re-issue
// and of deduplication. The plan (revision 0) goes to every worker. A worker
// computes each of its blocks with TreeSum and sends a [Contribution]; the
// first contribution for a block counts and later ones are ErrDuplicate, so
// a late original and its re-issue count once.
//
// Whenever the assignment changes the coordinator publishes a complete new
// revision of the plan; a worker acts on the newest ([Worker]). Changes come
// from [Coordinator.Tick] (workers silent for HeartbeatTimeout ticks are
// declared dead and their blocks given to the least-loaded live workers;
// blocks outstanding past the straggler threshold get a speculative copy on
// an idle worker, or are re-issued to their holders when no worker is idle,
// which recovers a lost contribution: there are no acknowledgements), from
// [Coordinator.Leave] (blocks re-issued at once) and from
// [Coordinator.Join] (blocks without a live holder go to the newcomer).
// # Group leaders
//
// With [Config.GroupSize] ≥ 2 the plan groups consecutive runs and names a
// leader for each group (Assignment.Relay). Members send the blocks issued
// to them in revision 0 to their leader, whose [Relay] adds them along the
// same tree and sends the coordinator the nodes they make up; the
// coordinator accepts a node made of whole planned blocks none of which is
// covered. The coordinator then adds about W/GroupSize vectors a round
// instead of one or more per worker, and the bits are the same. A newer
// revision of the plan makes a relay hand on what it holds; a dead leader's
// members are issued their blocks again, to send to the coordinator.
//
// Messages of other jobs, older rounds, unknown workers, unplanned ranges,
// wrong lengths or non-finite values are rejected with sentinel errors and
// never applied.
//
// # Wire format
//
// Plans, contributions and parameters have a canonical little-endian binary
// encoding, versioned and checksummed (CRC-32C); decoders validate every
// field and never allocate more than the message's own size (see codec.go).
// Chunking below the broker's payload limit is the transport's business.
//
// # Ownership
//
// Coordinator, Worker and Summer are not safe for concurrent use; one
// goroutine owns each. Deliver takes ownership of the contribution's vector:
// the coordinator adds sibling nodes into the left one in place.
package allreduce
