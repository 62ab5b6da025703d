package allreduce

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"math"
)

// Wire format
//
// Parameters carry version and base (u64s) before θ: base 0 for θ itself,
// otherwise the version θ is patched against (see [Params]).
//
// Every message is little-endian:
//
//	byte 0        wireVersion (0xA1: allreduce wire format 1)
//	byte 1        message type (MsgPlan, MsgContribution, MsgParams)
//	...           the message's fields, in declaration order
//	last 4 bytes  CRC-32C (Castagnoli) of all bytes before it
//
// An ID is one length byte (1..255) and its bytes, an optional ID (a plan's
// relay) the same with length 0 for none; integers are u32 or u64. A
// vector is a u32 count n and a form byte: 0, dense, then n IEEE-754
// float64s; or 1, runs, for vectors that are mostly +0 (the gradient of
// sparse data, parameters that changed in few places), then a u32 count r
// and r runs of (u32 start, u32 length, length float64s): the maximal runs
// of elements whose bits are not those of +0, in increasing order. The runs
// form is used exactly when it is shorter (4 + 8r + 8·nnz < 8n bytes); the
// elements outside the runs are +0. The encoding is canonical: decoders
// accept only what the encoder produces, so re-encoding a decoded message
// gives back the same bytes.

const wireVersion = 0xA3

// Vector forms.
const (
	vecDense = 0
	vecRuns  = 1
)

// Msg is the type byte of an encoded message.
type Msg uint8

// Message types.
const (
	MsgPlan         Msg = 1
	MsgContribution Msg = 2
	MsgParams       Msg = 3
)

// String returns "plan", "contribution" or "params".
func (m Msg) String() string {
	switch m {
	case MsgPlan:
		return "plan"
	case MsgContribution:
		return "contribution"
	case MsgParams:
		return "params"
	}
	return fmt.Sprintf("Msg(%d)", uint8(m))
}

const (
	headerLen  = 2
	trailerLen = 4
	rangeLen   = 4 + 4 + 4 // lo, hi, issued
)

// MessageType returns the type of an encoded message, checking only its
// header, so a transport can dispatch without decoding.
func MessageType(data []byte) (Msg, error) {
	if len(data) < headerLen+trailerLen {
		return 0, fmt.Errorf("%w: %d bytes", ErrMalformed, len(data))
	}
	if data[0] != wireVersion {
		return 0, fmt.Errorf("%w: wire version %#x, want %#x", ErrMalformed, data[0], wireVersion)
	}
	return Msg(data[1]), nil
}

// ---- encoding ----

func appendHeader(b []byte, m Msg) []byte { return append(b, wireVersion, byte(m)) }

func appendID(b []byte, id string) []byte {
	b = append(b, byte(len(id)))
	return append(b, id...)
}

func appendVec(b []byte, v []float64) []byte {
	b = binary.LittleEndian.AppendUint32(b, uint32(len(v)))
	if r, nnz := zeroRuns(v); runsSmaller(len(v), r, nnz) {
		b = append(b, vecRuns)
		b = binary.LittleEndian.AppendUint32(b, uint32(r))
		for i := 0; i < len(v); {
			if math.Float64bits(v[i]) == 0 {
				i++
				continue
			}
			j := i
			for j < len(v) && math.Float64bits(v[j]) != 0 {
				j++
			}
			b = binary.LittleEndian.AppendUint32(b, uint32(i))
			b = binary.LittleEndian.AppendUint32(b, uint32(j-i))
			b = appendFloats(b, v[i:j])
			i = j
		}
		return b
	}
	b = append(b, vecDense)
	return appendFloats(b, v)
}

func appendFloats(b []byte, v []float64) []byte {
	off := len(b)
	b = append(b, make([]byte, 8*len(v))...)
	for i, x := range v {
		binary.LittleEndian.PutUint64(b[off+8*i:], math.Float64bits(x))
	}
	return b
}

// zeroRuns returns the number of maximal runs of elements of v whose bits
// are not those of +0, and the number of such elements.
func zeroRuns(v []float64) (runs, nnz int) {
	in := false
	for _, x := range v {
		nz := math.Float64bits(x) != 0
		if nz {
			nnz++
			if !in {
				runs++
			}
		}
		in = nz
	}
	return runs, nnz
}

// runsSmaller reports whether the runs form of a vector of n elements with
// r runs and nnz elements other than +0 is shorter than the dense form.
func runsSmaller(n, r, nnz int) bool { return 4+8*int64(r)+8*int64(nnz) < 8*int64(n) }

