package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"
	"sigs.k8s.io/yaml"

	"github.com/dptrain/dptrain/internal/metrics"
)

var (
	dashboardPath = filepath.Join("..", "..", "dashboards", "training.json")
	alertsPath    = filepath.Join("..", "..", "deploy", "prometheus", "alerts.yml")
)

// TestCommittedDashboardIsCurrent fails when dashboards/training.json is not
// what the generator writes: run `go generate ./internal/dashgen`.
func TestCommittedDashboardIsCurrent(t *testing.T) {
	want, err := trainingJSON()
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(dashboardPath)
	if err != nil {
		t.Fatalf("%v (run: go generate ./internal/dashgen)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s is stale: run `go generate ./internal/dashgen` and commit the result", dashboardPath)
	}
}

func TestGeneratorIsDeterministic(t *testing.T) {
	a, err := trainingJSON()
	if err != nil {
		t.Fatal(err)
	}
	b, err := trainingJSON()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a, b) {
		t.Error("two runs of the generator differ")
	}
}

func TestRunWritesFile(t *testing.T) {
	out := filepath.Join(t.TempDir(), "sub", "training.json")
	if err := run(out); err != nil {
		t.Fatal(err)
	}
	var d map[string]any
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("written dashboard is not JSON: %v", err)
	}
	if d["uid"] != trainingUID {
		t.Errorf("uid = %v, want %s", d["uid"], trainingUID)
	}
}

// catalog maps every metric name a live run exposes to the label names its
// series may carry (including the target labels Prometheus adds).
type catalog map[string]map[string]bool

// targetLabels are attached by Prometheus to every scraped series.
var targetLabels = []string{"job", "instance"}

// recorder is a prometheus.Registerer that keeps what it is given, so that
// every collector can be described even if it has no series yet.
type recorder struct{ cs []prometheus.Collector }

func (r *recorder) Register(c prometheus.Collector) error   { r.cs = append(r.cs, c); return nil }
func (r *recorder) MustRegister(cs ...prometheus.Collector) { r.cs = append(r.cs, cs...) }
func (r *recorder) Unregister(prometheus.Collector) bool    { return false }

var descRE = regexp.MustCompile(`^Desc\{fqName: "([^"]+)", .*constLabels: \{(.*)\}, variableLabels: \{(.*)\}\}$`)

// liveCatalog describes the collectors of NewCoordinator and NewWorker, and
// gathers populated registries for the metric types, so that histograms get
// their _bucket (with le), _sum and _count series.
func liveCatalog(t *testing.T) catalog {
	t.Helper()
	described := map[string][]string{}
	var rec recorder
	metrics.NewCoordinator(&rec, "test")
	metrics.NewWorker(&rec, "w1", "test")
	for _, c := range rec.cs {
		ch := make(chan *prometheus.Desc, 64)
		go func() { c.Describe(ch); close(ch) }()
		for d := range ch {
			m := descRE.FindStringSubmatch(d.String())
			if m == nil {
				t.Fatalf("cannot read %s", d)
			}
			var lbls []string
			for _, kv := range strings.Split(m[2], ",") {
				if k, _, ok := strings.Cut(kv, "="); ok {
					lbls = append(lbls, k)
				}
			}
			for _, v := range strings.Split(m[3], ",") {
				if v != "" {
					lbls = append(lbls, strings.TrimSuffix(strings.TrimPrefix(v, "c("), ")"))
				}
			}
			described[m[1]] = append(described[m[1]], lbls...)
		}
	}

	// Types, from populated registries.
	types := map[string]dto.MetricType{}
	creg := prometheus.NewRegistry()
	c := metrics.NewCoordinator(creg, "test")
	c.ObserveContribution("w1", time.Millisecond, time.Millisecond)
	wreg := prometheus.NewRegistry()
	metrics.NewWorker(wreg, "w1", "test")
	for _, g := range []prometheus.Gatherer{creg, wreg} {
		mfs, err := g.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, mf := range mfs {
			types[mf.GetName()] = mf.GetType()
		}
	}

	cat := catalog{}
	add := func(name string, lbls ...string) {
		if cat[name] == nil {
			cat[name] = map[string]bool{}
		}
		for _, l := range append(lbls, targetLabels...) {
			cat[name][l] = true
		}
	}
	for name, lbls := range described {
		typ, ok := types[name]
		if !ok {
			t.Fatalf("%s is described but has no series after populating: extend liveCatalog", name)
		}
		switch typ {
		case dto.MetricType_HISTOGRAM, dto.MetricType_GAUGE_HISTOGRAM:
			add(name+"_bucket", append(lbls, "le")...)
			add(name+"_sum", lbls...)
			add(name+"_count", lbls...)
		case dto.MetricType_SUMMARY:
			add(name, append(lbls, "quantile")...)
			add(name+"_sum", lbls...)
			add(name+"_count", lbls...)
		default:
			add(name, lbls...)
		}
	}
	// Series Prometheus synthesises for every target.
	add("up")
	return cat
}

