package shard

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"iter"
	"math"
	"strconv"
)

// ReadLIBSVM reads LIBSVM/SVMlight text from r; name is used in messages.
//
// # Rows
//
// Each line is "label idx:value idx:value …". Feature indices are 1-based
// (index k becomes column k−1; index 0 is an error); a row's indices may
// come in any order and are sorted, but an index repeated within a row is
// an error. Values must be finite numbers within float32 range (NaN, Inf
// and overflow are errors naming file:line and the token); they are parsed
// to float64 and rounded to float32. Explicit zeros ("13:0.0") are kept as
// stored entries. "qid:…" tokens are ignored. Blank lines and "#" comments
// (whole-line or trailing) are skipped; rows with no feature are all-zero
// rows. The number of columns is the largest index (or NumFeatures).
//
// # Labels and task
//
// A label is either one number ("+1", "-1", "0", "1.0", "7") or, in
// multi-label files, a comma-separated list of 0-based label ids ("3,17");
// a line whose first token is already "idx:value" has an empty label list.
// With Task 0 the task is inferred:
//
//   - any comma-separated or empty label list (or NumLabels > 0) makes the
//     file Multilabel: K = NumLabels if given, else the largest id + 1;
//     Y is the 0/1 indicator matrix and Classes are "0" … "K−1";
//   - else exactly two distinct label values make it Binary: the larger
//     value is positive (y = 1), Classes = [negative text, positive text];
//   - else Multiclass: the distinct values sorted numerically are the
//     classes 0 … K−1 and Y is one-hot.
//
// Labels are compared by value, so "1" and "1.0" are the same class. A
// test file should pass the training Task and Classes (see ReadOptions).
func ReadLIBSVM(r io.Reader, name string, opt ReadOptions) (*Dataset, LoadStats, error) {
	b := newBuilder(name, &opt)
	if opt.Storage == StorageDense && opt.NumFeatures > 0 {
		// Every index is checked against NumFeatures as it is parsed, and
		// the file has no missing cells: rows can go dense as they come.
		b.sinkDense(opt.NumFeatures, opt.RowsHint)
	}
	lr := newLineReader(r)
	multiReason := ""
	for {
		line, lineNo, err := lr.next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, b.stats, fmt.Errorf("shard: %s: %w", name, err)
		}
		if i := bytes.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		if isBlank(line) {
			continue
		}
		b.begin()
		label, multi, perr := parseLIBSVMRow(b, line, lineNo)
		if perr == nil {
			if dup := b.sortRow(); dup >= 0 {
				perr = &ParseError{File: name, Line: lineNo, Field: "feature index", Token: strconv.Itoa(int(dup) + 1),
					Expected: "each index at most once per row"}
			}
		}
		if perr != nil {
			if err := b.reject(perr); err != nil {
				return nil, b.stats, err
			}
			continue
		}
		if multi && multiReason == "" {
			if len(label) == 0 {
				multiReason = fmt.Sprintf("line %d has an empty label list", lineNo)
			} else {
				multiReason = fmt.Sprintf("line %d has the label list %q", lineNo, label)
			}
		}
		b.commit(lineNo, label)
		b.sinkAuto()
		b.reserveInput(lr.bytes)
	}
	lab, err := b.resolveLabels(multiReason, true)
	if err != nil {
		return nil, b.stats, err
	}
	cols := b.cols
	if opt.NumFeatures > 0 {
		cols = opt.NumFeatures
	}
	return b.finish(cols, lab)
}

