package eval

import (
	"encoding/json"
	"math"

	"github.com/dptrain/dptrain/internal/shard"
)

// Metrics are the evaluation metrics of one pass. Fields that do not apply
// to the task are zero and left out of the JSON form; values that are
// undefined (no rows, or AUC with one class only) are NaN in Go and null in
// JSON.
type Metrics struct {
	Task shard.Task
	// Loss is the mean loss Σ w·L / Σ w.
	Loss float64
	// Accuracy is the weighted fraction of rows predicted exactly right:
	// the class for binary and multiclass, the whole label set for
	// multilabel (so it equals SubsetAccuracy, as sklearn's accuracy_score).
	Accuracy float64
	// AUC is the ROC AUC from the score histogram (binary); AUCBound bounds
	// its distance to the exact AUC of the same scores (see Layout.AUC).
	AUC, AUCBound float64
	// MicroF1 and MacroF1 are F1 pooled over, and averaged over, all K
	// labels (multilabel) or classes (multiclass, macro only), a label with
	// no true and no predicted positive scoring 0 (zero_division=0).
	MicroF1, MacroF1 float64
	// Hamming is the weighted fraction of wrong (row, label) cells,
	// SubsetAccuracy the fraction of rows whose label set is exactly right,
	// and P1, P3, P5 the mean precision@1, 3, 5 (multilabel).
	Hamming, SubsetAccuracy float64
	P1, P3, P5              float64
	// Confusion[i][j] is the weight of rows of class i predicted as j
	// (multiclass).
	Confusion [][]float64
	// Rows is the number of rows, Weight their total weight.
	Rows, Weight float64
}

// Metrics computes the metrics of sums v (layout l), with the loss sum and
// weight sum of the same pass (model.Model.Accumulate's results).
func (l Layout) Metrics(v []float64, lossSum, weightSum float64) Metrics {
	if len(v) != l.Len() {
		panic("eval: sums do not match the layout")
	}
	m := Metrics{Task: l.Task, Rows: v[iRows], Weight: v[iWeight]}
	m.Loss = ratio(lossSum, weightSum)
	m.Accuracy = ratio(v[iCorrect], v[iWeight])
	switch l.Task {
	case shard.Binary:
		m.AUC, m.AUCBound = l.AUC(v)
	case shard.Multiclass:
		m.Confusion = make([][]float64, l.K)
		c := v[l.confusion() : l.confusion()+l.K*l.K]
		for i := range m.Confusion {
			m.Confusion[i] = append([]float64(nil), c[i*l.K:(i+1)*l.K]...)
		}
		sum := 0.0
		for k := range l.K {
			tp, fp, fn := c[k*l.K+k], 0.0, 0.0
			for j := range l.K {
				if j != k {
					fp += c[j*l.K+k]
					fn += c[k*l.K+j]
				}
			}
			sum += f1(tp, fp, fn)
		}
		m.MacroF1 = sum / float64(l.K)
	default:
		var tp, fp, fn, sum float64
		for j := range l.K {
			c := v[l.labelCounts()+4*j:]
			tp, fp, fn = tp+c[0], fp+c[1], fn+c[2]
			sum += f1(c[0], c[1], c[2])
		}
		m.MicroF1 = f1(tp, fp, fn)
		m.MacroF1 = sum / float64(l.K)
		m.Hamming = ratio(v[l.hamming()], v[iWeight]*float64(l.K))
		m.SubsetAccuracy = ratio(v[l.exact()], v[iWeight])
		p := v[l.precisionAt():]
		m.P1, m.P3, m.P5 = ratio(p[0], v[iWeight]), ratio(p[1], v[iWeight]), ratio(p[2], v[iWeight])
	}
	return m
}

// f1 returns 2TP / (2TP + FP + FN), or 0 when the denominator is 0.
func f1(tp, fp, fn float64) float64 {
	d := 2*tp + fp + fn
	if d == 0 {
		return 0
	}
	return 2 * tp / d
}

// ratio returns a/b, NaN when b is 0.
func ratio(a, b float64) float64 {
	if b == 0 {
		return math.NaN()
	}
	return a / b
}

// MarshalJSON writes the metrics of m's task only, under the names of the
// reports (loss, accuracy, auc, micro_f1, macro_f1, hamming_loss,
// subset_accuracy, precision_at_1/3/5, confusion). Undefined values are
// null.
func (m Metrics) MarshalJSON() ([]byte, error) {
	type out struct {
		Task           string      `json:"task"`
		Rows           float64     `json:"rows"`
		Weight         float64     `json:"weight"`
		Loss           *jsonNum    `json:"loss"`
		Accuracy       *jsonNum    `json:"accuracy"`
		AUC            *jsonNum    `json:"auc,omitempty"`
		AUCBound       *jsonNum    `json:"auc_bound,omitempty"`
		MicroF1        *jsonNum    `json:"micro_f1,omitempty"`
		MacroF1        *jsonNum    `json:"macro_f1,omitempty"`
		Hamming        *jsonNum    `json:"hamming_loss,omitempty"`
		SubsetAccuracy *jsonNum    `json:"subset_accuracy,omitempty"`
		P1             *jsonNum    `json:"precision_at_1,omitempty"`
		P3             *jsonNum    `json:"precision_at_3,omitempty"`
		P5             *jsonNum    `json:"precision_at_5,omitempty"`
		Confusion      [][]float64 `json:"confusion,omitempty"`
	}
	o := out{Task: m.Task.String(), Rows: m.Rows, Weight: m.Weight, Loss: num(m.Loss), Accuracy: num(m.Accuracy)}
	switch m.Task {
	case shard.Binary:
		o.AUC, o.AUCBound = num(m.AUC), num(m.AUCBound)
	case shard.Multiclass:
		o.MacroF1, o.Confusion = num(m.MacroF1), m.Confusion
	case shard.Multilabel:
		o.MicroF1, o.MacroF1 = num(m.MicroF1), num(m.MacroF1)
		o.Hamming, o.SubsetAccuracy = num(m.Hamming), num(m.SubsetAccuracy)
		o.P1, o.P3, o.P5 = num(m.P1), num(m.P3), num(m.P5)
	}
	return json.Marshal(o)
}

// jsonNum is a float64 written as null when it is NaN or ±Inf, which JSON
// cannot represent.
type jsonNum float64

func num(v float64) *jsonNum { n := jsonNum(v); return &n }

// MarshalJSON implements json.Marshaler.
func (v jsonNum) MarshalJSON() ([]byte, error) {
	f := float64(v)
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return []byte("null"), nil
	}
	return json.Marshal(f)
}
