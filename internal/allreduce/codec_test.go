package allreduce_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"math"
	"reflect"
	"slices"
	"testing"

	"github.com/dptrain/dptrain/internal/allreduce"
)

func samplePlan() *allreduce.Plan {
	return &allreduce.Plan{
		Job: "job-1",
		RoundSpec: allreduce.RoundSpec{Round: 7, Step: 6, Epoch: 2, Kind: allreduce.KindGrad,
			ParamsVersion: 5, Shards: 7, VecLen: 3},
		Revision: 2,
		Assign: []allreduce.Assignment{
			{Worker: "a", Ranges: []allreduce.Range{{0, 4}, {4, 6}}, Issued: []int{0, 2}, Relay: "a"},
			{Worker: "b", Ranges: []allreduce.Range{{4, 6}, {6, 7}}, Issued: []int{1, 0}, Relay: "a"},
			{Worker: "c", Ranges: []allreduce.Range{}, Issued: []int{}},
		},
	}
}

func sampleContribution() *allreduce.Contribution {
	return &allreduce.Contribution{Job: "job-1", Round: 7, Worker: "a", Range: allreduce.Range{Lo: 4, Hi: 6},
		Vec: []float64{1.5, math.Copysign(0, -1), math.SmallestNonzeroFloat64, -math.MaxFloat64}}
}

func sampleParams() *allreduce.Params {
	return &allreduce.Params{Job: "job-1", Version: 9, Theta: []float64{0.25, -3, 1e-300}}
}

// fixCRC returns a copy of data with a valid checksum in its last 4 bytes.
func fixCRC(data []byte) []byte {
	out := bytes.Clone(data)
	if len(out) >= 4 {
		n := len(out) - 4
		binary.LittleEndian.PutUint32(out[n:], crc32.Checksum(out[:n], crc32.MakeTable(crc32.Castagnoli)))
	}
	return out
}

type codec interface {
	MarshalBinary() ([]byte, error)
	UnmarshalBinary([]byte) error
}

func TestCodecRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		name     string
		msg, out codec
	}{
		{"plan", samplePlan(), new(allreduce.Plan)},
		{"contribution", sampleContribution(), new(allreduce.Contribution)},
		{"params", sampleParams(), new(allreduce.Params)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data, err := tc.msg.MarshalBinary()
			if err != nil {
				t.Fatalf("marshal: %v", err)
			}
			if err := tc.out.UnmarshalBinary(data); err != nil {
				t.Fatalf("unmarshal: %v", err)
			}
			if !reflect.DeepEqual(tc.msg, tc.out) {
				t.Fatalf("round trip:\n got %+v\nwant %+v", tc.out, tc.msg)
			}
			again, err := tc.out.MarshalBinary()
			if err != nil || !bytes.Equal(again, data) {
				t.Fatalf("re-encode differs (err %v)", err)
			}
			// Every truncation and every single-bit flip is rejected.
			for n := range len(data) {
				if err := tc.out.UnmarshalBinary(data[:n]); !errors.Is(err, allreduce.ErrMalformed) {
					t.Fatalf("truncated to %d bytes: err %v, want ErrMalformed", n, err)
				}
			}
			for i := range 8 * len(data) {
				bad := bytes.Clone(data)
				bad[i/8] ^= 1 << (i % 8)
				if err := tc.out.UnmarshalBinary(bad); err == nil {
					t.Fatalf("bit %d flipped: decoded", i)
				}
			}
			if err := tc.out.UnmarshalBinary(append(bytes.Clone(data), 0)); err == nil {
				t.Fatal("trailing byte: decoded")
			}
			if typ, err := allreduce.MessageType(data); err != nil || typ.String() != tc.name {
				t.Fatalf("MessageType = %v, %v", typ, err)
			}
		})
	}
}

func TestPlanNilIssuedEncodesAsZero(t *testing.T) {
	p := samplePlan()
	p.Assign = []allreduce.Assignment{{Worker: "a", Ranges: []allreduce.Range{{0, 4}}}}
	data, err := p.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	var q allreduce.Plan
	if err := q.UnmarshalBinary(data); err != nil {
		t.Fatal(err)
	}
	if got := q.Assign[0].Issued; !reflect.DeepEqual(got, []int{0}) {
		t.Fatalf("Issued = %v, want [0]", got)
	}
}