func appendTrailer(b []byte, start int) []byte {
	return binary.LittleEndian.AppendUint32(b, crc32.Checksum(b[start:], crc32.MakeTable(crc32.Castagnoli)))
}

// AppendBinary appends p's encoding to b. It fails, wrapping a sentinel
// error, if p does not pass [Plan.Validate].
func (p *Plan) AppendBinary(b []byte) ([]byte, error) {
	if err := p.Validate(); err != nil {
		return b, err
	}
	start := len(b)
	b = appendHeader(b, MsgPlan)
	b = appendID(b, p.Job)
	b = binary.LittleEndian.AppendUint64(b, p.Round)
	b = binary.LittleEndian.AppendUint64(b, p.Step)
	b = binary.LittleEndian.AppendUint32(b, uint32(p.Epoch))
	b = append(b, byte(p.Kind))
	b = binary.LittleEndian.AppendUint64(b, p.ParamsVersion)
	b = binary.LittleEndian.AppendUint32(b, uint32(p.Shards))
	b = binary.LittleEndian.AppendUint32(b, uint32(p.VecLen))
	b = binary.LittleEndian.AppendUint32(b, uint32(p.Revision))
	b = binary.LittleEndian.AppendUint32(b, uint32(len(p.Assign)))
	for i := range p.Assign {
		a := &p.Assign[i]
		b = appendID(b, string(a.Worker))
		b = appendID(b, string(a.Relay))
		b = binary.LittleEndian.AppendUint32(b, uint32(len(a.Ranges)))
		for j, r := range a.Ranges {
			b = binary.LittleEndian.AppendUint32(b, uint32(r.Lo))
			b = binary.LittleEndian.AppendUint32(b, uint32(r.Hi))
			b = binary.LittleEndian.AppendUint32(b, uint32(a.issued(j)))
		}
	}
	return appendTrailer(b, start), nil
}

// MarshalBinary encodes p; see [Plan.AppendBinary].
func (p *Plan) MarshalBinary() ([]byte, error) { return p.AppendBinary(nil) }

// AppendBinary appends c's encoding to b. It fails, wrapping a sentinel
// error, if c does not pass [Contribution.Validate].
func (c *Contribution) AppendBinary(b []byte) ([]byte, error) {
	if err := c.Validate(); err != nil {
		return b, err
	}
	start := len(b)
	b = appendHeader(b, MsgContribution)
	b = appendID(b, c.Job)
	b = binary.LittleEndian.AppendUint64(b, c.Round)
	b = appendID(b, string(c.Worker))
	b = binary.LittleEndian.AppendUint32(b, uint32(c.Range.Lo))
	b = binary.LittleEndian.AppendUint32(b, uint32(c.Range.Hi))
	b = appendVec(b, c.Vec)
	return appendTrailer(b, start), nil
}

// MarshalBinary encodes c; see [Contribution.AppendBinary].
func (c *Contribution) MarshalBinary() ([]byte, error) {
	return c.AppendBinary(make([]byte, 0, headerLen+2*(1+MaxIDLen)+8+8+5+8*len(c.Vec)+trailerLen))
}

// AppendBinary appends p's encoding to b. It fails, wrapping a sentinel
// error, if p does not pass [Params.Validate].
func (p *Params) AppendBinary(b []byte) ([]byte, error) {
	if err := p.Validate(); err != nil {
		return b, err
	}
	start := len(b)
	b = appendHeader(b, MsgParams)
	b = appendID(b, p.Job)
	b = binary.LittleEndian.AppendUint64(b, p.Version)
	b = binary.LittleEndian.AppendUint64(b, p.Base)
	b = appendVec(b, p.Theta)
	return appendTrailer(b, start), nil
}

// MarshalBinary encodes p; see [Params.AppendBinary].
func (p *Params) MarshalBinary() ([]byte, error) {
	return p.AppendBinary(make([]byte, 0, headerLen+1+MaxIDLen+8+8+5+8*len(p.Theta)+trailerLen))
}

// ---- decoding ----

// decoder reads fields from a message body; the first error sticks and later
// reads return zero values, so a decode function checks err once per loop.
type decoder struct {
	what string
	b    []byte // unread body, trailer excluded
	err  error
}

// newDecoder checks the header and length of data and returns a decoder over
// its body. The checksum is verified by finish, after the fields, so that a
// fuzzer reaches the field checks.
func newDecoder(what string, want Msg, data []byte) *decoder {
	d := &decoder{what: what}
	switch {
	case len(data) < headerLen+trailerLen:
		d.fail("%d bytes", len(data))
	case data[0] != wireVersion:
		d.fail("wire version %#x, want %#x", data[0], wireVersion)
	case Msg(data[1]) != want:
		d.fail("message type %v", Msg(data[1]))
	default:
		d.b = data[headerLen : len(data)-trailerLen]
	}
	return d
}

