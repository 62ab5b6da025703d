package shard

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
)

// ReadARFF reads Weka ARFF as used by MULAN from r; name is used in
// messages.
//
// The header declares attributes ("@attribute name type", keywords in any
// case, names optionally quoted with ' or ", "%" comments). Supported
// types are numeric, real and integer, and nominal sets. Rows are dense
// (comma-separated, one value per attribute) or sparse ("{i v, j w}" with
// 0-based attribute ids; omitted values are 0).
//
// The label attributes are, in order of precedence, those named by
// ReadOptions.LabelNames (Y columns in that order, as in a MULAN .xml
// file), or the last ReadOptions.Labels attributes; the task is then
// Multilabel and each label attribute must be nominal {0,1} or numeric
// with values in [0, 1]. With neither, the last attribute is a Weka class
// attribute and the task is Binary or Multiclass, the classes being its
// nominal values in declaration order (or inferred as in ReadLIBSVM when
// it is numeric). Every other attribute is a feature, in file order, and
// must be numeric or nominal {0,1}: other nominal features are an error.
// A "?" feature value follows ReadOptions.Missing (MissingMean only for
// dense rows); a missing label is an error.
func ReadARFF(r io.Reader, name string, opt ReadOptions) (*Dataset, LoadStats, error) {
	b := newBuilder(name, &opt)
	lr := newLineReader(r)
	a := arffReader{name: name, opt: &opt}
	if err := a.header(lr); err != nil {
		return nil, b.stats, err
	}
	if err := a.assignRoles(); err != nil {
		return nil, b.stats, err
	}
	var cells [][]byte
	for {
		line, lineNo, err := lr.next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, b.stats, fmt.Errorf("shard: %s: %w", name, err)
		}
		line = bytes.TrimSpace(line)
		if len(line) == 0 || line[0] == '%' {
			continue
		}
		b.begin()
		yStart := len(b.y)
		b.y = append(b.y, make([]float32, a.k)...)
		var label []byte
		var perr *ParseError
		if line[0] == '{' {
			label, perr = a.sparseRow(b, line, lineNo)
		} else {
			cells, perr = a.splitDense(line, lineNo, cells[:0])
			if perr == nil {
				label, perr = a.denseRow(b, cells, lineNo)
			}
		}
		if perr == nil {
			if dup := b.sortRow(); dup >= 0 {
				perr = &ParseError{File: name, Line: lineNo, Field: "attribute", Token: strconv.Itoa(a.featAttr[dup]),
					Expected: "each attribute at most once per row"}
			}
		}
		if perr != nil {
			b.y = b.y[:yStart]
			if err := b.reject(perr); err != nil {
				return nil, b.stats, err
			}
			continue
		}
		b.commit(lineNo, label)
		b.reserveInput(lr.bytes)
	}
	var lab labels
	if a.classAttr >= 0 {
		if opt.Classes == nil && a.attrs[a.classAttr].nominal != nil {
			opt.Classes = a.attrs[a.classAttr].nominal
		}
		var err error
		if lab, err = b.resolveLabels("", false); err != nil {
			return nil, b.stats, err
		}
	} else {
		if b.rows() == 0 {
			return nil, b.stats, fmt.Errorf("%w in %s", ErrNoData, name)
		}
		classes := make([]string, a.k)
		for l, at := range a.labelAttr {
			classes[l] = a.attrs[at].name
		}
		lab = labels{task: Multilabel, k: a.k, classes: classes, y: b.y}
	}
	if opt.NumFeatures > 0 && opt.NumFeatures != len(a.featAttr) {
		return nil, b.stats, fmt.Errorf("shard: %s: %d feature attributes, expected NumFeatures = %d", name, len(a.featAttr), opt.NumFeatures)
	}
	return b.finish(len(a.featAttr), lab)
}

// arffAttr is one declared attribute.
type arffAttr struct {
	name    string
	line    int
	numeric bool
	nominal []string // nominal values, nil unless nominal
	other   string   // unsupported type, for messages
}

// isBinaryNominal reports whether the attribute is nominal {0,1}.
func (at *arffAttr) isBinaryNominal() bool {
	return len(at.nominal) == 2 && at.nominal[0] == "0" && at.nominal[1] == "1"
}

