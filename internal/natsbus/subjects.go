package natsbus

import (
	"errors"
	"fmt"
	"strings"
)

// DefaultPrefix is the first token(s) of every subject of the protocol when
// [Subjects.Prefix] is empty.
const DefaultPrefix = "dpt"

// MaxWorkerNameLen bounds a worker name, so that subjects stay short.
const MaxWorkerNameLen = 64

// Tokens of the protocol's subjects, after the prefix.
const (
	tokJoin    = "join"
	tokLeave   = "leave"
	tokHB      = "hb"
	tokJob     = "job"
	tokJobGet  = "get"
	tokParams  = "params"
	tokPlan    = "plan"
	tokContrib = "contrib"
	tokFail    = "fail"
	tokRelay   = "relay"
)

// ErrBadSubject is returned for a prefix, worker name or subject that is not
// part of the protocol's subject space.
var ErrBadSubject = errors.New("natsbus: bad subject")

// Subjects names the subjects of the protocol under one prefix, so that
// several jobs can share a server (one prefix per job). The zero value uses
// [DefaultPrefix].
//
//	<p>.join            worker → coordinator   join request (JSON)
//	<p>.leave.<w>       worker → coordinator   graceful leave
//	<p>.hb.<w>          worker → coordinator   heartbeat
//	<p>.job             coordinator → workers  job description (JSON)
//	<p>.job.get         worker → coordinator   request-reply for the job description
//	<p>.params          coordinator → workers  parameters of a step (binary, chunked)
//	<p>.plan            coordinator → workers  the step's plan: who computes which micro-shards
//	<p>.contrib.<w>     worker → coordinator   contributions (binary, chunked)
//	<p>.fail.<w>        worker → coordinator   a worker's report that it cannot go on
//	<p>.relay.<l>.<w>   worker → group leader  w's contributions for its group leader l (binary, chunked)
//
// Every subject whose last token is a worker name w carries only that
// worker's messages; [WorkerPermissions] lets the server enforce it.
type Subjects struct {
	// Prefix is one or more dot-separated tokens of [A-Za-z0-9_-]; empty
	// means DefaultPrefix.
	Prefix string
}

// Validate reports whether the prefix is a literal subject (no wildcards,
// no empty token, only [A-Za-z0-9_-] in each token).
func (s Subjects) Validate() error {
	p := s.prefix()
	for _, tok := range strings.Split(p, ".") {
		if err := validToken(tok, 0); err != nil {
			return fmt.Errorf("%w: prefix %q: %w", ErrBadSubject, p, err)
		}
	}
	return nil
}

func (s Subjects) prefix() string {
	if s.Prefix == "" {
		return DefaultPrefix
	}
	return s.Prefix
}

func (s Subjects) join(toks ...string) string {
	return s.prefix() + "." + strings.Join(toks, ".")
}

// Join is the subject of join requests, "<p>.join".
func (s Subjects) Join() string { return s.join(tokJoin) }

// Leave is worker w's leave subject, "<p>.leave.<w>".
func (s Subjects) Leave(w string) string { return s.join(tokLeave, w) }

// Heartbeat is worker w's heartbeat subject, "<p>.hb.<w>".
func (s Subjects) Heartbeat(w string) string { return s.join(tokHB, w) }

// Job is the subject of the job description broadcast, "<p>.job".
func (s Subjects) Job() string { return s.join(tokJob) }

// JobRequest is the request-reply subject for the job description,
// "<p>.job.get".
func (s Subjects) JobRequest() string { return s.join(tokJob, tokJobGet) }

// Params is the subject of the parameter broadcast, "<p>.params".
func (s Subjects) Params() string { return s.join(tokParams) }

// Plan is the subject of the step plan broadcast, "<p>.plan".
func (s Subjects) Plan() string { return s.join(tokPlan) }

// Contrib is worker w's contribution subject, "<p>.contrib.<w>".
func (s Subjects) Contrib(w string) string { return s.join(tokContrib, w) }

