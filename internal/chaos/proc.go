package chaos

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// Line is one structured log line of a child process: zap's JSON encoding,
// {"level":…,"ts":<unix seconds>,"logger":…,"msg":…, fields…}.
type Line struct {
	TS     time.Time
	Level  string
	Logger string
	Msg    string
	Fields map[string]any // every key of the line, numbers as json.Number
}

// ParseLine decodes a zap JSON log line; ok is false for anything else
// (a panic trace, a line of a non-JSON format).
func ParseLine(b []byte) (Line, bool) {
	b = bytes.TrimSpace(b)
	if len(b) == 0 || b[0] != '{' {
		return Line{}, false
	}
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var m map[string]any
	if err := d.Decode(&m); err != nil {
		return Line{}, false
	}
	l := Line{Fields: m}
	l.Level, _ = m["level"].(string)
	l.Logger, _ = m["logger"].(string)
	l.Msg, _ = m["msg"].(string)
	if n, ok := m["ts"].(json.Number); ok {
		// A float64 holds today's Unix time to about 0.2 µs: keep whole
		// microseconds.
		if f, err := n.Float64(); err == nil && f > 0 && f < 1e11 {
			l.TS = time.UnixMicro(int64(math.Round(f * 1e6)))
		}
	}
	return l, l.Msg != ""
}

// Str returns the string field k, "" when absent.
func (l Line) Str(k string) string {
	s, _ := l.Fields[k].(string)
	return s
}

// Uint returns the unsigned integer field k.
func (l Line) Uint(k string) (uint64, bool) {
	n, ok := l.Fields[k].(json.Number)
	if !ok {
		return 0, false
	}
	v, err := strconv.ParseUint(string(n), 10, 64)
	return v, err == nil
}

// Progress returns the number of optimizer steps a coordinator has
// completed when it logged l: the "step" debug line of a mini-batch step
// (0-based "step"), or the "epoch" line (its "steps"), which full-batch
// optimizers log once per iteration.
func Progress(l Line) (uint64, bool) {
	if l.Logger != "" {
		return 0, false
	}
	switch l.Msg {
	case "step":
		if s, ok := l.Uint("step"); ok {
			return s + 1, true
		}
	case "epoch":
		return l.Uint("steps")
	}
	return 0, false
}

// tailBytes is how much raw output a Proc keeps for error messages.
const tailBytes = 8 << 10

// Proc is a child process whose standard error, zap JSON lines, is parsed
// as it arrives, so that a test can wait for a log line and timestamp
// events by the child's own clock. It is safe for concurrent use.
type Proc struct {
	Name string
	cmd  *exec.Cmd

	mu      sync.Mutex
	lines   []Line
	tail    []byte        // the last tailBytes of stderr
	stdout  bytes.Buffer  // all of stdout
	changed chan struct{} // closed and replaced on every new line and at exit
	exited  bool
	err     error // of Wait, once exited
	done    chan struct{}
}

// Start starts bin with args; name labels it in errors. The child gets its
// own process group, so a signal to the test's terminal does not reach it.
func Start(name, bin string, args ...string) (*Proc, error) {
	return StartLogged(name, "", bin, args...)
}

// StartLogged is Start that also copies the child's standard error to the
// file logPath (appending), unless logPath is empty.
func StartLogged(name, logPath, bin string, args ...string) (*Proc, error) {
	var logFile *os.File
	if logPath != "" {
		f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			return nil, fmt.Errorf("chaos: %s: log: %w", name, err)
		}
		logFile = f
	}
	cmd := exec.Command(bin, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Env = os.Environ()
	stderr, err := cmd.StderrPipe()
	if err != nil {
		closeLog(logFile)
		return nil, fmt.Errorf("chaos: %s: %w", name, err)
	}
	p := &Proc{Name: name, cmd: cmd, changed: make(chan struct{}), done: make(chan struct{})}
	cmd.Stdout = lockedWriter{p}
	if err := cmd.Start(); err != nil {
		closeLog(logFile)
		return nil, fmt.Errorf("chaos: start %s: %w", name, err)
	}
	var r io.Reader = stderr
	if logFile != nil {
		r = io.TeeReader(stderr, logFile)
	}
	go func() {
		p.read(r)
		closeLog(logFile)
	}()
	return p, nil
}

