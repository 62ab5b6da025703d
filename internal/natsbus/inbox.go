package natsbus

import (
	"errors"
	"fmt"
	"sync"

	"github.com/nats-io/nats.go"
)

// Message is one complete, checksum-verified payload received by an Inbox.
type Message struct {
	// Subject is the subject the message was published on (with a wildcard
	// subscription, it names the sender; see Subjects.Worker).
	Subject string
	// Data is the payload; the receiver owns it.
	Data []byte
}

// Inbox is a subscription that reassembles framed messages and delivers
// them on C. It never blocks nats.go: reassembly runs on the subscription's
// own nats.go goroutine and a message that finds C full is dropped and
// counted (DropConsumerFull), as with nats.ChanSubscribe. Frames wait in
// nats.go's pending queue, bounded by ConnConfig.PendingMsgs/PendingBytes.
type Inbox struct {
	// C delivers complete messages. It is closed by Close and by Bus.Close.
	C <-chan Message

	bus *Bus
	sub *nats.Subscription

	mu        sync.Mutex
	ch        chan Message // guarded by mu for send and close
	closed    bool         // guarded by mu
	r         *reassembler // guarded by mu
	delivered uint64       // guarded by mu
	slowDrops uint64       // guarded by mu; nats.go's count at close
	closeOnce sync.Once
	closeErr  error
}

// Subscribe subscribes to subject (wildcards allowed) and returns an Inbox
// whose channel C holds up to buffer complete messages. See Inbox for the
// limits.
func (b *Bus) Subscribe(subject string, buffer int) (*Inbox, error) {
	if buffer < 0 {
		buffer = 0
	}
	ch := make(chan Message, buffer)
	in := &Inbox{
		C:   ch,
		bus: b,
		ch:  ch,
		r:   newReassembler(b.cfg.MaxIncomplete, uint64(b.cfg.MaxReassemblyBytes)),
	}
	b.mu.Lock()
	b.inboxes[in] = struct{}{}
	b.mu.Unlock()
	sub, err := b.nc.Subscribe(subject, in.deliver)
	if err != nil {
		b.forget(in)
		return nil, fmt.Errorf("natsbus: subscribe %s: %w", subject, err)
	}
	if err := sub.SetPendingLimits(b.cfg.PendingMsgs, b.cfg.PendingBytes); err != nil {
		_ = sub.Unsubscribe() // best effort: the subscription is unusable anyway
		b.forget(in)
		return nil, fmt.Errorf("natsbus: subscribe %s: pending limits: %w", subject, err)
	}
	in.mu.Lock()
	in.sub = sub
	in.mu.Unlock()
	return in, nil
}

func (b *Bus) forget(in *Inbox) {
	b.mu.Lock()
	delete(b.inboxes, in)
	b.mu.Unlock()
}

// deliver runs on the subscription's nats.go goroutine, one frame at a time.
func (in *Inbox) deliver(m *nats.Msg) {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.closed {
		return
	}
	payload, ok := in.r.add(m.Subject, m.Data)
	if !ok {
		return
	}
	select {
	case in.ch <- Message{Subject: m.Subject, Data: payload}:
		in.delivered++
	default:
		in.r.drop(DropConsumerFull)
	}
}

// Subject returns the subscribed subject.
func (in *Inbox) Subject() string {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.sub == nil {
		return ""
	}
	return in.sub.Subject
}

// Delivered returns the number of messages sent on C.
func (in *Inbox) Delivered() uint64 {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.delivered
}

// Dropped returns the drop counts of every DropReason, zero counts
// included, sorted by the reason's name.
func (in *Inbox) Dropped() []ReasonCount {
	in.mu.Lock()
	defer in.mu.Unlock()
	d := in.r.drops
	d[DropSlowConsumer] = in.slowDropsLocked()
	return d.sorted()
}

// DroppedFor returns the drop count for one reason.
func (in *Inbox) DroppedFor(r DropReason) uint64 {
	in.mu.Lock()
	defer in.mu.Unlock()
	if r == DropSlowConsumer {
		return in.slowDropsLocked()
	}
	if r >= numDropReasons {
		return 0
	}
	return in.r.drops[r]
}

func (in *Inbox) slowDropsLocked() uint64 {
	if in.closed || in.sub == nil {
		return in.slowDrops
	}
	if n, err := in.sub.Dropped(); err == nil && n > 0 {
		return uint64(n)
	}
	return in.slowDrops
}

// Close unsubscribes and closes C. Messages still in C can be read. It is
// idempotent.
func (in *Inbox) Close() error {
	return in.shut(true)
}

// shut closes the inbox; unsubscribe is false when the connection is gone.
func (in *Inbox) shut(unsubscribe bool) error {
	in.closeOnce.Do(func() {
		in.mu.Lock()
		sub := in.sub
		in.slowDrops = in.slowDropsLocked()
		in.mu.Unlock()
		if unsubscribe && sub != nil {
			err := sub.Unsubscribe()
			if err != nil && !errors.Is(err, nats.ErrConnectionClosed) && !errors.Is(err, nats.ErrBadSubscription) {
				in.closeErr = fmt.Errorf("natsbus: unsubscribe %s: %w", sub.Subject, err)
			}
		}
		in.mu.Lock()
		in.closed = true
		close(in.ch)
		in.mu.Unlock()
		in.bus.forget(in)
	})
	return in.closeErr
}