// grafanaVars replaces Grafana's macros and the dashboard's variables with
// values that keep the expression's shape, so that it can be parsed.
func grafanaVars(expr string, vars []string) (string, error) {
	r := strings.NewReplacer("$__rate_interval", "5m", "$__interval", "1m", "$__range", "1h")
	expr = r.Replace(expr)
	for _, v := range vars {
		expr = strings.ReplaceAll(expr, "${"+v+"}", ".+")
		expr = strings.ReplaceAll(expr, "$"+v, ".+")
	}
	if i := strings.IndexByte(expr, '$'); i >= 0 {
		return "", fmt.Errorf("unknown variable at %q", expr[i:])
	}
	return expr, nil
}

var promqlParser = parser.NewParser(parser.Options{})

// checkExpr parses expr and checks that every selector names a metric of cat
// (or of recorded, the names recording rules define) and matches only labels
// that metric carries. It returns the metric names and the problems found.
func checkExpr(where, expr string, cat catalog, recorded map[string]bool) (names, problems []string) {
	errorf := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	e, err := promqlParser.ParseExpr(expr)
	if err != nil {
		errorf("%s: %q does not parse: %v", where, expr, err)
		return nil, problems
	}
	parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
		vs, ok := n.(*parser.VectorSelector)
		if !ok {
			return nil
		}
		name := vs.Name
		for _, m := range vs.LabelMatchers {
			if m.Name == labels.MetricName && m.Type == labels.MatchEqual {
				name = m.Value
			}
		}
		if name == "" {
			errorf("%s: selector %s has no metric name", where, vs)
			return nil
		}
		names = append(names, name)
		if recorded[name] {
			return nil
		}
		lbls, ok := cat[name]
		if !ok {
			errorf("%s: %s is not a metric internal/metrics registers (in %q)", where, name, expr)
			return nil
		}
		for _, m := range vs.LabelMatchers {
			if m.Name != labels.MetricName && !lbls[m.Name] {
				errorf("%s: %s has no label %q (in %q)", where, name, m.Name, expr)
			}
		}
		return nil
	})
	return names, problems
}

// check runs checkExpr and reports its problems on t.
func check(t *testing.T, where, expr string, cat catalog, recorded map[string]bool) []string {
	t.Helper()
	names, problems := checkExpr(where, expr, cat, recorded)
	for _, p := range problems {
		t.Error(p)
	}
	return names
}

type grafanaTarget struct {
	Expr string `json:"expr"`
}

type grafanaPanel struct {
	Title   string          `json:"title"`
	Type    string          `json:"type"`
	Targets []grafanaTarget `json:"targets"`
}

type grafanaDashboard struct {
	Panels     []grafanaPanel `json:"panels"`
	Templating struct {
		List []struct {
			Name  string `json:"name"`
			Type  string `json:"type"`
			Query any    `json:"query"`
		} `json:"list"`
	} `json:"templating"`
}

var labelValuesRE = regexp.MustCompile(`^label_values\((.+),\s*([a-zA-Z_][a-zA-Z0-9_]*)\)$`)

