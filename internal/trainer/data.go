package trainer

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"sync"

	"github.com/dptrain/dptrain/internal/natsbus"
	"github.com/dptrain/dptrain/internal/shard"
)

// shardSet gives a worker the rows of micro-shards of one dataset, either
// from the whole file (a shared volume) or fetched one micro-shard at a time
// from the object store. Both give the same rows in the same order, so the
// contributions are the same bits.
type shardSet struct {
	src    DataSource
	ranges []shard.Range
	whole  *shard.Dataset // path mode, or the coordinator's dataset
	shared bool           // whole is the coordinator's (SharedData)

	mu      sync.Mutex
	objects *natsbus.Objects
	fetched map[int]*shard.Dataset // object-store mode, by micro-shard
	bytes   int64
}

// ObjectName is the object-store name of micro-shard i.
func ObjectName(prefix string, i int) string { return fmt.Sprintf("%s/%06d", prefix, i) }

// openShardSet prepares a dataset for a worker: it reads the file when the
// path is readable and has the expected checksum, else it uses the object
// store.
func openShardSet(ctx context.Context, src DataSource, spec *JobSpec, bus *natsbus.Bus) (*shardSet, string, error) {
	s := &shardSet{src: src, ranges: shard.Split(src.Rows, src.Shards), fetched: map[int]*shard.Dataset{}}
	if src.Path != "" {
		if sum, err := fileSHA256(src.Path); err == nil && (src.SHA256 == "" || sum == src.SHA256) {
			d, _, err := shard.Load(src.Path, src.Options)
			if err != nil {
				return nil, "", err
			}
			if src.HoldOut >= 2 {
				// One part, the kept rows in the file's own storage.
				d = shard.HoldOutPart(d, src.HoldOut, src.Part == "test")
			}
			if err := fitToSpec(d, spec); err != nil {
				return nil, "", fmt.Errorf("trainer: %s: %w", src.Path, err)
			}
			if d.Rows() != src.Rows {
				return nil, "", fmt.Errorf("trainer: %s has %d rows, the coordinator read %d", src.Path, d.Rows(), src.Rows)
			}
			s.whole = d
			return s, "file", nil
		}
	}
	if src.Bucket == "" {
		return nil, "", fmt.Errorf("trainer: cannot read %q and the coordinator published no micro-shards", src.Path)
	}
	obj, err := bus.ObjectStore(ctx, src.Bucket)
	if err != nil {
		return nil, "", fmt.Errorf("trainer: object store %s: %w", src.Bucket, err)
	}
	s.objects = obj
	return s, "object-store", nil
}

// fitToSpec checks d against the job and applies its scaling.
func fitToSpec(d *shard.Dataset, spec *JobSpec) error {
	if d.X.Cols != spec.Features {
		return fmt.Errorf("%d features, the job has %d", d.X.Cols, spec.Features)
	}
	return spec.Scaler.Apply(d)
}

func fileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// rows returns micro-shard i's rows; index, when non-nil, selects rows by
// dataset row number (a mini-batch) in that order.
func (s *shardSet) rows(ctx context.Context, i int, index []int32) (shard.Rows, error) {
	if i < 0 || i >= len(s.ranges) {
		return shard.Rows{}, fmt.Errorf("trainer: micro-shard %d outside [0,%d)", i, len(s.ranges))
	}
	r := s.ranges[i]
	if s.whole != nil {
		if index != nil {
			return shard.Rows{D: s.whole, Index: index}, nil
		}
		return s.whole.View(r), nil
	}
	d, err := s.fetch(ctx, i)
	if err != nil {
		return shard.Rows{}, err
	}
	if index != nil {
		local := make([]int32, len(index))
		for q, row := range index {
			local[q] = row - int32(r.Lo)
		}
		return shard.Rows{D: d, Index: local}, nil
	}
	return shard.Rows{D: d, Lo: 0, Hi: d.Rows()}, nil
}

func (s *shardSet) fetch(ctx context.Context, i int) (*shard.Dataset, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if d, ok := s.fetched[i]; ok {
		return d, nil
	}
	name := ObjectName(s.src.Prefix, i)
	b, err := s.objects.Get(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("trainer: fetch micro-shard %s: %w", name, err)
	}
	d, err := shard.DecodeShard(b, name)
	if err != nil {
		return nil, err
	}
	if want := s.ranges[i].Hi - s.ranges[i].Lo; d.Rows() != want {
		return nil, fmt.Errorf("trainer: micro-shard %s has %d rows, expected %d", name, d.Rows(), want)
	}
	s.fetched[i] = d
	s.bytes += int64(len(b))
	return d, nil
}

// rowsHeld is the number of rows the worker holds in memory.
func (s *shardSet) rowsHeld() int {
	if s.whole != nil {
		return s.whole.Rows()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, d := range s.fetched {
		n += d.Rows()
	}
	return n
}
