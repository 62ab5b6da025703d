package natsbus

import (
	"bytes"
	"context"
	"testing"
	"time"
)

// eventHooks records connection events on buffered channels without ever
// blocking nats.go's callback goroutine.
type eventHooks struct {
	disconnected, reconnected chan struct{}
	errs                      chan error
}

func newEventHooks() *eventHooks {
	return &eventHooks{
		disconnected: make(chan struct{}, 16),
		reconnected:  make(chan struct{}, 16),
		errs:         make(chan error, 64),
	}
}

func (e *eventHooks) hooks() Hooks {
	signal := func(ch chan struct{}) {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
	return Hooks{
		Disconnected: func(error) { signal(e.disconnected) },
		Reconnected:  func(string) { signal(e.reconnected) },
		Error: func(err error) {
			select {
			case e.errs <- err:
			default:
			}
		},
	}
}

func waitEvent(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(10 * time.Second):
		t.Fatalf("no %s event", what)
	}
}

func TestReconnectAfterServerRestart(t *testing.T) {
	s1, err := StartServer(ServerConfig{Listen: "127.0.0.1:-1"})
	if err != nil {
		t.Fatal(err)
	}
	addr := s1.Addr()
	pubEv, subEv := newEventHooks(), newEventHooks()
	pub := connectTest(t, ConnConfig{URL: s1.ClientURL(), Name: "pub"}, pubEv.hooks())
	sub := connectTest(t, ConnConfig{URL: s1.ClientURL(), Name: "sub"}, subEv.hooks())
	in, err := sub.Subscribe("dpt.plan", 8)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := sub.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if err := pub.Publish("dpt.plan", []byte("before")); err != nil {
		t.Fatal(err)
	}
	if m := receive(t, in, 5*time.Second); string(m.Data) != "before" {
		t.Fatalf("got %q", m.Data)
	}

	s1.Shutdown()
	waitEvent(t, pubEv.disconnected, "publisher disconnected")
	waitEvent(t, subEv.disconnected, "subscriber disconnected")

	startTestServer(t, ServerConfig{Listen: addr}) // same port
	waitEvent(t, pubEv.reconnected, "publisher reconnected")
	waitEvent(t, subEv.reconnected, "subscriber reconnected")
	// nats.go re-sends the subscription on reconnect; the flush round trip
	// makes sure the new server has it before the publisher sends.
	if err := sub.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	big := randomBytes(3, 5_000_000)
	for _, p := range [][]byte{[]byte("after"), big} {
		if err := pub.Publish("dpt.plan", p); err != nil {
			t.Fatal(err)
		}
		if m := receive(t, in, 10*time.Second); !bytes.Equal(m.Data, p) {
			t.Fatalf("after reconnect: %d bytes, want %d", len(m.Data), len(p))
		}
	}
}
