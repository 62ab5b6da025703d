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
