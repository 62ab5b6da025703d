package shard

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
)

// The micro-shard wire format, used when the coordinator hands micro-shards
// to workers through the object store. Little-endian throughout:
//
//	magic "DPTS" | version u8 | task u8 | sparse u8 | weights u8
//	rows u32 | cols u32 | k u32 | nnz u64
//	sparse: indptr (rows+1)×u64 (local to the shard, starting at 0)
//	        indices nnz×u32 | values nnz×f32
//	dense:  values rows·cols×f32
//	y rows·k×f32 | weights rows×f64 (when weights = 1)
const (
	codecMagic   = "DPTS"
	codecVersion = 1
	codecHeader  = 4 + 4 + 4*3 + 8
)

// ErrCodec is wrapped by every error of DecodeShard.
var ErrCodec = errors.New("shard: malformed micro-shard")

// EncodeShard encodes the contiguous rows r.Lo..r.Hi−1 of r.D. It panics if
// r has an Index (the codec carries contiguous micro-shards only).
func EncodeShard(r Rows) []byte {
	if r.Index != nil {
		panic("shard: EncodeShard of an indexed view")
	}
	d := r.D
	n, cols := r.Len(), d.X.Cols
	sparse := d.X.Sparse()
	var nnz int
	if sparse {
		nnz = int(d.X.Indptr[r.Hi] - d.X.Indptr[r.Lo])
	}
	size := codecHeader + n*d.K*4
	if sparse {
		size += (n+1)*8 + nnz*8
	} else {
		size += n * cols * 4
	}
	if d.Weights != nil {
		size += n * 8
	}
	b := make([]byte, 0, size)
	b = append(b, codecMagic...)
	b = append(b, codecVersion, byte(d.Task), boolByte(sparse), boolByte(d.Weights != nil))
	b = binary.LittleEndian.AppendUint32(b, uint32(n))
	b = binary.LittleEndian.AppendUint32(b, uint32(cols))
	b = binary.LittleEndian.AppendUint32(b, uint32(d.K))
	b = binary.LittleEndian.AppendUint64(b, uint64(nnz))
	if sparse {
		base := d.X.Indptr[r.Lo]
		for i := r.Lo; i <= r.Hi; i++ {
			b = binary.LittleEndian.AppendUint64(b, uint64(d.X.Indptr[i]-base))
		}
		lo, hi := d.X.Indptr[r.Lo], d.X.Indptr[r.Hi]
		for _, j := range d.X.Indices[lo:hi] {
			b = binary.LittleEndian.AppendUint32(b, uint32(j))
		}
		for _, v := range d.X.Values[lo:hi] {
			b = binary.LittleEndian.AppendUint32(b, math.Float32bits(v))
		}
	} else {
		for _, v := range d.X.Dense[r.Lo*cols : r.Hi*cols] {
			b = binary.LittleEndian.AppendUint32(b, math.Float32bits(v))
		}
	}
	for _, v := range d.Y[r.Lo*d.K : r.Hi*d.K] {
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(v))
	}
	if d.Weights != nil {
		for _, v := range d.Weights[r.Lo:r.Hi] {
			b = binary.LittleEndian.AppendUint64(b, math.Float64bits(v))
		}
	}
	return b
}

func boolByte(v bool) byte {
	if v {
		return 1
	}
	return 0
}

