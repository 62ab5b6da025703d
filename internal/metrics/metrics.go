package metrics

import (
	"fmt"
	"runtime"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// Namespace prefixes every metric name of the trainer.
const Namespace = "dpt"

// Roles, the value of the "role" label of dpt_build_info.
const (
	RoleCoordinator = "coordinator"
	RoleWorker      = "worker"
)

// Histogram buckets (upper bounds, seconds). Classic buckets are what the
// text exposition, promtool, recording rules and the dashboard use; every
// histogram also carries native-histogram settings for servers that scrape
// protobuf with native histograms enabled.
var (
	// stepBuckets spans 0.5 ms … 65.5 s by factors of 2: steps, phases,
	// worker compute and contribution lag, from a tiny full batch on one
	// core to a large mini-batch on a slow worker.
	stepBuckets = prometheus.ExponentialBuckets(0.0005, 2, 18)
	// ioBuckets spans 1 ms … 150 s by factors of 2.5: checkpoints and data
	// loading, which grow with the model and the shard.
	ioBuckets = prometheus.ExponentialBuckets(0.001, 2.5, 14)
)

// Native-histogram settings shared by every histogram: 10 % relative
// resolution, at most 160 buckets, reset at most hourly when over the cap.
const (
	nativeBucketFactor = 1.1
	nativeMaxBuckets   = 160
	nativeMinReset     = time.Hour
)

func histogramOpts(subsystem, name, help string, buckets []float64) prometheus.HistogramOpts {
	return prometheus.HistogramOpts{
		Namespace:                       Namespace,
		Subsystem:                       subsystem,
		Name:                            name,
		Help:                            help,
		Buckets:                         buckets,
		NativeHistogramBucketFactor:     nativeBucketFactor,
		NativeHistogramMaxBucketNumber:  nativeMaxBuckets,
		NativeHistogramMinResetDuration: nativeMinReset,
	}
}

// newBuildInfo registers dpt_build_info, a gauge that is 1 and carries the
// version, the Go version and the role as labels: join on it to annotate any
// series with the build (`* on(instance) group_left(version) dpt_build_info`).
func newBuildInfo(f promauto.Factory, role, version string) prometheus.Gauge {
	if version == "" {
		version = "unknown"
	}
	g := f.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: Namespace,
		Name:      "build_info",
		Help:      "A metric with a constant '1' value labeled by the version, the Go version and the role of the process.",
	}, []string{"version", "goversion", "role"}).WithLabelValues(version, runtime.Version(), role)
	g.Set(1)
	return g
}

// Transport counts what a process sends and receives, by kind of message,
// and the inbound messages it rejects, by reason. The coordinator and the
// workers each have one; the transport adapter (natsbus) updates it. Every
// label value is initialised to zero at construction, so rate() and
// increase() see a series from the first scrape.
type Transport struct {
	// SentBytes is dpt_transport_sent_bytes_total{kind}: payload bytes
	// published, headers excluded.
	SentBytes *prometheus.CounterVec
	// ReceivedBytes is dpt_transport_received_bytes_total{kind}.
	ReceivedBytes *prometheus.CounterVec
	// SentMessages is dpt_transport_sent_messages_total{kind}: NATS
	// messages (chunks) published.
	SentMessages *prometheus.CounterVec
	// ReceivedMessages is dpt_transport_received_messages_total{kind}.
	ReceivedMessages *prometheus.CounterVec
	// Rejected is dpt_messages_rejected_total{reason}: inbound messages
	// rejected and never applied.
	Rejected *prometheus.CounterVec
}

func newTransport(f promauto.Factory) *Transport {
	vec := func(name, help string) *prometheus.CounterVec {
		return f.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Subsystem: "transport", Name: name, Help: help,
		}, []string{"kind"})
	}
	t := &Transport{
		SentBytes:        vec("sent_bytes_total", "Payload bytes published, by kind of message."),
		ReceivedBytes:    vec("received_bytes_total", "Payload bytes received, by kind of message."),
		SentMessages:     vec("sent_messages_total", "Messages (chunks) published, by kind of message."),
		ReceivedMessages: vec("received_messages_total", "Messages (chunks) received, by kind of message."),
		Rejected: f.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "messages_rejected_total",
			Help: "Inbound messages rejected and not applied, by reason.",
		}, []string{"reason"}),
	}
	for _, k := range kinds {
		t.SentBytes.WithLabelValues(string(k))
		t.ReceivedBytes.WithLabelValues(string(k))
		t.SentMessages.WithLabelValues(string(k))
		t.ReceivedMessages.WithLabelValues(string(k))
	}
	for _, r := range rejectReasons {
		t.Rejected.WithLabelValues(string(r))
	}
	return t
}

// Sent counts one published message of the kind carrying n payload bytes.
func (t *Transport) Sent(kind Kind, n int) {
	t.SentMessages.WithLabelValues(string(kind)).Inc()
	t.SentBytes.WithLabelValues(string(kind)).Add(float64(max(n, 0)))
}

// Received counts one received message of the kind carrying n payload bytes.
func (t *Transport) Received(kind Kind, n int) {
	t.ReceivedMessages.WithLabelValues(string(kind)).Inc()
	t.ReceivedBytes.WithLabelValues(string(kind)).Add(float64(max(n, 0)))
}

// Reject counts one inbound message rejected for the reason.
func (t *Transport) Reject(reason RejectReason) {
	t.Rejected.WithLabelValues(string(reason)).Inc()
}

// NATS counts the connection events that cost messages or time. The
// transport adapter increments them from its nats.go handlers: the error
// handler on nats.ErrSlowConsumer, the disconnect and reconnect handlers, and
// the growth of Subscription.Dropped() (add the difference to Dropped).
type NATS struct {
	// SlowConsumers is dpt_nats_slow_consumer_events_total: times a
	// subscription's pending buffer overflowed.
	SlowConsumers prometheus.Counter
	// Dropped is dpt_nats_dropped_messages_total: messages the client
	// dropped because a subscription was a slow consumer.
	Dropped prometheus.Counter
	// Disconnects is dpt_nats_disconnects_total.
	Disconnects prometheus.Counter
	// Reconnects is dpt_nats_reconnects_total.
	Reconnects prometheus.Counter
}

func newNATS(f promauto.Factory) *NATS {
	c := func(name, help string) prometheus.Counter {
		return f.NewCounter(prometheus.CounterOpts{Namespace: Namespace, Subsystem: "nats", Name: name, Help: help})
	}
	return &NATS{
		SlowConsumers: c("slow_consumer_events_total", "Times a subscription's pending buffer overflowed (slow consumer)."),
		Dropped:       c("dropped_messages_total", "Messages dropped by the client because a subscription was a slow consumer."),
		Disconnects:   c("disconnects_total", "Disconnections from the NATS server."),
		Reconnects:    c("reconnects_total", "Successful reconnections to the NATS server."),
	}
}

// RegisterRuntime registers the standard Go runtime and process collectors
// (go_*, process_*) on reg, which a composition root usually wants next to the
// trainer's own metrics.
func RegisterRuntime(reg prometheus.Registerer) error {
	for _, c := range []prometheus.Collector{
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	} {
		if err := reg.Register(c); err != nil {
			return fmt.Errorf("metrics: register runtime collector: %w", err)
		}
	}
	return nil
}
