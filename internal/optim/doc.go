// Package optim holds the trainer's optimizers: mini-batch first-order
// methods (SGD, momentum, Nesterov, Adam, AdaGrad) with a learning-rate
// [Schedule], and full-batch L-BFGS and gradient descent with a strong Wolfe
// line search.
//
// All of them minimise the objective of package loss,
//
//	J(θ) = (Σ_i w_i·L_i) / (Σ_i w_i) + (λ/2)·‖W‖²
//
// given its gradient; the penalty is part of the gradient the caller passes,
// never added here (no decoupled weight decay).
//
// # Determinism and checkpoints
//
// Every update is a fixed sequence of float64 operations over the
// parameters in index order: the same inputs give the same bits. Optimizer
// state is plain data ([State], [LBFGSState]) that survives a JSON round
// trip exactly (encoding/json writes the shortest decimal that parses back
// to the same float64), so a coordinator that checkpoints it after step t
// and restarts reaches the same bits as one that never stopped.
//
// # Full batch
//
// [Minimize] and [GradientDescent] never evaluate J themselves: the caller
// supplies an evaluation, which in the trainer is one distributed round over
// all micro-shards. They call it once per trial point, count the calls, and
// hand the caller a checkpointable [LBFGSState] after every accepted
// iteration.
package optim
