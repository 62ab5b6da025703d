package trainer

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/gob"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/dptrain/dptrain/internal/natsbus"
	"github.com/dptrain/dptrain/internal/optim"
)

// Checkpoint is the state a coordinator needs to continue a job exactly:
// the parameters, the optimizer's state and the step. The random state is
// not stored because there is none to store: the initialisation and the
// mini-batch schedule are pure functions of (seed, epoch, micro-shard).
type Checkpoint struct {
	Job string
	// Steps is the number of optimizer steps taken.
	Steps uint64
	// Epochs is the number of epochs completed.
	Epochs int
	Theta  []float64
	// Optim is the mini-batch optimizer's state; LBFGS the full-batch one's.
	Optim *optim.State
	LBFGS *optim.LBFGSState
	// EpochSeconds are the completed epochs' wall times, for the report.
	EpochSeconds []float64
	// Done is set on the checkpoint written when training finished.
	Done bool
}

// ErrNoCheckpoint is returned by a store that holds no checkpoint of a job.
var ErrNoCheckpoint = errors.New("trainer: no checkpoint")

// CheckpointStore keeps the newest checkpoint of each job.
type CheckpointStore interface {
	Save(ctx context.Context, c *Checkpoint) (bytes int, err error)
	Load(ctx context.Context, job string) (*Checkpoint, error)
}

const checkpointMagic = "DPTCKPT1"

// EncodeCheckpoint serialises c: a magic string, the sha256 of the body,
// then the gob-encoded body.
func EncodeCheckpoint(c *Checkpoint) ([]byte, error) {
	var body bytes.Buffer
	if err := gob.NewEncoder(&body).Encode(c); err != nil {
		return nil, fmt.Errorf("trainer: encode checkpoint: %w", err)
	}
	sum := sha256.Sum256(body.Bytes())
	out := make([]byte, 0, len(checkpointMagic)+len(sum)+body.Len())
	out = append(out, checkpointMagic...)
	out = append(out, sum[:]...)
	return append(out, body.Bytes()...), nil
}

// DecodeCheckpoint reverses EncodeCheckpoint, verifying the checksum.
func DecodeCheckpoint(b []byte, name string) (*Checkpoint, error) {
	h := len(checkpointMagic) + sha256.Size
	if len(b) < h || string(b[:len(checkpointMagic)]) != checkpointMagic {
		return nil, fmt.Errorf("trainer: checkpoint %s: not a checkpoint", name)
	}
	if sum := sha256.Sum256(b[h:]); !bytes.Equal(sum[:], b[len(checkpointMagic):h]) {
		return nil, fmt.Errorf("trainer: checkpoint %s: checksum mismatch (truncated or corrupt)", name)
	}
	var c Checkpoint
	if err := gob.NewDecoder(bytes.NewReader(b[h:])).Decode(&c); err != nil {
		return nil, fmt.Errorf("trainer: checkpoint %s: %w", name, err)
	}
	return &c, nil
}

// DirStore keeps checkpoints as files <Dir>/<job>.ckpt, replaced atomically.
type DirStore struct{ Dir string }

func (d DirStore) path(job string) string { return filepath.Join(d.Dir, job+".ckpt") }

// Save implements CheckpointStore.
func (d DirStore) Save(_ context.Context, c *Checkpoint) (int, error) {
	b, err := EncodeCheckpoint(c)
	if err != nil {
		return 0, err
	}
	if err := os.MkdirAll(d.Dir, 0o755); err != nil {
		return 0, fmt.Errorf("trainer: checkpoint dir: %w", err)
	}
	tmp := d.path(c.Job) + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return 0, fmt.Errorf("trainer: checkpoint: %w", err)
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return 0, fmt.Errorf("trainer: checkpoint: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return 0, fmt.Errorf("trainer: checkpoint: %w", err)
	}
	if err := f.Close(); err != nil {
		return 0, fmt.Errorf("trainer: checkpoint: %w", err)
	}
	if err := os.Rename(tmp, d.path(c.Job)); err != nil {
		return 0, fmt.Errorf("trainer: checkpoint: %w", err)
	}
	return len(b), nil
}

// Load implements CheckpointStore.
func (d DirStore) Load(_ context.Context, job string) (*Checkpoint, error) {
	b, err := os.ReadFile(d.path(job))
	if errors.Is(err, os.ErrNotExist) {
		return nil, ErrNoCheckpoint
	}
	if err != nil {
		return nil, fmt.Errorf("trainer: checkpoint: %w", err)
	}
	return DecodeCheckpoint(b, d.path(job))
}

// ObjectStore keeps checkpoints in a JetStream object store bucket, one
// object per job.
type ObjectStore struct{ Objects *natsbus.Objects }

// CheckpointBucket is the object store bucket of checkpoints.
const CheckpointBucket = "dpt-checkpoints"

// Bounds of ObjectStore.Save's retries.
const (
	// CheckpointRetry is how long a failed Put is retried: a NATS server
	// restarting mid-run must not stop the job, since the connection comes
	// back by itself. It matches the default --grace.
	CheckpointRetry = 30 * time.Second
	// checkpointAttempt + size / checkpointRate bounds one Put: a Put
	// caught by a disconnect may wait for acknowledgements that never come.
	checkpointAttempt = 2 * time.Second
	checkpointRate    = 10 << 20 // bytes per second
)

// Save implements CheckpointStore. A failed Put (typically "server is
// disconnected" while the client reconnects) is retried with backoff from
// 100 ms to 2 s for up to CheckpointRetry, each attempt bounded by 2 s plus
// a second per 10 MiB; then the last error is returned.
func (o ObjectStore) Save(ctx context.Context, c *Checkpoint) (int, error) {
	b, err := EncodeCheckpoint(c)
	if err != nil {
		return 0, err
	}
	deadline := time.Now().Add(CheckpointRetry)
	attempt := checkpointAttempt + time.Duration(len(b))*time.Second/checkpointRate
	for wait := 100 * time.Millisecond; ; wait = min(2*wait, 2*time.Second) {
		actx, cancel := context.WithTimeout(ctx, attempt)
		err := o.Objects.Put(actx, c.Job, b)
		cancel()
		if err == nil {
			return len(b), nil
		}
		if time.Now().Add(wait).After(deadline) {
			return 0, fmt.Errorf("trainer: checkpoint: %w (retried for %v)", err, CheckpointRetry)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return 0, fmt.Errorf("trainer: checkpoint: %w (%w)", err, ctx.Err())
		case <-t.C:
		}
	}
}

// Load implements CheckpointStore.
func (o ObjectStore) Load(ctx context.Context, job string) (*Checkpoint, error) {
	b, err := o.Objects.Get(ctx, job)
	if errors.Is(err, natsbus.ErrNotFound) {
		return nil, ErrNoCheckpoint
	}
	if err != nil {
		return nil, fmt.Errorf("trainer: checkpoint: %w", err)
	}
	return DecodeCheckpoint(b, o.Objects.Bucket()+"/"+job)
}
