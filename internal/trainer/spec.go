package trainer

import (
	"fmt"

	"github.com/dptrain/dptrain/internal/loss"
	"github.com/dptrain/dptrain/internal/model"
	"github.com/dptrain/dptrain/internal/shard"
)

// DataSource tells a worker where a dataset's micro-shards come from: a path
// it can read (a shared volume) or the JetStream object store.
type DataSource struct {
	// Path is the file as the coordinator read it. A worker that can open
	// it reads and scales it itself; one that cannot fetches the
	// micro-shards from Bucket.
	Path    string            `json:"path,omitempty"`
	Options shard.ReadOptions `json:"options"`
	// SHA256 of the file, so a worker never trains on a different file
	// that happens to have the same name.
	SHA256 string `json:"sha256,omitempty"`
	// Bucket and Prefix name the object store objects Prefix+"/%06d", one
	// per micro-shard, when the coordinator published them.
	Bucket string `json:"bucket,omitempty"`
	Prefix string `json:"prefix,omitempty"`
	// HoldOut, when ≥ 2, takes from the file the rows whose 1-based number
	// is (Part "test") or is not (Part "train") divisible by it.
	HoldOut int    `json:"hold_out,omitempty"`
	Part    string `json:"part,omitempty"`
	// Rows and Shards describe the dataset as the coordinator loaded it.
	Rows   int `json:"rows"`
	Shards int `json:"shards"`
}

// JobSpec is everything a worker needs to compute contributions. The
// coordinator publishes it on the job subject; it is JSON.
type JobSpec struct {
	Job       string       `json:"job"`
	Task      string       `json:"task"`
	K         int          `json:"k"`
	Features  int          `json:"features"`
	Classes   []string     `json:"classes,omitempty"`
	Loss      string       `json:"loss"`
	LossCfg   loss.Config  `json:"loss_config"`
	Model     model.Config `json:"model"`
	Scaler    shard.Scaler `json:"scaler"`
	Seed      uint64       `json:"seed"`
	BatchSize int          `json:"batch_size"`
	Train     DataSource   `json:"train"`
	Test      *DataSource  `json:"test,omitempty"`
}

// ParseTask maps a command-line task name to a shard.Task.
func ParseTask(s string) (shard.Task, error) {
	switch s {
	case "binary":
		return shard.Binary, nil
	case "multiclass":
		return shard.Multiclass, nil
	case "multilabel":
		return shard.Multilabel, nil
	}
	return 0, fmt.Errorf("trainer: task %q: expected binary, multiclass or multilabel", s)
}
