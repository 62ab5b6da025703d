package shard

import (
	"bufio"
	"bytes"
	"compress/bzip2"
	"compress/gzip"
	"fmt"
	"io"
	"path/filepath"
	"strings"
)

// Format is an on-disk dataset format.
type Format int

const (
	// FormatAuto detects the format from the file name and, failing that,
	// from the first data line (see DetectFormat).
	FormatAuto Format = iota
	// LIBSVM is the LIBSVM/SVMlight sparse text format, including the
	// multi-label variant "l1,l2 idx:val …".
	LIBSVM
	// CSV is delimiter-separated text (comma, tab or whitespace).
	CSV
	// ARFF is Weka's format as used by MULAN, dense or sparse.
	ARFF
	// IDX is the MNIST big-endian binary format (images + labels files).
	IDX
)

// String returns the name ParseFormat accepts.
func (f Format) String() string {
	switch f {
	case FormatAuto:
		return "auto"
	case LIBSVM:
		return "libsvm"
	case CSV:
		return "csv"
	case ARFF:
		return "arff"
	case IDX:
		return "idx"
	}
	return fmt.Sprintf("Format(%d)", int(f))
}

// ParseFormat parses a format name: "auto" or "", "libsvm" or "svmlight",
// "csv" or "tsv", "arff", "idx" (case-insensitive).
func ParseFormat(s string) (Format, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "", "auto":
		return FormatAuto, nil
	case "libsvm", "svmlight", "svm":
		return LIBSVM, nil
	case "csv", "tsv":
		return CSV, nil
	case "arff":
		return ARFF, nil
	case "idx", "mnist":
		return IDX, nil
	}
	return FormatAuto, fmt.Errorf("shard: unknown format %q: expected libsvm, csv, arff, idx or auto", s)
}

// stripCompression removes a trailing .gz or .bz2 from a file name.
func stripCompression(name string) string {
	lower := strings.ToLower(name)
	for _, ext := range []string{".gz", ".bz2"} {
		if strings.HasSuffix(lower, ext) {
			return name[:len(name)-len(ext)]
		}
	}
	return name
}

// DetectFormat guesses a format from a file name alone, after removing a
// .gz or .bz2 suffix: *.arff is ARFF; *idx1-ubyte and *idx3-ubyte are IDX;
// *.csv, *.tsv and *.data are CSV; anything else is LIBSVM. Load refines the
// last case by looking at the content (see sniffFormat), because LIBSVM
// files have no conventional extension and neither do some TSV files.
func DetectFormat(name string) Format {
	base := strings.ToLower(filepath.Base(stripCompression(name)))
	switch {
	case strings.HasSuffix(base, ".arff"):
		return ARFF
	case strings.HasSuffix(base, "-ubyte") && strings.Contains(base, "idx"):
		return IDX
	case strings.HasSuffix(base, ".csv"), strings.HasSuffix(base, ".tsv"), strings.HasSuffix(base, ".data"):
		return CSV
	}
	return LIBSVM
}

// sniffLimit is how many bytes of content sniffFormat may look at.
const sniffLimit = 64 << 10

// sniffFormat inspects the first line that is neither blank nor a comment:
// "@relation" means ARFF; a line with no "idx:val" token but a tab or a
// comma means CSV; anything else LIBSVM. It never consumes input.
func sniffFormat(br *bufio.Reader) Format {
	head, _ := br.Peek(sniffLimit) // a short read just means a short file
	for len(head) > 0 {
		line := head
		if i := bytes.IndexByte(head, '\n'); i >= 0 {
			line, head = head[:i], head[i+1:]
		} else {
			head = nil
		}
		line = bytes.TrimSpace(line)
		if len(line) == 0 || line[0] == '#' || line[0] == '%' {
			continue
		}
		if len(line) >= 9 && strings.EqualFold(string(line[:9]), "@relation") {
			return ARFF
		}
		if bytes.IndexByte(line, ':') < 0 && bytes.ContainsAny(line, "\t,") {
			return CSV
		}
		return LIBSVM
	}
	return LIBSVM
}

// readBufferSize is the bufio buffer size of every text reader.
const readBufferSize = 1 << 20

// decompress returns a reader of the decompressed content of r. gzip
// (magic 1f 8b) and bzip2 (magic "BZh1".."BZh9") are recognised by their
// magic bytes, whatever the file name; anything else passes through. The
// returned closer releases the decompressor (the caller still closes r);
// plain reports that r passes through.
func decompress(r io.Reader) (br *bufio.Reader, closeZ func() error, plain bool, err error) {
	br = bufio.NewReaderSize(r, readBufferSize)
	magic, _ := br.Peek(4) // a short read just means a short input
	switch {
	case len(magic) >= 2 && magic[0] == 0x1f && magic[1] == 0x8b:
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, nil, false, fmt.Errorf("shard: gzip: %w", err)
		}
		return bufio.NewReaderSize(zr, readBufferSize), zr.Close, false, nil
	case len(magic) == 4 && magic[0] == 'B' && magic[1] == 'Z' && magic[2] == 'h' && magic[3] >= '1' && magic[3] <= '9':
		return bufio.NewReaderSize(bzip2.NewReader(br), readBufferSize), func() error { return nil }, false, nil
	}
	return br, func() error { return nil }, true, nil
}