func closeLog(f *os.File) {
	if f != nil {
		_ = f.Close()
	}
}

type lockedWriter struct{ p *Proc }

func (w lockedWriter) Write(b []byte) (int, error) {
	w.p.mu.Lock()
	defer w.p.mu.Unlock()
	return w.p.stdout.Write(b)
}

// read parses stderr until EOF, then waits for the process.
func (p *Proc) read(r io.Reader) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for sc.Scan() {
		b := sc.Bytes()
		l, ok := ParseLine(b)
		p.mu.Lock()
		p.tail = append(p.tail, b...)
		p.tail = append(p.tail, '\n')
		if len(p.tail) > 2*tailBytes {
			p.tail = append(p.tail[:0], p.tail[len(p.tail)-tailBytes:]...)
		}
		if ok {
			p.lines = append(p.lines, l)
			close(p.changed)
			p.changed = make(chan struct{})
		}
		p.mu.Unlock()
	}
	_, _ = io.Copy(io.Discard, r) // a line beyond the scanner's limit: drain
	err := p.cmd.Wait()
	p.mu.Lock()
	p.exited, p.err = true, err
	close(p.changed)
	p.changed = make(chan struct{})
	p.mu.Unlock()
	close(p.done)
}

// Pid returns the process id.
func (p *Proc) Pid() int { return p.cmd.Process.Pid }

// Signal sends sig to the process (not its group: a coordinator's local
// workers are goroutines of it, an external worker is its own process).
func (p *Proc) Signal(sig syscall.Signal) error {
	if err := p.cmd.Process.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("chaos: signal %v to %s: %w", sig, p.Name, err)
	}
	return nil
}

// Kill sends SIGKILL and waits until the process is gone.
func (p *Proc) Kill() {
	_ = p.Signal(syscall.SIGKILL)
	<-p.done
}

// Done is closed when the process has exited and its output is read.
func (p *Proc) Done() <-chan struct{} { return p.done }

// Wait waits for the process to exit, at most until ctx is done (the
// process is then killed), and returns its exit error.
func (p *Proc) Wait(ctx context.Context) error {
	select {
	case <-p.done:
	case <-ctx.Done():
		p.Kill()
		return fmt.Errorf("chaos: %s still running: %w", p.Name, ctx.Err())
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.err
}

// Stop ends the process gracefully: SIGTERM, then SIGKILL after grace.
func (p *Proc) Stop(grace time.Duration) {
	_ = p.Signal(syscall.SIGCONT) // a stopped process cannot handle SIGTERM
	_ = p.Signal(syscall.SIGTERM)
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-p.done:
	case <-t.C:
		p.Kill()
	}
}

// Lines returns the lines parsed so far.
func (p *Proc) Lines() []Line {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]Line(nil), p.lines...)
}

// Stdout returns what the process wrote to standard output so far.
func (p *Proc) Stdout() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stdout.String()
}

// Tail returns the last few kilobytes of the process's standard error.
func (p *Proc) Tail() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	t := p.tail
	if len(t) > tailBytes {
		t = t[len(t)-tailBytes:]
	}
	return string(t)
}

// ErrExited is returned by WaitFor when the process exits without logging
// the line waited for.
var ErrExited = errors.New("chaos: process exited")

// WaitFor returns the first line at index ≥ from that satisfies match, and
// the index after it, waiting for new lines until ctx is done or the
// process exits.
func (p *Proc) WaitFor(ctx context.Context, from int, match func(Line) bool) (Line, int, error) {
	for {
		p.mu.Lock()
		for i := from; i < len(p.lines); i++ {
			if match(p.lines[i]) {
				l := p.lines[i]
				p.mu.Unlock()
				return l, i + 1, nil
			}
		}
		from = len(p.lines)
		exited, changed := p.exited, p.changed
		p.mu.Unlock()
		if exited {
			return Line{}, from, fmt.Errorf("%w: %s (%v)", ErrExited, p.Name, p.exitErr())
		}
		select {
		case <-ctx.Done():
			return Line{}, from, fmt.Errorf("chaos: waiting for a line of %s: %w", p.Name, ctx.Err())
		case <-changed:
		}
	}
}

func (p *Proc) exitErr() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.err
}
