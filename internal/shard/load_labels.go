package shard

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
)

// Bounds on targets, which are stored dense (Rows × K float32): a label
// id above maxLabelID is taken for garbage rather than allocated for, and Y
// may not exceed maxTargetCells cells (1 GiB).
const (
	maxLabelID     = 1 << 20
	maxTargetCells = 1 << 28
)

// checkTargetSize rejects a Y of rows × k cells that is too large.
func (b *builder) checkTargetSize(rows, k int) error {
	if int64(rows)*int64(k) > maxTargetCells {
		return fmt.Errorf("shard: %s: %d rows × %d targets: expected at most %d target cells", b.name, rows, k, maxTargetCells)
	}
	return nil
}

// labels are the resolved targets of a dataset.
type labels struct {
	task    Task
	k       int
	classes []string
	y       []float32
}

// resolveLabels turns the raw label text of every committed row into
// targets, dropping rows whose label is bad under SkipBad. multiReason is
// non-empty when the reader saw a multi-label row; it says where, for
// messages. numeric requires single labels to be finite numbers (LIBSVM).
func (b *builder) resolveLabels(multiReason string, numeric bool) (labels, error) {
	if b.rows() == 0 {
		return labels{}, fmt.Errorf("%w in %s", ErrNoData, b.name)
	}
	multi := b.opt.Task == Multilabel || (b.opt.Task == 0 && (multiReason != "" || b.opt.NumLabels > 0))
	var (
		lab labels
		bad []bool
		err error
	)
	if multi {
		lab, bad, err = b.resolveMultilabel(multiReason)
	} else {
		lab, bad, err = b.resolveSingle(multiReason, numeric)
	}
	if err != nil {
		return labels{}, err
	}
	if bad != nil {
		b.dropRows(bad)
		if b.rows() == 0 {
			return labels{}, fmt.Errorf("%w in %s: every row was skipped", ErrNoData, b.name)
		}
	}
	return lab, nil
}

// markBad records row i as bad: an error without SkipBad, else a skip.
func (b *builder) markBad(bad *[]bool, i int, perr *ParseError) error {
	if !b.opt.SkipBad {
		return perr
	}
	if *bad == nil {
		*bad = make([]bool, b.rows())
	}
	(*bad)[i] = true
	b.noteSkip(perr)
	return nil
}

// forEachID calls fn for every id of a comma-separated list of
// non-negative integer label ids ("" is the empty list). It returns the
// first malformed item, or nil.
func forEachID(text []byte, fn func(id int)) (badItem []byte, ok bool) {
	if len(text) == 0 {
		return nil, true
	}
	for item := range splitByte(text, ',') {
		id, ok := parseIndex(item)
		if !ok {
			return item, false
		}
		fn(id)
	}
	return nil, true
}

// resolveMultilabel reads each label as a list of 0-based label ids.
func (b *builder) resolveMultilabel(reason string) (labels, []bool, error) {
	n := b.rows()
	k, fixed := 0, false
	switch {
	case len(b.opt.Classes) > 0:
		k, fixed = len(b.opt.Classes), true
	case b.opt.NumLabels > 0:
		k, fixed = b.opt.NumLabels, true
	}
	why := "a 0-based label id"
	if reason != "" {
		why += " (the file is multi-label: " + reason + ")"
	}
	var bad []bool
	maxID := -1
	for i := range n {
		rowMax := -1
		item, ok := forEachID(b.label(i), func(id int) { rowMax = max(rowMax, id) })
		var perr *ParseError
		switch {
		case !ok:
			perr = &ParseError{File: b.name, Line: b.lines[i], Field: "label", Token: string(item), Expected: why}
		case !fixed && rowMax > maxLabelID:
			perr = &ParseError{File: b.name, Line: b.lines[i], Field: "label", Token: strconv.Itoa(rowMax),
				Expected: fmt.Sprintf("a label id ≤ %d (set NumLabels for more)", maxLabelID)}
		case fixed && rowMax >= k:
			perr = &ParseError{File: b.name, Line: b.lines[i], Field: "label", Token: strconv.Itoa(rowMax),
				Expected: fmt.Sprintf("a label id in 0..%d", k-1)}
		}
		if perr != nil {
			if err := b.markBad(&bad, i, perr); err != nil {
				return labels{}, nil, err
			}
			continue
		}
		maxID = max(maxID, rowMax)
	}
	if !fixed {
		k = maxID + 1
	}
	if k == 0 {
		return labels{}, nil, fmt.Errorf("shard: %s: multi-label file without any label id: expected at least one (or set NumLabels)", b.name)
	}
	kept := n
	for _, x := range bad {
		if x {
			kept--
		}
	}
	if err := b.checkTargetSize(kept, k); err != nil {
		return labels{}, nil, err
	}
	y := make([]float32, kept*k)
	r := 0
	for i := range n {
		if bad != nil && bad[i] {
			continue
		}
		row := y[r*k : (r+1)*k]
		forEachID(b.label(i), func(id int) { row[id] = 1 })
		r++
	}
	classes := b.opt.Classes
	if classes == nil {
		classes = make([]string, k)
		for j := range classes {
			classes[j] = strconv.Itoa(j)
		}
	}
	return labels{task: Multilabel, k: k, classes: slices.Clone(classes), y: y}, bad, nil
}

