package natsbus

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
)

func TestPublishSubscribeSizes(t *testing.T) {
	s := startTestServer(t, ServerConfig{})
	pub := connectTest(t, ConnConfig{URL: s.ClientURL(), Name: "pub"}, Hooks{})
	sub := connectTest(t, ConnConfig{URL: s.ClientURL(), Name: "sub"}, Hooks{})
	mp := pub.MaxPayload()
	if mp != 1<<20 {
		t.Fatalf("max payload %d, want the server default 1 MiB", mp)
	}
	in, err := sub.Subscribe("dpt.params", 4)
	if err != nil {
		t.Fatal(err)
	}
	if err := sub.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	sizes := []int{0, 1, mp - FrameHeaderSize, mp, 10_000_000}
	if !testing.Short() {
		sizes = append(sizes, 80_000_000) // 10⁷ float64 parameters
	}
	for i, n := range sizes {
		payload := randomBytes(uint64(i), n)
		start := time.Now()
		if err := pub.Publish("dpt.params", payload); err != nil {
			t.Fatalf("publish %d bytes: %v", n, err)
		}
		m := receive(t, in, 30*time.Second)
		if ok, at := sameBytes(m.Data, payload); !ok {
			t.Fatalf("%d bytes: received %d bytes, first difference at %d", n, len(m.Data), at)
		}
		if m.Subject != "dpt.params" {
			t.Errorf("subject %q", m.Subject)
		}
		t.Logf("%d bytes in %v", n, time.Since(start))
	}
	for _, rc := range in.Dropped() {
		if rc.Count != 0 {
			t.Errorf("dropped %v", in.Dropped())
			break
		}
	}
	if got := in.Delivered(); got != uint64(len(sizes)) {
		t.Errorf("delivered %d, want %d", got, len(sizes))
	}
}