// parseLIBSVMRow parses one non-blank, comment-free line into the open row
// of b and returns its label text and whether it is a multi-label row.
func parseLIBSVMRow(b *builder, line []byte, lineNo int) (label []byte, multi bool, perr *ParseError) {
	pos := skipSpace(line, 0)
	end := nextSpace(line, pos)
	if first := line[pos:end]; bytes.IndexByte(first, ':') < 0 {
		label, pos = first, end
		multi = bytes.IndexByte(first, ',') >= 0
	} else {
		multi = true // the line starts with a feature: empty label list
	}
	for {
		pos = skipSpace(line, pos)
		if pos == len(line) {
			return label, multi, nil
		}
		end = nextSpace(line, pos)
		tok := line[pos:end]
		pos = end
		colon := bytes.IndexByte(tok, ':')
		if colon < 0 {
			return nil, false, &ParseError{File: b.name, Line: lineNo, Field: "feature", Token: string(tok), Expected: "index:value"}
		}
		key, val := tok[:colon], tok[colon+1:]
		if string(key) == "qid" {
			continue
		}
		idx, ok := parseIndex(key)
		switch {
		case !ok:
			return nil, false, &ParseError{File: b.name, Line: lineNo, Field: "feature index", Token: string(key),
				Expected: "a 1-based integer index"}
		case idx == 0:
			return nil, false, &ParseError{File: b.name, Line: lineNo, Field: "feature index", Token: string(key),
				Expected: "a 1-based index ≥ 1"}
		case b.opt.NumFeatures > 0 && idx > b.opt.NumFeatures:
			return nil, false, &ParseError{File: b.name, Line: lineNo, Field: "feature index", Token: string(key),
				Expected: fmt.Sprintf("an index ≤ NumFeatures = %d", b.opt.NumFeatures)}
		}
		v, err := strconv.ParseFloat(string(val), 64)
		if err != nil && !errors.Is(err, strconv.ErrRange) {
			return nil, false, &ParseError{File: b.name, Line: lineNo, Field: "feature value", Token: string(tok), Expected: "a number"}
		}
		if perr := b.checkValue(v, lineNo, 0, tok); perr != nil {
			return nil, false, perr
		}
		b.add(int32(idx-1), float32(v))
	}
}

// lineReader yields the lines of a stream without their terminator ("\n"
// or "\r\n"), with 1-based line numbers. The returned slice is valid until
// the next call.
type lineReader struct {
	br    *bufio.Reader
	long  []byte // accumulates lines longer than the buffer
	n     int
	bytes int64 // consumed, terminators included
}

func newLineReader(r io.Reader) *lineReader {
	br, ok := r.(*bufio.Reader)
	if !ok || br.Size() < readBufferSize {
		br = bufio.NewReaderSize(r, readBufferSize)
	}
	return &lineReader{br: br}
}

// next returns the next line, or io.EOF after the last one.
func (lr *lineReader) next() ([]byte, int, error) {
	line, err := lr.br.ReadSlice('\n')
	if errors.Is(err, bufio.ErrBufferFull) {
		lr.long = append(lr.long[:0], line...)
		for errors.Is(err, bufio.ErrBufferFull) {
			line, err = lr.br.ReadSlice('\n')
			lr.long = append(lr.long, line...)
		}
		line = lr.long
	}
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, lr.n, err
	}
	if len(line) == 0 && err != nil {
		return nil, lr.n, io.EOF
	}
	lr.n++
	lr.bytes += int64(len(line))
	line = bytes.TrimSuffix(line, []byte{'\n'})
	line = bytes.TrimSuffix(line, []byte{'\r'})
	return line, lr.n, nil
}

// isSpace reports whether c separates tokens.
func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f' }

// isBlank reports whether line holds only separators.
func isBlank(line []byte) bool { return skipSpace(line, 0) == len(line) }

// skipSpace returns the first position ≥ i that is not a separator.
func skipSpace(line []byte, i int) int {
	for i < len(line) && isSpace(line[i]) {
		i++
	}
	return i
}

// nextSpace returns the first position ≥ i that is a separator.
func nextSpace(line []byte, i int) int {
	for i < len(line) && !isSpace(line[i]) {
		i++
	}
	return i
}

// parseIndex parses a non-empty run of decimal digits no larger than
// math.MaxInt32.
func parseIndex(s []byte) (int, bool) {
	if len(s) == 0 {
		return 0, false
	}
	n := 0
	for _, c := range s {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
		if n > math.MaxInt32 {
			return 0, false
		}
	}
	return n, true
}

// splitByte yields the parts of s between separators sep.
func splitByte(s []byte, sep byte) iter.Seq[[]byte] {
	return func(yield func([]byte) bool) {
		for {
			i := bytes.IndexByte(s, sep)
			if i < 0 {
				yield(s)
				return
			}
			if !yield(s[:i]) {
				return
			}
			s = s[i+1:]
		}
	}
}
