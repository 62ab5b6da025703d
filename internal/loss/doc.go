// Package loss implements the classification losses of the trainer and their
// gradients with respect to the logits. Every loss here has the same gradient
// form, dL/dz = ŷ − t (MATH.md §1–3), where t is the loss's target: the data
// row's labels after label smoothing.
//
// # Losses
//
//   - [Logistic]: one logit, ŷ = σ(z), binary log loss (MATH.md §1).
//   - [BinarySoftmax]: two logits (negative, positive), ŷ = softmax(z),
//     softmax cross-entropy on binary data. Logistic is BinarySoftmax with the
//     negative logit pinned at 0 (MATH.md §4.1).
//   - [Softmax]: n ≥ 2 logits, softmax cross-entropy (MATH.md §2).
//   - [Sigmoid]: n logits, a sum of n binary log losses (MATH.md §3).
//
// Each is evaluated in a stable form that stays finite for every finite
// logit the loss can represent (see each type), and whose gradient ŷ − t lies
// in [−1, 1] for every finite z (scaled by the class weight when configured).
// NaN logits give NaN out; nothing here panics on bad values, only on
// mismatched lengths (a programmer error).
//
// # The objective
//
// Everywhere in the trainer (gradient contributions, L-BFGS, evaluation) the
// objective minimised over the parameters θ is
//
//	J(θ) = (Σ_i w_i·L_i) / (Σ_i w_i) + (λ/2)·‖W‖²
//
// where the sum runs over the examples i of the step (the training set in
// full-batch mode, the mini-batch otherwise), w_i is example i's weight from
// the dataset (1 when it has none), L_i = L(z_i, t_i) is the value [Func.Eval]
// returns, and W are the weights of the model: biases are not penalised.
//
// Class weights (Config.ClassWeights) are folded into L_i and its gradient by
// Eval; they never enter the denominator, which is Σ_i w_i over example
// weights only. So a class weight c scales that class's examples' pull on θ
// relative to the others without changing what "mean loss" means for the
// unweighted classes.
//
// # Label smoothing
//
// With smoothing ε ∈ [0, 1), [Func.Target] turns the row's labels y into
//
//	binary, per-label sigmoid:  t = (1 − ε)·y + ε/2
//	softmax over n classes:     t = (1 − ε)·y/Σy + ε/n
//	binary softmax:             t = [1 − y', y'],  y' = (1 − ε)·y + ε/2
//
// The softmax target is normalised so that Σt = 1, which turns a multi-label
// row with k labels into the 1/k soft target of MATH.md §4.3.
package loss
