package trainer

import (
	"encoding/json"
	"testing"
)

// FuzzControl feeds arbitrary bytes to the decoders of the JSON control
// messages a coordinator receives from the network: they must return an
// error or a value, never panic, and respect the size bound.
func FuzzControl(f *testing.F) {
	for _, v := range []any{
		Hello{Job: "j1", Worker: "w0", Version: 3, Round: 9, ComputeSeconds: 0.01},
		Failure{Job: "j1", Worker: "w0", Error: "a.svm:2: bad"},
		JobAck{Job: "j1"},
	} {
		b, _ := json.Marshal(v)
		f.Add(b)
	}
	f.Add([]byte(`{"job":1}`))
	f.Add([]byte(`[`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var h Hello
		if err := decodeControl(b, &h); err == nil && len(b) > maxControl {
			t.Fatalf("accepted %d bytes, above the %d limit", len(b), maxControl)
		}
		var fl Failure
		_ = decodeControl(b, &fl)
		var spec JobSpec
		_ = decodeJSON(b, &spec, maxSpec)
	})
}

// FuzzCheckpoint: a corrupt or hostile checkpoint file is an error, never a
// panic; one that decodes re-encodes to a checkpoint that decodes the same.
func FuzzCheckpoint(f *testing.F) {
	good, err := EncodeCheckpoint(&Checkpoint{Job: "j", Steps: 4, Epochs: 1, Theta: []float64{1, -2, 0.5}, EpochSeconds: []float64{0.1}})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add(good[:len(good)/2])
	f.Add([]byte(checkpointMagic))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := DecodeCheckpoint(b, "fuzz")
		if err != nil {
			return
		}
		again, err := EncodeCheckpoint(c)
		if err != nil {
			t.Fatalf("re-encoding a decoded checkpoint: %v", err)
		}
		if _, err := DecodeCheckpoint(again, "again"); err != nil {
			t.Fatalf("re-encoded checkpoint does not decode: %v", err)
		}
	})
}