// arffReader holds the layout of one ARFF input.
type arffReader struct {
	name  string
	opt   *ReadOptions
	attrs []arffAttr

	// role[a] ≥ 0 is the feature column of attribute a; −1−l marks label
	// l; roleClass marks the class attribute.
	role      []int
	featAttr  []int // attribute of each feature column
	labelAttr []int // attribute of each label column
	k         int   // number of label columns of Y (0 with a class attribute)
	classAttr int   // the class attribute, or −1
}

const roleClass = int(-1 << 31)

// header reads up to and including "@data".
func (a *arffReader) header(lr *lineReader) error {
	for {
		line, lineNo, err := lr.next()
		if errors.Is(err, io.EOF) {
			return &ParseError{File: a.name, Line: lineNo, Expected: "an @data line after the attributes"}
		}
		if err != nil {
			return fmt.Errorf("shard: %s: %w", a.name, err)
		}
		line = bytes.TrimSpace(line)
		if len(line) == 0 || line[0] == '%' {
			continue
		}
		kw := line[:nextSpace(line, 0)]
		switch {
		case bytes.EqualFold(kw, []byte("@relation")):
		case bytes.EqualFold(kw, []byte("@data")):
			if len(a.attrs) == 0 {
				return &ParseError{File: a.name, Line: lineNo, Expected: "@attribute declarations before @data"}
			}
			return nil
		case bytes.EqualFold(kw, []byte("@attribute")):
			at, perr := a.attribute(line[len(kw):], lineNo)
			if perr != nil {
				return perr
			}
			a.attrs = append(a.attrs, at)
		default:
			return &ParseError{File: a.name, Line: lineNo, Field: "keyword", Token: string(kw),
				Expected: "@relation, @attribute or @data"}
		}
	}
}

// attribute parses the rest of an @attribute line.
func (a *arffReader) attribute(rest []byte, lineNo int) (arffAttr, *ParseError) {
	rest = bytes.TrimSpace(rest)
	nameTok, typ, ok := arffName(rest)
	if !ok || len(nameTok) == 0 {
		return arffAttr{}, &ParseError{File: a.name, Line: lineNo, Field: "attribute", Token: string(rest),
			Expected: "a name and a type"}
	}
	at := arffAttr{name: nameTok, line: lineNo}
	typ = bytes.TrimSpace(typ)
	switch {
	case len(typ) > 0 && typ[0] == '{':
		end := bytes.LastIndexByte(typ, '}')
		if end < 0 {
			return arffAttr{}, &ParseError{File: a.name, Line: lineNo, Field: "nominal type", Token: string(typ),
				Expected: "a closing }"}
		}
		for v := range splitByte(typ[1:end], ',') {
			at.nominal = append(at.nominal, string(unquoteARFF(bytes.TrimSpace(v))))
		}
	case bytes.EqualFold(typ, []byte("numeric")), bytes.EqualFold(typ, []byte("real")), bytes.EqualFold(typ, []byte("integer")):
		at.numeric = true
	default:
		at.other = string(typ)
	}
	return at, nil
}

// arffName splits a leading attribute name (quoted with ' or " and
// backslash escapes, or a run of non-space characters kept verbatim) from
// the rest of the text.
func arffName(s []byte) (name string, rest []byte, ok bool) {
	if len(s) == 0 {
		return "", nil, false
	}
	q := s[0]
	if q != '\'' && q != '"' {
		end := nextSpace(s, 0)
		return string(s[:end]), s[end:], true
	}
	var out []byte
	for i := 1; i < len(s); i++ {
		switch s[i] {
		case '\\':
			if i+1 < len(s) {
				i++
				out = append(out, s[i])
			}
		case q:
			return string(out), s[i+1:], true
		default:
			out = append(out, s[i])
		}
	}
	return "", nil, false
}

// unquoteARFF strips matching single or double quotes around a value.
func unquoteARFF(v []byte) []byte {
	if len(v) >= 2 && (v[0] == '\'' || v[0] == '"') && v[len(v)-1] == v[0] {
		return v[1 : len(v)-1]
	}
	return v
}

