package shard

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// ReadCSV reads delimiter-separated text from r; name is used in messages.
//
// Every row has the same number of fields; one of them is the label (see
// ReadOptions.LabelColumn: by default a header column named class, label,
// target or y, else the last column) and the others are the features, in
// file order. The delimiter (comma, tab or runs of spaces) and the header
// line are detected unless given. Fields may be double-quoted ("" escapes
// a quote; a field cannot span lines). Blank lines are skipped.
//
// A feature field that is empty or "?" is missing and handled by
// ReadOptions.Missing: by default an error naming file:line:column (the
// column being the 1-based field number); MissingZero stores 0 and
// MissingMean the column mean (given, or computed over this file's
// present values and returned in LoadStats.ColumnMeans). Values must be
// finite numbers within float32 range. Every cell is a stored entry, so
// CSV data is stored dense under StorageAuto.
//
// Labels may be numbers or text; classes are inferred as in ReadLIBSVM
// (numeric order when all labels are numbers, else lexical order).
func ReadCSV(r io.Reader, name string, opt ReadOptions) (*Dataset, LoadStats, error) {
	b := newBuilder(name, &opt)
	lr := newLineReader(r)
	c := csvReader{name: name, opt: &opt}

	// The first two non-blank lines decide the delimiter and the header.
	var head [2][]byte
	var headNo [2]int
	nHead := 0
	for nHead < 2 {
		line, lineNo, err := lr.next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, b.stats, fmt.Errorf("shard: %s: %w", name, err)
		}
		if isBlank(line) {
			continue
		}
		head[nHead], headNo[nHead] = bytes.Clone(line), lineNo
		nHead++
	}
	if nHead == 0 {
		return nil, b.stats, fmt.Errorf("%w in %s", ErrNoData, name)
	}
	c.delim = byte(opt.Delimiter)
	if opt.Delimiter == 0 {
		switch {
		case bytes.IndexByte(head[0], '\t') >= 0:
			c.delim = '\t'
		case bytes.IndexByte(head[0], ',') >= 0:
			c.delim = ','
		default:
			c.delim = ' '
		}
	} else if opt.Delimiter > 0x7f {
		return nil, b.stats, fmt.Errorf("shard: %s: delimiter %q: expected an ASCII character", name, opt.Delimiter)
	}
	first, perr := c.split(head[0], headNo[0], nil)
	if perr != nil {
		return nil, b.stats, perr
	}
	first = cloneFields(first)
	c.nf = len(first)
	hasHeader := opt.Header == HeaderYes
	if opt.Header == HeaderAuto && nHead == 2 {
		second, perr := c.split(head[1], headNo[1], nil)
		if perr == nil {
			hasHeader = looksLikeHeader(first, second)
		}
	}
	var names []string
	if hasHeader {
		names = make([]string, len(first))
		for j, f := range first {
			names[j] = string(f)
		}
	}
	var err error
	if c.labelCol, err = labelColumn(name, opt.LabelColumn, names, c.nf); err != nil {
		return nil, b.stats, err
	}
	if opt.NumFeatures > 0 && opt.NumFeatures != c.nf-1 {
		return nil, b.stats, fmt.Errorf("shard: %s: %d feature columns, expected NumFeatures = %d", name, c.nf-1, opt.NumFeatures)
	}

	var fields [][]byte
	row := func(line []byte, lineNo int) error {
		b.begin()
		var label []byte
		fields, perr = c.split(line, lineNo, fields[:0])
		if perr == nil {
			label, perr = c.row(b, fields, lineNo)
		}
		if perr != nil {
			return b.reject(perr)
		}
		b.commit(lineNo, label)
		b.reserveInput(lr.bytes)
		return nil
	}
	for i := range nHead {
		if i == 0 && hasHeader {
			continue
		}
		if err := row(head[i], headNo[i]); err != nil {
			return nil, b.stats, err
		}
	}
	for {
		line, lineNo, err := lr.next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, b.stats, fmt.Errorf("shard: %s: %w", name, err)
		}
		if isBlank(line) {
			continue
		}
		if err := row(line, lineNo); err != nil {
			return nil, b.stats, err
		}
	}
	lab, err := b.resolveLabels("", false)
	if err != nil {
		return nil, b.stats, err
	}
	return b.finish(c.nf-1, lab)
}

// csvReader holds the layout of one CSV input.
type csvReader struct {
	name     string
	opt      *ReadOptions
	delim    byte // ' ' means runs of spaces and tabs
	nf       int  // fields per row
	labelCol int
}

// row stores the features of one split row in b and returns its label.
func (c *csvReader) row(b *builder, fields [][]byte, lineNo int) ([]byte, *ParseError) {
	if len(fields) != c.nf {
		return nil, &ParseError{File: c.name, Line: lineNo, Expected: fmt.Sprintf("%d fields, found %d", c.nf, len(fields))}
	}
	var label []byte
	for j, f := range fields {
		if j == c.labelCol {
			if isMissing(f) {
				return nil, &ParseError{File: c.name, Line: lineNo, Column: j + 1, Field: "label", Token: string(f),
					Expected: "a label (labels cannot be missing)"}
			}
			label = f
			continue
		}
		col := int32(j)
		if j > c.labelCol {
			col--
		}
		if isMissing(f) {
			if c.opt.Missing == MissingError {
				return nil, &ParseError{File: c.name, Line: lineNo, Column: j + 1, Field: "value", Token: string(f),
					Expected: "a number (the value is missing: choose the zero or mean missing-value policy to fill it)"}
			}
			b.addMissing(col)
			continue
		}
		v, err := strconv.ParseFloat(string(f), 64)
		if err != nil && !errors.Is(err, strconv.ErrRange) {
			return nil, &ParseError{File: c.name, Line: lineNo, Column: j + 1, Field: "value", Token: string(f), Expected: "a number"}
		}
		if perr := b.checkValue(v, lineNo, j+1, f); perr != nil {
			return nil, perr
		}
		b.add(col, float32(v))
	}
	return label, nil
}

