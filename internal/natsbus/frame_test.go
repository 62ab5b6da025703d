package natsbus

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"
)

// encodeAll returns the frames of payload for frames of at most maxFrame
// bytes, each in its own slice.
func encodeAll(t testing.TB, e encoder, seq uint64, payload []byte, maxFrame int) [][]byte {
	t.Helper()
	var out [][]byte
	err := e.frames(seq, payload, maxFrame, func(f []byte) error {
		out = append(out, bytes.Clone(f))
		return nil
	})
	if err != nil {
		t.Fatalf("frames: %v", err)
	}
	return out
}

func TestFrameLayout(t *testing.T) {
	const maxFrame = FrameHeaderSize + 10 // stride 10
	e := encoder{nonce: 0x0102030405060708}
	for _, tc := range []struct {
		n      int
		chunks int
	}{
		{0, 1}, {1, 1}, {9, 1}, {10, 1}, {11, 2}, {20, 2}, {21, 3}, {95, 10},
	} {
		payload := randomBytes(uint64(tc.n), tc.n)
		frames := encodeAll(t, e, 7, payload, maxFrame)
		if len(frames) != tc.chunks {
			t.Fatalf("%d bytes: %d frames, want %d", tc.n, len(frames), tc.chunks)
		}
		var got []byte
		for i, f := range frames {
			if len(f) > maxFrame {
				t.Errorf("%d bytes: frame %d has %d bytes > max %d", tc.n, i, len(f), maxFrame)
			}
			h, data, err := decodeFrame(f)
			if err != nil {
				t.Fatalf("%d bytes: frame %d: %v", tc.n, i, err)
			}
			want := frameHeader{id: msgID{nonce: e.nonce, seq: 7}, index: uint32(i), count: uint32(tc.chunks),
				stride: 10, crc: checksum(payload), total: uint64(tc.n)}
			if h != want {
				t.Errorf("%d bytes: frame %d header %+v, want %+v", tc.n, i, h, want)
			}
			got = append(got, data...)
		}
		if !bytes.Equal(got, payload) {
			t.Errorf("%d bytes: concatenated chunks differ from payload", tc.n)
		}
	}
}

// TestFrameGolden pins the byte layout, so that a change of the wire format
// is a deliberate version bump.
func TestFrameGolden(t *testing.T) {
	e := encoder{nonce: 0x1122334455667788}
	frames := encodeAll(t, e, 3, []byte("hi"), 1<<20)
	if len(frames) != 1 {
		t.Fatalf("%d frames", len(frames))
	}
	f := frames[0]
	want := []byte{
		'D', 'P', 'T', 'F', 1, 0, 0, 0,
		0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11, // nonce
		3, 0, 0, 0, 0, 0, 0, 0, // seq
		0, 0, 0, 0, // index
		1, 0, 0, 0, // count
	}
	if !bytes.Equal(f[:len(want)], want) {
		t.Errorf("header prefix\n got % x\nwant % x", f[:len(want)], want)
	}
	if got := binary.LittleEndian.Uint32(f[offStride:]); got != 1<<20-FrameHeaderSize {
		t.Errorf("stride %d", got)
	}
	if got, want := binary.LittleEndian.Uint32(f[offCRC:]), checksum([]byte("hi")); got != want {
		t.Errorf("payload crc %08x, want %08x", got, want)
	}
	// CRC-32C check value (RFC 3720 B.4): 32 bytes of zeros → 0x8A9136AA.
	if got := checksum(make([]byte, 32)); got != 0x8A9136AA {
		t.Errorf("crc32c(0^32) = %08x, want 8a9136aa: not Castagnoli", got)
	}
	if got := binary.LittleEndian.Uint64(f[offTotal:]); got != 2 {
		t.Errorf("total %d", got)
	}
	if string(f[FrameHeaderSize:]) != "hi" || len(f) != FrameHeaderSize+2 {
		t.Errorf("data %q", f[FrameHeaderSize:])
	}
}

