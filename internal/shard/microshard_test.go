package shard

import "testing"

func TestDefaultMicroShards(t *testing.T) {
	for _, c := range []struct{ rows, want int }{
		{-1, 1}, {0, 1}, {1, 1}, {1024, 1}, {1025, 2}, {32561, 32}, {60000, 59},
		{1024 * 1024, 1024}, {1 << 30, 1024},
	} {
		if got := DefaultMicroShards(c.rows); got != c.want {
			t.Errorf("DefaultMicroShards(%d) = %d, want %d", c.rows, got, c.want)
		}
	}
}

func TestSplit(t *testing.T) {
	for _, rows := range []int{0, 1, 2, 7, 100, 1023, 32561} {
		for _, m := range []int{1, 2, 3, 5, 8, 64, 101} {
			rs := Split(rows, m)
			if len(rs) != m {
				t.Fatalf("Split(%d, %d) has %d ranges", rows, m, len(rs))
			}
			lo, hi := rows, 0
			next := 0
			for s, r := range rs {
				if r.Lo != next || r.Hi < r.Lo {
					t.Fatalf("Split(%d, %d)[%d] = %v, want contiguous from %d", rows, m, s, r, next)
				}
				next = r.Hi
				lo, hi = min(lo, r.Len()), max(hi, r.Len())
			}
			if next != rows {
				t.Errorf("Split(%d, %d) covers [0, %d)", rows, m, next)
			}
			if hi-lo > 1 {
				t.Errorf("Split(%d, %d): sizes from %d to %d differ by more than one", rows, m, lo, hi)
			}
			if m > rows && lo != 0 {
				t.Errorf("Split(%d, %d) has no empty micro-shard", rows, m)
			}
		}
	}
}

func TestSplitPanicsOnBadArguments(t *testing.T) {
	for _, c := range [][2]int{{-1, 1}, {5, 0}} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("Split(%d, %d) did not panic", c[0], c[1])
				}
			}()
			Split(c[0], c[1])
		}()
	}
}

func TestView(t *testing.T) {
	d := &Dataset{X: Matrix{Rows: 10, Cols: 1, Dense: make([]float32, 10)}}
	v := d.View(Range{3, 7})
	if v.Len() != 4 || v.Row(0) != 3 || v.Row(3) != 6 || v.D != d {
		t.Errorf("View([3,7)) = %+v", v)
	}
	defer func() {
		if recover() == nil {
			t.Error("View beyond the data did not panic")
		}
	}()
	d.View(Range{8, 11})
}
