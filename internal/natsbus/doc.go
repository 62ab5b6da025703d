// Package natsbus is the trainer's transport: the only package below cmd/
// that imports nats.go and nats-server. It moves opaque byte payloads of any
// size between the coordinator and the workers, and knows nothing of what
// they mean (internal/allreduce owns the messages and their codec).
//
// # What it provides
//
//   - [Subjects]: the protocol's subject names under a per-job prefix, and
//     [ValidWorkerName] for the worker token of per-worker subjects.
//   - [Connect] and [Bus]: a connection that retries its first connect until
//     its context is done, reconnects forever afterwards, and reports
//     events through [Hooks]. [Bus.Publish] sends a payload of any size;
//     [Bus.Subscribe] returns an [Inbox] that delivers complete,
//     checksum-verified payloads. [Bus.Request] and [Bus.Respond] are
//     request-reply for small messages.
//   - [Objects]: a JetStream object store bucket, for micro-shards handed to
//     workers that share no storage, and for checkpoints.
//   - [StartServer]: an embedded nats-server, with JetStream limits always
//     set, optional user/password, token or per-user permissions
//     ([WorkerPermissions], [CoordinatorPermissions],
//     [ObjectReaderPermissions]) and TLS.
//
// # Wire format
//
// NATS limits one message to the server's max_payload (1 MiB by default).
// Every payload the bus publishes, however small, is therefore sent as one
// or more frames: a 52-byte header followed by a chunk of the payload of at
// most stride = max_payload − 52 bytes. A payload of T bytes takes
// n = max(1, ⌈T/stride⌉) frames; the header carries a magic and version, a
// message id (a random 64-bit nonce per Bus and a 64-bit sequence number),
// the chunk index and count, the stride, the total length T, the CRC-32C
// (Castagnoli) of the whole payload, and a CRC-32C of the header itself.
// The exact layout is documented next to FrameHeaderSize.
//
// Control messages (JSON) use the same framing, so a subscriber needs one
// decoder and every message is checksummed. Messages published directly on
// [Bus.Conn] are not framed and are dropped by an Inbox as malformed.
//
// # Reassembly and its bounds
//
// An [Inbox] accepts chunks in any order, interleaved across messages and
// senders, and delivers a message when all its chunks have arrived and its
// CRC matches. It never blocks nats.go: a complete message that finds the
// consumer's channel full is dropped and counted, as nats.ChanSubscribe
// does. Its memory is bounded: at most ConnConfig.MaxIncomplete incomplete
// messages per sender subject, and at most ConnConfig.MaxReassemblyBytes of
// payload buffers in all (which also caps one message's length); the oldest
// incomplete message is evicted to make room. Malformed frames, checksum
// mismatches, oversized messages, duplicate and stale chunks are dropped and
// counted by [DropReason] ([Inbox.Dropped]); nothing a peer sends can make
// it panic (see FuzzFrame).
//
// Delivery is what NATS core gives: at most once, in order per publisher
// and subject (chunks excepted: concurrent Publish calls of one Bus may
// interleave). The protocol above must tolerate loss (a dropped
// contribution is re-issued) and duplicates, which the bus filters only for
// exact copies of recent messages.
//
// # Security
//
// Connections authenticate with user/password, a token, an NKey seed or a
// JWT creds file, and may use TLS with the server certificate always
// verified (against ConnConfig.TLSCA). With [WorkerPermissions] the server
// lets a worker publish only on subjects ending in its own name and never
// the coordinator's broadcasts, so the worker name a coordinator reads from
// a subject ([Subjects.Worker]) is authenticated. Violations are dropped by
// the server and reported through [Hooks].Error.
//
// # Concurrency
//
// A Bus is safe for concurrent use. Hooks run on nats.go's callback
// goroutine and must stay trivial. Each Inbox reassembles on its own
// nats.go subscription goroutine. Close drains, then closes the
// connection and every Inbox channel; no goroutine outlives it.
package natsbus
