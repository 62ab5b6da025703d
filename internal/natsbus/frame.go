package natsbus

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
)

// Frame layout (all integers little-endian). Every message the bus publishes
// is one or more frames; a frame is one NATS message.
//
//	offset size field
//	     0    4 magic "DPTF"
//	     4    1 version (FrameVersion)
//	     5    1 flags (0; reserved)
//	     6    2 reserved (0)
//	     8    8 message nonce: random per Bus
//	    16    8 message sequence: per Bus, from 1
//	    24    4 chunk index i, 0 ≤ i < n
//	    28    4 chunk count n ≥ 1
//	    32    4 stride s ≥ 1: data bytes of every chunk but the last
//	    36    4 CRC-32C (Castagnoli) of the whole payload
//	    40    8 total payload length T
//	    48    4 CRC-32C of bytes [0, 48)
//	    52    … chunk data: payload[i·s : min((i+1)·s, T)]
//
// The layout is consistent when n = max(1, ⌈T/s⌉) and the chunk's data
// length is s for i < n−1 and T − (n−1)·s for the last one. With T ≤ 2⁶⁴−1,
// s ≤ 2³²−1 and n ≤ 2³²−1 every product below fits in a uint64.
const (
	// FrameHeaderSize is the size of a frame header in bytes; a chunk carries
	// at most max_payload − FrameHeaderSize bytes of payload.
	FrameHeaderSize = 52
	// FrameVersion is the version of the frame layout written by this
	// package; frames of any other version are dropped.
	FrameVersion = 1

	frameMagic = "DPTF"
	offVersion = 4
	offFlags   = 5
	offReserve = 6
	offNonce   = 8
	offSeq     = 16
	offIndex   = 24
	offCount   = 28
	offStride  = 32
	offCRC     = 36
	offTotal   = 40
	offHdrCRC  = 48
)

// castagnoli is the CRC-32C table; crc32 uses SSE4.2/ARMv8 instructions for it.
var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// checksum is the CRC-32C of b.
func checksum(b []byte) uint32 { return crc32.Checksum(b, castagnoli) }

// msgID identifies a message: the sending Bus's random nonce and its
// sequence number. Two Bus instances collide with probability about
// k²/2⁶⁵ for k instances.
type msgID struct {
	nonce, seq uint64
}

// frameHeader is the decoded header of one frame.
type frameHeader struct {
	id     msgID
	index  uint32
	count  uint32
	stride uint32
	crc    uint32 // of the whole payload
	total  uint64
}

// offset returns where chunk h.index starts in the payload.
func (h frameHeader) offset() uint64 { return uint64(h.index) * uint64(h.stride) }

// chunkLen returns the data length that chunk h.index must have.
func (h frameHeader) chunkLen() uint64 {
	if h.index+1 < h.count {
		return uint64(h.stride)
	}
	return h.total - uint64(h.count-1)*uint64(h.stride)
}

// sameMessage reports whether two headers describe the same message layout.
func (h frameHeader) sameMessage(o frameHeader) bool {
	return h.id == o.id && h.count == o.count && h.stride == o.stride && h.crc == o.crc && h.total == o.total
}

// putHeader writes h into b[:FrameHeaderSize], including the header CRC.
func putHeader(b []byte, h frameHeader) {
	_ = b[FrameHeaderSize-1]
	copy(b, frameMagic)
	b[offVersion] = FrameVersion
	b[offFlags] = 0
	binary.LittleEndian.PutUint16(b[offReserve:], 0)
	binary.LittleEndian.PutUint64(b[offNonce:], h.id.nonce)
	binary.LittleEndian.PutUint64(b[offSeq:], h.id.seq)
	binary.LittleEndian.PutUint32(b[offIndex:], h.index)
	binary.LittleEndian.PutUint32(b[offCount:], h.count)
	binary.LittleEndian.PutUint32(b[offStride:], h.stride)
	binary.LittleEndian.PutUint32(b[offCRC:], h.crc)
	binary.LittleEndian.PutUint64(b[offTotal:], h.total)
	binary.LittleEndian.PutUint32(b[offHdrCRC:], checksum(b[:offHdrCRC]))
}

// frameError is a frame the decoder rejects; reason says why.
type frameError struct {
	reason DropReason
	detail string
}

func (e *frameError) Error() string {
	return "natsbus: frame dropped (" + e.reason.String() + "): " + e.detail
}

func frameErr(r DropReason, format string, a ...any) error {
	return &frameError{reason: r, detail: fmt.Sprintf(format, a...)}
}

// reasonOf returns the drop reason of a decoder error.
func reasonOf(err error) DropReason {
	var fe *frameError
	if errors.As(err, &fe) {
		return fe.reason
	}
	return DropMalformed
}

// chunkCount returns n = max(1, ⌈total/stride⌉), and false if it does not
// fit in a uint32. stride must be ≥ 1.
func chunkCount(total uint64, stride uint32) (uint32, bool) {
	if total == 0 {
		return 1, true
	}
	n := (total-1)/uint64(stride) + 1
	if n > 1<<32-1 {
		return 0, false
	}
	return uint32(n), true
}