// Failure is worker w's failure-report subject, "<p>.fail.<w>".
func (s Subjects) Failure(w string) string { return s.join(tokFail, w) }

// Relay is the subject on which worker w sends its group leader l its
// contributions, "<p>.relay.<l>.<w>".
func (s Subjects) Relay(l, w string) string { return s.join(tokRelay, l, w) }

// RelayInbox matches every contribution sent to group leader l,
// "<p>.relay.<l>.*".
func (s Subjects) RelayInbox(l string) string { return s.Relay(l, "*") }

// RelaySender returns the sending worker of a subject that RelayInbox(l)
// matches. Like [Subjects.Worker], the name comes from the subject, which
// the server's permissions tie to the sender's credentials.
func (s Subjects) RelaySender(l, subject string) (string, error) {
	w, ok := strings.CutPrefix(subject, s.Relay(l, ""))
	if !ok {
		return "", fmt.Errorf("%w: %q is not under %q", ErrBadSubject, subject, s.RelayInbox(l))
	}
	if err := ValidWorkerName(w); err != nil {
		return "", err
	}
	return w, nil
}

// AllLeaves matches every worker's leave subject, "<p>.leave.*".
func (s Subjects) AllLeaves() string { return s.Leave("*") }

// AllHeartbeats matches every worker's heartbeat subject, "<p>.hb.*".
func (s Subjects) AllHeartbeats() string { return s.Heartbeat("*") }

// AllContribs matches every worker's contribution subject, "<p>.contrib.*".
func (s Subjects) AllContribs() string { return s.Contrib("*") }

// AllFailures matches every worker's failure subject, "<p>.fail.*".
func (s Subjects) AllFailures() string { return s.Failure("*") }

// Worker returns the worker name w of a per-worker subject (leave, heartbeat,
// contribution or failure) under this prefix, so that a coordinator
// subscribed to a wildcard knows the sender. The name comes from the
// subject, which the server's permissions tie to the sender's credentials
// (see [WorkerPermissions]); it is never taken from the payload.
func (s Subjects) Worker(subject string) (string, error) {
	rest, ok := strings.CutPrefix(subject, s.prefix()+".")
	if !ok {
		return "", fmt.Errorf("%w: %q is not under prefix %q", ErrBadSubject, subject, s.prefix())
	}
	kind, w, ok := strings.Cut(rest, ".")
	if !ok {
		return "", fmt.Errorf("%w: %q has no worker token", ErrBadSubject, subject)
	}
	switch kind {
	case tokLeave, tokHB, tokContrib, tokFail:
	default:
		return "", fmt.Errorf("%w: %q is not a per-worker subject", ErrBadSubject, subject)
	}
	if err := ValidWorkerName(w); err != nil {
		return "", err
	}
	return w, nil
}

// ValidWorkerName reports whether w can be used as the last token of a
// per-worker subject: 1 to [MaxWorkerNameLen] characters of [A-Za-z0-9_-].
// This is stricter than a NATS token (which also admits most punctuation)
// so that names are safe in subjects, permissions, metric labels and file
// names alike.
func ValidWorkerName(w string) error {
	if err := validToken(w, MaxWorkerNameLen); err != nil {
		return fmt.Errorf("%w: worker name %q: %w", ErrBadSubject, w, err)
	}
	return nil
}

// validToken checks one subject token; maxLen 0 means unbounded.
func validToken(tok string, maxLen int) error {
	if tok == "" {
		return errors.New("empty token")
	}
	if maxLen > 0 && len(tok) > maxLen {
		return fmt.Errorf("longer than %d bytes", maxLen)
	}
	for i := 0; i < len(tok); i++ {
		c := tok[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '_', c == '-':
		default:
			return fmt.Errorf("byte %q at %d is not in [A-Za-z0-9_-]", c, i)
		}
	}
	return nil
}
