package natsbus

import (
	"container/list"
	"slices"
)

// DropReason says why an inbox dropped a frame or a message.
type DropReason uint8

// The reasons an [Inbox] drops data. Each count is of frames unless noted.
const (
	// DropMalformed: a frame too short for its header, with a bad magic,
	// reserved bits set, or an inconsistent layout (chunk count, index or
	// data length disagree with the total length and stride).
	DropMalformed DropReason = iota
	// DropVersion: a frame of another FrameVersion.
	DropVersion
	// DropChecksum: a frame whose header CRC is wrong, or a complete message
	// (counted once) whose payload CRC-32C is wrong.
	DropChecksum
	// DropOversized: a frame of a message longer than the inbox's byte cap.
	DropOversized
	// DropDuplicate: a chunk already held, or a chunk of a message already
	// delivered.
	DropDuplicate
	// DropConflict: a chunk whose count, stride, length or CRC disagree with
	// earlier chunks of the same message id.
	DropConflict
	// DropStale: a chunk of a message that was evicted or failed its checksum.
	DropStale
	// DropEvicted: an incomplete message (counted once) evicted to respect
	// the per-sender or byte limits.
	DropEvicted
	// DropConsumerFull: a complete message (counted once) dropped because
	// Inbox.C was full.
	DropConsumerFull
	// DropSlowConsumer: frames dropped by nats.go because the subscription's
	// pending limits were exceeded (ConnConfig.PendingMsgs/PendingBytes).
	DropSlowConsumer

	numDropReasons
)

var dropReasonNames = [numDropReasons]string{
	DropMalformed:    "malformed",
	DropVersion:      "version",
	DropChecksum:     "checksum",
	DropOversized:    "oversized",
	DropDuplicate:    "duplicate",
	DropConflict:     "conflict",
	DropStale:        "stale",
	DropEvicted:      "evicted",
	DropConsumerFull: "consumer_full",
	DropSlowConsumer: "slow_consumer",
}

// String returns the reason's snake_case name, fit for a metric label.
func (r DropReason) String() string {
	if r < numDropReasons {
		return dropReasonNames[r]
	}
	return "unknown"
}

// ReasonCount is the number of drops for one reason.
type ReasonCount struct {
	Reason DropReason
	Count  uint64
}

// dropCounts counts drops by reason.
type dropCounts [numDropReasons]uint64

// sorted returns every reason, zero counts included, sorted by name, so that
// metric series exist from the start and no map order leaks.
func (d *dropCounts) sorted() []ReasonCount {
	out := make([]ReasonCount, 0, numDropReasons)
	for r := range numDropReasons {
		out = append(out, ReasonCount{Reason: r, Count: d[r]})
	}
	slices.SortFunc(out, func(a, b ReasonCount) int {
		switch sa, sb := a.Reason.String(), b.Reason.String(); {
		case sa < sb:
			return -1
		case sa > sb:
			return 1
		}
		return 0
	})
	return out
}

const (
	// DefaultMaxIncomplete is the default bound on incomplete messages held
	// per sender subject.
	DefaultMaxIncomplete = 16
	// DefaultMaxReassemblyBytes is the default cap on the bytes an inbox
	// holds for incomplete messages, and so on one message's length.
	DefaultMaxReassemblyBytes = 1 << 30
	// recentIDs is how many finished message ids per sender subject are
	// remembered to recognise duplicates and stale chunks.
	recentIDs = 64
	// maxSenders bounds the sender subjects whose state is kept; past it, the
	// state of senders with no incomplete message is forgotten.
	maxSenders = 4096
)

// partial is a message being reassembled. The buffer is allocated for the
// whole payload at its first chunk and charged to the byte cap at once, so
// the cap bounds memory whatever the senders claim.
type partial struct {
	subject string
	h       frameHeader // of the first chunk; index is meaningless
	buf     []byte
	have    []uint64 // bitmap of chunks received
	got     uint32   // number of chunks received
	elem    *list.Element
}

func (p *partial) has(i uint32) bool { return p.have[i/64]&(1<<(i%64)) != 0 }
func (p *partial) set(i uint32)      { p.have[i/64] |= 1 << (i % 64); p.got++ }

// finished is a message id no longer reassembled: delivered (or dropped
// whole), or abandoned.
type finished struct {
	id        msgID
	delivered bool
}

// sender is the reassembly state of one sender subject.
type sender struct {
	partials []*partial // oldest first, at most maxIncomplete
	recent   [recentIDs]finished
	nRecent  int // entries of recent in use
	next     int // next slot of recent to overwrite
}

func (s *sender) remember(id msgID, delivered bool) {
	s.recent[s.next] = finished{id: id, delivered: delivered}
	s.next = (s.next + 1) % recentIDs
	s.nRecent = min(s.nRecent+1, recentIDs)
}