// withHeader re-encodes frame f after mutating its decoded header fields
// with a valid header CRC, so that only the layout checks can catch it.
func withHeader(f []byte, mut func(b []byte)) []byte {
	b := bytes.Clone(f)
	mut(b)
	binary.LittleEndian.PutUint32(b[offHdrCRC:], checksum(b[:offHdrCRC]))
	return b
}

func TestDecodeFrameRejects(t *testing.T) {
	e := encoder{nonce: 1}
	frames := encodeAll(t, e, 1, randomBytes(1, 25), FrameHeaderSize+10) // 3 chunks: 10, 10, 5
	first, last := frames[0], frames[2]
	for _, tc := range []struct {
		name  string
		frame []byte
		want  DropReason
	}{
		{"empty", nil, DropMalformed},
		{"short", first[:FrameHeaderSize-1], DropMalformed},
		{"magic", withHeader(first, func(b []byte) { b[0] = 'X' }), DropMalformed},
		{"version", withHeader(first, func(b []byte) { b[offVersion] = 2 }), DropVersion},
		{"header crc", func() []byte { b := bytes.Clone(first); b[offSeq]++; return b }(), DropChecksum},
		{"flags", withHeader(first, func(b []byte) { b[offFlags] = 1 }), DropMalformed},
		{"reserved", withHeader(first, func(b []byte) { b[offReserve+1] = 1 }), DropMalformed},
		{"stride 0", withHeader(first, func(b []byte) { binary.LittleEndian.PutUint32(b[offStride:], 0) }), DropMalformed},
		{"count 0", withHeader(first, func(b []byte) { binary.LittleEndian.PutUint32(b[offCount:], 0) }), DropMalformed},
		{"count too big", withHeader(first, func(b []byte) { binary.LittleEndian.PutUint32(b[offCount:], 4) }), DropMalformed},
		{"index = count", withHeader(first, func(b []byte) { binary.LittleEndian.PutUint32(b[offIndex:], 3) }), DropMalformed},
		{"index max", withHeader(first, func(b []byte) { binary.LittleEndian.PutUint32(b[offIndex:], 1<<32-1) }), DropMalformed},
		{"total max", withHeader(first, func(b []byte) { binary.LittleEndian.PutUint64(b[offTotal:], 1<<64-1) }), DropMalformed},
		{"truncated chunk", first[:len(first)-1], DropMalformed},
		{"extended chunk", append(bytes.Clone(first), 0), DropMalformed},
		{"truncated last", last[:len(last)-1], DropMalformed},
		{"last as middle", withHeader(last, func(b []byte) { binary.LittleEndian.PutUint32(b[offIndex:], 1) }), DropMalformed},
	} {
		_, _, err := decodeFrame(tc.frame)
		if err == nil {
			t.Errorf("%s: accepted", tc.name)
			continue
		}
		var fe *frameError
		if !errors.As(err, &fe) {
			t.Errorf("%s: error %v is not a *frameError", tc.name, err)
		}
		if got := reasonOf(err); got != tc.want {
			t.Errorf("%s: reason %v, want %v (%v)", tc.name, got, tc.want, err)
		}
	}
}

func TestSingleFrame(t *testing.T) {
	e := encoder{nonce: 9}
	f, err := e.encodeSingle(1, []byte("job?"), 100)
	if err != nil {
		t.Fatal(err)
	}
	got, err := decodeSingle(f)
	if err != nil || string(got) != "job?" {
		t.Fatalf("decodeSingle = %q, %v", got, err)
	}
	if _, err := e.encodeSingle(1, make([]byte, 100-FrameHeaderSize+1), 100); !errors.Is(err, ErrTooLarge) {
		t.Errorf("oversized single frame: %v, want ErrTooLarge", err)
	}
	bad := bytes.Clone(f)
	bad[len(bad)-1] ^= 1
	if _, err := decodeSingle(bad); reasonOf(err) != DropChecksum {
		t.Errorf("corrupted single frame: %v, want checksum", err)
	}
	multi := encodeAll(t, e, 2, make([]byte, 30), FrameHeaderSize+10)
	if _, err := decodeSingle(multi[0]); reasonOf(err) != DropMalformed {
		t.Errorf("chunk of a multi-frame message: %v, want malformed", err)
	}
}

