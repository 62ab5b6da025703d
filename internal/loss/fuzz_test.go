package loss

import (
	"math"
	"testing"
)

// FuzzSoftmaxEval feeds arbitrary float64 logits, quirks included (±0,
// subnormals, ±MaxFloat64, ±Inf, NaN), to the softmax and sigmoid losses.
// For finite logits the gradient must lie in [−1, 1] and the loss must be
// ≥ 0 and not NaN; nothing may panic.
func FuzzSoftmaxEval(f *testing.F) {
	f.Add(0.0, 0.0, 0.0, 0.5)
	f.Add(1e308, -1e308, 0.0, 1.0)
	f.Add(math.MaxFloat64, -math.MaxFloat64, 5e-324, 0.0)
	f.Add(math.Copysign(0, -1), 1e-300, -1e-300, 0.3)
	f.Add(math.Inf(1), 0.0, 1.0, 0.5)
	f.Add(math.NaN(), 0.0, 1.0, 0.5)
	f.Add(710.0, -710.0, 745.0, 0.9)
	sm, err := New(KindSoftmax, 3, Config{Smoothing: 0.1})
	if err != nil {
		f.Fatal(err)
	}
	sg, err := New(KindSigmoid, 3, Config{})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, z0, z1, z2, y float64) {
		z := []float64{z0, z1, z2}
		finiteZ := !math.IsNaN(z0+z1+z2) && !math.IsInf(z0, 0) && !math.IsInf(z1, 0) && !math.IsInf(z2, 0)
		yy := float32(math.Abs(math.Mod(y, 1)))
		if math.IsNaN(float64(yy)) {
			yy = 0
		}
		tt, g := make([]float64, 3), make([]float64, 3)
		for _, fn := range []Func{sm, sg} {
			fn.Target(tt, []float32{yy, 1 - yy, 0})
			l := fn.Eval(g, z, tt)
			if !finiteZ {
				continue
			}
			if math.IsNaN(l) || l < 0 {
				t.Errorf("%T: z=%v t=%v: L = %v", fn, z, tt, l)
			}
			for i, v := range g {
				if !(math.Abs(v) <= 1) {
					t.Errorf("%T: z=%v t=%v: g[%d] = %v", fn, z, tt, i, v)
				}
			}
		}
	})
}