func TestDecodeRejectsNonFinite(t *testing.T) {
	for _, x := range []float64{math.NaN(), math.Inf(1), math.Inf(-1)} {
		c := sampleContribution()
		data, err := c.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		// Overwrite the first element (after the 4-byte trailer counted back).
		off := len(data) - 4 - 8*len(c.Vec)
		binary.LittleEndian.PutUint64(data[off:], math.Float64bits(x))
		if err := new(allreduce.Contribution).UnmarshalBinary(fixCRC(data)); !errors.Is(err, allreduce.ErrNotFinite) {
			t.Errorf("contribution with %v: err %v, want ErrNotFinite", x, err)
		}
		p := sampleParams()
		data, err = p.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		binary.LittleEndian.PutUint64(data[len(data)-4-8:], math.Float64bits(x))
		if err := new(allreduce.Params).UnmarshalBinary(fixCRC(data)); !errors.Is(err, allreduce.ErrNotFinite) {
			t.Errorf("params with %v: err %v, want ErrNotFinite", x, err)
		}
		c.Vec[1] = x
		if _, err := c.MarshalBinary(); !errors.Is(err, allreduce.ErrNotFinite) {
			t.Errorf("marshal contribution with %v: err %v, want ErrNotFinite", x, err)
		}
	}
}

func TestDecodeBoundsHostileCounts(t *testing.T) {
	// A contribution header claiming 2^32−1 elements in a few bytes.
	var b []byte
	b = append(b, 0xA3, byte(allreduce.MsgContribution), 1, 'j')
	b = binary.LittleEndian.AppendUint64(b, 1)
	b = append(b, 1, 'w')
	b = binary.LittleEndian.AppendUint32(b, 0)
	b = binary.LittleEndian.AppendUint32(b, 1)
	b = binary.LittleEndian.AppendUint32(b, math.MaxUint32)
	b = append(b, 0) // dense
	b = append(b, 0, 0, 0, 0)
	allocs := testing.AllocsPerRun(10, func() {
		if err := new(allreduce.Contribution).UnmarshalBinary(fixCRC(b)); !errors.Is(err, allreduce.ErrMalformed) {
			t.Fatalf("err %v, want ErrMalformed", err)
		}
	})
	if allocs > 20 {
		t.Fatalf("%v allocations decoding a hostile count", allocs)
	}
	// A plan claiming 2^32−1 assignments.
	p := samplePlan()
	p.Assign = nil
	data, err := p.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	binary.LittleEndian.PutUint32(data[len(data)-8:], math.MaxUint32)
	if err := new(allreduce.Plan).UnmarshalBinary(fixCRC(data)); !errors.Is(err, allreduce.ErrMalformed) {
		t.Fatalf("plan with 2^32−1 assignments: err %v, want ErrMalformed", err)
	}
}

func TestPlanValidate(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mutate func(p *allreduce.Plan)
		want   error
	}{
		{"empty job", func(p *allreduce.Plan) { p.Job = "" }, allreduce.ErrMalformed},
		{"long job", func(p *allreduce.Plan) { p.Job = string(make([]byte, 256)) }, allreduce.ErrMalformed},
		{"kind", func(p *allreduce.Plan) { p.Kind = 4 }, allreduce.ErrMalformed},
		{"shards 0", func(p *allreduce.Plan) { p.Shards = 0 }, allreduce.ErrMalformed},
		{"veclen 0", func(p *allreduce.Plan) { p.VecLen = 0 }, allreduce.ErrMalformed},
		{"negative epoch", func(p *allreduce.Plan) { p.Epoch = -1 }, allreduce.ErrMalformed},
		{"unsorted workers", func(p *allreduce.Plan) { p.Assign[0].Worker = "z" }, allreduce.ErrMalformed},
		{"duplicate workers", func(p *allreduce.Plan) { p.Assign[1].Worker = "a" }, allreduce.ErrMalformed},
		{"not a node", func(p *allreduce.Plan) { p.Assign[0].Ranges[0] = allreduce.Range{Lo: 0, Hi: 3} }, allreduce.ErrRange},
		{"beyond shards", func(p *allreduce.Plan) { p.Assign[1].Ranges[1] = allreduce.Range{Lo: 6, Hi: 8} }, allreduce.ErrRange},
		{"overlap", func(p *allreduce.Plan) { p.Assign[0].Ranges[1] = allreduce.Range{Lo: 2, Hi: 3} }, allreduce.ErrRange},
		{"issued later", func(p *allreduce.Plan) { p.Assign[0].Issued[1] = 3 }, allreduce.ErrMalformed},
		{"issued length", func(p *allreduce.Plan) { p.Assign[0].Issued = []int{0} }, allreduce.ErrMalformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := samplePlan()
			tc.mutate(p)
			if err := p.Validate(); !errors.Is(err, tc.want) {
				t.Fatalf("Validate: %v, want %v", err, tc.want)
			}
			if _, err := p.MarshalBinary(); !errors.Is(err, tc.want) {
				t.Fatalf("MarshalBinary: %v, want %v", err, tc.want)
			}
		})
	}
}