// classKey identifies a label: by value when it is a finite number
// ("1", "1.0" and "+1" are the same class), else by text.
type classKey struct {
	text  string
	num   float64
	isNum bool
}

func newClassKey(text string) classKey {
	if v, err := strconv.ParseFloat(text, 64); err == nil && !math.IsNaN(v) && !math.IsInf(v, 0) {
		return classKey{text: text, num: v, isNum: true}
	}
	return classKey{text: text}
}

func (a classKey) same(b classKey) bool {
	if a.isNum && b.isNum {
		return a.num == b.num
	}
	return a.text == b.text
}

// resolveSingle reads each label as one class.
func (b *builder) resolveSingle(multiReason string, numeric bool) (labels, []bool, error) {
	n := b.rows()
	var (
		bad      []bool
		distinct []classKey
		numIdx   = map[float64]int32{}
		textIdx  = map[string]int32{}
		rowClass = make([]int32, n)
	)
	for i := range n {
		t := b.label(i)
		var perr *ParseError
		if len(t) == 0 {
			perr = &ParseError{File: b.name, Line: b.lines[i], Field: "label", Expected: "a label"}
			if multiReason != "" {
				perr.Expected = "a label (Task is " + b.opt.Task.String() + ")"
			}
		}
		var key classKey
		if perr == nil {
			if id, ok := textIdx[string(t)]; ok { // no allocation for the lookup
				rowClass[i] = id
				continue
			}
			key = newClassKey(string(t))
			if numeric && !key.isNum {
				perr = &ParseError{File: b.name, Line: b.lines[i], Field: "label", Token: key.text, Expected: "a finite number"}
			}
		}
		if perr != nil {
			if err := b.markBad(&bad, i, perr); err != nil {
				return labels{}, nil, err
			}
			rowClass[i] = -1
			continue
		}
		id, ok := int32(len(distinct)), false
		if key.isNum {
			var prev int32
			if prev, ok = numIdx[key.num]; ok {
				id = prev
			} else {
				numIdx[key.num] = id
			}
		}
		if !ok {
			distinct = append(distinct, key)
		}
		textIdx[key.text] = id
		rowClass[i] = id
	}

	// classOf maps a distinct label to its class index.
	classOf := make([]int, len(distinct))
	var classes []string
	task := b.opt.Task
	if b.opt.Classes != nil {
		classes = slices.Clone(b.opt.Classes)
		keys := make([]classKey, len(classes))
		for c, s := range classes {
			keys[c] = newClassKey(s)
		}
		for d, key := range distinct {
			classOf[d] = slices.IndexFunc(keys, key.same)
		}
		if task == 0 {
			task = Multiclass
			if len(classes) == 2 {
				task = Binary
			}
		}
		for i := range n {
			if rowClass[i] >= 0 && classOf[rowClass[i]] < 0 {
				perr := &ParseError{File: b.name, Line: b.lines[i], Field: "label", Token: distinct[rowClass[i]].text,
					Expected: "one of the classes " + abbreviate(classes)}
				if err := b.markBad(&bad, i, perr); err != nil {
					return labels{}, nil, err
				}
				rowClass[i] = -1
			}
		}
	} else {
		order := make([]int, len(distinct))
		for d := range order {
			order[d] = d
		}
		allNum := !slices.ContainsFunc(distinct, func(k classKey) bool { return !k.isNum })
		slices.SortFunc(order, func(p, q int) int {
			if allNum {
				return cmpFloat(distinct[p].num, distinct[q].num)
			}
			return strings.Compare(distinct[p].text, distinct[q].text)
		})
		classes = make([]string, len(order))
		for c, d := range order {
			classOf[d] = c
			classes[c] = distinct[d].text
		}
		if task == 0 {
			switch {
			case len(classes) == 2:
				task = Binary
			case len(classes) > 2:
				task = Multiclass
			default:
				return labels{}, nil, fmt.Errorf("shard: %s: only one distinct label %s: expected at least two classes (set Task, or Classes from the training set)",
					b.name, abbreviate(classes))
			}
		}
	}
	if task == Binary && len(classes) != 2 {
		return labels{}, nil, fmt.Errorf("shard: %s: binary task: expected exactly 2 classes, found %d %s", b.name, len(classes), abbreviate(classes))
	}
	k := 1
	if task == Multiclass {
		k = len(classes)
	}
	kept := 0
	for _, c := range rowClass {
		if c >= 0 {
			kept++
		}
	}
	if err := b.checkTargetSize(kept, k); err != nil {
		return labels{}, nil, err
	}
	y := make([]float32, kept*k)
	r := 0
	for _, d := range rowClass {
		if d < 0 {
			continue
		}
		c := classOf[d]
		switch task {
		case Binary:
			if c == 1 {
				y[r] = 1
			}
		default:
			y[r*k+c] = 1
		}
		r++
	}
	return labels{task: task, k: k, classes: classes, y: y}, bad, nil
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// abbreviate renders a class list for messages, eliding the middle of
// long lists.
func abbreviate(classes []string) string {
	const show = 8
	if len(classes) <= show {
		return "[" + strings.Join(classes, " ") + "]"
	}
	return fmt.Sprintf("[%s … %s] (%d classes)", strings.Join(classes[:show-2], " "),
		strings.Join(classes[len(classes)-2:], " "), len(classes))
}
