package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// Coordinator holds the coordinator's collectors. Every field is safe for
// concurrent use. Gauges hold the latest value; counters only grow.
type Coordinator struct {
	// BuildInfo is dpt_build_info{version,goversion,role="coordinator"} = 1.
	BuildInfo prometheus.Gauge

	// Step is dpt_step: the last completed step t (0 before the first).
	Step prometheus.Gauge
	// JobSteps is dpt_job_steps: the number of steps the job runs in all,
	// so that progress is dpt_step / dpt_job_steps.
	JobSteps prometheus.Gauge
	// StepsCompleted is dpt_steps_completed_total: steps applied by this
	// process (a resumed coordinator starts again at 0; Step does not).
	StepsCompleted prometheus.Counter
	// Epoch is dpt_epoch: the current epoch, counted from 0.
	Epoch prometheus.Gauge
	// Examples is dpt_examples_total: examples whose gradient was applied,
	// Σ over steps of the step's batch size Σ_s n_s.
	Examples prometheus.Counter

	// TrainLoss and TestLoss are dpt_loss{split}: the mean loss
	// (1/n)·Σᵢ L(zᵢ, yᵢ) on the split, train as of the last step's batch,
	// test as of the last evaluation.
	TrainLoss, TestLoss prometheus.Gauge
	// TrainAccuracy and TestAccuracy are dpt_accuracy_ratio{split}, in
	// [0, 1].
	TrainAccuracy, TestAccuracy prometheus.Gauge
	// TrainObjective and TestObjective are dpt_objective{split}: the mean
	// loss plus the regulariser, the quantity the optimiser minimises.
	TrainObjective, TestObjective prometheus.Gauge
	// GradientNorm is dpt_gradient_norm: ‖g‖₂ of the reduced gradient
	// g = Σ_s n_s·g_s / Σ_s n_s of the last step.
	GradientNorm prometheus.Gauge
	// LearningRate is dpt_learning_rate: the step size of the last step.
	LearningRate prometheus.Gauge

	// StepDuration is dpt_step_duration_seconds: wall time of whole steps.
	StepDuration prometheus.Histogram
	// PhaseDuration is dpt_step_phase_duration_seconds{phase}; observe it
	// with ObservePhase.
	PhaseDuration *prometheus.HistogramVec

	// WorkersLive is dpt_workers_live: workers joined and heard from within
	// the liveness timeout.
	WorkersLive prometheus.Gauge
	// WorkersExpected is dpt_workers_expected: the number of workers the job
	// was configured for.
	WorkersExpected prometheus.Gauge
	// Reissued is dpt_microshards_reissued_total{reason}; count with Reissue.
	Reissued *prometheus.CounterVec

	// CheckpointDuration is dpt_checkpoint_duration_seconds: time to write
	// one checkpoint.
	CheckpointDuration prometheus.Histogram
	// CheckpointSize is dpt_checkpoint_size_bytes: the size of the last
	// checkpoint written.
	CheckpointSize prometheus.Gauge
	// CheckpointFailures is dpt_checkpoint_failures_total.
	CheckpointFailures prometheus.Counter

	// Transport counts traffic by kind and rejections by reason.
	Transport *Transport
	// NATS counts slow-consumer, drop and connection events.
	NATS *NATS

	workers *workerLabels
	// Per-worker series; use the methods, which bound the label values.
	contribCompute  *prometheus.HistogramVec
	contribLag      *prometheus.HistogramVec
	contribAccepted *prometheus.CounterVec
}

