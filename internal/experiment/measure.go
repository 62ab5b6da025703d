package experiment

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"sync"

	"github.com/dptrain/dptrain/internal/eval"
	"github.com/dptrain/dptrain/internal/loss"
	"github.com/dptrain/dptrain/internal/model"
	"github.com/dptrain/dptrain/internal/shard"
	"github.com/dptrain/dptrain/internal/trainer"
)

// F is a float64 that is null in JSON when it is NaN or infinite (an
// undefined metric, or the standard deviation of one seed).
type F float64

// MarshalJSON implements json.Marshaler.
func (v F) MarshalJSON() ([]byte, error) {
	f := float64(v)
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return []byte("null"), nil
	}
	return json.Marshal(f)
}

// UnmarshalJSON implements json.Unmarshaler (null is NaN).
func (v *F) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*v = F(math.NaN())
		return nil
	}
	var f float64
	if err := json.Unmarshal(b, &f); err != nil {
		return err
	}
	*v = F(f)
	return nil
}

// probClip bounds a probability away from 0 and 1 in the log losses of
// Measure.NLL, as scikit-learn's log_loss does (eps 1e-15), so a confident
// mistake costs at most −log(1e-15) ≈ 34.5 instead of +Inf.
const probClip = 1e-15

// maxCardinality is the last cardinality bucket of Measure.ByCardinality;
// rows with more labels are counted in it.
const maxCardinality = 5

// Measure is what the experiments record of parameters θ on one dataset.
// Every mean is weighted by the example weights.
type Measure struct {
	// Loss is the mean loss of the run's loss kind, without label
	// smoothing: the quantity the train/test gap is read on.
	Loss F `json:"loss"`
	// NLL is the log loss of the model's estimate, comparable across
	// losses: binary, −log ŷ of the true class; multi-class, −log p̃_y with
	// p̃ = ŷ/Σŷ (for softmax that is the cross-entropy, for the sum of log
	// loss it normalises the K sigmoids); multi-label, the sum over labels
	// of the binary log loss of ŷ_l. Probabilities are clipped to
	// [1e-15, 1 − 1e-15].
	NLL      F `json:"nll"`
	Accuracy F `json:"accuracy"`
	// MacroF1 (multi-class and multi-label), MicroF1, Hamming,
	// SubsetAccuracy and precision@k (multi-label) are eval.Metrics'.
	MacroF1        F `json:"macro_f1,omitempty"`
	MicroF1        F `json:"micro_f1,omitempty"`
	Hamming        F `json:"hamming_loss,omitempty"`
	SubsetAccuracy F `json:"subset_accuracy,omitempty"`
	P1             F `json:"precision_at_1,omitempty"`
	P3             F `json:"precision_at_3,omitempty"`
	P5             F `json:"precision_at_5,omitempty"`
	// LogitGap (binary) is the mean of |s| with s the positive class's
	// score: s = z for one logit, s = z1 − z0 for two; ŷ_pos = σ(s), so it
	// is how far from 1/2 the model pushes its estimates.
	LogitGap F `json:"logit_gap,omitempty"`
	// ByCardinality (multi-label) splits the rows by their number of true
	// labels k = 1..5 (the last bucket holds k ≥ 5).
	ByCardinality []CardinalityStat `json:"by_cardinality,omitempty"`
}

// CardinalityStat describes the rows with k true labels.
type CardinalityStat struct {
	K int `json:"k"`
	// Weight is the total example weight of those rows.
	Weight F `json:"weight"`
	// TrueProb is the mean, over the rows, of the mean estimate ŷ_l of
	// their true labels: at most 1/k for softmax.
	TrueProb F `json:"true_prob"`
	// RPrecision is the mean fraction of true labels among the k labels
	// with the highest ŷ (precision at the row's own k; threshold-free).
	RPrecision F `json:"r_precision"`
}

// meter measures parameters on datasets, in parallel over parts of the
// rows whose sums are added in part order, so the result does not depend
// on scheduling.
type meter struct {
	f      loss.Func // the run's loss kind without smoothing
	lay    eval.Layout
	task   shard.Task
	k      int
	models []model.Model // one per part
}

// newMeter returns a meter for the job's problem with the given number of
// parts (≥ 1).
func newMeter(prob *trainer.Problem, parts int) (*meter, error) {
	kind, err := loss.ParseKind(prob.Spec.Loss)
	if err != nil {
		return nil, fmt.Errorf("experiment: %w", err)
	}
	f, err := loss.New(kind, prob.Spec.K, loss.Config{})
	if err != nil {
		return nil, fmt.Errorf("experiment: %w", err)
	}
	m := &meter{f: f, lay: eval.NewLayout(prob.Task, f, prob.Spec.K), task: prob.Task, k: prob.Spec.K}
	for range max(1, parts) {
		md, err := prob.NewModel()
		if err != nil {
			return nil, err
		}
		m.models = append(m.models, md)
	}
	return m, nil
}

