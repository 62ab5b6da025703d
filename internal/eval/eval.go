// Package eval computes evaluation metrics from mergeable sums. A pass over
// rows fills a flat []float64 of sums (it implements model.Observer); sums of
// different micro-shards add element-wise, so evaluation reduces like a
// gradient, and the metrics are computed once from the total.
package eval
