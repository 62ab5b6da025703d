package natsbus

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/nats-io/nats.go/jetstream"
)

// ErrNotFound is returned for a missing object or bucket; the error also
// wraps jetstream's own (jetstream.ErrObjectNotFound, ErrBucketNotFound).
var ErrNotFound = errors.New("natsbus: not found")

// Objects is a JetStream object store bucket: named blobs of any size
// (stored in chunks by JetStream), e.g. micro-shards handed to workers and
// checkpoints. It is safe for concurrent use.
type Objects struct {
	bucket string
	os     jetstream.ObjectStore
}

// HasJetStream reports whether the server offers JetStream to this
// connection, asking it (bounded by ctx).
func (b *Bus) HasJetStream(ctx context.Context) bool {
	js, err := jetstream.New(b.nc)
	if err != nil {
		return false
	}
	_, err = js.AccountInfo(ctx)
	return err == nil
}

// ObjectStore opens bucket, creating it with file storage if it does not
// exist. Creation needs JetStream API permissions beyond those of
// ObjectReaderPermissions; readers use OpenObjectStore.
func (b *Bus) ObjectStore(ctx context.Context, bucket string) (*Objects, error) {
	js, err := jetstream.New(b.nc)
	if err != nil {
		return nil, fmt.Errorf("natsbus: object store %s: %w", bucket, err)
	}
	store, err := js.ObjectStore(ctx, bucket)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		store, err = js.CreateObjectStore(ctx, jetstream.ObjectStoreConfig{
			Bucket:  bucket,
			Storage: jetstream.FileStorage,
		})
		if errors.Is(err, jetstream.ErrBucketExists) || errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
			store, err = js.ObjectStore(ctx, bucket) // lost a creation race
		}
	}
	if err != nil {
		return nil, fmt.Errorf("natsbus: object store %s: %w", bucket, err)
	}
	return &Objects{bucket: bucket, os: store}, nil
}

// OpenObjectStore opens an existing bucket; a missing one is ErrNotFound.
func (b *Bus) OpenObjectStore(ctx context.Context, bucket string) (*Objects, error) {
	js, err := jetstream.New(b.nc)
	if err != nil {
		return nil, fmt.Errorf("natsbus: object store %s: %w", bucket, err)
	}
	store, err := js.ObjectStore(ctx, bucket)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		return nil, fmt.Errorf("natsbus: object store %s: %w: %w", bucket, ErrNotFound, err)
	}
	if err != nil {
		return nil, fmt.Errorf("natsbus: object store %s: %w", bucket, err)
	}
	return &Objects{bucket: bucket, os: store}, nil
}

// Bucket returns the bucket's name.
func (o *Objects) Bucket() string { return o.bucket }

// Put stores data under name, replacing any previous object of that name
// once the new one is complete (JetStream writes the chunks, then the
// metadata, then purges the old chunks).
func (o *Objects) Put(ctx context.Context, name string, data []byte) error {
	if _, err := o.os.PutBytes(ctx, name, data); err != nil {
		return fmt.Errorf("natsbus: put %s/%s: %w", o.bucket, name, err)
	}
	return nil
}

// Get returns the object name; JetStream verifies its SHA-256 digest. A
// missing object is ErrNotFound.
func (o *Objects) Get(ctx context.Context, name string) ([]byte, error) {
	data, err := o.os.GetBytes(ctx, name)
	if errors.Is(err, jetstream.ErrObjectNotFound) {
		return nil, fmt.Errorf("natsbus: get %s/%s: %w: %w", o.bucket, name, ErrNotFound, err)
	}
	if err != nil {
		return nil, fmt.Errorf("natsbus: get %s/%s: %w", o.bucket, name, err)
	}
	return data, nil
}

// List returns the names of the bucket's objects, sorted.
func (o *Objects) List(ctx context.Context) ([]string, error) {
	infos, err := o.os.List(ctx)
	if errors.Is(err, jetstream.ErrNoObjectsFound) {
		return []string{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("natsbus: list %s: %w", o.bucket, err)
	}
	names := make([]string, 0, len(infos))
	for _, info := range infos {
		if !info.Deleted {
			names = append(names, info.Name)
		}
	}
	slices.Sort(names)
	return names, nil
}

// Delete removes the object name; a missing object is ErrNotFound.
func (o *Objects) Delete(ctx context.Context, name string) error {
	// jetstream's Delete succeeds on an already deleted object (it finds
	// the tombstone); GetInfo without ShowDeleted does not.
	_, err := o.os.GetInfo(ctx, name)
	if err == nil {
		err = o.os.Delete(ctx, name)
	}
	if errors.Is(err, jetstream.ErrObjectNotFound) {
		return fmt.Errorf("natsbus: delete %s/%s: %w: %w", o.bucket, name, ErrNotFound, err)
	}
	if err != nil {
		return fmt.Errorf("natsbus: delete %s/%s: %w", o.bucket, name, err)
	}
	return nil
}
