// Package metrics defines the Prometheus collectors of the coordinator and of
// the workers, and the HTTP handler that serves them with health and
// readiness probes.
//
// Nothing here is global: NewCoordinator and NewWorker register on the
// prometheus.Registerer they are given (cmd/* creates a
// prometheus.NewRegistry, adds RegisterRuntime if it wants go_* and
// process_*, and serves it with Handler and Serve). Every name has the
// namespace "dpt", a unit suffix where it has a unit, and "_total" on
// counters; `promtool check metrics` passes on the exposition (tested).
//
// # Coordinator series
//
//	dpt_build_info{version,goversion,role}                gauge, = 1
//	dpt_step                                              gauge, last completed step
//	dpt_job_steps                                         gauge, steps in the job
//	dpt_steps_completed_total                             counter
//	dpt_epoch                                             gauge
//	dpt_examples_total                                    counter, Σ batch sizes applied
//	dpt_loss{split="train"|"test"}                        gauge, mean loss
//	dpt_accuracy_ratio{split}                             gauge, [0, 1]
//	dpt_objective{split}                                  gauge, loss + regulariser
//	dpt_gradient_norm                                     gauge, ‖g‖₂
//	dpt_learning_rate                                     gauge
//	dpt_step_duration_seconds                             histogram
//	dpt_step_phase_duration_seconds{phase}                histogram; phase ∈ plan,
//	                                                      broadcast, compute_wait,
//	                                                      reduce, update, checkpoint
//	dpt_contribution_compute_seconds{worker}              histogram, as reported
//	dpt_contribution_lag_seconds{worker}                  histogram, broadcast → arrival
//	dpt_contribution_accepted_total{worker}               counter
//	dpt_workers_live, dpt_workers_expected                gauges
//	dpt_microshards_reissued_total{reason}                counter; dead, straggler
//	dpt_checkpoint_duration_seconds                       histogram
//	dpt_checkpoint_size_bytes                             gauge
//	dpt_checkpoint_failures_total                         counter
//
// # Worker series (each with the constant label worker="<name>")
//
//	dpt_build_info{version,goversion,role}                gauge, = 1
//	dpt_worker_step                                       gauge
//	dpt_worker_contributions_sent_total                   counter
//	dpt_worker_compute_seconds                            histogram
//	dpt_worker_params_received_total                      counter
//	dpt_worker_data_load_seconds                          histogram
//	dpt_worker_held_rows, dpt_worker_held_microshards     gauges
//
// # Both
//
//	dpt_transport_{sent,received}_bytes_total{kind}       counters; kind ∈ params,
//	dpt_transport_{sent,received}_messages_total{kind}    plan, contrib, control, shard
//	dpt_messages_rejected_total{reason}                   counter; reason ∈ stale,
//	                                                      duplicate, unknown_worker,
//	                                                      range, length, not_finite,
//	                                                      job, malformed, oversized,
//	                                                      checksum
//	dpt_nats_slow_consumer_events_total                   counter
//	dpt_nats_dropped_messages_total                       counter
//	dpt_nats_disconnects_total, dpt_nats_reconnects_total counters
//
// # Cardinality
//
// Every label has a closed set of values except "worker" on the
// coordinator, whose values are worker names taken from the network. They are
// sanitised (valid UTF-8, at most 128 bytes, never empty) and bounded: the
// first MaxWorkerLabels (256) distinct names get their own series for the
// life of the process, and later ones share the value OtherWorker ("other").
// With the 3 per-worker families (two histograms of 19 buckets + sum + count,
// one counter) that caps the per-worker series at 256 × 43 ≈ 11 000. Labels
// with closed sets are initialised to zero at construction, so a rate() over
// them never starts from a missing series. No label ever holds a step, a
// micro-shard or a job id.
//
// # Histograms
//
// The step, phase, compute and lag histograms use buckets 0.5 ms … 65.5 s by
// factors of 2; checkpoint and data-load histograms 1 ms … 150 s by factors
// of 2.5. All of them are also native histograms (bucket factor 1.1) when
// scraped over protobuf by a server that enables them.
package metrics
