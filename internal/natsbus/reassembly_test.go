package natsbus

import (
	"bytes"
	"slices"
	"strconv"
	"testing"
)

// feed adds frames in order and returns the delivered payloads.
func feed(r *reassembler, subject string, frames ...[]byte) [][]byte {
	var out [][]byte
	for _, f := range frames {
		if p, ok := r.add(subject, f); ok {
			out = append(out, bytes.Clone(p))
		}
	}
	return out
}

// drops returns r's non-zero drop counts by name.
func drops(r *reassembler) map[string]uint64 {
	m := map[string]uint64{}
	for _, rc := range r.drops.sorted() {
		if rc.Count > 0 {
			m[rc.Reason.String()] = rc.Count
		}
	}
	return m
}

func wantDrops(t *testing.T, r *reassembler, want map[string]uint64) {
	t.Helper()
	got := drops(r)
	if len(got) != len(want) {
		t.Errorf("drops %v, want %v", got, want)
		return
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("drops %v, want %v", got, want)
			return
		}
	}
}

const testFrame = FrameHeaderSize + 16 // stride 16

func TestReassembleReorderedAndInterleaved(t *testing.T) {
	a, b := encoder{nonce: 1}, encoder{nonce: 2}
	pa, pb := randomBytes(1, 100), randomBytes(2, 70)
	fa := encodeAll(t, a, 1, pa, testFrame) // 7 chunks
	fb := encodeAll(t, b, 1, pb, testFrame) // 5 chunks
	r := newReassembler(4, 1<<20)
	// Two senders on two subjects, chunks interleaved and permuted.
	order := []struct {
		subj string
		f    []byte
	}{
		{"a", fa[6]}, {"b", fb[3]}, {"a", fa[0]}, {"b", fb[0]}, {"a", fa[3]}, {"a", fa[1]},
		{"b", fb[4]}, {"b", fb[1]}, {"a", fa[5]}, {"a", fa[2]}, {"b", fb[2]}, {"a", fa[4]},
	}
	var got []Message
	for _, o := range order {
		if p, ok := r.add(o.subj, o.f); ok {
			got = append(got, Message{Subject: o.subj, Data: bytes.Clone(p)})
		}
	}
	if len(got) != 2 || got[0].Subject != "b" || !bytes.Equal(got[0].Data, pb) || got[1].Subject != "a" || !bytes.Equal(got[1].Data, pa) {
		t.Fatalf("delivered %d messages, want b then a, byte-exact", len(got))
	}
	wantDrops(t, r, nil)
	if r.held != 0 {
		t.Errorf("held %d bytes after completion", r.held)
	}
}

func TestReassembleSameSenderInterleaved(t *testing.T) {
	// One Bus publishing two messages concurrently on one subject: the
	// same nonce, different sequence numbers.
	e := encoder{nonce: 5}
	p1, p2 := randomBytes(3, 40), randomBytes(4, 40)
	f1, f2 := encodeAll(t, e, 1, p1, testFrame), encodeAll(t, e, 2, p2, testFrame)
	r := newReassembler(4, 1<<20)
	got := feed(r, "s", f1[0], f2[0], f2[1], f1[1], f1[2], f2[2])
	if len(got) != 2 || !bytes.Equal(got[0], p1) || !bytes.Equal(got[1], p2) {
		t.Fatalf("interleaved messages not reassembled")
	}
}

func TestReassembleDuplicates(t *testing.T) {
	e := encoder{nonce: 7}
	p := randomBytes(5, 40)
	f := encodeAll(t, e, 1, p, testFrame)
	small := encodeAll(t, e, 2, []byte("hb"), testFrame)[0]
	r := newReassembler(4, 1<<20)
	got := feed(r, "s", f[0], f[0], f[2], f[1], f[1], small, small)
	if len(got) != 2 || !bytes.Equal(got[0], p) || string(got[1]) != "hb" {
		t.Fatalf("delivered %q", got)
	}
	// f[0] again while incomplete, f[1] again after completion, small again.
	wantDrops(t, r, map[string]uint64{"duplicate": 3})
}

func TestReassembleCorrupted(t *testing.T) {
	e := encoder{nonce: 8}
	p := randomBytes(6, 40)
	f := encodeAll(t, e, 1, p, testFrame)
	bad := bytes.Clone(f[1])
	bad[FrameHeaderSize+3] ^= 0x10 // data bit flip: only the payload CRC can tell
	r := newReassembler(4, 1<<20)
	if got := feed(r, "s", f[0], bad, f[2]); len(got) != 0 {
		t.Fatalf("corrupted message delivered")
	}
	// The good copy of chunk 1 arrives late: the message is known bad.
	if got := feed(r, "s", f[1]); len(got) != 0 {
		t.Fatalf("chunk of a failed message completed something")
	}
	wantDrops(t, r, map[string]uint64{"checksum": 1, "stale": 1})

	// A corrupted single-frame message.
	one := encodeAll(t, e, 2, []byte("join"), testFrame)[0]
	one[len(one)-1] ^= 1
	if got := feed(r, "s", one); len(got) != 0 {
		t.Fatal("corrupted single frame delivered")
	}
	wantDrops(t, r, map[string]uint64{"checksum": 2, "stale": 1})
}

