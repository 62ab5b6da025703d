package shard

import (
	"bytes"
	"testing"
)

func FuzzIDX(f *testing.F) {
	images, labels := tinyMNIST()
	f.Add(images, labels)
	f.Add(gzipped(f, images), labels)
	f.Add(images[:10], labels)
	f.Add(idxBytes(idxImagesMagic, []uint32{1 << 30, 28, 28}, nil), idxBytes(idxLabelsMagic, []uint32{1 << 30}, nil))
	f.Add(idxBytes(idxImagesMagic, []uint32{2, 0, 5}, nil), idxBytes(idxLabelsMagic, []uint32{2}, []byte{1, 2}))
	f.Fuzz(func(t *testing.T, images, labels []byte) {
		d, st, err := ReadIDX(bytes.NewReader(images), bytes.NewReader(labels), "fuzz", ReadOptions{})
		checkFuzzResult(t, d, st, err)
	})
}