// NewCoordinator registers the coordinator's collectors on reg and returns
// them. version is the build's version string ("" becomes "unknown"). A nil
// reg gives working collectors that are registered nowhere. NewCoordinator
// panics if reg already holds collectors of the same names (a programmer
// error, as with promauto).
func NewCoordinator(reg prometheus.Registerer, version string) *Coordinator {
	f := promauto.With(reg)
	gauge := func(name, help string) prometheus.Gauge {
		return f.NewGauge(prometheus.GaugeOpts{Namespace: Namespace, Name: name, Help: help})
	}
	counter := func(name, help string) prometheus.Counter {
		return f.NewCounter(prometheus.CounterOpts{Namespace: Namespace, Name: name, Help: help})
	}
	split := func(name, help string) *prometheus.GaugeVec {
		return f.NewGaugeVec(prometheus.GaugeOpts{Namespace: Namespace, Name: name, Help: help}, []string{"split"})
	}
	loss := split("loss", "Mean loss on the split: train as of the last step's batch, test as of the last evaluation.")
	acc := split("accuracy_ratio", "Accuracy on the split, in [0, 1].")
	obj := split("objective", "Mean loss plus regulariser on the split: the quantity minimised.")

	c := &Coordinator{
		BuildInfo:      newBuildInfo(f, RoleCoordinator, version),
		Step:           gauge("step", "Last completed training step (0 before the first)."),
		JobSteps:       gauge("job_steps", "Number of steps the job runs in all."),
		StepsCompleted: counter("steps_completed_total", "Training steps applied by this process."),
		Epoch:          gauge("epoch", "Current epoch, counted from 0."),
		Examples:       counter("examples_total", "Examples whose gradient was applied."),

		TrainLoss:      loss.WithLabelValues("train"),
		TestLoss:       loss.WithLabelValues("test"),
		TrainAccuracy:  acc.WithLabelValues("train"),
		TestAccuracy:   acc.WithLabelValues("test"),
		TrainObjective: obj.WithLabelValues("train"),
		TestObjective:  obj.WithLabelValues("test"),
		GradientNorm:   gauge("gradient_norm", "Euclidean norm of the last step's reduced gradient."),
		LearningRate:   gauge("learning_rate", "Step size used by the last step."),

		StepDuration: f.NewHistogram(histogramOpts("", "step_duration_seconds",
			"Wall time of a whole training step.", stepBuckets)),
		PhaseDuration: f.NewHistogramVec(histogramOpts("step", "phase_duration_seconds",
			"Wall time of one phase of a training step.", stepBuckets), []string{"phase"}),

		WorkersLive:     gauge("workers_live", "Workers joined and heard from within the liveness timeout."),
		WorkersExpected: gauge("workers_expected", "Workers the job was configured for."),
		Reissued: f.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "microshards_reissued_total",
			Help: "Micro-shards issued again to another worker, by reason.",
		}, []string{"reason"}),

		CheckpointDuration: f.NewHistogram(histogramOpts("checkpoint", "duration_seconds",
			"Time to write one checkpoint.", ioBuckets)),
		CheckpointSize: f.NewGauge(prometheus.GaugeOpts{Namespace: Namespace, Subsystem: "checkpoint",
			Name: "size_bytes", Help: "Size of the last checkpoint written."}),
		CheckpointFailures: f.NewCounter(prometheus.CounterOpts{Namespace: Namespace, Subsystem: "checkpoint",
			Name: "failures_total", Help: "Checkpoints that failed to write."}),

		Transport: newTransport(f),
		NATS:      newNATS(f),

		workers: newWorkerLabels(MaxWorkerLabels),
		contribCompute: f.NewHistogramVec(histogramOpts("contribution", "compute_seconds",
			"Compute time a worker reported for a contribution, by worker.", stepBuckets), []string{"worker"}),
		contribLag: f.NewHistogramVec(histogramOpts("contribution", "lag_seconds",
			"Time from the step's broadcast to the arrival of a worker's contribution, by worker.", stepBuckets), []string{"worker"}),
		contribAccepted: f.NewCounterVec(prometheus.CounterOpts{Namespace: Namespace, Subsystem: "contribution",
			Name: "accepted_total", Help: "Contributions accepted into a step, by worker."}, []string{"worker"}),
	}
	for _, p := range phases {
		c.PhaseDuration.WithLabelValues(string(p))
	}
	for _, r := range reissueReasons {
		c.Reissued.WithLabelValues(string(r))
	}
	return c
}

// ObservePhase records the wall time d of one phase of a step.
func (c *Coordinator) ObservePhase(phase Phase, d time.Duration) {
	c.PhaseDuration.WithLabelValues(string(phase)).Observe(d.Seconds())
}

// Reissue counts n micro-shards issued again for the reason.
func (c *Coordinator) Reissue(reason ReissueReason, n int) {
	c.Reissued.WithLabelValues(string(reason)).Add(float64(max(n, 0)))
}

// ObserveContribution records an accepted contribution from the worker:
// compute is the compute time the worker reported, lag the time from the
// step's broadcast to the contribution's arrival, so lag − compute is the
// time spent in transfer and queues. The worker name may come from the
// network: it is sanitised and, past MaxWorkerLabels distinct names, folded
// into OtherWorker.
func (c *Coordinator) ObserveContribution(worker string, compute, lag time.Duration) {
	w := c.workers.value(worker)
	c.contribAccepted.WithLabelValues(w).Inc()
	c.contribCompute.WithLabelValues(w).Observe(compute.Seconds())
	c.contribLag.WithLabelValues(w).Observe(lag.Seconds())
}

// WorkerLabel returns the bounded label value the coordinator uses for the
// worker name, for callers that log it next to the metrics.
func (c *Coordinator) WorkerLabel(worker string) string { return c.workers.value(worker) }
