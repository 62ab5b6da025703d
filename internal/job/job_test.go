package job

import (
	"encoding/json"
	"testing"

	"github.com/dptrain/dptrain/internal/eval"
	"github.com/dptrain/dptrain/internal/shard"
)

// The report's train section has the objective next to the task's metrics:
// the acceptance checks read train.objective, train.loss and
// train.accuracy.
func TestReportTrainFields(t *testing.T) {
	r := Report{Train: TrainMetrics{Objective: 0.5, Metrics: eval.Metrics{Task: shard.Binary, Loss: 0.4, Accuracy: 0.9, Rows: 10, Weight: 10}}}
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Train map[string]any `json:"train"`
	}
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]float64{"objective": 0.5, "loss": 0.4, "accuracy": 0.9} {
		if v, ok := got.Train[k].(float64); !ok || v != want {
			t.Errorf("train.%s = %v, want %v (in %s)", k, got.Train[k], want, b)
		}
	}
}
