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

// maxControl bounds a control message's size.
const maxControl = 64 << 10

func decodeControl(b []byte, v any) error {
	if len(b) > maxControl {
		return fmt.Errorf("trainer: control message of %d bytes exceeds %d", len(b), maxControl)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("trainer: control message: %w", err)
	}
	return nil
}
