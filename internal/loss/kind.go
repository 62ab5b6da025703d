package loss

import (
	"errors"
	"fmt"
	"math"
)

// Kind names a loss on the command line and in job specs.
//
// The constants carry a Kind prefix because the loss types themselves are
// named [Logistic], [BinarySoftmax], [Softmax] and [Sigmoid].
type Kind int

const (
	// KindLogistic is [Logistic]: binary data, one logit.
	KindLogistic Kind = iota + 1
	// KindBinarySoftmax is [BinarySoftmax]: binary data, two logits.
	KindBinarySoftmax
	// KindSoftmax is [Softmax]: softmax cross-entropy over K ≥ 2 classes.
	KindSoftmax
	// KindSigmoid is [Sigmoid]: a sum of K binary log losses.
	KindSigmoid
)

// name returns the command-line name of k, or "" if k is not a Kind.
func (k Kind) name() string {
	switch k {
	case KindLogistic:
		return "logistic"
	case KindBinarySoftmax:
		return "binary-softmax"
	case KindSoftmax:
		return "softmax"
	case KindSigmoid:
		return "sigmoid"
	}
	return ""
}

// String returns the name used on the command line, or "Kind(n)" for a value
// that is not a Kind.
func (k Kind) String() string {
	if s := k.name(); s != "" {
		return s
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// ParseKind maps "logistic", "binary-softmax", "softmax" or "sigmoid" to its
// Kind.
func ParseKind(s string) (Kind, error) {
	for k := KindLogistic; k <= KindSigmoid; k++ {
		if k.name() == s {
			return k, nil
		}
	}
	return 0, fmt.Errorf("%w: kind %q: expected logistic, binary-softmax, softmax or sigmoid", ErrConfig, s)
}

// MarshalText implements encoding.TextMarshaler, so a Kind is its name in
// JSON.
func (k Kind) MarshalText() ([]byte, error) {
	s := k.name()
	if s == "" {
		return nil, fmt.Errorf("%w: marshal kind %d", ErrConfig, int(k))
	}
	return []byte(s), nil
}

// UnmarshalText implements encoding.TextUnmarshaler.
func (k *Kind) UnmarshalText(b []byte) error {
	v, err := ParseKind(string(b))
	if err != nil {
		return err
	}
	*k = v
	return nil
}

// Config holds a loss's options. The zero value means no label smoothing and
// unit class weights.
type Config struct {
	// Smoothing is the label smoothing ε ∈ [0, 1) (see the package doc).
	Smoothing float64 `json:"smoothing,omitempty"`
	// ClassWeights, when non-nil, scales each example's loss and gradient by
	// the weight of its class: len 2 (negative, positive) for the binary
	// kinds, len K for Softmax and Sigmoid. Each weight must be finite and
	// > 0. See each loss type for how a soft target mixes them.
	ClassWeights []float64 `json:"class_weights,omitempty"`
}

// ErrConfig is wrapped by every error New returns for a bad kind, target
// count or Config.
var ErrConfig = errors.New("loss: invalid configuration")

// New returns the loss of the given kind for a dataset with k target
// columns (1 for binary data). Logistic and BinarySoftmax require k == 1,
// Softmax k ≥ 2 and Sigmoid k ≥ 1. Config is validated: 0 ≤ Smoothing < 1,
// and ClassWeights, if set, have the right length (2 for the binary kinds, k
// otherwise) and are finite and > 0. The returned Func does not share memory
// with cfg.
func New(kind Kind, k int, cfg Config) (Func, error) {
	if !(cfg.Smoothing >= 0 && cfg.Smoothing < 1) { // also rejects NaN
		return nil, fmt.Errorf("%w: smoothing %v outside [0, 1)", ErrConfig, cfg.Smoothing)
	}
	if k < 1 {
		return nil, fmt.Errorf("%w: %d target columns", ErrConfig, k)
	}
	nWeights := k
	switch kind {
	case KindLogistic, KindBinarySoftmax:
		if k != 1 {
			return nil, fmt.Errorf("%w: %v needs binary data (1 target column), got %d", ErrConfig, kind, k)
		}
		nWeights = 2
	case KindSoftmax:
		if k < 2 {
			return nil, fmt.Errorf("%w: softmax needs at least 2 classes, got %d target column(s); use logistic or binary-softmax", ErrConfig, k)
		}
	case KindSigmoid:
	default:
		return nil, fmt.Errorf("%w: unknown kind %v", ErrConfig, kind)
	}
	var c []float64
	if cfg.ClassWeights != nil {
		if len(cfg.ClassWeights) != nWeights {
			return nil, fmt.Errorf("%w: %v wants %d class weights, got %d", ErrConfig, kind, nWeights, len(cfg.ClassWeights))
		}
		for i, w := range cfg.ClassWeights {
			if !(w > 0) || math.IsInf(w, 0) {
				return nil, fmt.Errorf("%w: class weight %d is %v, want finite and > 0", ErrConfig, i, w)
			}
		}
		c = append([]float64(nil), cfg.ClassWeights...)
	}
	eps := cfg.Smoothing
	switch kind {
	case KindLogistic:
		return Logistic{eps: eps, c: c}, nil
	case KindBinarySoftmax:
		return BinarySoftmax{eps: eps, c: c}, nil
	case KindSoftmax:
		return Softmax{n: k, eps: eps, c: c}, nil
	default:
		return Sigmoid{n: k, eps: eps, c: c}, nil
	}
}

// checkLen panics unless every slice in s has length n. Shape mismatches are
// programmer errors.
func checkLen(what string, n int, lens ...int) {
	for _, l := range lens {
		if l != n {
			panic(fmt.Sprintf("loss: %s: length mismatch: got %d, want %d", what, l, n))
		}
	}
}