// fuzzRoundTrip decodes data as msg, raw and with its checksum repaired; a
// decode that succeeds must re-encode to the same bytes.
func fuzzRoundTrip(t *testing.T, data []byte, fresh func() codec) {
	for _, in := range [][]byte{data, fixCRC(data)} {
		msg := fresh()
		if err := msg.UnmarshalBinary(in); err != nil {
			if !errors.Is(err, allreduce.ErrMalformed) && !errors.Is(err, allreduce.ErrRange) &&
				!errors.Is(err, allreduce.ErrLength) && !errors.Is(err, allreduce.ErrNotFinite) {
				t.Fatalf("error wraps no sentinel: %v", err)
			}
			continue
		}
		out, err := msg.MarshalBinary()
		if err != nil {
			t.Fatalf("re-encode of a decoded message: %v", err)
		}
		if !bytes.Equal(out, in) {
			t.Fatalf("re-encode differs:\n in %x\nout %x", in, out)
		}
	}
}

func fuzzSeeds(f *testing.F, good []byte) {
	f.Add(good)
	f.Add([]byte{})
	f.Add([]byte{0xA2}) // an earlier wire version
	f.Add(good[:2])
	f.Add(good[:len(good)-1])
	f.Add(append(bytes.Clone(good), 0))
	bad := bytes.Clone(good)
	bad[0] = 0xA4 // next wire version
	f.Add(bad)
	bad = bytes.Clone(good)
	bad[1] ^= 3 // another message type
	f.Add(bad)
	bad = bytes.Clone(good)
	bad[2] = 0xFF // ID longer than the message
	f.Add(bad)
	bad = bytes.Clone(good)
	bad[2] = 0 // empty ID
	f.Add(bad)
	bad = bytes.Clone(good)
	binary.LittleEndian.PutUint32(bad[len(bad)-8:], math.MaxUint32) // hostile trailing count or value
	f.Add(bad)
}

func FuzzPlan(f *testing.F) {
	good, err := samplePlan().MarshalBinary()
	if err != nil {
		f.Fatal(err)
	}
	fuzzSeeds(f, good)
	p := samplePlan()
	p.Assign = nil
	empty, _ := p.MarshalBinary()
	f.Add(empty)
	f.Fuzz(func(t *testing.T, data []byte) {
		fuzzRoundTrip(t, data, func() codec { return new(allreduce.Plan) })
	})
}

func FuzzContribution(f *testing.F) {
	good, err := sampleContribution().MarshalBinary()
	if err != nil {
		f.Fatal(err)
	}
	fuzzSeeds(f, good)
	nan := bytes.Clone(good)
	binary.LittleEndian.PutUint64(nan[len(nan)-12:], 0x7FF8000000000001) // a NaN payload
	f.Add(fixCRC(nan))
	f.Fuzz(func(t *testing.T, data []byte) {
		fuzzRoundTrip(t, data, func() codec { return &limitedContribution{} })
	})
}

func FuzzParams(f *testing.F) {
	good, err := sampleParams().MarshalBinary()
	if err != nil {
		f.Fatal(err)
	}
	fuzzSeeds(f, good)
	empty, _ := (&allreduce.Params{Job: "j", Version: 0}).MarshalBinary()
	f.Add(empty)
	inf := bytes.Clone(good)
	binary.LittleEndian.PutUint64(inf[len(inf)-12:], math.Float64bits(math.Inf(-1)))
	f.Add(fixCRC(inf))
	f.Fuzz(func(t *testing.T, data []byte) {
		fuzzRoundTrip(t, data, func() codec { return &limitedParams{} })
	})
}