// measure returns the Measure of theta on d (nil d gives the zero
// Measure).
func (m *meter) measure(theta []float64, d *shard.Dataset) Measure {
	if d == nil {
		return Measure{}
	}
	parts := shard.Split(d.Rows(), len(m.models))
	obs := make([]*observer, len(parts))
	lossSums, weightSums := make([]float64, len(parts)), make([]float64, len(parts))
	var wg sync.WaitGroup
	for i, r := range parts {
		obs[i] = newObserver(m)
		wg.Go(func() {
			lossSums[i], weightSums[i] = m.models[i].Accumulate(nil, theta, d.View(r), m.f, obs[i])
		})
	}
	wg.Wait()
	total := obs[0]
	for _, o := range obs[1:] {
		total.add(o)
	}
	var lossSum, weightSum float64
	for i := range parts {
		lossSum += lossSums[i]
		weightSum += weightSums[i]
	}
	return total.measure(lossSum, weightSum)
}

// cardSums are the sums behind one CardinalityStat.
type cardSums struct{ weight, trueProb, rprec float64 }

// observer accumulates, for each row a pass visits, the evaluation sums of
// the eval package and this package's additions.
type observer struct {
	m     *meter
	sums  *eval.Sums
	yhat  []float64
	order []int
	nll   float64 // Σ w·NLL
	gap   float64 // Σ w·|s|
	card  [maxCardinality]cardSums
}

var _ model.RowObserver = (*observer)(nil)

func newObserver(m *meter) *observer {
	n := m.f.Logits()
	return &observer{m: m, sums: eval.NewSums(m.lay), yhat: make([]float64, n), order: make([]int, n)}
}

// Observe implements model.Observer. The models call ObserveRow on a
// RowObserver, so reaching it is a programmer error.
func (o *observer) Observe(_, _ []float64, _ float64) {
	panic("experiment: observer needs the rows' targets (ObserveRow)")
}

// ObserveRow implements model.RowObserver.
func (o *observer) ObserveRow(z, t []float64, y []float32, w float64) {
	o.sums.ObserveRow(z, t, y, w)
	o.m.f.Prob(o.yhat, z)
	switch o.m.task {
	case shard.Binary:
		s := z[0]
		if len(z) == 2 {
			s = z[1] - z[0]
		}
		p := clip(o.yhat[len(o.yhat)-1])
		if y[0] >= 0.5 {
			o.nll -= w * math.Log(p)
		} else {
			o.nll -= w * math.Log(1-p)
		}
		o.gap += w * math.Abs(s)
	case shard.Multiclass:
		var sum float64
		for _, v := range o.yhat {
			sum += v
		}
		c := argmax(y)
		o.nll -= w * math.Log(clip(o.yhat[c]/sum))
	default:
		var l float64
		k := 0
		for j, v := range o.yhat {
			p := clip(v)
			if y[j] >= 0.5 {
				l -= math.Log(p)
				k++
			} else {
				l -= math.Log(1 - p)
			}
		}
		o.nll += w * l
		if k == 0 {
			return
		}
		for j := range o.order {
			o.order[j] = j
		}
		// Highest ŷ first, lower index on ties: a fixed order.
		slices.SortStableFunc(o.order, func(a, b int) int {
			switch {
			case o.yhat[a] > o.yhat[b]:
				return -1
			case o.yhat[a] < o.yhat[b]:
				return 1
			}
			return 0
		})
		var trueProb float64
		hits := 0
		for r, j := range o.order {
			if y[j] >= 0.5 {
				trueProb += o.yhat[j]
				if r < k {
					hits++
				}
			}
		}
		c := &o.card[min(k, maxCardinality)-1]
		c.weight += w
		c.trueProb += w * trueProb / float64(k)
		c.rprec += w * float64(hits) / float64(k)
	}
}

// add adds the sums of o2 to o.
func (o *observer) add(o2 *observer) {
	o.sums.Add(o2.sums.V)
	o.nll += o2.nll
	o.gap += o2.gap
	for i := range o.card {
		o.card[i].weight += o2.card[i].weight
		o.card[i].trueProb += o2.card[i].trueProb
		o.card[i].rprec += o2.card[i].rprec
	}
}

// measure turns the sums into a Measure.
func (o *observer) measure(lossSum, weightSum float64) Measure {
	em := o.m.lay.Metrics(o.sums.V, lossSum, weightSum)
	ms := Measure{Loss: F(em.Loss), NLL: F(o.nll / weightSum), Accuracy: F(em.Accuracy)}
	switch o.m.task {
	case shard.Binary:
		ms.LogitGap = F(o.gap / weightSum)
	case shard.Multiclass:
		ms.MacroF1 = F(em.MacroF1)
	default:
		ms.MacroF1, ms.MicroF1, ms.Hamming, ms.SubsetAccuracy = F(em.MacroF1), F(em.MicroF1), F(em.Hamming), F(em.SubsetAccuracy)
		ms.P1, ms.P3, ms.P5 = F(em.P1), F(em.P3), F(em.P5)
		for i, c := range o.card {
			if c.weight > 0 {
				ms.ByCardinality = append(ms.ByCardinality, CardinalityStat{K: i + 1, Weight: F(c.weight),
					TrueProb: F(c.trueProb / c.weight), RPrecision: F(c.rprec / c.weight)})
			}
		}
	}
	return ms
}

func clip(p float64) float64 { return min(max(p, probClip), 1-probClip) }

// argmax returns the first index of the largest value.
func argmax(y []float32) int {
	a := 0
	for i, v := range y {
		if v > y[a] {
			a = i
		}
	}
	return a
}
