package allreduce_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"math"
	"reflect"
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
			{Worker: "a", Ranges: []allreduce.Range{{0, 4}, {4, 6}}, Issued: []int{0, 2}},
			{Worker: "b", Ranges: []allreduce.Range{{4, 6}, {6, 7}}, Issued: []int{1, 0}},
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
	b = append(b, 0xA1, byte(allreduce.MsgContribution), 1, 'j')
	b = binary.LittleEndian.AppendUint64(b, 1)
	b = append(b, 1, 'w')
	b = binary.LittleEndian.AppendUint32(b, 0)
	b = binary.LittleEndian.AppendUint32(b, 1)
	b = binary.LittleEndian.AppendUint32(b, math.MaxUint32)
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
	f.Add([]byte{0xA1})
	f.Add(good[:2])
	f.Add(good[:len(good)-1])
	f.Add(append(bytes.Clone(good), 0))
	bad := bytes.Clone(good)
	bad[0] = 0xA2 // next wire version
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
		fuzzRoundTrip(t, data, func() codec { return new(allreduce.Contribution) })
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
		fuzzRoundTrip(t, data, func() codec { return new(allreduce.Params) })
	})
}