func TestInterleavedSenders(t *testing.T) {
	s := startTestServer(t, ServerConfig{})
	subs := Subjects{}
	coord := connectTest(t, ConnConfig{URL: s.ClientURL()}, Hooks{})
	in, err := coord.Subscribe(subs.AllContribs(), 64)
	if err != nil {
		t.Fatal(err)
	}
	if err := coord.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	const workers, perWorker = 4, 3
	size := 3_000_000 // 3 frames per message, interleaved on the wire
	if testing.Short() {
		size = 1_500_000
	}
	want := map[string][][]byte{}
	var wg sync.WaitGroup
	errs := make(chan error, workers*perWorker)
	for w := range workers {
		name := fmt.Sprintf("w%d", w)
		b := connectTest(t, ConnConfig{URL: s.ClientURL(), Name: name}, Hooks{})
		for k := range perWorker {
			p := randomBytes(uint64(100*w+k), size-k)
			want[subs.Contrib(name)] = append(want[subs.Contrib(name)], p)
			wg.Add(1)
			go func() { // concurrent publishes: frames of one Bus interleave too
				defer wg.Done()
				errs <- b.Publish(subs.Contrib(name), p)
			}()
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	got := map[string][][]byte{}
	for range workers * perWorker {
		m := receive(t, in, 30*time.Second)
		w, err := subs.Worker(m.Subject)
		if err != nil {
			t.Fatalf("sender of %s: %v", m.Subject, err)
		}
		if m.Subject != subs.Contrib(w) {
			t.Fatalf("subject %s", m.Subject)
		}
		got[m.Subject] = append(got[m.Subject], m.Data)
	}
	for subj, ps := range want {
		g := got[subj]
		if len(g) != len(ps) {
			t.Fatalf("%s: %d messages, want %d", subj, len(g), len(ps))
		}
		for _, p := range ps { // arrival order among concurrent publishes is not defined
			if !slices.ContainsFunc(g, func(x []byte) bool { return bytes.Equal(x, p) }) {
				t.Errorf("%s: a %d-byte payload is missing or corrupted", subj, len(p))
			}
		}
	}
}

// TestInjectedFrames publishes raw frames on the underlying connection:
// corrupted, truncated, duplicated and reordered ones.
func TestInjectedFrames(t *testing.T) {
	s := startTestServer(t, ServerConfig{})
	raw := connectTest(t, ConnConfig{URL: s.ClientURL()}, Hooks{})
	sub := connectTest(t, ConnConfig{URL: s.ClientURL()}, Hooks{})
	in, err := sub.Subscribe("dpt.contrib.*", 16)
	if err != nil {
		t.Fatal(err)
	}
	if err := sub.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	nc := raw.Conn()
	send := func(subj string, frames ...[]byte) {
		t.Helper()
		for _, f := range frames {
			if err := nc.Publish(subj, f); err != nil {
				t.Fatal(err)
			}
		}
		if err := nc.Flush(); err != nil {
			t.Fatal(err)
		}
	}
	e := encoder{nonce: 77}
	mp := raw.MaxPayload()
	payload := randomBytes(1, 3*mp) // 4 frames
	frames := encodeAll(t, e, 1, payload, mp)

	// Reordered: delivered intact.
	send("dpt.contrib.w1", frames[3], frames[1], frames[0], frames[2])
	if m := receive(t, in, 10*time.Second); !bytes.Equal(m.Data, payload) {
		t.Fatal("reordered message corrupted")
	}
	// Duplicated: the whole message again → every chunk is a duplicate.
	send("dpt.contrib.w1", frames...)
	// Corrupted data in a new message.
	f2 := encodeAll(t, e, 2, payload, mp)
	f2[2][FrameHeaderSize+100] ^= 0xff
	send("dpt.contrib.w1", f2...)
	// Truncated frame, garbage, a frame of another version.
	f3 := encodeAll(t, e, 3, payload, mp)
	send("dpt.contrib.w2", f3[0][:len(f3[0])/2], []byte("not a frame"), nil,
		withHeader(f3[1], func(b []byte) { b[offVersion] = 9 }))
	// The same sender goes on; a good message after all that is delivered.
	good := []byte(`{"ok":true}`)
	send("dpt.contrib.w2", encodeAll(t, e, 4, good, mp)...)
	if m := receive(t, in, 10*time.Second); !bytes.Equal(m.Data, good) || m.Subject != "dpt.contrib.w2" {
		t.Fatalf("got %q on %s after bad frames", m.Data, m.Subject)
	}
	expectNone(t, in, 100*time.Millisecond)
	want := map[DropReason]uint64{DropDuplicate: 4, DropChecksum: 1, DropMalformed: 3, DropVersion: 1}
	for _, rc := range in.Dropped() {
		if rc.Count != want[rc.Reason] {
			t.Errorf("dropped %v = %d, want %d (all: %v)", rc.Reason, rc.Count, want[rc.Reason], in.Dropped())
		}
	}
	if got := in.DroppedFor(DropMalformed); got != 3 {
		t.Errorf("DroppedFor(malformed) = %d", got)
	}
}

func TestConsumerFull(t *testing.T) {
	s := startTestServer(t, ServerConfig{})
	b := connectTest(t, ConnConfig{URL: s.ClientURL()}, Hooks{})
	in, err := b.Subscribe("x", 2)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		if err := b.Publish("x", []byte{byte(i)}); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, 5*time.Second, "5 messages handled", func() bool {
		return in.Delivered()+in.DroppedFor(DropConsumerFull) == 5
	})
	if in.Delivered() != 2 || in.DroppedFor(DropConsumerFull) != 3 {
		t.Fatalf("delivered %d, consumer_full %d", in.Delivered(), in.DroppedFor(DropConsumerFull))
	}
	for i := range 2 {
		if m := receive(t, in, time.Second); len(m.Data) != 1 || m.Data[0] != byte(i) {
			t.Errorf("message %d = %v", i, m.Data)
		}
	}
	if err := in.Close(); err != nil {
		t.Fatal(err)
	}
	if _, ok := <-in.C; ok {
		t.Error("C open after Close")
	}
	if err := in.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func TestRequestRespond(t *testing.T) {
	s := startTestServer(t, ServerConfig{})
	coord := connectTest(t, ConnConfig{URL: s.ClientURL()}, Hooks{})
	worker := connectTest(t, ConnConfig{URL: s.ClientURL()}, Hooks{})
	subj := Subjects{}.JobRequest()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := worker.Request(ctx, subj, []byte("?")); !errors.Is(err, nats.ErrNoResponders) {
		t.Fatalf("request without responder: %v, want ErrNoResponders", err)
	}
	stop, err := coord.Respond(subj, func(req []byte) []byte { return append([]byte("job for "), req...) })
	if err != nil {
		t.Fatal(err)
	}
	if err := coord.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	reply, err := worker.Request(ctx, subj, []byte("w1"))
	if err != nil || string(reply) != "job for w1" {
		t.Fatalf("reply %q, %v", reply, err)
	}
	if _, err := worker.Request(ctx, subj, make([]byte, worker.MaxPayload())); !errors.Is(err, ErrTooLarge) {
		t.Errorf("oversized request: %v, want ErrTooLarge", err)
	}
	// A raw, unframed request is dropped by the responder: the requester times out.
	short, cancelShort := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancelShort()
	if _, err := worker.Conn().RequestWithContext(short, subj, []byte("raw")); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("unframed request: %v, want a timeout", err)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
}

func TestCloseClosesInboxesAndLeaksNothing(t *testing.T) {
	s := startTestServer(t, ServerConfig{})
	before := runtime.NumGoroutine()
	closed := make(chan struct{})
	b := connectTest(t, ConnConfig{URL: s.ClientURL()}, Hooks{Closed: func() { close(closed) }})
	in, err := b.Subscribe("a", 1)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Publish("a", []byte("last")); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-closed:
	case <-time.After(time.Second):
		t.Fatal("Closed hook not called")
	}
	// Drain delivered what was in flight, then C is closed.
	var got []string
	for m := range in.C {
		got = append(got, string(m.Data))
	}
	if len(got) != 1 || got[0] != "last" {
		t.Errorf("after Close: %q", got)
	}
	if err := b.Publish("a", nil); !errors.Is(err, nats.ErrConnectionClosed) {
		t.Errorf("publish after Close: %v", err)
	}
	if err := b.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	waitFor(t, 5*time.Second, "goroutines back to the count before Connect", func() bool {
		return runtime.NumGoroutine() <= before
	})
}

func TestConnectGivesUpWithContext(t *testing.T) {
	// A port with nothing listening: reserve one from a server, then stop it.
	s, err := StartServer(ServerConfig{Listen: "127.0.0.1:-1"})
	if err != nil {
		t.Fatal(err)
	}
	url := s.ClientURL()
	s.Shutdown()
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err = Connect(ctx, ConnConfig{URL: url}, nil, Hooks{})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Connect to a dead port: %v, want DeadlineExceeded", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("gave up after %v", d)
	}
}

