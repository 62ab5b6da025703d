package shard

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// HeaderMode says whether a CSV file starts with a header line.
type HeaderMode int

const (
	// HeaderAuto treats the first line as a header when some field of it is
	// not a number (nor a missing marker) while the same field of the second
	// line is one. A file whose first two lines are both non-numeric (say,
	// categorical data) is therefore read as having no header.
	HeaderAuto HeaderMode = iota
	// HeaderYes: the first line names the columns.
	HeaderYes
	// HeaderNo: every line is data.
	HeaderNo
)

// MissingPolicy says what a reader does with a missing value: "?" or an
// empty field in CSV, "?" in ARFF. A missing label is always an error.
type MissingPolicy int

const (
	// MissingError rejects the row with a ParseError naming file:line:column
	// (or skips it, counted, under SkipBad). This is the default.
	MissingError MissingPolicy = iota
	// MissingZero stores 0.
	MissingZero
	// MissingMean stores the column mean: ReadOptions.ColumnMeans when given
	// (a test file takes the training means), else the mean of the column's
	// present values in this file. The means used are returned in
	// LoadStats.ColumnMeans so the caller can record them with the model.
	MissingMean
)

// ParseMissingPolicy parses "error", "zero" or "mean".
func ParseMissingPolicy(s string) (MissingPolicy, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "", "error":
		return MissingError, nil
	case "zero":
		return MissingZero, nil
	case "mean":
		return MissingMean, nil
	}
	return MissingError, fmt.Errorf("shard: unknown missing-value policy %q: expected error, zero or mean", s)
}

// String returns the name ParseMissingPolicy accepts.
func (p MissingPolicy) String() string {
	switch p {
	case MissingError:
		return "error"
	case MissingZero:
		return "zero"
	case MissingMean:
		return "mean"
	}
	return "MissingPolicy(" + strconv.Itoa(int(p)) + ")"
}

// Storage chooses how the feature matrix is held.
type Storage int

const (
	// StorageAuto stores the matrix dense when at least a quarter of its
	// cells are stored entries (nnz ≥ Rows·Cols/4, explicit zeros counted),
	// else CSR. A dense float32 cell costs 4 bytes and a CSR entry 8, so at
	// that density dense is at most twice as large and much faster to
	// multiply; below it CSR wins on both counts.
	StorageAuto Storage = iota
	// StorageDense forces dense row-major storage.
	StorageDense
	// StorageSparse forces CSR storage.
	StorageSparse
)

// maxDenseCells bounds a forced dense matrix (16 GiB of float32).
const maxDenseCells = 1 << 32

