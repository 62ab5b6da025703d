package shard

import (
	"errors"
	"strconv"
	"strings"
)

// ErrNoData is returned (wrapped) when an input holds no data rows, or
// none is left after skipping bad rows.
var ErrNoData = errors.New("shard: no data rows")

// ParseError locates a malformed piece of input. Every reader returns one
// (possibly wrapped) for bad data, so callers can branch with errors.As:
//
//	var pe *shard.ParseError
//	if errors.As(err, &pe) { … pe.File, pe.Line … }
//
// Its message reads like
//
//	shard: a9a:17: feature index "0": expected a 1-based index ≥ 1
type ParseError struct {
	// File is the name the reader was given (the path, for Load).
	File string
	// Line is the 1-based line number, or the 1-based record number for
	// IDX; 0 when the error is not tied to one line.
	Line int
	// Column is the 1-based field number within a CSV or dense ARFF row,
	// 0 when not applicable (LIBSVM and sparse rows name the token instead).
	Column int
	// Field says what the token was meant to be ("label", "feature index", …).
	Field string
	// Token is the offending text, possibly shortened.
	Token string
	// Expected says what was expected instead.
	Expected string
}

// maxTokenInError bounds the length of the token quoted in a message.
const maxTokenInError = 64

// Error implements error.
func (e *ParseError) Error() string {
	var b strings.Builder
	b.WriteString("shard: ")
	b.WriteString(e.File)
	if e.Line > 0 {
		b.WriteByte(':')
		b.WriteString(strconv.Itoa(e.Line))
		if e.Column > 0 {
			b.WriteByte(':')
			b.WriteString(strconv.Itoa(e.Column))
		}
	}
	b.WriteString(": ")
	if e.Field != "" {
		b.WriteString(e.Field)
		if e.Token != "" {
			b.WriteByte(' ')
		}
	}
	if e.Token != "" {
		tok := e.Token
		if len(tok) > maxTokenInError {
			tok = tok[:maxTokenInError] + "…"
		}
		b.WriteString(strconv.Quote(tok))
	}
	if e.Field != "" || e.Token != "" {
		b.WriteString(": ")
	}
	b.WriteString("expected ")
	b.WriteString(e.Expected)
	return b.String()
}

// location renders file:line for skipped-row reports.
func location(file string, line int) string {
	return file + ":" + strconv.Itoa(line)
}