// fuzzLimit bounds the vectors the fuzz targets decode: a vector in runs
// form expands to its declared length, which a transport bounds by what its
// rounds use.
const fuzzLimit = 1 << 16

type limitedContribution struct{ allreduce.Contribution }

func (c *limitedContribution) UnmarshalBinary(data []byte) error {
	return c.UnmarshalBinaryLimit(data, fuzzLimit)
}

type limitedParams struct{ allreduce.Params }

func (p *limitedParams) UnmarshalBinary(data []byte) error {
	return p.UnmarshalBinaryLimit(data, fuzzLimit)
}

// Vectors that are mostly +0 travel as runs, exactly when that is shorter,
// and decode to the same bits (−0 is not +0 and travels as a value).
func TestSparseVectorsRoundTrip(t *testing.T) {
	negZero := math.Copysign(0, -1)
	for _, tc := range []struct {
		name   string
		vec    []float64
		sparse bool
	}{
		{"all +0", make([]float64, 100), true},
		{"one value", append(make([]float64, 99), 3), true},
		{"-0 among +0", append(make([]float64, 50), negZero, 0, 0), true},
		{"two runs", []float64{0, 0, 0, 1, 2, 0, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0}, true},
		{"dense", []float64{1, 2, 3, 4}, false},
		{"half", []float64{1, 0, 2, 0, 3, 0, 4, 0}, false},
		{"single +0", []float64{0}, true},
		{"single value", []float64{7}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := sampleContribution()
			c.Vec = tc.vec
			data, err := c.MarshalBinary()
			if err != nil {
				t.Fatal(err)
			}
			dense := &allreduce.Contribution{Job: c.Job, Round: c.Round, Worker: c.Worker, Range: c.Range, Vec: tc.vec}
			if sparse := len(data) < 2+1+len(c.Job)+8+1+len(c.Worker)+8+5+8*len(tc.vec)+4; sparse != tc.sparse {
				t.Fatalf("%d bytes: runs form %v, want %v", len(data), sparse, tc.sparse)
			}
			var got allreduce.Contribution
			if err := got.UnmarshalBinaryLimit(data, len(tc.vec)); err != nil {
				t.Fatal(err)
			}
			for i := range tc.vec {
				if math.Float64bits(got.Vec[i]) != math.Float64bits(dense.Vec[i]) {
					t.Fatalf("element %d: %v, want %v", i, got.Vec[i], dense.Vec[i])
				}
			}
			if tc.sparse {
				if err := got.UnmarshalBinaryLimit(data, len(tc.vec)-1); !errors.Is(err, allreduce.ErrLength) {
					t.Fatalf("decode with a limit below the length: %v, want ErrLength", err)
				}
			}
		})
	}
}

