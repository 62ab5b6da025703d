package model

// splitMix64 is Steele, Lea and Flood's SplitMix64 generator ("Fast
// splittable pseudorandom number generators", OOPSLA 2014), written out so
// that initial parameters never change with the Go version.
type splitMix64 struct{ state uint64 }

func newSplitMix64(seed uint64) splitMix64 { return splitMix64{state: seed} }

func (g *splitMix64) next() uint64 {
	g.state += 0x9e3779b97f4a7c15
	z := g.state
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// float64 returns a uniform draw from [0, 1) with 53 random bits.
func (g *splitMix64) float64() float64 {
	return float64(g.next()>>11) * 0x1p-53
}
