package shard

import (
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"
)

// cloneDataset returns a deep copy of d.
func cloneDataset(d *Dataset) *Dataset {
	c := *d
	c.X.Dense, c.X.Indptr = slices.Clone(d.X.Dense), slices.Clone(d.X.Indptr)
	c.X.Indices, c.X.Values = slices.Clone(d.X.Indices), slices.Clone(d.X.Values)
	c.Y, c.Weights = slices.Clone(d.Y), slices.Clone(d.Weights)
	return &c
}

// HoldOutPart gives HoldOut's parts, dense and CSR, with and without
// weights, for every period, including ones longer than the data.
func TestHoldOutPartMatchesHoldOut(t *testing.T) {
	rnd := rand.New(rand.NewPCG(7, 8))
	for _, storage := range []Storage{StorageDense, StorageSparse} {
		for _, weights := range []bool{false, true} {
			d := randomDataset(rnd, 23, 6, 0.5, storage)
			d.K = 2
			d.Y = make([]float32, 2*d.Rows())
			for i := range d.Y {
				d.Y[i] = float32(i)
			}
			if weights {
				d.Weights = make([]float64, d.Rows())
				for i := range d.Weights {
					d.Weights[i] = float64(i) / 4
				}
			}
			for _, every := range []int{2, 3, 7, 23, 40} {
				kept, held := HoldOut(d, every)
				gotHeld := HoldOutPart(cloneDataset(d), every, true)
				gotKept := HoldOutPart(cloneDataset(d), every, false)
				for _, c := range []struct {
					name      string
					got, want *Dataset
				}{{"held", gotHeld, held}, {"kept", gotKept, kept}} {
					g, w := cloneDataset(c.got), cloneDataset(c.want) // capacities aside
					if g.X.Dense == nil && w.X.Dense != nil && len(w.X.Dense) == 0 {
						g.X.Dense = []float32{}
					}
					if !reflect.DeepEqual(g.X, w.X) || !slices.Equal(g.Y, w.Y) || !slices.Equal(g.Weights, w.Weights) {
						t.Fatalf("storage %v weights %v every %d: %s part\n got %+v\nwant %+v", storage, weights, every, c.name, g, w)
					}
				}
			}
		}
	}
}