// assignRoles decides which attributes are labels and which features.
func (a *arffReader) assignRoles() error {
	n := len(a.attrs)
	a.role = make([]int, n)
	a.classAttr = -1
	switch {
	case len(a.opt.LabelNames) > 0:
		byName := make(map[string]int, n)
		for i, at := range a.attrs {
			if _, dup := byName[at.name]; !dup {
				byName[at.name] = i
			}
		}
		for _, ln := range a.opt.LabelNames {
			i, ok := byName[ln]
			if !ok {
				return fmt.Errorf("shard: %s: label attribute %q: no such attribute", a.name, ln)
			}
			if slices.Contains(a.labelAttr, i) {
				return fmt.Errorf("shard: %s: label attribute %q named twice", a.name, ln)
			}
			a.labelAttr = append(a.labelAttr, i)
		}
	case a.opt.Labels > 0:
		if a.opt.Labels >= n {
			return fmt.Errorf("shard: %s: %d label attributes: expected fewer than the %d attributes", a.name, a.opt.Labels, n)
		}
		for i := n - a.opt.Labels; i < n; i++ {
			a.labelAttr = append(a.labelAttr, i)
		}
	default:
		if n < 2 {
			return fmt.Errorf("shard: %s: %d attribute: expected features and a class attribute", a.name, n)
		}
		a.classAttr = n - 1
		if at := a.attrs[n-1]; !at.numeric && at.nominal == nil {
			return fmt.Errorf("shard: %s:%d: class attribute %q has type %q: expected nominal or numeric", a.name, at.line, at.name, at.other)
		}
	}
	a.k = len(a.labelAttr)
	for l, i := range a.labelAttr {
		at := a.attrs[i]
		if !at.numeric && !at.isBinaryNominal() {
			return fmt.Errorf("shard: %s:%d: label attribute %q: expected nominal {0,1} or numeric", a.name, at.line, at.name)
		}
		a.role[i] = -1 - l
	}
	if a.classAttr >= 0 {
		a.role[a.classAttr] = roleClass
	}
	for i, at := range a.attrs {
		if a.role[i] < 0 {
			continue
		}
		switch {
		case at.numeric, at.isBinaryNominal():
		case at.nominal != nil:
			return fmt.Errorf("shard: %s:%d: attribute %q is nominal {%s}: only numeric and {0,1} features are supported (or declare it a label)",
				a.name, at.line, at.name, strings.Join(at.nominal, ","))
		default:
			return fmt.Errorf("shard: %s:%d: attribute %q has type %q: expected numeric, real, integer or nominal",
				a.name, at.line, at.name, at.other)
		}
		a.role[i] = len(a.featAttr)
		a.featAttr = append(a.featAttr, i)
	}
	return nil
}

// splitDense appends the comma-separated values of a dense row to dst.
func (a *arffReader) splitDense(line []byte, lineNo int, dst [][]byte) ([][]byte, *ParseError) {
	for v := range splitByte(line, ',') {
		dst = append(dst, unquoteARFF(bytes.TrimSpace(v)))
	}
	if len(dst) != len(a.attrs) {
		return nil, &ParseError{File: a.name, Line: lineNo, Expected: fmt.Sprintf("%d values, found %d", len(a.attrs), len(dst))}
	}
	return dst, nil
}

// denseRow stores one dense row; column numbers in errors are 1-based
// attribute positions.
func (a *arffReader) denseRow(b *builder, cells [][]byte, lineNo int) ([]byte, *ParseError) {
	var label []byte
	for i, v := range cells {
		if a.role[i] == roleClass {
			if isMissing(v) {
				return nil, &ParseError{File: a.name, Line: lineNo, Column: i + 1, Field: "class", Token: string(v),
					Expected: "a class value (labels cannot be missing)"}
			}
			label = v
			continue
		}
		if isMissing(v) && a.role[i] >= 0 && a.opt.Missing != MissingError {
			b.addMissing(int32(a.role[i]))
			continue
		}
		if perr := a.store(b, i, v, lineNo, i+1); perr != nil {
			return nil, perr
		}
	}
	return label, nil
}