func (d *decoder) fail(format string, args ...any) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: decode %s: %s", ErrMalformed, d.what, fmt.Sprintf(format, args...))
	}
}

func (d *decoder) take(n int, field string) []byte {
	if d.err != nil {
		return nil
	}
	if n > len(d.b) {
		d.fail("%s: need %d bytes, %d left", field, n, len(d.b))
		return nil
	}
	v := d.b[:n]
	d.b = d.b[n:]
	return v
}

func (d *decoder) u8(field string) uint8 {
	if v := d.take(1, field); v != nil {
		return v[0]
	}
	return 0
}

func (d *decoder) u32(field string) uint32 {
	if v := d.take(4, field); v != nil {
		return binary.LittleEndian.Uint32(v)
	}
	return 0
}

func (d *decoder) u64(field string) uint64 {
	if v := d.take(8, field); v != nil {
		return binary.LittleEndian.Uint64(v)
	}
	return 0
}

func (d *decoder) id(field string) string {
	n := int(d.u8(field))
	if d.err == nil && n == 0 {
		d.fail("%s: empty", field)
		return ""
	}
	return string(d.take(n, field))
}

// optID reads an ID that may be empty.
func (d *decoder) optID(field string) string {
	n := int(d.u8(field))
	return string(d.take(n, field))
}

// count reads a u32 count of items of at least size bytes each and checks
// that the rest of the body can hold them, so a hostile count never
// allocates more than the message's own length.
func (d *decoder) count(field string, size int) int {
	n := d.u32(field)
	if d.err == nil && uint64(n)*uint64(size) > uint64(len(d.b)) {
		d.fail("%s: %d items of %d bytes in %d bytes", field, n, size, len(d.b))
		return 0
	}
	return int(n)
}

// vec reads a vector of at most limit elements; when finite is set, every
// element must be finite.
func (d *decoder) vec(field string, limit int, finite bool) []float64 {
	n := int(d.u32(field))
	form := d.u8(field)
	if d.err != nil {
		return nil
	}
	var v []float64
	switch form {
	case vecDense:
		if uint64(n)*8 > uint64(len(d.b)) {
			d.fail("%s: %d elements in %d bytes", field, n, len(d.b))
			return nil
		}
		v = d.floats(field, make([]float64, n))
		if r, nnz := zeroRuns(v); d.err == nil && runsSmaller(n, r, nnz) {
			d.fail("%s: dense form of a vector whose runs form is shorter", field)
		}
	case vecRuns:
		if n > limit {
			d.err = fmt.Errorf("%w: decode %s: %s of %d elements, at most %d expected", ErrLength, d.what, field, n, limit)
			return nil
		}
		r := d.count(field, 8)
		if d.err != nil {
			return nil
		}
		v = make([]float64, n)
		next, nnz := 0, 0 // the first index a run may start at
		for range r {
			lo, k := int(d.u32(field)), int(d.u32(field))
			if d.err != nil {
				return nil
			}
			if lo < next || k < 1 || k > n-lo {
				d.fail("%s: run [%d, %d+%d) after index %d in %d elements", field, lo, lo, k, next, n)
				return nil
			}
			run := d.floats(field, v[lo:lo+k])
			for i, x := range run {
				if math.Float64bits(x) == 0 {
					d.fail("%s: +0 inside the run at %d (element %d)", field, lo, lo+i)
					return nil
				}
			}
			next, nnz = lo+k+1, nnz+k
		}
		if d.err == nil && !runsSmaller(n, r, nnz) {
			d.fail("%s: runs form of a vector whose dense form is no longer", field)
		}
	default:
		d.fail("%s: form %d", field, form)
	}
	if d.err != nil {
		return nil
	}
	if !finite {
		return v
	}
	for i, x := range v {
		if math.IsNaN(x) || math.IsInf(x, 0) {
			d.err = fmt.Errorf("%w: decode %s: %s element %d is %v", ErrNotFinite, d.what, field, i, x)
			return nil
		}
	}
	return v
}

// floats fills v from the next 8·len(v) bytes.
func (d *decoder) floats(field string, v []float64) []float64 {
	raw := d.take(8*len(v), field)
	if d.err != nil {
		return nil
	}
	for i := range v {
		v[i] = math.Float64frombits(binary.LittleEndian.Uint64(raw[8*i:]))
	}
	return v
}

