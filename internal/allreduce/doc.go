// Package allreduce is the pure core of the distributed step: the messages of
// the protocol and their binary codec, the fixed reduction tree over
// micro-shards, and the coordinator's round state machine. It does no I/O,
// reads no clock and starts no goroutines; the transport feeds it events and
// delivers what it returns.
package allreduce
