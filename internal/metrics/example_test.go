package metrics_test

import (
	"fmt"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/dptrain/dptrain/internal/metrics"
)

// The composition root creates the registry; the trainer records a step.
func ExampleNewCoordinator() {
	reg := prometheus.NewRegistry()
	c := metrics.NewCoordinator(reg, "v1.0.0")
	c.JobSteps.Set(100)

	c.ObservePhase(metrics.PhaseComputeWait, 40*time.Millisecond)
	c.ObserveContribution("w1", 35*time.Millisecond, 38*time.Millisecond)
	c.Transport.Received(metrics.KindContrib, 4096)
	c.StepDuration.Observe(0.05)
	c.Step.Set(1)
	c.StepsCompleted.Inc()
	c.TrainLoss.Set(0.69)

	err := testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP dpt_step Last completed training step (0 before the first).
# TYPE dpt_step gauge
dpt_step 1
`), "dpt_step")
	fmt.Println(err, testutil.ToFloat64(c.TrainLoss))
	// Output: <nil> 0.69
}
