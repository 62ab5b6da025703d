// Package experiment measures the claims the losses come with
// (../shared/docs/MATH.md §5) on real data, through the distributed
// trainer itself: every run is a job.Run with local workers that speak
// NATS to the coordinator over an embedded server on a free port.
//
// # The comparisons
//
//   - C1, binary data: logistic regression (loss "logistic", one logit)
//     against the two-logit softmax ("binary-softmax"), each with and
//     without label smoothing ε, under the same optimizer, learning rate,
//     batch size, epochs and initialisation. Measured: train and test log
//     loss and accuracy per epoch, their gap, and the logit gap — the mean
//     of |s| over the test rows, s = z for one logit and s = z1 − z0 for
//     two (ŷ_pos = σ(s) in both).
//   - C2, single-label multi-class data: softmax cross-entropy against the
//     sum of log loss ("sigmoid", K sigmoids on the one-hot targets; the
//     trainer predicts argmax_k ŷ_k for a multi-class task, and argmax of
//     σ(z_k) is argmax of z_k). The test log loss of the sigmoid model is
//     that of its normalised estimate p̃ = ŷ/Σŷ, so both are −log p̃_y.
//   - C3, multi-label data: the sum of log loss against softmax with the
//     1/k soft targets loss.Softmax forms from a row with k labels, and
//     against softmax on the k-copies form of the training set ([Copies]),
//     which the workers fetch from the JetStream object store since it
//     exists only in memory ([InMemory]). Measured: micro/macro-F1,
//     Hamming loss, subset accuracy and precision@1/3/5 at the trainer's
//     rule (label l predicted iff ŷ_l ≥ 1/2), and, threshold-free, the
//     R-precision and the mean ŷ of the true labels by the rows' number of
//     labels.
//
// Each comparison runs seeds 1..n (the seed draws the mini-batch schedule
// and an MLP's initialisation; a linear model starts from θ = 0) and
// reports mean ± sample standard deviation.
//
// # Two identities, checked on every run of the experiments
//
// The C1 control: from θ = 0 with plain SGD, the two-logit model's
// gradients on W0 and W1 are opposite (∂L/∂z0 = −∂L/∂z1), so W0 = −W1
// throughout and the score weights u = W1 − W0 follow
//
//	u ← u − 2η·(σ(u·x) − t)·x − 2η·λ·(u/2)
//
// which is logistic regression at learning rate 2η and penalty λ/2. The
// experiment trains that logistic model too and reports max |Δθ| between
// it and u.
//
// The C3 identity (MATH.md §4.3): softmax cross-entropy is linear in its
// target, so over a whole dataset the k copies of weight 1/k give the
// gradient of the 1/k targets. With mini-batches they differ (a batch holds
// single copies), so the check runs both full batch with the same
// optimizer and reports max |Δθ| at the end.
//
// # Measurements
//
// The trainer's epoch report carries no parameters; the experiment wraps
// the job's model so that it sees the θ that job.Run initialises and
// trainer.Train updates in place, measures it after every epoch on the
// training and test sets (eval's sums plus this package's, in parallel over
// contiguous parts added in a fixed order), and checks at the end that the
// measured vector is the trained one and that its final test metrics agree
// with those the workers computed.
package experiment
