package natsbus

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"testing"
	"time"
)

func TestObjectStoreRoundTripAndRestart(t *testing.T) {
	dir := t.TempDir()
	s1, err := StartServer(ServerConfig{Listen: "127.0.0.1:-1", DataDir: dir, MaxStore: 256 << 20})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b := connectTest(t, ConnConfig{URL: s1.ClientURL()}, Hooks{})
	if !b.HasJetStream(ctx) {
		t.Fatal("no JetStream with a DataDir")
	}
	objs, err := b.ObjectStore(ctx, "ckpt")
	if err != nil {
		t.Fatal(err)
	}
	if names, err := objs.List(ctx); err != nil || len(names) != 0 {
		t.Fatalf("empty bucket List = %v, %v", names, err)
	}
	big := randomBytes(11, 5<<20)
	small := []byte("step=42")
	for name, data := range map[string][]byte{"params-000042": big, "meta": small, "gone": {1}} {
		if err := objs.Put(ctx, name, data); err != nil {
			t.Fatal(err)
		}
	}
	if err := objs.Delete(ctx, "gone"); err != nil {
		t.Fatal(err)
	}
	if err := objs.Delete(ctx, "gone"); !errors.Is(err, ErrNotFound) {
		t.Errorf("second Delete: %v, want ErrNotFound", err)
	}
	if _, err := objs.Get(ctx, "gone"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get deleted: %v, want ErrNotFound", err)
	}
	check := func(o *Objects) {
		t.Helper()
		names, err := o.List(ctx)
		if err != nil || !slices.Equal(names, []string{"meta", "params-000042"}) {
			t.Fatalf("List = %v, %v", names, err)
		}
		got, err := o.Get(ctx, "params-000042")
		if err != nil || !bytes.Equal(got, big) {
			t.Fatalf("Get 5 MiB: %d bytes, %v", len(got), err)
		}
		if got, err := o.Get(ctx, "meta"); err != nil || !bytes.Equal(got, small) {
			t.Fatalf("Get meta = %q, %v", got, err)
		}
	}
	check(objs)
	// Replacing an object keeps one version.
	if err := objs.Put(ctx, "meta", []byte("step=43")); err != nil {
		t.Fatal(err)
	}
	if got, err := objs.Get(ctx, "meta"); err != nil || string(got) != "step=43" {
		t.Fatalf("replaced meta = %q, %v", got, err)
	}
	if err := objs.Put(ctx, "meta", small); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	s1.Shutdown()

	// Same DataDir, new server (and port): the data is still there.
	s2 := startTestServer(t, ServerConfig{DataDir: dir, MaxStore: 256 << 20})
	b2 := connectTest(t, ConnConfig{URL: s2.ClientURL()}, Hooks{})
	reopened, err := b2.OpenObjectStore(ctx, "ckpt")
	if err != nil {
		t.Fatal(err)
	}
	check(reopened)
	if _, err := b2.OpenObjectStore(ctx, "nope"); !errors.Is(err, ErrNotFound) {
		t.Errorf("OpenObjectStore of a missing bucket: %v, want ErrNotFound", err)
	}
	again, err := b2.ObjectStore(ctx, "ckpt") // create-or-open opens
	if err != nil {
		t.Fatal(err)
	}
	check(again)
}

func TestNoJetStream(t *testing.T) {
	s := startTestServer(t, ServerConfig{})
	b := connectTest(t, ConnConfig{URL: s.ClientURL()}, Hooks{})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if b.HasJetStream(ctx) {
		t.Error("HasJetStream without a DataDir")
	}
	if _, err := b.ObjectStore(ctx, "x"); err == nil {
		t.Error("object store without JetStream")
	}
}

func TestStartServerBadDataDir(t *testing.T) {
	file := t.TempDir() + "/file"
	if err := writeFile(file); err != nil {
		t.Fatal(err)
	}
	s, err := StartServer(ServerConfig{Listen: "127.0.0.1:-1", DataDir: file + "/sub", ReadyTimeout: 5 * time.Second})
	if err == nil {
		s.Shutdown()
		t.Fatal("server with a DataDir under a regular file started")
	}
}