// TestDashboardQueriesNameLiveMetrics checks every query of the committed
// dashboard: it parses, it names only metrics a live run exposes, and its
// matchers use only labels those metrics carry.
func TestDashboardQueriesNameLiveMetrics(t *testing.T) {
	b, err := os.ReadFile(dashboardPath)
	if err != nil {
		t.Fatal(err)
	}
	var d grafanaDashboard
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatal(err)
	}
	cat := liveCatalog(t)
	var vars []string
	for _, v := range d.Templating.List {
		vars = append(vars, v.Name)
	}

	used := map[string]bool{}
	nExpr := 0
	for _, v := range d.Templating.List {
		if v.Type != "query" {
			continue
		}
		s, _ := v.Query.(string)
		m := labelValuesRE.FindStringSubmatch(s)
		if m == nil {
			t.Errorf("variable %s: query %q is not label_values(selector, label)", v.Name, s)
			continue
		}
		for _, n := range check(t, "variable "+v.Name, m[1], cat, nil) {
			used[n] = true
			if !cat[n][m[2]] {
				t.Errorf("variable %s: %s has no label %q", v.Name, n, m[2])
			}
		}
	}
	for _, p := range d.Panels {
		if p.Type != "row" && len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, tg := range p.Targets {
			nExpr++
			expr, err := grafanaVars(tg.Expr, vars)
			if err != nil {
				t.Errorf("panel %q: %v", p.Title, err)
				continue
			}
			for _, n := range check(t, "panel "+p.Title, expr, cat, nil) {
				used[n] = true
			}
		}
	}
	if nExpr < 40 {
		t.Errorf("found only %d panel queries; the dashboard JSON layout changed?", nExpr)
	}
	// The dashboard covers what issue 5 asks to chart.
	for _, want := range []string{
		"dpt_step", "dpt_job_steps", "dpt_steps_completed_total", "dpt_examples_total",
		"dpt_loss", "dpt_accuracy_ratio", "dpt_gradient_norm", "dpt_step_phase_duration_seconds_sum",
		"dpt_contribution_lag_seconds_sum", "dpt_contribution_compute_seconds_sum",
		"dpt_transport_sent_bytes_total", "dpt_workers_live", "dpt_microshards_reissued_total",
		"dpt_messages_rejected_total",
	} {
		if !used[want] {
			t.Errorf("no panel charts %s", want)
		}
	}
}

// TestAlertRulesNameLiveMetrics checks the rule file the same way: alerts
// must not watch series that no process exposes.
func TestAlertRulesNameLiveMetrics(t *testing.T) {
	b, err := os.ReadFile(alertsPath)
	if err != nil {
		t.Fatal(err)
	}
	var rf struct {
		Groups []struct {
			Name  string `json:"name"`
			Rules []struct {
				Record string `json:"record"`
				Alert  string `json:"alert"`
				Expr   string `json:"expr"`
			} `json:"rules"`
		} `json:"groups"`
	}
	if err := yaml.Unmarshal(b, &rf); err != nil { // the struct reads a subset: lenient on purpose
		t.Fatal(err)
	}
	cat := liveCatalog(t)
	recorded := map[string]bool{}
	var alerts []string
	for _, g := range rf.Groups {
		for _, r := range g.Rules {
			if r.Record != "" {
				recorded[r.Record] = true
			}
		}
	}
	for _, g := range rf.Groups {
		for _, r := range g.Rules {
			name := r.Record + r.Alert
			check(t, "rule "+name, r.Expr, cat, recorded)
			if r.Alert != "" {
				alerts = append(alerts, r.Alert)
			}
		}
	}
	for _, want := range []string{"DPTWorkerDown", "DPTNoProgress", "DPTLossNotFinite", "DPTWorkerStraggler", "DPTCommunicationDominated"} {
		if !slices.Contains(alerts, want) {
			t.Errorf("alert %s missing from %s", want, alertsPath)
		}
	}
}

// TestCheckExprCatchesMistakes makes sure the checker is not vacuous.
func TestCheckExprCatchesMistakes(t *testing.T) {
	cat := liveCatalog(t)
	for _, bad := range []string{
		`rate(dpt_stepz_total[5m])`,          // unknown metric
		`dpt_loss{splitt="train"}`,           // unknown label
		`dpt_step_duration_seconds{le="1"}`,  // le only on _bucket
		`sum by (le) (rate(dpt_step[5m])`,    // does not parse
		`dpt_worker_step{kind="params"}`,     // label of another metric
		`{__name__="dpt_nope", job="x"}`,     // unknown name via __name__
		`dpt_contribution_lag_seconds_total`, // histograms have no _total
	} {
		if _, problems := checkExpr("probe", bad, cat, nil); len(problems) == 0 {
			t.Errorf("checkExpr accepted %q", bad)
		}
	}
	good := `histogram_quantile(0.9, sum by (worker, le) (rate(dpt_contribution_lag_seconds_bucket{instance=~".+", worker="w"}[5m])))`
	if _, problems := checkExpr("probe", good, cat, nil); len(problems) > 0 {
		t.Errorf("checkExpr rejected %q: %v", good, problems)
	}
	if _, err := grafanaVars(`rate(x{a="$unknown"}[$__rate_interval])`, []string{"worker"}); err == nil {
		t.Error("grafanaVars accepted an unknown variable")
	}
}
