package shard

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// IDX magic numbers: two zero bytes, the element type (0x08 = unsigned
// byte) and the number of dimensions.
const (
	idxImagesMagic = 0x00000803
	idxLabelsMagic = 0x00000801
	idxUbyte       = 0x08
)

// ReadIDX reads an MNIST-style IDX pair: images (magic 0x00000803, dims
// n × rows × cols of unsigned bytes, or more generally n × … of unsigned
// bytes) and labels (magic 0x00000801, n unsigned bytes). The counts must
// agree. Either stream may be gzip- or bzip2-compressed. name is used in
// messages.
//
// Pixel p ∈ 0..255 becomes the feature p/255 ∈ [0, 1] (float64 division
// rounded to float32), as in the reference protocol (REFERENCE.md), with
// pixels in row-major order: column r·cols + c. Storage is dense unless
// opt.Storage says otherwise. The labels are classes, inferred as in
// ReadLIBSVM (digits 0..9 → Multiclass with K = 10) or taken from
// opt.Classes.
func ReadIDX(images, labels io.Reader, name string, opt ReadOptions) (*Dataset, LoadStats, error) {
	if opt.Storage == StorageAuto {
		opt.Storage = StorageDense
	}
	b := newBuilder(name, &opt)
	imgs, closeImg, _, err := decompress(images)
	if err != nil {
		return nil, b.stats, fmt.Errorf("shard: %s: images: %w", name, err)
	}
	defer func() { _ = closeImg() }() // read-only: nothing to lose
	labs, closeLab, _, err := decompress(labels)
	if err != nil {
		return nil, b.stats, fmt.Errorf("shard: %s: labels: %w", name, err)
	}
	defer func() { _ = closeLab() }() // read-only: nothing to lose

	dims, err := idxHeader(imgs, name+" images", idxImagesMagic)
	if err != nil {
		return nil, b.stats, err
	}
	ldims, err := idxHeader(labs, name+" labels", idxLabelsMagic)
	if err != nil {
		return nil, b.stats, err
	}
	n := dims[0]
	if ldims[0] != n {
		return nil, b.stats, fmt.Errorf("shard: %s: %d images but %d labels", name, n, ldims[0])
	}
	d := 1
	for _, x := range dims[1:] {
		d *= x
		if d > 1<<24 {
			return nil, b.stats, fmt.Errorf("shard: %s images: %v: expected at most 2^24 features per image", name, dims)
		}
	}
	if opt.NumFeatures > 0 && opt.NumFeatures != d {
		return nil, b.stats, fmt.Errorf("shard: %s: %d features per image, expected NumFeatures = %d", name, d, opt.NumFeatures)
	}
	// Read row by row so that memory follows the data actually present,
	// never a count claimed by a header.
	pix := make([]byte, d)
	var lab [1]byte
	for i := range n {
		if _, err := io.ReadFull(imgs, pix); err != nil {
			return nil, b.stats, idxShort(name+" images", i, n, err)
		}
		if _, err := io.ReadFull(labs, lab[:]); err != nil {
			return nil, b.stats, idxShort(name+" labels", i, n, err)
		}
		b.begin()
		for j, p := range pix {
			if p != 0 {
				b.add(int32(j), float32(float64(p)/255))
			}
		}
		b.commit(i+1, strconv.AppendInt(nil, int64(lab[0]), 10))
	}
	for _, s := range []struct {
		r    *bufio.Reader
		what string
	}{{imgs, "images"}, {labs, "labels"}} {
		if _, err := s.r.ReadByte(); err == nil {
			return nil, b.stats, fmt.Errorf("shard: %s %s: data after the %d records the header announces", name, s.what, n)
		}
	}
	lb, err := b.resolveLabels("", true)
	if err != nil {
		return nil, b.stats, err
	}
	return b.finish(d, lb)
}

// idxShort describes a truncated IDX stream.
func idxShort(name string, i, n int, err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("shard: %s: truncated after %d of %d records", name, i, n)
	}
	return fmt.Errorf("shard: %s: record %d: %w", name, i+1, err)
}

// idxHeader reads and checks an IDX header and returns its dimensions.
func idxHeader(r io.Reader, name string, wantMagic uint32) ([]int, error) {
	var magic uint32
	if err := binary.Read(r, binary.BigEndian, &magic); err != nil {
		return nil, fmt.Errorf("shard: %s: header: %w", name, err)
	}
	if magic>>16 != 0 || byte(magic>>8) != idxUbyte || magic != wantMagic {
		return nil, fmt.Errorf("shard: %s: magic 0x%08x: expected 0x%08x (unsigned bytes, %d dimensions)",
			name, magic, wantMagic, wantMagic&0xff)
	}
	dims := make([]int, magic&0xff)
	for k := range dims {
		var v uint32
		if err := binary.Read(r, binary.BigEndian, &v); err != nil {
			return nil, fmt.Errorf("shard: %s: header: %w", name, err)
		}
		if v > 1<<30 {
			return nil, fmt.Errorf("shard: %s: dimension %d is %d: expected at most 2^30", name, k, v)
		}
		dims[k] = int(v)
	}
	return dims, nil
}

// idxLabelsPath maps an images file name to its labels file by the MNIST
// naming: …images-idx3-ubyte… → …labels-idx1-ubyte….
func idxLabelsPath(images string) (string, error) {
	dir, base := filepath.Split(images)
	i := strings.LastIndex(base, "images-idx3-ubyte")
	if i < 0 {
		return "", fmt.Errorf("shard: %s: expected an MNIST images file name (…images-idx3-ubyte[.gz])", images)
	}
	return filepath.Join(dir, base[:i]+"labels-idx1-ubyte"+base[i+len("images-idx3-ubyte"):]), nil
}

// loadIDX opens an images file and its labels file.
func loadIDX(path string, opt ReadOptions) (*Dataset, LoadStats, error) {
	lpath, err := idxLabelsPath(path)
	if err != nil {
		return nil, LoadStats{}, err
	}
	if _, err := os.Stat(lpath); err != nil {
		// Allow a compressed and an uncompressed file side by side.
		for _, alt := range []string{lpath + ".gz", strings.TrimSuffix(lpath, ".gz")} {
			if _, aerr := os.Stat(alt); aerr == nil {
				lpath, err = alt, nil
				break
			}
		}
		if err != nil {
			return nil, LoadStats{}, fmt.Errorf("shard: labels of %s: %w", path, err)
		}
	}
	fi, err := os.Open(path)
	if err != nil {
		return nil, LoadStats{}, fmt.Errorf("shard: open: %w", err)
	}
	defer fi.Close() // read-only
	fl, err := os.Open(lpath)
	if err != nil {
		return nil, LoadStats{}, fmt.Errorf("shard: open: %w", err)
	}
	defer fl.Close() // read-only
	return ReadIDX(fi, fl, path, opt)
}