// ReadOptions configure every reader. The zero value reads any supported
// file with everything inferred and every problem reported as an error.
type ReadOptions struct {
	// Format of the input; FormatAuto detects it (see DetectFormat).
	Format Format
	// Task of the problem; 0 infers it (see ReadLIBSVM for the rules).
	// A test file should be read with the training Task and Classes.
	Task Task
	// Classes, when set, is the label mapping to use instead of inferring
	// one, normally the training set's Dataset.Classes when reading a test
	// file. For Binary and Multiclass a label is matched by numeric value
	// when both it and the class parse as numbers ("1" matches "1.0"), else
	// by text; a label not in Classes is an error naming file:line and the
	// label. For Multilabel, K = len(Classes) and label ids must be < K.
	Classes []string
	// NumFeatures, when > 0, fixes the number of columns: a feature beyond
	// it is an error. 0 means "as many as the file uses".
	NumFeatures int
	// Storage chooses dense or CSR storage (default: by density).
	Storage Storage
	// RowsHint, when > 0, is the number of rows expected (a reader that
	// knows the width of dense storage in advance, LIBSVM with
	// StorageDense and NumFeatures, reserves that many rows at once and
	// stores rows dense as it reads them, so that the file is never held
	// as CSR and a grown copy; more rows than the hint are still read).
	// Without it, LIBSVM input whose first rows are dense goes dense as it
	// is read too, with the result of reading it as CSR first.
	RowsHint int
	// SkipBad skips malformed rows instead of failing. Skipped rows are
	// counted in LoadStats.SkippedRows and the first few are described in
	// LoadStats.SkippedSamples; nothing is ever skipped silently.
	SkipBad bool

	// inputSize, when > 0, is the size in bytes of the input, which Load
	// reads off an uncompressed file: the text readers then reserve room
	// for all of its rows at once (builder.reserveInput).
	inputSize int64
	// sinkAutoRows, when > 0, replaces sinkAutoRows (for tests).
	sinkAutoRows int

	// NumLabels is the number of labels K of a multi-label LIBSVM file
	// when known (a label id ≥ NumLabels is an error); 0 infers K as the
	// largest label id + 1. NumLabels > 0 also implies Multilabel when
	// Task is 0.
	NumLabels int

	// LabelColumn selects the CSV label column by header name or by 0-based
	// index (a negative index counts from the end: "-1" is the last
	// column). The default is the header column named class, label, target
	// or y (case-insensitive) if there is one, else the last column. Files
	// with the label first (LightGBM's higgs TSV) need LabelColumn "0".
	LabelColumn string
	// Header says whether a CSV file has a header line (default: detect).
	Header HeaderMode
	// Delimiter of CSV fields: 0 detects it from the first line (tab if it
	// has one, else comma if it has one, else runs of spaces); ' ' means
	// runs of spaces and tabs.
	Delimiter rune
	// Missing is the policy for missing feature values in CSV and ARFF.
	Missing MissingPolicy
	// ColumnMeans are the fill values for MissingMean, indexed by feature
	// column; nil computes them from the file itself.
	ColumnMeans []float64

	// Labels, for ARFF, says the last Labels attributes are the labels.
	Labels int
	// LabelNames, for ARFF, names the label attributes (as in a MULAN
	// .xml file); their order is the order of the label columns of Y. Load
	// also accepts a single existing "….xml" path here, read as LabelsXML.
	LabelNames []string
	// LabelsXML, for ARFF, is a MULAN labels .xml file giving LabelNames.
	// When none of Labels, LabelNames and LabelsXML is set, Load looks for
	// the MULAN sibling file (scene-train.arff → scene.xml), and failing
	// that takes the last attribute as a Weka class attribute.
	LabelsXML string
}

// maxSkippedSamples is how many skipped-row descriptions LoadStats keeps.
const maxSkippedSamples = 10

// LoadStats describes what a reader did.
type LoadStats struct {
	// Rows is the number of rows kept.
	Rows int
	// SkippedRows counts rows skipped under SkipBad.
	SkippedRows int
	// SkippedSamples describes the first few skipped rows (file:line: why).
	SkippedSamples []string
	// Sparse reports CSR storage.
	Sparse bool
	// NNZ is the number of stored entries read (explicit zeros included).
	NNZ int64
	// MissingFilled counts missing values filled under MissingZero or
	// MissingMean.
	MissingFilled int
	// ColumnMeans are the fill values used under MissingMean.
	ColumnMeans []float64
}

// Load reads the dataset at path. The format comes from opt.Format or is
// detected (DetectFormat, then the content for LIBSVM-looking names). gzip
// and bzip2 compression is undone transparently, recognised by magic bytes.
// For IDX, path names the images file; the labels file is found by the
// standard naming (train-images-idx3-ubyte.gz → train-labels-idx1-ubyte.gz).
func Load(path string, opt ReadOptions) (*Dataset, LoadStats, error) {
	format := opt.Format
	if format == FormatAuto {
		format = DetectFormat(path)
	}
	if format == IDX {
		return loadIDX(path, opt)
	}
	if format == ARFF {
		var err error
		if opt, err = arffLabelOptions(path, opt); err != nil {
			return nil, LoadStats{}, err
		}
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, LoadStats{}, fmt.Errorf("shard: open: %w", err)
	}
	defer f.Close() // read-only: a close error cannot lose data
	if fi, err := f.Stat(); err == nil && fi.Mode().IsRegular() {
		opt.inputSize = fi.Size()
	}
	d, st, err := readAny(f, path, opt, format)
	if err != nil {
		return nil, st, err
	}
	return d, st, nil
}

