// Package eval computes evaluation metrics from mergeable sums. A pass over
// rows fills a flat []float64 of sums (it implements model.Observer); sums of
// different micro-shards add element-wise, so evaluation reduces like a
// gradient, and the metrics are computed once from the total.
//
// # What is summed
//
// Every sum is weighted by the example weight w, except the row count.
// Truth and prediction per task (as in /work/shared/data/REFERENCE.md):
//
//   - binary: the score s is the positive class's logit (z for Logistic,
//     z1 − z0 for BinarySoftmax; ŷ_pos = σ(s)); predicted positive iff
//     ŷ_pos > 0.5, truly positive iff y ≥ 0.5. A histogram of s gives the
//     ROC AUC (see [Layout.AUC]).
//   - multiclass: predicted class argmax_k ŷ_k, true class argmax_k y_k (first
//     index on ties); a K × K confusion matrix.
//   - multilabel: label l predicted iff ŷ_l ≥ 0.5, true iff y_l ≥ 0.5;
//     per-label TP, FP, FN, TN, exact matches, wrong cells (Hamming) and
//     precision@1, 3, 5 of the labels ranked by ŷ.
//
// [Sums] prefers the raw targets y, which the model hands over through
// model.RowObserver. Given only the loss's target t (Observe), it reads the
// truth from t with the same rules; that is exact for hard labels under
// label smoothing, except for a multi-label set scored with a softmax loss,
// whose target spreads 1/k over k labels.
package eval

import (
	"cmp"
	"fmt"
	"math"
	"slices"

	"github.com/dptrain/dptrain/internal/loss"
	"github.com/dptrain/dptrain/internal/model"
	"github.com/dptrain/dptrain/internal/shard"
)

// AUC histogram: AUCBins bins uniform in the positive-class logit over
// [−AUCLogitRange, AUCLogitRange] (bin width 40/8192 ≈ 0.0049), scores
// beyond it in the end bins. Uniform in the logit rather than in ŷ keeps
// the resolution of confident models, whose scores crowd ŷ ≈ 0 and 1; the
// probability ŷ = σ(s) is monotone in s, so the AUC is the same.
const (
	AUCBins       = 8192
	AUCLogitRange = 20.0
)

// precisionAtK lists the k of the precision@k sums of a multi-label task.
var precisionAtK = [...]int{1, 3, 5}

// Offsets of the sums every task has.
const (
	iRows    = iota // rows observed (unweighted)
	iWeight         // Σ w
	iCorrect        // Σ w over rows predicted exactly right
	nCommon
)

// Layout describes the sums vector of one task and loss.
type Layout struct {
	Task shard.Task
	// K is the number of metric columns: 1 for binary, the number of classes
	// or labels otherwise.
	K int
	// pos is the positive class's logit for binary tasks.
	pos    int
	logits int
	f      loss.Func
}

// NewLayout returns the layout of the sums for a dataset of the given task
// with k target columns, scored by loss f. It panics if f does not fit the
// task (binary: 1 or 2 logits and k = 1; otherwise k logits), a programmer
// error the trainer's configuration check rules out.
func NewLayout(task shard.Task, f loss.Func, k int) Layout {
	n := f.Logits()
	switch {
	case task == shard.Binary && k == 1 && (n == 1 || n == 2):
		return Layout{Task: task, K: 1, pos: n - 1, logits: n, f: f}
	case (task == shard.Multiclass || task == shard.Multilabel) && k >= 1 && n == k:
		return Layout{Task: task, K: k, logits: n, f: f}
	}
	panic(fmt.Sprintf("eval: a loss with %d logits does not fit a %v task with %d targets", n, task, k))
}

// Offsets of the task-specific sums.
func (l Layout) histPos() int   { return nCommon }
func (l Layout) histNeg() int   { return nCommon + AUCBins }
func (l Layout) confusion() int { return nCommon }
func (l Layout) labelCounts() int {
	return nCommon // TP, FP, FN, TN of label j at 4j..4j+3
}
func (l Layout) exact() int       { return nCommon + 4*l.K }
func (l Layout) hamming() int     { return l.exact() + 1 }
func (l Layout) precisionAt() int { return l.hamming() + 1 }

