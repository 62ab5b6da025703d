package natsbus_test

import (
	"context"
	"fmt"
	"time"

	"github.com/dptrain/dptrain/internal/natsbus"
)

// A coordinator and a worker on an embedded server: the worker's 3 MB
// contribution travels as three frames and arrives whole on the
// coordinator's wildcard subscription.
func Example() {
	srv, err := natsbus.StartServer(natsbus.ServerConfig{Listen: "127.0.0.1:-1"})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer srv.Shutdown()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	subj := natsbus.Subjects{Prefix: "job1"}
	coord, err := natsbus.Connect(ctx, natsbus.ConnConfig{URL: srv.ClientURL(), Name: "coordinator"}, nil, natsbus.Hooks{})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer coord.Close()
	worker, err := natsbus.Connect(ctx, natsbus.ConnConfig{URL: srv.ClientURL(), Name: "w1"}, nil, natsbus.Hooks{})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer worker.Close()

	contribs, err := coord.Subscribe(subj.AllContribs(), 16)
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := coord.Flush(ctx); err != nil {
		fmt.Println(err)
		return
	}
	if err := worker.Publish(subj.Contrib("w1"), make([]byte, 3_000_000)); err != nil {
		fmt.Println(err)
		return
	}
	select {
	case m := <-contribs.C:
		w, _ := subj.Worker(m.Subject)
		fmt.Printf("%d bytes from %s\n", len(m.Data), w)
	case <-ctx.Done():
		fmt.Println("timeout")
	}
	// Output: 3000000 bytes from w1
}
