// Package modelfile reads and writes trained models in the safetensors
// layout: an 8-byte little-endian header length, a JSON header naming each
// tensor's dtype, shape and byte range (plus a "__metadata__" map of
// strings), then the raw little-endian tensor bytes.
//
// A model's flat parameter vector θ is stored as one tensor pair per layer,
// "layers.<l>.weight" (in × out, row-major) and "layers.<l>.bias" (out), in
// the order of θ's layout, so the file is readable by any safetensors reader
// and θ is their concatenation. The metadata carries what prediction needs:
// task, loss, class mapping, feature count, scaling and the model
// configuration.
package modelfile

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"sort"
	"strconv"

	"github.com/dptrain/dptrain/internal/loss"
	"github.com/dptrain/dptrain/internal/model"
	"github.com/dptrain/dptrain/internal/shard"
)

// Meta is the model's description, stored in the safetensors metadata.
type Meta struct {
	Task     string       `json:"task"`
	Loss     string       `json:"loss"`
	LossCfg  loss.Config  `json:"loss_config"`
	Model    model.Config `json:"model"`
	Features int          `json:"features"`
	K        int          `json:"k"`
	Classes  []string     `json:"classes,omitempty"`
	Scaler   shard.Scaler `json:"scaler"`
}

// ErrFormat is wrapped by every error about a malformed file.
var ErrFormat = errors.New("modelfile: malformed safetensors file")

// maxHeader bounds the JSON header a reader accepts.
const maxHeader = 100 << 20

// LayerShapes returns the (in, out) sizes of each layer of a model config
// whose Inputs and Outputs are set.
func LayerShapes(c model.Config) [][2]int {
	sizes := []int{c.Inputs}
	if c.Kind == "mlp" {
		sizes = append(sizes, c.Hidden...)
	}
	sizes = append(sizes, c.Outputs)
	shapes := make([][2]int, len(sizes)-1)
	for l := range shapes {
		shapes[l] = [2]int{sizes[l], sizes[l+1]}
	}
	return shapes
}

// ParamsSHA256 is the hex sha256 of θ as little-endian float64s: the
// fingerprint that shows two runs reached the same bits.
func ParamsSHA256(theta []float64) string {
	h := sha256.New()
	var b [8]byte
	for _, v := range theta {
		binary.LittleEndian.PutUint64(b[:], math.Float64bits(v))
		h.Write(b[:])
	}
	return hex.EncodeToString(h.Sum(nil))
}

type tensorInfo struct {
	DType       string   `json:"dtype"`
	Shape       []int    `json:"shape"`
	DataOffsets [2]int64 `json:"data_offsets"`
}

// Encode returns the safetensors bytes of θ described by m.
func Encode(m Meta, theta []float64) ([]byte, error) {
	shapes := LayerShapes(m.Model)
	total := 0
	for _, s := range shapes {
		total += s[0]*s[1] + s[1]
	}
	if total != len(theta) {
		return nil, fmt.Errorf("modelfile: θ has %d values, the model has %d parameters", len(theta), total)
	}
	metaJSON, err := json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("modelfile: %w", err)
	}
	header := map[string]any{"__metadata__": map[string]string{
		"format":        "dptrain",
		"dptrain":       string(metaJSON),
		"task":          m.Task,
		"loss":          m.Loss,
		"features":      strconv.Itoa(m.Features),
		"params_sha256": ParamsSHA256(theta),
	}}
	var off int64
	for l, s := range shapes {
		n := int64(s[0] * s[1])
		header[fmt.Sprintf("layers.%d.weight", l)] = tensorInfo{"F64", []int{s[0], s[1]}, [2]int64{off, off + 8*n}}
		off += 8 * n
		header[fmt.Sprintf("layers.%d.bias", l)] = tensorInfo{"F64", []int{s[1]}, [2]int64{off, off + 8*int64(s[1])}}
		off += 8 * int64(s[1])
	}
	h, err := json.Marshal(header) // map keys are sorted by encoding/json
	if err != nil {
		return nil, fmt.Errorf("modelfile: %w", err)
	}
	for len(h)%8 != 0 {
		h = append(h, ' ')
	}
	out := make([]byte, 8, 8+len(h)+8*len(theta))
	binary.LittleEndian.PutUint64(out, uint64(len(h)))
	out = append(out, h...)
	for _, v := range theta {
		out = binary.LittleEndian.AppendUint64(out, math.Float64bits(v))
	}
	return out, nil
}

// Write writes the model to path atomically (a temporary file renamed).
func Write(path string, m Meta, theta []float64) error {
	b, err := Encode(m, theta)
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return fmt.Errorf("modelfile: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("modelfile: %w", err)
	}
	return nil
}

// Read reads a model file written by Write.
func Read(path string) (Meta, []float64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Meta{}, nil, fmt.Errorf("modelfile: %w", err)
	}
	return Decode(b, path)
}

// Decode parses safetensors bytes; name is used in messages.
func Decode(b []byte, name string) (Meta, []float64, error) {
	fail := func(format string, args ...any) (Meta, []float64, error) {
		return Meta{}, nil, fmt.Errorf("%w %s: %s", ErrFormat, name, fmt.Sprintf(format, args...))
	}
	if len(b) < 8 {
		return fail("%d bytes, shorter than the header length", len(b))
	}
	n := binary.LittleEndian.Uint64(b)
	if n > maxHeader || n > uint64(len(b)-8) {
		return fail("header length %d exceeds the file", n)
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(bytes.TrimRight(b[8:8+n], " "), &raw); err != nil {
		return fail("header: %v", err)
	}
	data := b[8+n:]
	var meta Meta
	var md map[string]string
	if err := json.Unmarshal(raw["__metadata__"], &md); err != nil || md["dptrain"] == "" {
		return fail("no dptrain metadata")
	}
	if err := json.Unmarshal([]byte(md["dptrain"]), &meta); err != nil {
		return fail("metadata: %v", err)
	}
	shapes := LayerShapes(meta.Model)
	var theta []float64
	for l, s := range shapes {
		for _, part := range []struct {
			name  string
			shape []int
		}{{fmt.Sprintf("layers.%d.weight", l), []int{s[0], s[1]}}, {fmt.Sprintf("layers.%d.bias", l), []int{s[1]}}} {
			var ti tensorInfo
			if err := json.Unmarshal(raw[part.name], &ti); err != nil {
				return fail("tensor %s: %v", part.name, err)
			}
			count := 1
			for _, d := range part.shape {
				count *= d
			}
			if ti.DType != "F64" || fmt.Sprint(ti.Shape) != fmt.Sprint(part.shape) ||
				ti.DataOffsets[0] < 0 || ti.DataOffsets[1] > int64(len(data)) || ti.DataOffsets[1]-ti.DataOffsets[0] != int64(8*count) {
				return fail("tensor %s: %s %v %v, expected F64 %v", part.name, ti.DType, ti.Shape, ti.DataOffsets, part.shape)
			}
			for q := ti.DataOffsets[0]; q < ti.DataOffsets[1]; q += 8 {
				theta = append(theta, math.Float64frombits(binary.LittleEndian.Uint64(data[q:])))
			}
		}
	}
	names := make([]string, 0, len(raw))
	for k := range raw {
		names = append(names, k)
	}
	sort.Strings(names)
	if want := 2*len(shapes) + 1; len(names) != want {
		return fail("%d entries %v, expected %d", len(names), names, want)
	}
	return meta, theta, nil
}