// Len returns the length of the sums vector.
func (l Layout) Len() int {
	switch l.Task {
	case shard.Binary:
		return nCommon + 2*AUCBins
	case shard.Multiclass:
		return nCommon + l.K*l.K
	default:
		return l.precisionAt() + len(precisionAtK)
	}
}

// Sums accumulates the evaluation sums of a pass. V has L.Len() entries;
// the sums of two passes over disjoint rows add element-wise. A Sums is not
// safe for concurrent use (it keeps scratch space).
type Sums struct {
	L Layout
	V []float64

	yhat []float64
	top  [5]int
}

var (
	_ model.Observer    = (*Sums)(nil)
	_ model.RowObserver = (*Sums)(nil)
)

// NewSums returns zero sums for layout l.
func NewSums(l Layout) *Sums {
	return &Sums{L: l, V: make([]float64, l.Len()), yhat: make([]float64, l.logits)}
}

// Reset zeroes the sums.
func (s *Sums) Reset() { clear(s.V) }

// Add adds the sums o (same layout) to s. It panics on a length mismatch.
func (s *Sums) Add(o []float64) {
	if len(o) != len(s.V) {
		panic(fmt.Sprintf("eval: adding %d sums to %d", len(o), len(s.V)))
	}
	for i, v := range o {
		s.V[i] += v
	}
}

// Observe adds one row with logits z, the loss's target t and weight w,
// reading the truth from t (see the package doc).
func (s *Sums) Observe(z, t []float64, w float64) {
	s.observe(z, w, func(j int) float64 { return t[j] }, len(t))
}

// ObserveRow adds one row with logits z, its raw targets y (len K of the
// dataset) and weight w; t is not used.
func (s *Sums) ObserveRow(z, _ []float64, y []float32, w float64) {
	s.observe(z, w, func(j int) float64 { return float64(y[j]) }, len(y))
}

// observe adds one row whose j-th truth value is truth(j), j < n (in the
// loss's target indexing for Observe, the dataset's for ObserveRow).
func (s *Sums) observe(z []float64, w float64, truth func(j int) float64, n int) {
	l := s.L
	if len(z) != l.logits {
		panic(fmt.Sprintf("eval: %d logits, layout has %d", len(z), l.logits))
	}
	v := s.V
	v[iRows]++
	v[iWeight] += w
	l.f.Prob(s.yhat, z)
	switch l.Task {
	case shard.Binary:
		// The positive target is t[pos] for the loss's target, y[0] for data.
		ti := 0
		if n == l.logits {
			ti = l.pos
		}
		pos := truth(ti) >= 0.5
		pred := s.yhat[l.pos] > 0.5
		if pos == pred {
			v[iCorrect] += w
		}
		score := z[0]
		if l.logits == 2 {
			score = z[1] - z[0]
		}
		b := aucBin(score)
		if pos {
			v[l.histPos()+b] += w
		} else {
			v[l.histNeg()+b] += w
		}
	case shard.Multiclass:
		pred := argmax(s.yhat, func(j int) float64 { return s.yhat[j] })
		class := argmax(s.yhat, truth)
		if pred == class {
			v[iCorrect] += w
		}
		v[l.confusion()+class*l.K+pred] += w
	default:
		wrong := 0
		for j, p := range s.yhat {
			tr, pr := truth(j) >= 0.5, p >= 0.5
			c := l.labelCounts() + 4*j
			switch {
			case tr && pr:
				v[c] += w // TP
			case !tr && pr:
				v[c+1] += w // FP
				wrong++
			case tr && !pr:
				v[c+2] += w // FN
				wrong++
			default:
				v[c+3] += w // TN
			}
		}
		if wrong == 0 {
			v[iCorrect] += w
			v[l.exact()] += w
		}
		v[l.hamming()] += w * float64(wrong)
		s.precision(w, truth)
	}
}