func TestReassembleConflict(t *testing.T) {
	e := encoder{nonce: 9}
	f := encodeAll(t, e, 1, randomBytes(7, 40), testFrame)
	// Same id, a different total and CRC: a forged or corrupted chunk.
	other := encodeAll(t, e, 1, randomBytes(8, 47), testFrame)
	r := newReassembler(4, 1<<20)
	feed(r, "s", f[0], other[1])
	wantDrops(t, r, map[string]uint64{"conflict": 1})
	if got := feed(r, "s", f[1], f[2]); len(got) != 1 {
		t.Fatal("original message not completed after a conflicting chunk")
	}
}

func TestReassembleEvictsPerSender(t *testing.T) {
	e := encoder{nonce: 10}
	const limit = 3
	r := newReassembler(limit, 1<<20)
	var firsts, seconds [][]byte
	for seq := uint64(1); seq <= limit+2; seq++ {
		f := encodeAll(t, e, seq, randomBytes(seq, 20), testFrame) // 2 chunks
		firsts, seconds = append(firsts, f[0]), append(seconds, f[1])
	}
	feed(r, "s", firsts...)
	wantDrops(t, r, map[string]uint64{"evicted": 2})
	if r.age.Len() != limit {
		t.Fatalf("%d incomplete, want %d", r.age.Len(), limit)
	}
	// Another sender's messages are not affected by s's limit.
	o := encodeAll(t, encoder{nonce: 11}, 1, randomBytes(99, 20), testFrame)
	feed(r, "t", o[0])
	if r.age.Len() != limit+1 {
		t.Fatalf("%d incomplete, want %d", r.age.Len(), limit+1)
	}
	// Completing: the two oldest of s were evicted, their late chunks are stale.
	got := feed(r, "s", seconds...)
	if len(got) != limit {
		t.Fatalf("completed %d, want %d", len(got), limit)
	}
	wantDrops(t, r, map[string]uint64{"evicted": 2, "stale": 2})
}

func TestReassembleByteCap(t *testing.T) {
	e := encoder{nonce: 12}
	const limit = 100
	r := newReassembler(16, limit)
	f1 := encodeAll(t, e, 1, randomBytes(1, 60), testFrame)
	f2 := encodeAll(t, e, 2, randomBytes(2, 60), testFrame)
	feed(r, "a", f1[0])
	feed(r, "b", f2[0]) // 60+60 > 100: a's message, the oldest, goes
	wantDrops(t, r, map[string]uint64{"evicted": 1})
	if r.held != 60 {
		t.Errorf("held %d, want 60", r.held)
	}
	// A message longer than the cap is refused at its first frame.
	big := encodeAll(t, e, 3, randomBytes(3, limit+1), testFrame)
	feed(r, "a", big[0])
	wantDrops(t, r, map[string]uint64{"evicted": 1, "oversized": 1})
	// Exactly the cap fits, evicting b.
	exact := randomBytes(4, limit)
	if got := feed(r, "a", encodeAll(t, e, 4, exact, testFrame)...); len(got) != 1 || !bytes.Equal(got[0], exact) {
		t.Fatal("message of exactly the cap not delivered")
	}
	wantDrops(t, r, map[string]uint64{"evicted": 2, "oversized": 1})
}

func TestReassembleForgetsIdleSenders(t *testing.T) {
	r := newReassembler(2, 1<<20)
	e := encoder{nonce: 13}
	one := encodeAll(t, e, 1, []byte("x"), testFrame)[0]
	for i := range maxSenders + 10 {
		feed(r, "s."+strconv.Itoa(i), one)
	}
	if len(r.senders) > maxSenders {
		t.Errorf("%d senders tracked, bound %d", len(r.senders), maxSenders)
	}
}

func TestDroppedSortedByName(t *testing.T) {
	var d dropCounts
	d[DropStale] = 3
	got := d.sorted()
	if len(got) != int(numDropReasons) {
		t.Fatalf("%d reasons", len(got))
	}
	names := make([]string, len(got))
	for i, rc := range got {
		names[i] = rc.Reason.String()
		if (rc.Reason == DropStale) != (rc.Count == 3) {
			t.Errorf("%s = %d", names[i], rc.Count)
		}
	}
	if !slices.IsSorted(names) {
		t.Errorf("not sorted: %v", names)
	}
	if DropReason(200).String() != "unknown" {
		t.Error("out-of-range reason has a name")
	}
}
