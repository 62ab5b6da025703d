package main

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/cog/variants"
	"github.com/grafana/grafana-foundation-sdk/go/common"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/grafana/grafana-foundation-sdk/go/prometheus"
	"github.com/grafana/grafana-foundation-sdk/go/stat"
	"github.com/grafana/grafana-foundation-sdk/go/timeseries"
)

// Identity of the training dashboard. The uid is stable so that links and
// provisioning survive regeneration.
const (
	trainingUID   = "dptrain-training"
	trainingTitle = "dptrain / Training"
)

// Selectors shared by the queries. C picks the coordinator chosen in the
// $coordinator variable; W picks the workers chosen in $worker (its "All"
// value is .+, so series without a worker label, the coordinator's, never
// match).
const (
	selC = `instance=~"$coordinator"`
	selW = `worker=~"$worker"`
	// ri is Grafana's rate interval: at least four scrape intervals.
	ri = `[$__rate_interval]`
)

// query is one PromQL target of a panel.
type query struct {
	expr   string
	legend string
}

func q(expr, legend string) query { return query{expr: expr, legend: legend} }

// datasource is the dashboard's Prometheus, chosen in the $datasource
// variable.
func datasource() common.DataSourceRef {
	return common.DataSourceRef{Type: cog.ToPtr("prometheus"), Uid: cog.ToPtr("${datasource}")}
}

func targets(qs []query) []cog.Builder[variants.Dataquery] {
	out := make([]cog.Builder[variants.Dataquery], len(qs))
	for i, x := range qs {
		out[i] = prometheus.NewDataqueryBuilder().
			Datasource(datasource()).
			Expr(x.expr).
			LegendFormat(x.legend).
			RefId(string(rune('A' + i)))
	}
	return out
}

// panelIDs hands out stable, increasing panel ids.
type panelIDs struct{ next uint32 }

func (p *panelIDs) id() uint32 { p.next++; return p.next }

// series is a time-series panel of width w and height 8.
func (p *panelIDs) series(title, desc, unit string, w uint32, qs ...query) *timeseries.PanelBuilder {
	b := timeseries.NewPanelBuilder().
		Id(p.id()).
		Title(title).
		Description(desc).
		Datasource(datasource()).
		Unit(unit).
		Span(w).
		Height(8).
		LineWidth(1).
		FillOpacity(10).
		ShowPoints(common.VisibilityModeNever).
		Legend(common.NewVizLegendOptionsBuilder().
			DisplayMode(common.LegendDisplayModeList).
			Placement(common.LegendPlacementBottom).
			ShowLegend(true)).
		Tooltip(common.NewVizTooltipOptionsBuilder().
			Mode(common.TooltipDisplayModeMulti).
			Sort(common.SortOrderDescending))
	for _, t := range targets(qs) {
		b.WithTarget(t)
	}
	return b
}

// single is a stat panel of width 4 and height 4 showing the last value.
func (p *panelIDs) single(title, desc, unit string, qs ...query) *stat.PanelBuilder {
	b := stat.NewPanelBuilder().
		Id(p.id()).
		Title(title).
		Description(desc).
		Datasource(datasource()).
		Unit(unit).
		Span(4).
		Height(4).
		GraphMode(common.BigValueGraphModeArea).
		ColorMode(common.BigValueColorModeValue).
		ReduceOptions(common.NewReduceDataOptionsBuilder().Calcs([]string{"lastNotNull"}).Values(false))
	for _, t := range targets(qs) {
		b.WithTarget(t)
	}
	return b
}

func thresholds(steps ...dashboard.Threshold) *dashboard.ThresholdsConfigBuilder {
	return dashboard.NewThresholdsConfigBuilder().Mode(dashboard.ThresholdsModeAbsolute).Steps(steps)
}

func step(value *float64, color string) dashboard.Threshold {
	return dashboard.Threshold{Value: value, Color: color}
}

func stacked() *common.StackingConfigBuilder {
	return common.NewStackingConfigBuilder().Mode(common.StackingModeNormal)
}

