package optim

import "testing"

// FuzzParseSchedule checks that ParseSchedule never panics and that what it
// accepts is valid and gives finite learning rates within [0, base].
func FuzzParseSchedule(f *testing.F) {
	for _, s := range []string{
		"constant", "constant:warmup=3", "step:every=10,gamma=0.5,min=1e-3",
		"cosine:total=100,warmup=10,min=0", "cosine:total=1e999", "step:every=-1",
		"step:gamma=NaN,every=1", ":", "cosine:total=10,,", "cosine:total=0x10",
	} {
		f.Add(s, 0.1)
	}
	f.Fuzz(func(t *testing.T, spec string, base float64) {
		s, err := ParseSchedule(spec, base)
		if err != nil {
			return
		}
		if err := s.Validate(); err != nil {
			t.Fatalf("ParseSchedule(%q) returned invalid %+v: %v", spec, s, err)
		}
		for _, step := range []int{0, 1, s.Warmup, s.Warmup + 1, s.Total, 1 << 40} {
			if lr := s.LR(step); !(lr >= 0 && lr <= s.Base) {
				t.Fatalf("%+v.LR(%d) = %v", s, step, lr)
			}
		}
	})
}