// DecodeShard decodes a micro-shard written by EncodeShard into a Dataset of
// its rows. It validates every count against the length of b before it
// allocates, and rejects non-finite values, so hostile input yields an
// error wrapping ErrCodec and never a panic or a huge allocation.
func DecodeShard(b []byte, name string) (*Dataset, error) {
	fail := func(format string, args ...any) (*Dataset, error) {
		return nil, fmt.Errorf("%w %s: %s", ErrCodec, name, fmt.Sprintf(format, args...))
	}
	if len(b) < codecHeader || string(b[:4]) != codecMagic {
		return fail("bad magic or short header (%d bytes)", len(b))
	}
	if b[4] != codecVersion {
		return fail("version %d, expected %d", b[4], codecVersion)
	}
	task := Task(b[5])
	if task < Binary || task > Multilabel {
		return fail("task %d", b[5])
	}
	if b[6] > 1 || b[7] > 1 {
		return fail("flags %d %d", b[6], b[7])
	}
	sparse, weighted := b[6] == 1, b[7] == 1
	n := uint64(binary.LittleEndian.Uint32(b[8:]))
	cols := uint64(binary.LittleEndian.Uint32(b[12:]))
	k := uint64(binary.LittleEndian.Uint32(b[16:]))
	nnz := binary.LittleEndian.Uint64(b[20:])
	if k == 0 || cols > math.MaxInt32 {
		return fail("k %d cols %d", k, cols)
	}
	if !sparse && nnz != 0 {
		// EncodeShard writes 0: a dense shard has one encoding.
		return fail("dense micro-shard with nnz %d, expected 0", nnz)
	}
	// Every count is bounded by the bytes present, so the products below
	// cannot overflow before the comparison.
	rest := uint64(len(b) - codecHeader)
	if n > rest || nnz > rest || k > rest {
		return fail("counts exceed %d bytes of payload", rest)
	}
	want := n * k * 4
	if sparse {
		want += (n+1)*8 + nnz*8
	} else {
		if cols != 0 && n > rest/cols {
			return fail("dense %d×%d exceeds payload", n, cols)
		}
		want += n * cols * 4
	}
	if weighted {
		want += n * 8
	}
	if want != rest {
		return fail("payload is %d bytes, header implies %d", rest, want)
	}
	p := b[codecHeader:]
	d := &Dataset{Name: name, Task: task, K: int(k)}
	d.X.Rows, d.X.Cols = int(n), int(cols)
	f32 := func(dst []float32, what string) error {
		for i := range dst {
			v := math.Float32frombits(binary.LittleEndian.Uint32(p[4*i:]))
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				return fmt.Errorf("%w %s: non-finite %s at %d", ErrCodec, name, what, i)
			}
			dst[i] = v
		}
		p = p[4*len(dst):]
		return nil
	}
	if sparse {
		d.X.Indptr = make([]int64, n+1)
		for i := range d.X.Indptr {
			v := binary.LittleEndian.Uint64(p[8*i:])
			if v > nnz || (i > 0 && int64(v) < d.X.Indptr[i-1]) || (i == 0 && v != 0) {
				return fail("indptr[%d] = %d", i, v)
			}
			d.X.Indptr[i] = int64(v)
		}
		if uint64(d.X.Indptr[n]) != nnz {
			return fail("indptr ends at %d, nnz %d", d.X.Indptr[n], nnz)
		}
		p = p[8*(n+1):]
		d.X.Indices = makeLarge[[]int32](int(nnz), int(nnz))
		for i := range d.X.Indices {
			d.X.Indices[i] = int32(binary.LittleEndian.Uint32(p[4*i:]))
		}
		p = p[4*nnz:]
		for r := uint64(0); r < n; r++ {
			for q := d.X.Indptr[r]; q < d.X.Indptr[r+1]; q++ {
				j := d.X.Indices[q]
				if j < 0 || uint64(j) >= cols || (q > d.X.Indptr[r] && j <= d.X.Indices[q-1]) {
					return fail("row %d: index %d not ascending within [0,%d)", r, j, cols)
				}
			}
		}
		d.X.Values = makeLarge[[]float32](int(nnz), int(nnz))
		if err := f32(d.X.Values, "feature"); err != nil {
			return nil, err
		}
	} else {
		d.X.Dense = makeLarge[[]float32](int(n*cols), int(n*cols))
		if err := f32(d.X.Dense, "feature"); err != nil {
			return nil, err
		}
	}
	d.Y = make([]float32, n*k)
	if err := f32(d.Y, "target"); err != nil {
		return nil, err
	}
	if weighted {
		d.Weights = make([]float64, n)
		for i := range d.Weights {
			v := math.Float64frombits(binary.LittleEndian.Uint64(p[8*i:]))
			if math.IsNaN(v) || math.IsInf(v, 0) || v < 0 {
				return fail("weight %d = %v", i, v)
			}
			d.Weights[i] = v
		}
	}
	return d, nil
}