// trainingDashboard builds the training dashboard.
func trainingDashboard() (dashboard.Dashboard, error) {
	var p panelIDs
	b := dashboard.NewDashboardBuilder(trainingTitle).
		Uid(trainingUID).
		Description("Progress, optimisation health, step-time breakdown, per-worker timings and faults of a dptrain job.").
		Tags([]string{"dptrain", "training"}).
		Editable().
		Refresh("10s").
		Time("now-1h", "now").
		Timezone(common.TimeZoneBrowser).
		Tooltip(dashboard.DashboardCursorSyncCrosshair).
		WithVariable(dashboard.NewDatasourceVariableBuilder("datasource").
			Label("Data source").
			Type("prometheus")).
		WithVariable(dashboard.NewQueryVariableBuilder("coordinator").
			Label("Coordinator").
			Description("The coordinator (one training job) whose series are shown.").
			Datasource(datasource()).
			Query(dashboard.StringOrMap{String: cog.ToPtr("label_values(dpt_job_steps, instance)")}).
			Refresh(dashboard.VariableRefreshOnTimeRangeChanged).
			Sort(dashboard.VariableSortAlphabeticalAsc)).
		WithVariable(dashboard.NewQueryVariableBuilder("worker").
			Label("Worker").
			Datasource(datasource()).
			Query(dashboard.StringOrMap{String: cog.ToPtr("label_values(dpt_worker_step, worker)")}).
			Refresh(dashboard.VariableRefreshOnTimeRangeChanged).
			Sort(dashboard.VariableSortAlphabeticalCaseInsensitiveAsc).
			Multi(true).
			IncludeAll(true).
			AllValue(".+")).
		WithVariable(dashboard.NewQueryVariableBuilder("worker_job").
			Label("Worker scrape job").
			Hide(dashboard.VariableHideHideVariable).
			Datasource(datasource()).
			Query(dashboard.StringOrMap{String: cog.ToPtr(`label_values(dpt_build_info{role="worker"}, job)`)}).
			Refresh(dashboard.VariableRefreshOnTimeRangeChanged).
			Multi(true).
			IncludeAll(true))

	// Progress.
	b.WithRow(dashboard.NewRowBuilder("Progress").Id(p.id()))
	b.WithPanel(p.single("Progress", "Completed steps over the job's steps.", "percentunit",
		q(`max(dpt_step{`+selC+`}) / max(dpt_job_steps{`+selC+`})`, "progress")).
		Min(0).Max(1))
	b.WithPanel(p.single("Step", "Last completed step.", "none",
		q(`max(dpt_step{`+selC+`})`, "step")))
	b.WithPanel(p.single("Epoch", "Current epoch, from 0.", "none",
		q(`max(dpt_epoch{`+selC+`})`, "epoch")))
	b.WithPanel(p.single("ETA", "Remaining steps at the step rate of the last 5 minutes.", "s",
		q(`(max(dpt_job_steps{`+selC+`}) - max(dpt_step{`+selC+`})) / sum(rate(dpt_steps_completed_total{`+selC+`}[5m]))`, "eta")).
		GraphMode(common.BigValueGraphModeNone))
	b.WithPanel(p.single("Workers live", "Workers heard from within the liveness timeout, against those expected.", "none",
		q(`max(dpt_workers_live{`+selC+`})`, "live"),
		q(`max(dpt_workers_expected{`+selC+`})`, "expected")).
		GraphMode(common.BigValueGraphModeNone))
	b.WithPanel(p.single("Throughput", "Examples whose gradient was applied, per second.", "short",
		q(`sum(rate(dpt_examples_total{`+selC+`}`+ri+`))`, "examples/s")))

	// Optimisation.
	b.WithRow(dashboard.NewRowBuilder("Optimisation").Id(p.id()))
	b.WithPanel(p.series("Loss and objective", "Mean loss (train: last batch; test: last evaluation) and objective (loss + regulariser).", "short", 12,
		q(`dpt_loss{`+selC+`}`, "loss {{split}}"),
		q(`dpt_objective{`+selC+`}`, "objective {{split}}")))
	b.WithPanel(p.series("Accuracy", "Accuracy on the train batch and the test set.", "percentunit", 12,
		q(`dpt_accuracy_ratio{`+selC+`}`, "{{split}}")).
		Min(0).Max(1))
	b.WithPanel(p.series("Gradient norm", "‖g‖₂ of each step's reduced gradient; a rising trend or spikes announce divergence.", "short", 12,
		q(`dpt_gradient_norm{`+selC+`}`, "‖g‖₂")).
		ScaleDistribution(common.NewScaleDistributionConfigBuilder().Type(common.ScaleDistributionLog).Log(10)))
	b.WithPanel(p.series("Learning rate", "Step size of each step.", "short", 12,
		q(`dpt_learning_rate{`+selC+`}`, "learning rate")))

	// Throughput and step time.
	b.WithRow(dashboard.NewRowBuilder("Throughput and step time").Id(p.id()))
	b.WithPanel(p.series("Throughput", "Examples and steps applied per second.", "short", 8,
		q(`sum(rate(dpt_examples_total{`+selC+`}`+ri+`))`, "examples/s"),
		q(`sum(rate(dpt_steps_completed_total{`+selC+`}`+ri+`))`, "steps/s")).
		OverrideByName("steps/s", []dashboard.DynamicConfigValue{
			{Id: "custom.axisPlacement", Value: "right"},
		}))
	b.WithPanel(p.series("Step time by phase", "Mean wall time per step spent in each phase, stacked: the height is the mean step time.", "s", 8,
		q(`sum by (phase) (rate(dpt_step_phase_duration_seconds_sum{`+selC+`}`+ri+`)) / ignoring (phase) group_left () sum(rate(dpt_step_duration_seconds_count{`+selC+`}`+ri+`))`, "{{phase}}")).
		Stacking(stacked()).
		FillOpacity(60))
	b.WithPanel(p.series("Step duration quantiles", "Quantiles of whole-step wall time, from the histogram.", "s", 8,
		q(`histogram_quantile(0.5, sum by (le) (rate(dpt_step_duration_seconds_bucket{`+selC+`}`+ri+`)))`, "p50"),
		q(`histogram_quantile(0.9, sum by (le) (rate(dpt_step_duration_seconds_bucket{`+selC+`}`+ri+`)))`, "p90"),
		q(`histogram_quantile(0.99, sum by (le) (rate(dpt_step_duration_seconds_bucket{`+selC+`}`+ri+`)))`, "p99")))
	b.WithPanel(p.series("Worker compute share", "Fraction of wall time the average live worker spends computing gradients. Below 50 % (the line) steps are dominated by communication and waiting: more workers will not help.", "percentunit", 12,
		q(`sum(rate(dpt_contribution_compute_seconds_sum{`+selC+`}`+ri+`)) / max(dpt_workers_live{`+selC+`})`, "compute share")).
		Min(0).Max(1).
		Thresholds(thresholds(step(nil, "red"), step(cog.ToPtr(0.5), "green"))).
		ThresholdsStyle(common.NewGraphThresholdsStyleConfigBuilder().Mode(common.GraphThresholdsStyleModeLine)))
	b.WithPanel(p.series("Checkpoints", "Checkpoint write time (p90) and failures.", "s", 6,
		q(`histogram_quantile(0.9, sum by (le) (rate(dpt_checkpoint_duration_seconds_bucket{`+selC+`}`+ri+`)))`, "p90 duration"),
		q(`sum(increase(dpt_checkpoint_failures_total{`+selC+`}`+ri+`))`, "failures")).
		OverrideByName("failures", []dashboard.DynamicConfigValue{
			{Id: "unit", Value: "short"},
			{Id: "custom.axisPlacement", Value: "right"},
			{Id: "custom.drawStyle", Value: "bars"},
		}))
	b.WithPanel(p.series("Checkpoint size", "Size of the last checkpoint written.", "bytes", 6,
		q(`max(dpt_checkpoint_size_bytes{`+selC+`})`, "size")))

	// Workers, as the coordinator sees them.
	b.WithRow(dashboard.NewRowBuilder("Workers (coordinator view)").Id(p.id()))
	b.WithPanel(p.series("Contribution lag by worker", "Mean time from a step's broadcast to the arrival of each worker's contribution (with --group-size, of the group leader's sum that carried it). A straggler sits above the pack.", "s", 12,
		q(`sum by (worker) (rate(dpt_contribution_lag_seconds_sum{`+selC+`}`+ri+`)) / sum by (worker) (rate(dpt_contribution_lag_seconds_count{`+selC+`}`+ri+`))`, "{{worker}}")))
	b.WithPanel(p.series("Contribution lag p90 by worker", "90th percentile of the contribution lag, per worker.", "s", 12,
		q(`histogram_quantile(0.9, sum by (worker, le) (rate(dpt_contribution_lag_seconds_bucket{`+selC+`}`+ri+`)))`, "{{worker}}")))
	b.WithPanel(p.series("Compute time by worker", "Mean compute time each worker reported per contribution; lag minus compute is transfer and queueing.", "s", 12,
		q(`sum by (worker) (rate(dpt_contribution_compute_seconds_sum{`+selC+`}`+ri+`)) / sum by (worker) (rate(dpt_contribution_compute_seconds_count{`+selC+`}`+ri+`))`, "{{worker}}")))
	b.WithPanel(p.series("Contributions accepted by worker", "Blocks per second accepted into steps, by the worker that computed them (re-issued shares move between workers; with --group-size a group's blocks arrive in its leader's sums and still count for their own workers).", "short", 12,
		q(`sum by (worker) (rate(dpt_contribution_accepted_total{`+selC+`}`+ri+`))`, "{{worker}}")).
		Stacking(stacked()))
	b.WithPanel(p.series("Worker liveness", "Live and expected workers (coordinator) and worker scrape targets up (Prometheus).", "none", 24,
		q(`max(dpt_workers_live{`+selC+`})`, "live"),
		q(`max(dpt_workers_expected{`+selC+`})`, "expected"),
		q(`sum(up{job=~"$worker_job"})`, "targets up"),
		q(`count(up{job=~"$worker_job"})`, "targets discovered")).
		Min(0).
		OverrideByName("expected", []dashboard.DynamicConfigValue{
			{Id: "custom.lineStyle", Value: map[string]any{"fill": "dash", "dash": []int{10, 10}}},
		}))

	// Workers, as they see themselves.
	b.WithRow(dashboard.NewRowBuilder("Workers (worker view)").Id(p.id()))
	b.WithPanel(p.series("Worker compute time p90", "90th percentile of the time to compute one contribution, measured on each worker.", "s", 8,
		q(`histogram_quantile(0.9, sum by (worker, le) (rate(dpt_worker_compute_seconds_bucket{`+selW+`}`+ri+`)))`, "{{worker}}")))
	b.WithPanel(p.series("Steps behind", "How many steps each worker's last contribution trails the coordinator's last completed step.", "none", 8,
		q(`scalar(max(dpt_step{`+selC+`})) - dpt_worker_step{`+selW+`}`, "{{worker}}")))
	b.WithPanel(p.series("Data load time", "Mean time to fetch and decode one micro-shard.", "s", 8,
		q(`sum by (worker) (rate(dpt_worker_data_load_seconds_sum{`+selW+`}`+ri+`)) / sum by (worker) (rate(dpt_worker_data_load_seconds_count{`+selW+`}`+ri+`))`, "{{worker}}")))
	b.WithPanel(p.series("Rows held", "Training rows each worker holds in memory.", "short", 12,
		q(`dpt_worker_held_rows{`+selW+`}`, "{{worker}}")).
		Stacking(stacked()))
	b.WithPanel(p.series("Parameters received and contributions sent", "Per second, summed over the selected workers.", "short", 12,
		q(`sum(rate(dpt_worker_params_received_total{`+selW+`}`+ri+`))`, "params received/s"),
		q(`sum(rate(dpt_worker_contributions_sent_total{`+selW+`}`+ri+`))`, "contributions sent/s"),
		q(`sum(dpt_worker_held_microshards{`+selW+`})`, "micro-shards held")).
		OverrideByName("micro-shards held", []dashboard.DynamicConfigValue{
			{Id: "custom.axisPlacement", Value: "right"},
		}))

	// Network.
	b.WithRow(dashboard.NewRowBuilder("Network").Id(p.id()))
	b.WithPanel(p.series("Coordinator bytes by kind", "Payload bytes per second sent and received by the coordinator, by kind of message.", "Bps", 12,
		q(`sum by (kind) (rate(dpt_transport_sent_bytes_total{`+selC+`}`+ri+`))`, "sent {{kind}}"),
		q(`sum by (kind) (rate(dpt_transport_received_bytes_total{`+selC+`}`+ri+`))`, "received {{kind}}")))
	b.WithPanel(p.series("Worker bytes by kind", "Payload bytes per second sent and received by the selected workers together, by kind of message.", "Bps", 12,
		q(`sum by (kind) (rate(dpt_transport_sent_bytes_total{`+selW+`}`+ri+`))`, "sent {{kind}}"),
		q(`sum by (kind) (rate(dpt_transport_received_bytes_total{`+selW+`}`+ri+`))`, "received {{kind}}")))
	b.WithPanel(p.series("Coordinator messages by kind", "Messages (chunks) per second sent and received by the coordinator.", "short", 12,
		q(`sum by (kind) (rate(dpt_transport_sent_messages_total{`+selC+`}`+ri+`))`, "sent {{kind}}"),
		q(`sum by (kind) (rate(dpt_transport_received_messages_total{`+selC+`}`+ri+`))`, "received {{kind}}")))
	b.WithPanel(p.series("Worker bytes by worker", "Payload bytes per second each worker sends and receives.", "Bps", 12,
		q(`sum by (worker) (rate(dpt_transport_received_bytes_total{`+selW+`}`+ri+`))`, "{{worker}} in"),
		q(`sum by (worker) (rate(dpt_transport_sent_bytes_total{`+selW+`}`+ri+`))`, "{{worker}} out")))

	// Faults.
	b.WithRow(dashboard.NewRowBuilder("Faults").Id(p.id()))
	b.WithPanel(p.series("Micro-shards re-issued", "Micro-shards issued again, by reason: dead (worker lost) or straggler (speculative copy).", "short", 8,
		q(`sum by (reason) (increase(dpt_microshards_reissued_total{`+selC+`}`+ri+`))`, "{{reason}}")).
		DrawStyle(common.GraphDrawStyleBars).
		Stacking(stacked()))
	b.WithPanel(p.series("Messages rejected", "Inbound messages rejected and never applied, by reason, at the coordinator and at the selected workers.", "short", 8,
		q(`sum by (reason) (increase(dpt_messages_rejected_total{`+selC+`}`+ri+`)) > 0`, "coordinator {{reason}}"),
		q(`sum by (reason) (increase(dpt_messages_rejected_total{`+selW+`}`+ri+`)) > 0`, "workers {{reason}}")).
		DrawStyle(common.GraphDrawStyleBars).
		Stacking(stacked()))
	b.WithPanel(p.series("NATS events", "Slow-consumer events, dropped messages, disconnects and reconnects, over the coordinator and all workers.", "short", 8,
		q(`sum(increase(dpt_nats_slow_consumer_events_total`+ri+`))`, "slow consumer"),
		q(`sum(increase(dpt_nats_dropped_messages_total`+ri+`))`, "dropped"),
		q(`sum(increase(dpt_nats_disconnects_total`+ri+`))`, "disconnects"),
		q(`sum(increase(dpt_nats_reconnects_total`+ri+`))`, "reconnects")).
		DrawStyle(common.GraphDrawStyleBars))

	return b.Build()
}

// trainingJSON renders the training dashboard as indented JSON with a
// trailing newline, the form committed in dashboards/.
func trainingJSON() ([]byte, error) {
	d, err := trainingDashboard()
	if err != nil {
		return nil, fmt.Errorf("dashgen: build training dashboard: %w", err)
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(d); err != nil {
		return nil, fmt.Errorf("dashgen: encode training dashboard: %w", err)
	}
	return buf.Bytes(), nil
}