// precision adds w·(hits in the top k)/k for each k of precisionAtK, the
// labels ranked by ŷ (ties to the lower index).
func (s *Sums) precision(w float64, truth func(j int) float64) {
	kmax := min(precisionAtK[len(precisionAtK)-1], len(s.yhat))
	top := s.top[:0]
	for j, p := range s.yhat {
		// Insert j into the descending top list if it ranks.
		if len(top) == kmax && !(p > s.yhat[top[kmax-1]]) {
			continue
		}
		if len(top) < kmax {
			top = append(top, j)
		} else {
			top[kmax-1] = j
		}
		for i := len(top) - 1; i > 0 && s.yhat[top[i]] > s.yhat[top[i-1]]; i-- {
			top[i], top[i-1] = top[i-1], top[i]
		}
	}
	hits := 0
	next := 0
	for i, j := range top {
		if truth(j) >= 0.5 {
			hits++
		}
		for next < len(precisionAtK) && precisionAtK[next] == i+1 {
			s.V[s.L.precisionAt()+next] += w * float64(hits) / float64(precisionAtK[next])
			next++
		}
	}
	// k beyond the number of labels: the ranking is exhausted.
	for ; next < len(precisionAtK); next++ {
		s.V[s.L.precisionAt()+next] += w * float64(hits) / float64(precisionAtK[next])
	}
}

// argmax returns the first j < len(like) maximising f(j); NaN never wins
// (and index 0 is returned when every value is NaN).
func argmax(like []float64, f func(j int) float64) int {
	best, bv := 0, math.Inf(-1)
	for j := range like {
		if v := f(j); v > bv {
			best, bv = j, v
		}
	}
	return best
}

// aucBin maps a positive-class logit to its histogram bin; NaN goes to
// bin 0.
func aucBin(s float64) int {
	x := (s + AUCLogitRange) * (AUCBins / (2 * AUCLogitRange))
	if !(x >= 0) { // also NaN
		return 0
	}
	return min(int(x), AUCBins-1)
}

// AUC returns the ROC AUC of a binary task's sums, positives ranked above
// negatives, with pairs in one bin counted ½, and bound, the largest
// possible difference from the exact AUC of the same scores (ties ½):
//
//	AUC   = Σ_b P_b·(N_{<b} + ½·N_b) / (P·N)
//	bound = ½·Σ_b P_b·N_b / (P·N)
//
// since only pairs sharing a bin can be ordered differently by the exact
// computation. Both are NaN when either class has no weight.
func (l Layout) AUC(v []float64) (auc, bound float64) {
	if l.Task != shard.Binary {
		panic("eval: AUC of a non-binary layout")
	}
	hp := v[l.histPos() : l.histPos()+AUCBins]
	hn := v[l.histNeg() : l.histNeg()+AUCBins]
	var below, num, same, p, n float64
	for b := range AUCBins {
		num += hp[b] * (below + hn[b]/2)
		same += hp[b] * hn[b]
		below += hn[b]
		p += hp[b]
	}
	n = below
	if !(p > 0 && n > 0) {
		return math.NaN(), math.NaN()
	}
	return num / (p * n), same / 2 / (p * n)
}

// ExactAUC returns the weighted ROC AUC of scores, where pos marks the
// positives and w (nil: all 1) weights each example, with tied scores
// counting ½ per pair (as sklearn's roc_auc_score). It is NaN when either
// class has no weight. NaN scores rank lowest. It panics if the lengths
// differ.
func ExactAUC(scores []float64, pos []bool, w []float64) float64 {
	if len(pos) != len(scores) || (w != nil && len(w) != len(scores)) {
		panic(fmt.Sprintf("eval: ExactAUC of %d scores, %d labels and %d weights", len(scores), len(pos), len(w)))
	}
	order := make([]int, len(scores))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int {
		if c := cmp.Compare(scores[a], scores[b]); c != 0 {
			return c
		}
		return a - b
	})
	weight := func(i int) float64 {
		if w == nil {
			return 1
		}
		return w[i]
	}
	var num, below, p float64
	for i := 0; i < len(order); {
		j := i
		var gp, gn float64
		for ; j < len(order) && scores[order[j]] == scores[order[i]]; j++ {
			if pos[order[j]] {
				gp += weight(order[j])
			} else {
				gn += weight(order[j])
			}
		}
		num += gp * (below + gn/2)
		below += gn
		p += gp
		i = j
	}
	if !(p > 0 && below > 0) {
		return math.NaN()
	}
	return num / (p * below)
}
