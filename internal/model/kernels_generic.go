//go:build !amd64 || noasm

package model

func dotF32(x []float32, w []float64) float64 { return dotF32Go(x, w) }

func axpyF32(dst []float64, a float64, x []float32) { axpyF32Go(dst, a, x) }