// The decoder accepts only the canonical form: a dense vector that runs
// would shorten, runs that are not maximal or hold +0, overlapping runs.
func TestSparseVectorsCanonical(t *testing.T) {
	// A contribution with a 16-element vector, written by hand.
	build := func(vec func(b []byte) []byte) []byte {
		var b []byte
		b = append(b, 0xA3, byte(allreduce.MsgContribution), 1, 'j')
		b = binary.LittleEndian.AppendUint64(b, 1)
		b = append(b, 1, 'w')
		b = binary.LittleEndian.AppendUint32(b, 0)
		b = binary.LittleEndian.AppendUint32(b, 1)
		b = binary.LittleEndian.AppendUint32(b, 16)
		b = vec(b)
		return fixCRC(append(b, 0, 0, 0, 0))
	}
	f := func(b []byte, xs ...float64) []byte {
		for _, x := range xs {
			b = binary.LittleEndian.AppendUint64(b, math.Float64bits(x))
		}
		return b
	}
	run := func(b []byte, lo, n uint32) []byte {
		return binary.LittleEndian.AppendUint32(binary.LittleEndian.AppendUint32(b, lo), n)
	}
	good := build(func(b []byte) []byte {
		b = append(b, 1)
		b = binary.LittleEndian.AppendUint32(b, 2)
		b = f(run(b, 2, 1), 5)
		return f(run(b, 9, 2), 6, 7)
	})
	var c allreduce.Contribution
	if err := c.UnmarshalBinary(good); err != nil {
		t.Fatalf("canonical runs: %v", err)
	}
	if c.Vec[2] != 5 || c.Vec[9] != 6 || c.Vec[10] != 7 || c.Vec[0] != 0 {
		t.Fatalf("decoded %v", c.Vec)
	}
	for name, data := range map[string][]byte{
		"dense form of a sparse vector": build(func(b []byte) []byte {
			return f(append(b, 0), 0, 0, 5, 0, 0, 0, 0, 0, 0, 6, 7, 0, 0, 0, 0, 0)
		}),
		"runs not maximal": build(func(b []byte) []byte {
			b = binary.LittleEndian.AppendUint32(append(b, 1), 2)
			b = f(run(b, 9, 1), 6)
			return f(run(b, 10, 1), 7)
		}),
		"+0 inside a run": build(func(b []byte) []byte {
			b = binary.LittleEndian.AppendUint32(append(b, 1), 1)
			return f(run(b, 9, 2), 0, 7)
		}),
		"runs out of order": build(func(b []byte) []byte {
			b = binary.LittleEndian.AppendUint32(append(b, 1), 2)
			b = f(run(b, 9, 1), 6)
			return f(run(b, 2, 1), 5)
		}),
		"run past the end": build(func(b []byte) []byte {
			b = binary.LittleEndian.AppendUint32(append(b, 1), 1)
			return f(run(b, 15, 2), 6, 7)
		}),
		"empty run": build(func(b []byte) []byte {
			b = binary.LittleEndian.AppendUint32(append(b, 1), 1)
			return run(b, 3, 0)
		}),
		"runs form not shorter": build(func(b []byte) []byte {
			b = binary.LittleEndian.AppendUint32(append(b, 1), 1)
			return f(run(b, 0, 15), 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15)
		}),
		"unknown form": build(func(b []byte) []byte { return append(b, 2) }),
	} {
		if err := new(allreduce.Contribution).UnmarshalBinary(data); !errors.Is(err, allreduce.ErrMalformed) {
			t.Errorf("%s: err %v, want ErrMalformed", name, err)
		}
	}
}

// A patch gives back θ bit for bit (−0, subnormals, values whose XOR is a
// NaN pattern), travels as runs when few parameters changed, and is checked.
func TestParamsPatch(t *testing.T) {
	base := []float64{1, 2, math.Copysign(0, -1), 1e-310, -3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14}
	theta := slices.Clone(base)
	theta[2] = 0                    // −0 → +0: one bit
	theta[5] = math.Nextafter(4, 5) // one ulp
	theta[9] = -math.MaxFloat64     // XOR with 8 is a NaN pattern
	p := allreduce.PatchParams("j", 5, theta, 4, base, nil)
	data, err := p.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	fullParams := &allreduce.Params{Job: "j", Version: 5, Theta: theta}
	full, _ := fullParams.MarshalBinary()
	if len(data) >= len(full) || !p.Compact() || fullParams.Compact() {
		t.Errorf("patch of 3 changes in 16: %d bytes (compact %v), full θ %d (compact %v)", len(data), p.Compact(), len(full), fullParams.Compact())
	}
	var q allreduce.Params
	if err := q.UnmarshalBinaryLimit(data, len(theta)); err != nil {
		t.Fatal(err)
	}
	got, err := q.Resolve(base)
	if err != nil {
		t.Fatal(err)
	}
	for i := range theta {
		if math.Float64bits(got[i]) != math.Float64bits(theta[i]) {
			t.Fatalf("θ[%d] = %v, want %v", i, got[i], theta[i])
		}
	}
	if _, err := q.Resolve(base[:3]); !errors.Is(err, allreduce.ErrLength) {
		t.Errorf("resolve against a short base: %v, want ErrLength", err)
	}
	bad := slices.Clone(base)
	bad[0] = math.Inf(1) // unchanged by the patch, and not finite
	if _, err := q.Resolve(bad); !errors.Is(err, allreduce.ErrNotFinite) {
		t.Errorf("resolve to a non-finite θ: %v, want ErrNotFinite", err)
	}
	q.Base = 5
	if _, err := q.MarshalBinary(); !errors.Is(err, allreduce.ErrMalformed) {
		t.Errorf("patch against its own version: %v, want ErrMalformed", err)
	}
	if got, _ := (&allreduce.Params{Theta: theta}).Resolve(nil); &got[0] != &theta[0] {
		t.Errorf("Resolve of whole parameters copied them")
	}
}