// finish checks that the body is used up and the checksum matches.
func (d *decoder) finish(data []byte) error {
	if d.err != nil {
		return d.err
	}
	if len(d.b) != 0 {
		d.fail("%d trailing bytes", len(d.b))
		return d.err
	}
	body := data[:len(data)-trailerLen]
	want := binary.LittleEndian.Uint32(data[len(data)-trailerLen:])
	if got := crc32.Checksum(body, crc32.MakeTable(crc32.Castagnoli)); got != want {
		d.fail("checksum %#08x, want %#08x", got, want)
	}
	return d.err
}

// UnmarshalBinary decodes a plan encoded by [Plan.MarshalBinary]. It checks
// every field (see [Plan.Validate]) and the checksum; on error p is
// unchanged and the error wraps ErrMalformed or ErrRange.
func (p *Plan) UnmarshalBinary(data []byte) error {
	d := newDecoder("plan", MsgPlan, data)
	var q Plan
	q.Job = d.id("job")
	q.Round = d.u64("round")
	q.Step = d.u64("step")
	q.Epoch = int(d.u32("epoch"))
	q.Kind = Kind(d.u8("kind"))
	q.ParamsVersion = d.u64("params version")
	q.Shards = int(d.u32("shards"))
	q.VecLen = int(d.u32("vector length"))
	q.Revision = int(d.u32("revision"))
	n := d.count("assignments", 1+1+1+4) // an ID of ≥ 1 byte, a relay ID, a range count
	if n > 0 {
		q.Assign = make([]Assignment, n)
	}
	for i := 0; i < n && d.err == nil; i++ {
		a := &q.Assign[i]
		a.Worker = WorkerID(d.id("worker"))
		a.Relay = WorkerID(d.optID("relay"))
		k := d.count("ranges", rangeLen)
		if d.err != nil {
			break
		}
		a.Ranges = make([]Range, k)
		a.Issued = make([]int, k)
		for j := range k {
			a.Ranges[j] = Range{Lo: int(d.u32("range")), Hi: int(d.u32("range"))}
			a.Issued[j] = int(d.u32("issued"))
		}
	}
	if err := d.finish(data); err != nil {
		return err
	}
	if err := q.Validate(); err != nil {
		return err
	}
	*p = q
	return nil
}

// UnmarshalBinary decodes a contribution encoded by
// [Contribution.MarshalBinary]. It checks every field (see
// [Contribution.Validate]) and the checksum; on error c is unchanged.
// Non-finite values give ErrNotFinite.
func (c *Contribution) UnmarshalBinary(data []byte) error {
	return c.UnmarshalBinaryLimit(data, MaxVecLen)
}

// UnmarshalBinaryLimit is UnmarshalBinary for a vector of at most limit
// elements (a longer one in runs form gives ErrLength before it is
// expanded): a vector in runs form expands to its full length, so a
// transport bounds that length by what its rounds use rather than by
// MaxVecLen.
func (c *Contribution) UnmarshalBinaryLimit(data []byte, limit int) error {
	d := newDecoder("contribution", MsgContribution, data)
	var q Contribution
	q.Job = d.id("job")
	q.Round = d.u64("round")
	q.Worker = WorkerID(d.id("worker"))
	q.Range = Range{Lo: int(d.u32("range")), Hi: int(d.u32("range"))}
	q.Vec = d.vec("vector", limit, true)
	if err := d.finish(data); err != nil {
		return err
	}
	if err := q.Validate(); err != nil {
		return err
	}
	*c = q
	return nil
}

// UnmarshalBinary decodes parameters encoded by [Params.MarshalBinary]. It
// checks every field and the checksum; on error p is unchanged. Non-finite
// values of θ (not a patch, whose values are bit patterns) give
// ErrNotFinite.
func (p *Params) UnmarshalBinary(data []byte) error {
	return p.UnmarshalBinaryLimit(data, MaxVecLen)
}

// UnmarshalBinaryLimit is UnmarshalBinary for at most limit parameters (see
// [Contribution.UnmarshalBinaryLimit]).
func (p *Params) UnmarshalBinaryLimit(data []byte, limit int) error {
	d := newDecoder("params", MsgParams, data)
	var q Params
	q.Job = d.id("job")
	q.Version = d.u64("version")
	q.Base = d.u64("base")
	q.Theta = d.vec("theta", limit, q.Base == 0)
	if err := d.finish(data); err != nil {
		return err
	}
	if err := q.Validate(); err != nil {
		return err
	}
	*p = q
	return nil
}