func TestStrideNeedsRoom(t *testing.T) {
	if err := (encoder{}).frames(1, []byte("x"), FrameHeaderSize, func([]byte) error { return nil }); err == nil {
		t.Error("max payload equal to the header size accepted")
	}
}

// FuzzFrame feeds arbitrary bytes to the frame decoder and the reassembler
// (which must never panic and must keep their invariants), and uses them as
// a payload for an encode → shuffle → reassemble round trip.
func FuzzFrame(f *testing.F) {
	e := encoder{nonce: 42}
	for _, p := range [][]byte{nil, {0}, []byte("hello, world"), randomBytes(5, 100)} {
		for _, fr := range encodeAll(f, e, 1, p, FrameHeaderSize+7) {
			f.Add(fr)
		}
	}
	// Quirks: empty, header only, zero stride, huge counts and totals, an
	// index past the count, reserved bits.
	base := encodeAll(f, e, 2, []byte("0123456789abcdef"), FrameHeaderSize+8)[0]
	f.Add([]byte{})
	f.Add(base[:FrameHeaderSize])
	f.Add(withHeader(base, func(b []byte) { binary.LittleEndian.PutUint32(b[offStride:], 0) }))
	f.Add(withHeader(base, func(b []byte) { binary.LittleEndian.PutUint32(b[offCount:], 1<<32-1) }))
	f.Add(withHeader(base, func(b []byte) { binary.LittleEndian.PutUint64(b[offTotal:], 1<<64-1) }))
	f.Add(withHeader(base, func(b []byte) {
		binary.LittleEndian.PutUint64(b[offTotal:], 1<<40)
		binary.LittleEndian.PutUint32(b[offStride:], 1<<31)
		binary.LittleEndian.PutUint32(b[offCount:], 512)
	}))
	f.Add(withHeader(base, func(b []byte) { binary.LittleEndian.PutUint32(b[offIndex:], 2) }))
	f.Add(withHeader(base, func(b []byte) { b[offFlags] = 0x80 }))

	f.Fuzz(func(t *testing.T, b []byte) {
		h, data, err := decodeFrame(b)
		if err == nil {
			if h.count == 0 || h.index >= h.count || h.stride == 0 {
				t.Fatalf("accepted inconsistent header %+v", h)
			}
			if uint64(len(data)) != h.chunkLen() || h.offset()+uint64(len(data)) > h.total {
				t.Fatalf("chunk of %d bytes at %d exceeds total %d", len(data), h.offset(), h.total)
			}
		} else if r := reasonOf(err); r >= numDropReasons {
			t.Fatalf("bad reason %d", r)
		}
		// The reassembler on the raw bytes, twice (duplicate), with a small
		// cap so that huge claimed totals are refused, not allocated.
		r := newReassembler(2, 1<<16)
		for range 2 {
			if p, ok := r.add("s", b); ok && err != nil {
				t.Fatalf("reassembler delivered %d bytes from a frame the decoder rejects", len(p))
			}
		}
		if r.held > r.maxBytes {
			t.Fatalf("held %d > cap %d", r.held, r.maxBytes)
		}

		// Round trip with b as payload, chunks delivered in reverse order.
		maxFrame := FrameHeaderSize + 1
		if len(b) > 0 {
			maxFrame += int(b[0]) % 32
		}
		frames := encodeAll(t, e, 3, b, maxFrame)
		r = newReassembler(DefaultMaxIncomplete, 1<<20)
		var got []byte
		delivered := 0
		for i := len(frames) - 1; i >= 0; i-- {
			if p, ok := r.add("s", frames[i]); ok {
				got, delivered = p, delivered+1
				if i != 0 {
					t.Fatalf("delivered before the last chunk arrived (%d left)", i)
				}
			}
		}
		if delivered != 1 || !bytes.Equal(got, b) {
			t.Fatalf("round trip of %d bytes in %d frames: delivered %d, equal %v", len(b), len(frames), delivered, bytes.Equal(got, b))
		}
		if r.held != 0 || r.age.Len() != 0 {
			t.Fatalf("state left after completion: held %d, %d partials", r.held, r.age.Len())
		}
	})
}