func TestConnectRetriesUntilServerStarts(t *testing.T) {
	s, err := StartServer(ServerConfig{Listen: "127.0.0.1:-1"})
	if err != nil {
		t.Fatal(err)
	}
	addr := s.Addr()
	s.Shutdown()
	type result struct {
		b   *Bus
		err error
	}
	done := make(chan result, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	go func() {
		b, err := Connect(ctx, ConnConfig{URL: "nats://" + addr}, nil, Hooks{})
		done <- result{b, err}
	}()
	time.Sleep(300 * time.Millisecond) // the worker starts first and retries
	startTestServer(t, ServerConfig{Listen: addr})
	r := <-done
	if r.err != nil {
		t.Fatalf("Connect: %v", r.err)
	}
	_ = r.b.Close()
}

func TestSubjects(t *testing.T) {
	s := Subjects{}
	for _, tc := range []struct{ got, want string }{
		{s.Join(), "dpt.join"}, {s.Leave("w1"), "dpt.leave.w1"}, {s.Heartbeat("w1"), "dpt.hb.w1"},
		{s.Job(), "dpt.job"}, {s.JobRequest(), "dpt.job.get"}, {s.Params(), "dpt.params"},
		{s.Plan(), "dpt.plan"}, {s.Contrib("w-2"), "dpt.contrib.w-2"}, {s.Failure("w1"), "dpt.fail.w1"},
		{s.AllHeartbeats(), "dpt.hb.*"}, {s.AllContribs(), "dpt.contrib.*"}, {s.AllLeaves(), "dpt.leave.*"},
		{s.AllFailures(), "dpt.fail.*"}, {Subjects{Prefix: "jobs.a1"}.Plan(), "jobs.a1.plan"},
	} {
		if tc.got != tc.want {
			t.Errorf("%q, want %q", tc.got, tc.want)
		}
	}
	for _, w := range []string{"w1", "worker_07", "A-b", "x"} {
		if err := ValidWorkerName(w); err != nil {
			t.Errorf("ValidWorkerName(%q): %v", w, err)
		}
	}
	for _, w := range []string{"", "a.b", "*", ">", "a b", "ü", string(make([]byte, MaxWorkerNameLen+1))} {
		if err := ValidWorkerName(w); !errors.Is(err, ErrBadSubject) {
			t.Errorf("ValidWorkerName(%q) = %v, want ErrBadSubject", w, err)
		}
	}
	if w, err := s.Worker("dpt.contrib.w7"); err != nil || w != "w7" {
		t.Errorf("Worker = %q, %v", w, err)
	}
	for _, subj := range []string{"dpt.params", "dpt.contrib", "other.contrib.w1", "dpt.contrib.a.b", "dpt.job.get"} {
		if _, err := s.Worker(subj); !errors.Is(err, ErrBadSubject) {
			t.Errorf("Worker(%q): %v, want ErrBadSubject", subj, err)
		}
	}
	if err := (Subjects{Prefix: "a..b"}).Validate(); err == nil {
		t.Error("prefix with an empty token accepted")
	}
	if err := (Subjects{Prefix: "dpt.>"}).Validate(); err == nil {
		t.Error("wildcard prefix accepted")
	}
	if err := s.Validate(); err != nil {
		t.Error(err)
	}
}

func TestRedactURL(t *testing.T) {
	got := redactURL("nats://u:secret@h1:4222, nats://tok@h2:4222,nats://h3:4222")
	if bytes.Contains([]byte(got), []byte("secret")) || bytes.Contains([]byte(got), []byte("tok@")) {
		t.Errorf("credentials leak: %s", got)
	}
}

func BenchmarkPublishReceive(b *testing.B) {
	for _, size := range []int{1 << 20, 8 << 20} {
		b.Run(fmt.Sprintf("%dMiB", size>>20), func(b *testing.B) {
			s := startTestServer(b, ServerConfig{})
			pub := connectTest(b, ConnConfig{URL: s.ClientURL()}, Hooks{})
			sub := connectTest(b, ConnConfig{URL: s.ClientURL()}, Hooks{})
			in, err := sub.Subscribe("bench", 4)
			if err != nil {
				b.Fatal(err)
			}
			if err := sub.Flush(context.Background()); err != nil {
				b.Fatal(err)
			}
			payload := randomBytes(1, size)
			binary.LittleEndian.PutUint64(payload, 0)
			b.SetBytes(int64(size))
			b.ResetTimer()
			for range b.N {
				if err := pub.Publish("bench", payload); err != nil {
					b.Fatal(err)
				}
				if m := receive(b, in, 30*time.Second); len(m.Data) != size {
					b.Fatalf("%d bytes", len(m.Data))
				}
			}
		})
	}
}

func TestSlowConsumerCounted(t *testing.T) {
	s := startTestServer(t, ServerConfig{})
	slow := make(chan string, 4)
	// A pending limit below one frame: nats.go drops every frame before
	// the inbox sees it, and says so through the SlowConsumer hook.
	b := connectTest(t, ConnConfig{URL: s.ClientURL(), PendingBytes: 10}, Hooks{SlowConsumer: func(subject string) {
		select {
		case slow <- subject:
		default:
		}
	}})
	in, err := b.Subscribe("big", 1)
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if err := b.Publish("big", make([]byte, 100)); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case subj := <-slow:
		if subj != "big" {
			t.Errorf("slow consumer on %q", subj)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("SlowConsumer hook not called")
	}
	waitFor(t, 5*time.Second, "3 slow-consumer drops", func() bool { return in.DroppedFor(DropSlowConsumer) == 3 })
	if in.Delivered() != 0 {
		t.Errorf("delivered %d", in.Delivered())
	}
	if err := in.Close(); err != nil {
		t.Fatal(err)
	}
	if got := in.DroppedFor(DropSlowConsumer); got != 3 {
		t.Errorf("after Close: %d slow-consumer drops, want 3 kept", got)
	}
}
