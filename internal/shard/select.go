package shard

// HoldOut splits d by row number: the rows whose 1-based number is
// divisible by every form the held-out set, the others the kept set (the
// protocol of data sets that ship as one file, such as w8a). Both keep the
// row order, the features and the class mapping. It panics if every < 2.
func HoldOut(d *Dataset, every int) (kept, held *Dataset) {
	if every < 2 {
		panic("shard: HoldOut needs every ≥ 2")
	}
	return d.Select(func(i int) bool { return (i+1)%every != 0 }), d.Select(func(i int) bool { return (i+1)%every == 0 })
}

// Select returns a new dataset holding the rows i of d, in order, for which
// keep(i) is true.
func (d *Dataset) Select(keep func(i int) bool) *Dataset {
	out := &Dataset{Name: d.Name, Task: d.Task, K: d.K, Classes: d.Classes}
	out.X.Cols = d.X.Cols
	sparse := d.X.Sparse()
	if sparse {
		out.X.Indptr = []int64{0}
	} else {
		out.X.Dense = []float32{}
	}
	for i := 0; i < d.Rows(); i++ {
		if !keep(i) {
			continue
		}
		if sparse {
			lo, hi := d.X.Indptr[i], d.X.Indptr[i+1]
			out.X.Indices = append(out.X.Indices, d.X.Indices[lo:hi]...)
			out.X.Values = append(out.X.Values, d.X.Values[lo:hi]...)
			out.X.Indptr = append(out.X.Indptr, int64(len(out.X.Indices)))
		} else {
			out.X.Dense = append(out.X.Dense, d.X.Dense[i*d.X.Cols:(i+1)*d.X.Cols]...)
		}
		out.Y = append(out.Y, d.Y[i*d.K:(i+1)*d.K]...)
		if d.Weights != nil {
			out.Weights = append(out.Weights, d.Weights[i])
		}
		out.X.Rows++
	}
	return out
}

// HoldOutPart returns one part of HoldOut(d, every), the held-out rows when
// held is set and the kept ones otherwise, without holding both: the kept
// rows are moved down within d's own storage (d is consumed: use only the
// result), the held ones are copied. Its rows are those of HoldOut's part,
// in the same order.
func HoldOutPart(d *Dataset, every int, held bool) *Dataset {
	if every < 2 {
		panic("shard: HoldOutPart needs every ≥ 2")
	}
	if held {
		return d.Select(func(i int) bool { return (i+1)%every == 0 })
	}
	d.compact(func(i int) bool { return (i+1)%every != 0 })
	return d
}

// compact keeps, in place and in order, the rows i of d for which keep(i)
// is true.
func (d *Dataset) compact(keep func(i int) bool) {
	m, k := &d.X, d.K
	w := 0
	var wv int64
	for i := range m.Rows {
		if !keep(i) {
			continue
		}
		if m.Sparse() {
			lo, hi := m.Indptr[i], m.Indptr[i+1]
			copy(m.Indices[wv:], m.Indices[lo:hi])
			copy(m.Values[wv:], m.Values[lo:hi])
			m.Indptr[w] = wv
			wv += hi - lo
		} else {
			copy(m.Dense[w*m.Cols:(w+1)*m.Cols], m.Dense[i*m.Cols:(i+1)*m.Cols])
		}
		copy(d.Y[w*k:(w+1)*k], d.Y[i*k:(i+1)*k])
		if d.Weights != nil {
			d.Weights[w] = d.Weights[i]
		}
		w++
	}
	if m.Sparse() {
		m.Indptr[w] = wv
		m.Indptr, m.Indices, m.Values = m.Indptr[:w+1], m.Indices[:wv], m.Values[:wv]
	} else {
		m.Dense = m.Dense[:w*m.Cols]
	}
	d.Y = d.Y[:w*k]
	if d.Weights != nil {
		d.Weights = d.Weights[:w]
	}
	m.Rows = w
}
