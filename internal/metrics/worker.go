package metrics

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// Worker holds a worker's collectors. Every series carries the constant
// label worker="<name>", the same value the coordinator uses in its
// per-worker series, so the two sides join on it. Every field is safe for
// concurrent use.
type Worker struct {
	// BuildInfo is dpt_build_info{version,goversion,role="worker"} = 1.
	BuildInfo prometheus.Gauge
	// Step is dpt_worker_step: the last step for which the worker sent a
	// contribution.
	Step prometheus.Gauge
	// ContributionsSent is dpt_worker_contributions_sent_total.
	ContributionsSent prometheus.Counter
	// ComputeDuration is dpt_worker_compute_seconds: time to compute one
	// contribution (forward, loss, backward over its micro-shard range).
	ComputeDuration prometheus.Histogram
	// ParamsReceived is dpt_worker_params_received_total: complete parameter
	// vectors received (after reassembling chunks).
	ParamsReceived prometheus.Counter
	// DataLoadDuration is dpt_worker_data_load_seconds: time to fetch and
	// decode one micro-shard (object store or shared path).
	DataLoadDuration prometheus.Histogram
	// RowsHeld is dpt_worker_held_rows: training rows held in memory.
	RowsHeld prometheus.Gauge
	// MicroshardsHeld is dpt_worker_held_microshards: micro-shards held in
	// memory.
	MicroshardsHeld prometheus.Gauge

	// Transport counts traffic by kind and rejections by reason.
	Transport *Transport
	// NATS counts slow-consumer, drop and connection events.
	NATS *NATS
}

// NewWorker registers the collectors of the worker named worker on reg and
// returns them. The name is sanitised as the coordinator sanitises it (see
// MaxWorkerLabels). version is the build's version string ("" becomes
// "unknown"). A nil reg gives working collectors that are registered nowhere.
// NewWorker panics if reg already holds collectors of the same names (a
// programmer error, as with promauto).
func NewWorker(reg prometheus.Registerer, worker string, version string) *Worker {
	if reg != nil {
		reg = prometheus.WrapRegistererWith(prometheus.Labels{"worker": sanitizeWorker(worker)}, reg)
	}
	f := promauto.With(reg)
	const sub = "worker"
	return &Worker{
		BuildInfo: newBuildInfo(f, RoleWorker, version),
		Step: f.NewGauge(prometheus.GaugeOpts{Namespace: Namespace, Subsystem: sub, Name: "step",
			Help: "Last step for which the worker sent a contribution."}),
		ContributionsSent: f.NewCounter(prometheus.CounterOpts{Namespace: Namespace, Subsystem: sub,
			Name: "contributions_sent_total", Help: "Contributions sent to the coordinator."}),
		ComputeDuration: f.NewHistogram(histogramOpts(sub, "compute_seconds",
			"Time to compute one contribution.", stepBuckets)),
		ParamsReceived: f.NewCounter(prometheus.CounterOpts{Namespace: Namespace, Subsystem: sub,
			Name: "params_received_total", Help: "Complete parameter vectors received."}),
		DataLoadDuration: f.NewHistogram(histogramOpts(sub, "data_load_seconds",
			"Time to fetch and decode one micro-shard.", ioBuckets)),
		RowsHeld: f.NewGauge(prometheus.GaugeOpts{Namespace: Namespace, Subsystem: sub, Name: "held_rows",
			Help: "Training rows held in memory."}),
		MicroshardsHeld: f.NewGauge(prometheus.GaugeOpts{Namespace: Namespace, Subsystem: sub, Name: "held_microshards",
			Help: "Micro-shards held in memory."}),
		Transport: newTransport(f),
		NATS:      newNATS(f),
	}
}