// sparseRow stores one "{i v, j w}" row.
func (a *arffReader) sparseRow(b *builder, line []byte, lineNo int) ([]byte, *ParseError) {
	end := bytes.IndexByte(line, '}')
	if end < 0 {
		return nil, &ParseError{File: a.name, Line: lineNo, Field: "sparse row", Token: string(line), Expected: "a closing }"}
	}
	if tail := bytes.TrimSpace(line[end+1:]); len(tail) > 0 {
		return nil, &ParseError{File: a.name, Line: lineNo, Field: "sparse row", Token: string(tail),
			Expected: "nothing after } (instance weights are not supported)"}
	}
	body := bytes.TrimSpace(line[1:end])
	var label []byte
	if a.classAttr >= 0 {
		// Omitted means the first nominal value (Weka's index 0).
		if at := a.attrs[a.classAttr]; at.nominal != nil {
			label = []byte(at.nominal[0])
		} else {
			label = []byte("0")
		}
	}
	if len(body) == 0 {
		return label, nil
	}
	for pair := range splitByte(body, ',') {
		pair = bytes.TrimSpace(pair)
		sp := nextSpace(pair, 0)
		key, v := pair[:sp], unquoteARFF(bytes.TrimSpace(pair[sp:]))
		i, ok := parseIndex(key)
		if !ok || i >= len(a.attrs) {
			return nil, &ParseError{File: a.name, Line: lineNo, Field: "attribute id", Token: string(key),
				Expected: fmt.Sprintf("a 0-based attribute id in 0..%d", len(a.attrs)-1)}
		}
		if len(v) == 0 {
			return nil, &ParseError{File: a.name, Line: lineNo, Field: "sparse entry", Token: string(pair), Expected: "\"id value\""}
		}
		if a.role[i] == roleClass {
			if isMissing(v) {
				return nil, &ParseError{File: a.name, Line: lineNo, Field: "class", Token: string(v),
					Expected: "a class value (labels cannot be missing)"}
			}
			label = v
			continue
		}
		if isMissing(v) && a.role[i] >= 0 && a.opt.Missing == MissingZero {
			continue // an omitted sparse value is 0 already
		}
		if perr := a.store(b, i, v, lineNo, 0); perr != nil {
			return nil, perr
		}
	}
	return label, nil
}

// store parses value v of attribute i into a feature or label cell.
func (a *arffReader) store(b *builder, i int, v []byte, lineNo, column int) *ParseError {
	at := &a.attrs[i]
	if isMissing(v) {
		exp := "a value (missing labels are errors)"
		if a.role[i] >= 0 {
			exp = "a number (the value is missing: choose the zero or mean missing-value policy to fill it; mean needs dense rows)"
		}
		return &ParseError{File: a.name, Line: lineNo, Column: column, Field: "attribute " + strconv.Quote(at.name),
			Token: string(v), Expected: exp}
	}
	x, err := strconv.ParseFloat(string(v), 64)
	if err != nil && !errors.Is(err, strconv.ErrRange) {
		return &ParseError{File: a.name, Line: lineNo, Column: column, Field: "attribute " + strconv.Quote(at.name),
			Token: string(v), Expected: "a number"}
	}
	if perr := b.checkValue(x, lineNo, column, v); perr != nil {
		return perr
	}
	r := a.role[i]
	if (at.nominal != nil && x != 0 && x != 1) || (r < 0 && (x < 0 || x > 1)) {
		exp := "0 or 1"
		if at.nominal == nil {
			exp = "a label value in [0, 1]"
		}
		return &ParseError{File: a.name, Line: lineNo, Column: column, Field: "attribute " + strconv.Quote(at.name),
			Token: string(v), Expected: exp}
	}
	if r >= 0 {
		b.add(int32(r), float32(x))
		return nil
	}
	b.y[len(b.y)-a.k+(-1-r)] = float32(x)
	return nil
}

// ReadMULANLabels reads the label names of a MULAN .xml file: the name
// attribute of every <label> element, in document order (hierarchical
// files list nested labels depth-first).
func ReadMULANLabels(r io.Reader) ([]string, error) {
	dec := xml.NewDecoder(r)
	var names []string
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("shard: labels xml: %w", err)
		}
		se, ok := tok.(xml.StartElement)
		if !ok || se.Name.Local != "label" {
			continue
		}
		found := false
		for _, at := range se.Attr {
			if at.Name.Local == "name" {
				names = append(names, at.Value)
				found = true
				break
			}
		}
		if !found {
			return nil, errors.New("shard: labels xml: <label> element without a name attribute")
		}
	}
	if len(names) == 0 {
		return nil, errors.New("shard: labels xml: no <label> element")
	}
	return names, nil
}