// isMissing reports whether a field marks a missing value.
func isMissing(f []byte) bool { return len(f) == 0 || (len(f) == 1 && f[0] == '?') }

// split appends the fields of line to dst. Fields are trimmed of spaces;
// a double-quoted field loses its quotes ("" inside stands for ").
func (c *csvReader) split(line []byte, lineNo int, dst [][]byte) ([][]byte, *ParseError) {
	if c.delim == ' ' {
		for pos := skipSpace(line, 0); pos < len(line); pos = skipSpace(line, pos) {
			end := nextSpace(line, pos)
			dst = append(dst, line[pos:end])
			pos = end
		}
		return dst, nil
	}
	pos := 0
	for {
		pos = skipSpace(line, pos)
		if pos < len(line) && line[pos] == '"' {
			f, end, ok := unquote(line, pos)
			if !ok {
				return nil, &ParseError{File: c.name, Line: lineNo, Column: len(dst) + 1, Field: "field", Token: string(line[pos:]),
					Expected: "a closing double quote"}
			}
			dst = append(dst, f)
			pos = skipSpace(line, end)
			if pos == len(line) {
				return dst, nil
			}
			if line[pos] != c.delim {
				return nil, &ParseError{File: c.name, Line: lineNo, Column: len(dst), Field: "field", Token: string(line[pos:]),
					Expected: fmt.Sprintf("a delimiter %q after a quoted field", c.delim)}
			}
			pos++
			continue
		}
		i := bytes.IndexByte(line[pos:], c.delim)
		if i < 0 {
			dst = append(dst, bytes.TrimRight(line[pos:], " \t\r\v\f"))
			return dst, nil
		}
		dst = append(dst, bytes.TrimRight(line[pos:pos+i], " \t\r\v\f"))
		pos += i + 1
	}
}

// unquote reads the quoted field starting at line[pos] == '"' and returns
// its content and the position after the closing quote.
func unquote(line []byte, pos int) (field []byte, end int, ok bool) {
	var out []byte // allocated only when the field contains ""
	start := pos + 1
	for i := start; i < len(line); i++ {
		if line[i] != '"' {
			continue
		}
		if i+1 < len(line) && line[i+1] == '"' {
			out = append(out, line[start:i+1]...)
			i++
			start = i + 1
			continue
		}
		if out == nil {
			return line[pos+1 : i], i + 1, true
		}
		return append(out, line[start:i]...), i + 1, true
	}
	return nil, 0, false
}

func cloneFields(fs [][]byte) [][]byte {
	out := make([][]byte, len(fs))
	for i, f := range fs {
		out[i] = bytes.Clone(f)
	}
	return out
}

// isNumber reports whether f parses as a number.
func isNumber(f []byte) bool {
	_, err := strconv.ParseFloat(string(f), 64)
	return err == nil || errors.Is(err, strconv.ErrRange)
}

// looksLikeHeader implements HeaderAuto: some field of the first line is
// neither a number nor missing while the same field of the second is.
func looksLikeHeader(first, second [][]byte) bool {
	if len(first) != len(second) {
		return false
	}
	for j := range first {
		if !isMissing(first[j]) && !isNumber(first[j]) && (isMissing(second[j]) || isNumber(second[j])) {
			return true
		}
	}
	return false
}

// labelColumn resolves ReadOptions.LabelColumn against the header names
// (nil without a header) for rows of nf fields.
func labelColumn(file, spec string, names []string, nf int) (int, error) {
	if nf < 1 {
		return 0, fmt.Errorf("shard: %s: no fields", file)
	}
	spec = strings.TrimSpace(spec)
	if spec == "" {
		for j, n := range names {
			switch strings.ToLower(strings.TrimSpace(n)) {
			case "class", "label", "target", "y":
				return j, nil
			}
		}
		return nf - 1, nil
	}
	for j, n := range names {
		if n == spec {
			return j, nil
		}
	}
	for j, n := range names {
		if strings.EqualFold(n, spec) {
			return j, nil
		}
	}
	if j, err := strconv.Atoi(spec); err == nil {
		if j < 0 {
			j += nf
		}
		if j >= 0 && j < nf {
			return j, nil
		}
		return 0, fmt.Errorf("shard: %s: label column %q: expected an index in 0..%d (or -%d..-1)", file, spec, nf-1, nf)
	}
	if names == nil {
		return 0, fmt.Errorf("shard: %s: label column %q: the file has no header, expected a 0-based column index", file, spec)
	}
	return 0, fmt.Errorf("shard: %s: label column %q: no such column in the header", file, spec)
}