func (s *sender) lookupFinished(id msgID) (f finished, ok bool) {
	for _, f := range s.recent[:s.nRecent] {
		if f.id == id {
			return f, true
		}
	}
	return finished{}, false
}

func (s *sender) lookupPartial(id msgID) *partial {
	for _, p := range s.partials {
		if p.h.id == id {
			return p
		}
	}
	return nil
}

// reassembler turns frames into messages. Chunks may arrive in any order
// and interleaved across messages and senders; a message is complete when
// all its chunks are there and its CRC-32C matches. Memory is bounded by
// maxBytes (payload buffers of incomplete messages) plus O(maxSenders ·
// (maxIncomplete + recentIDs)) bookkeeping. It is not safe for concurrent
// use.
type reassembler struct {
	maxIncomplete int
	maxBytes      uint64
	held          uint64 // bytes of incomplete messages' buffers
	senders       map[string]*sender
	age           list.List // of *partial, oldest first
	drops         dropCounts
}

func newReassembler(maxIncomplete int, maxBytes uint64) *reassembler {
	if maxIncomplete < 1 {
		maxIncomplete = DefaultMaxIncomplete
	}
	if maxBytes < 1 {
		maxBytes = DefaultMaxReassemblyBytes
	}
	return &reassembler{maxIncomplete: maxIncomplete, maxBytes: maxBytes, senders: make(map[string]*sender)}
}

func (r *reassembler) drop(reason DropReason) { r.drops[reason]++ }

// add feeds one frame received on subject. It returns the payload when the
// frame completes a message; the payload may alias frame.
func (r *reassembler) add(subject string, frame []byte) ([]byte, bool) {
	h, data, err := decodeFrame(frame)
	if err != nil {
		r.drop(reasonOf(err))
		return nil, false
	}
	if h.total > r.maxBytes {
		r.drop(DropOversized)
		return nil, false
	}
	s := r.sender(subject)
	if p := s.lookupPartial(h.id); p != nil {
		return r.addChunk(p, h, data)
	}
	if f, ok := s.lookupFinished(h.id); ok {
		if f.delivered {
			r.drop(DropDuplicate)
		} else {
			r.drop(DropStale)
		}
		return nil, false
	}
	if h.count == 1 {
		// The common case of control messages: no copy, no state but the id.
		if checksum(data) != h.crc {
			s.remember(h.id, false)
			r.drop(DropChecksum)
			return nil, false
		}
		s.remember(h.id, true)
		return data, true
	}
	p := r.begin(s, subject, h)
	return r.addChunk(p, h, data)
}

// sender returns subject's state, creating it.
func (r *reassembler) sender(subject string) *sender {
	if s, ok := r.senders[subject]; ok {
		return s
	}
	if len(r.senders) >= maxSenders {
		// Forget idle senders; only duplicate detection for their recent
		// messages is lost. The order of deletion is irrelevant.
		for k, s := range r.senders {
			if len(s.partials) == 0 {
				delete(r.senders, k)
			}
		}
	}
	s := &sender{}
	r.senders[subject] = s
	return s
}

// begin makes room for and starts a partial message.
func (r *reassembler) begin(s *sender, subject string, h frameHeader) *partial {
	if len(s.partials) >= r.maxIncomplete {
		r.evict(s.partials[0])
	}
	for r.held+h.total > r.maxBytes {
		oldest := r.age.Front().Value.(*partial) // non-empty: held > 0 since h.total ≤ maxBytes
		r.evict(oldest)
	}
	p := &partial{
		subject: subject,
		h:       h,
		buf:     make([]byte, h.total),
		have:    make([]uint64, (uint64(h.count)+63)/64),
	}
	p.elem = r.age.PushBack(p)
	s.partials = append(s.partials, p)
	r.held += h.total
	return p
}

// remove forgets p, remembering its id as delivered or not.
func (r *reassembler) remove(p *partial, delivered bool) {
	s := r.senders[p.subject]
	i := slices.Index(s.partials, p)
	s.partials = slices.Delete(s.partials, i, i+1)
	r.age.Remove(p.elem)
	r.held -= p.h.total
	s.remember(p.h.id, delivered)
}

func (r *reassembler) evict(p *partial) {
	r.remove(p, false)
	r.drop(DropEvicted)
}

func (r *reassembler) addChunk(p *partial, h frameHeader, data []byte) ([]byte, bool) {
	if !p.h.sameMessage(h) {
		r.drop(DropConflict)
		return nil, false
	}
	if p.has(h.index) {
		r.drop(DropDuplicate)
		return nil, false
	}
	copy(p.buf[h.offset():], data)
	p.set(h.index)
	if p.got < p.h.count {
		return nil, false
	}
	if checksum(p.buf) != p.h.crc {
		r.remove(p, false)
		r.drop(DropChecksum)
		return nil, false
	}
	r.remove(p, true)
	return p.buf, true
}