// decodeFrame parses and checks one frame. It returns the header and the
// chunk data (aliasing b) or a *frameError. It never panics: every field is
// validated against the layout rules above before use. It does not check
// the payload CRC, which needs the whole payload.
func decodeFrame(b []byte) (frameHeader, []byte, error) {
	var h frameHeader
	if len(b) < FrameHeaderSize {
		return h, nil, frameErr(DropMalformed, "%d bytes, header needs %d", len(b), FrameHeaderSize)
	}
	if string(b[:len(frameMagic)]) != frameMagic {
		return h, nil, frameErr(DropMalformed, "bad magic %q", b[:len(frameMagic)])
	}
	if v := b[offVersion]; v != FrameVersion {
		return h, nil, frameErr(DropVersion, "version %d, want %d", v, FrameVersion)
	}
	if got, want := binary.LittleEndian.Uint32(b[offHdrCRC:]), checksum(b[:offHdrCRC]); got != want {
		return h, nil, frameErr(DropChecksum, "header crc %08x, computed %08x", got, want)
	}
	if b[offFlags] != 0 || binary.LittleEndian.Uint16(b[offReserve:]) != 0 {
		return h, nil, frameErr(DropMalformed, "reserved bits set")
	}
	h = frameHeader{
		id: msgID{
			nonce: binary.LittleEndian.Uint64(b[offNonce:]),
			seq:   binary.LittleEndian.Uint64(b[offSeq:]),
		},
		index:  binary.LittleEndian.Uint32(b[offIndex:]),
		count:  binary.LittleEndian.Uint32(b[offCount:]),
		stride: binary.LittleEndian.Uint32(b[offStride:]),
		crc:    binary.LittleEndian.Uint32(b[offCRC:]),
		total:  binary.LittleEndian.Uint64(b[offTotal:]),
	}
	data := b[FrameHeaderSize:]
	if h.stride == 0 {
		return h, nil, frameErr(DropMalformed, "stride 0")
	}
	n, ok := chunkCount(h.total, h.stride)
	if !ok || n != h.count {
		return h, nil, frameErr(DropMalformed, "count %d for total %d and stride %d", h.count, h.total, h.stride)
	}
	if h.index >= h.count {
		return h, nil, frameErr(DropMalformed, "chunk index %d of %d", h.index, h.count)
	}
	if want := h.chunkLen(); uint64(len(data)) != want {
		return h, nil, frameErr(DropMalformed, "chunk %d/%d has %d bytes, want %d", h.index, h.count, len(data), want)
	}
	return h, data, nil
}

// encoder splits payloads into frames of at most maxFrame bytes.
type encoder struct {
	nonce uint64
}

// stride returns the chunk size for frames of at most maxFrame bytes.
func strideFor(maxFrame int) (uint32, error) {
	s := maxFrame - FrameHeaderSize
	if s < 1 {
		return 0, fmt.Errorf("natsbus: max payload %d leaves no room after the %d-byte frame header", maxFrame, FrameHeaderSize)
	}
	if s > 1<<32-1 {
		s = 1<<32 - 1
	}
	return uint32(s), nil
}

// frames calls emit with each frame of payload, in chunk order. The frame
// slice is reused between calls: emit must copy it or be done with it
// before returning (nats.Conn.Publish copies).
func (e encoder) frames(seq uint64, payload []byte, maxFrame int, emit func(frame []byte) error) error {
	var buf []byte
	return e.framesWith(&buf, seq, payload, maxFrame, emit)
}

// framesWith is frames with the frame slice taken from *buf, replaced there
// by a larger one when it is too short, so that a caller can keep it for
// the next message.
func (e encoder) framesWith(buf *[]byte, seq uint64, payload []byte, maxFrame int, emit func(frame []byte) error) error {
	stride, err := strideFor(maxFrame)
	if err != nil {
		return err
	}
	total := uint64(len(payload))
	count, ok := chunkCount(total, stride)
	if !ok {
		return fmt.Errorf("natsbus: payload of %d bytes needs more than 2³²−1 chunks of %d", total, stride)
	}
	h := frameHeader{id: msgID{nonce: e.nonce, seq: seq}, count: count, stride: stride, crc: checksum(payload), total: total}
	if n := FrameHeaderSize + min(uint64(stride), total); uint64(cap(*buf)) < n {
		*buf = make([]byte, n)
	}
	frame := (*buf)[:cap(*buf)]
	for i := range count {
		h.index = i
		off := h.offset()
		n := h.chunkLen()
		putHeader(frame, h)
		copy(frame[FrameHeaderSize:], payload[off:off+n])
		if err := emit(frame[:FrameHeaderSize+n]); err != nil {
			return err
		}
	}
	return nil
}

// encodeSingle returns payload as one frame, or an error if it does not fit
// in maxFrame bytes.
func (e encoder) encodeSingle(seq uint64, payload []byte, maxFrame int) ([]byte, error) {
	if FrameHeaderSize+len(payload) > maxFrame {
		return nil, fmt.Errorf("natsbus: %d-byte message does not fit in one %d-byte frame: %w", len(payload), maxFrame, ErrTooLarge)
	}
	var out []byte
	err := e.frames(seq, payload, max(maxFrame, FrameHeaderSize+1), func(f []byte) error {
		out = append([]byte(nil), f...)
		return nil
	})
	return out, err
}

// decodeSingle decodes a message that must be exactly one frame, checking
// its payload CRC. The result aliases b.
func decodeSingle(b []byte) ([]byte, error) {
	h, data, err := decodeFrame(b)
	if err != nil {
		return nil, err
	}
	if h.count != 1 {
		return nil, frameErr(DropMalformed, "request-reply message in %d chunks", h.count)
	}
	if got := checksum(data); got != h.crc {
		return nil, frameErr(DropChecksum, "payload crc %08x, header says %08x", got, h.crc)
	}
	return data, nil
}
