package trainer

import (
	"encoding/json"
	"fmt"
)

// Control messages are small JSON documents; vectors travel in the binary
// codec of package allreduce.

// Hello is a worker's join, heartbeat or leave.
type Hello struct {
	Job    string `json:"job"`
	Worker string `json:"worker"`
	// Version is the newest parameter version the worker holds, so the
	// coordinator can re-broadcast parameters a worker missed.
	Version uint64 `json:"version"`
	// Round is the newest round the worker has seen a plan for.
	Round uint64 `json:"round"`
	// ComputeSeconds is the time the worker spent on its last block.
	ComputeSeconds float64 `json:"compute_seconds,omitempty"`
}

// Failure is a worker's report that it cannot take part in the job, for
// example because its data is bad. The coordinator stops the job with it.
type Failure struct {
	Job    string `json:"job"`
	Worker string `json:"worker"`
	Error  string `json:"error"`
}

// maxControl bounds a control message's size; maxSpec a job spec's, which
// carries the scaling of every feature and the class names.
const (
	maxControl = 64 << 10
	maxSpec    = 1 << 30
)

func decodeControl(b []byte, v any) error {
	return decodeJSON(b, v, maxControl)
}

func decodeJSON(b []byte, v any, limit int) error {
	if len(b) > limit {
		return fmt.Errorf("trainer: control message of %d bytes exceeds %d", len(b), limit)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("trainer: control message: %w", err)
	}
	return nil
}

// JobAck is the coordinator's reply to a job request. The spec itself can
// be larger than one NATS message, so it is (re)published, chunked, on the
// job subject, to which workers subscribe before they ask.
type JobAck struct {
	Job string `json:"job"`
}