// Read reads a dataset from r, named name in messages and for format
// detection. Compression is undone as in Load. IDX needs two streams: use
// ReadIDX.
func Read(r io.Reader, name string, opt ReadOptions) (*Dataset, LoadStats, error) {
	format := opt.Format
	if format == FormatAuto {
		format = DetectFormat(name)
	}
	if format == IDX {
		return nil, LoadStats{}, errors.New("shard: IDX data needs an images and a labels stream: use ReadIDX")
	}
	return readAny(r, name, opt, format)
}

// readAny decompresses r, refines a name-based LIBSVM guess by sniffing
// when the caller asked for detection, and dispatches.
func readAny(r io.Reader, name string, opt ReadOptions, format Format) (*Dataset, LoadStats, error) {
	br, closeZ, plain, err := decompress(r)
	if err != nil {
		return nil, LoadStats{}, fmt.Errorf("shard: %s: %w", name, err)
	}
	if !plain {
		opt.inputSize = 0 // it was the size of the compressed stream
	}
	if opt.Format == FormatAuto && format == LIBSVM {
		format = sniffFormat(br)
	}
	var (
		d  *Dataset
		st LoadStats
	)
	switch format {
	case LIBSVM:
		d, st, err = ReadLIBSVM(br, name, opt)
	case CSV:
		d, st, err = ReadCSV(br, name, opt)
	case ARFF:
		d, st, err = ReadARFF(br, name, opt)
	default:
		err = fmt.Errorf("shard: %s: format %v cannot be read from one stream", name, format)
	}
	if cerr := closeZ(); err == nil && cerr != nil {
		err = fmt.Errorf("shard: %s: %w", name, cerr)
	}
	if err != nil {
		return nil, st, err
	}
	return d, st, nil
}

// arffLabelOptions resolves LabelsXML, or the MULAN sibling .xml when no
// label specification is given, into LabelNames.
func arffLabelOptions(path string, opt ReadOptions) (ReadOptions, error) {
	xmlPath := opt.LabelsXML
	if xmlPath == "" && len(opt.LabelNames) == 1 && strings.HasSuffix(strings.ToLower(opt.LabelNames[0]), ".xml") {
		if fi, err := os.Stat(opt.LabelNames[0]); err == nil && fi.Mode().IsRegular() {
			xmlPath = opt.LabelNames[0] // a path given where names were expected
		}
	}
	if xmlPath == "" && opt.Labels == 0 && len(opt.LabelNames) == 0 {
		xmlPath = mulanSibling(path)
	}
	if xmlPath == "" {
		return opt, nil
	}
	f, err := os.Open(xmlPath)
	if err != nil {
		return opt, fmt.Errorf("shard: labels xml: %w", err)
	}
	defer f.Close() // read-only
	names, err := ReadMULANLabels(f)
	if err != nil {
		return opt, fmt.Errorf("shard: %s: %w", xmlPath, err)
	}
	opt.LabelNames = names
	return opt, nil
}

// mulanSibling returns the MULAN label file next to an ARFF file
// (dir/scene-train.arff → dir/scene.xml) if it exists, else "".
func mulanSibling(path string) string {
	dir, base := filepath.Split(stripCompression(path))
	stem := strings.TrimSuffix(base, filepath.Ext(base))
	for _, suffix := range []string{"-train", "-test", "_train", "_test", ".train", ".test"} {
		if s, ok := strings.CutSuffix(stem, suffix); ok {
			stem = s
			break
		}
	}
	cand := filepath.Join(dir, stem+".xml")
	if fi, err := os.Stat(cand); err == nil && fi.Mode().IsRegular() {
		return cand
	}
	return ""
}
