package natsbus

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"go.uber.org/zap"
)

// Errors returned by the bus.
var (
	// ErrTooLarge is returned for a request or reply that does not fit in
	// one frame.
	ErrTooLarge = errors.New("natsbus: message too large")
	// ErrClosed is returned by operations on a closed Bus.
	ErrClosed = errors.New("natsbus: bus closed")
)

// Defaults of ConnConfig; see the fields for what they mean.
const (
	DefaultConnectTimeout = 2 * time.Second
	DefaultReconnectWait  = 500 * time.Millisecond
	DefaultPingInterval   = time.Second
	DefaultMaxPingsOut    = 3
	DefaultDrainTimeout   = 5 * time.Second
	DefaultPendingMsgs    = 1 << 16
	DefaultPendingBytes   = 256 << 20
	defaultFlushTimeout   = 10 * time.Second
	initialRetryMax       = 2 * time.Second
)

// ConnConfig configures a client connection. The zero value (plus a URL)
// is usable: every zero field takes the default named in its comment.
type ConnConfig struct {
	// URL is the server URL, or a comma-separated list of them
	// ("nats://host:4222", "tls://host:4222"). Empty means
	// nats://127.0.0.1:4222.
	URL string
	// Name is the connection name shown by the server's monitoring, e.g.
	// the worker name.
	Name string

	// Credentials: at most one of User/Password, Token, NKeySeedFile and
	// CredsFile (a JWT .creds file) should be set.
	User, Password, Token   string
	NKeySeedFile, CredsFile string

	// TLSCA is a PEM file of the CA(s) that signed the server certificate;
	// when set, TLS is used and the server certificate is always verified
	// (against TLSCA, including its host name against the URL). Without it,
	// a server that requires TLS is verified against the system roots.
	TLSCA string
	// TLSCert and TLSKey are the client certificate and key (PEM) for
	// servers that require client certificates; optional.
	TLSCert, TLSKey string

	// InboxPrefix replaces "_INBOX" in reply subjects, so that permissions
	// can confine each client to its own replies; empty means "_INBOX".
	InboxPrefix string

	// ConnectTimeout bounds one connection attempt (dial, TLS, handshake);
	// default DefaultConnectTimeout.
	ConnectTimeout time.Duration
	// ReconnectWait is the pause between reconnect attempts to the same
	// server; default DefaultReconnectWait.
	ReconnectWait time.Duration
	// MaxReconnects is the number of reconnect attempts after a lost
	// connection before the Bus gives up and closes; 0 or −1 means forever.
	MaxReconnects int
	// PingInterval is how often the client pings the server; a server that
	// misses MaxPingsOut pongs in a row is considered lost. Default
	// DefaultPingInterval, DefaultMaxPingsOut.
	PingInterval time.Duration
	MaxPingsOut  int
	// ReconnectBufSize is how many bytes published while disconnected are
	// buffered for the next connection; 0 means nats.go's 8 MiB, −1 means
	// no buffering (Publish fails at once while disconnected).
	ReconnectBufSize int
	// DrainTimeout bounds Close's drain; default DefaultDrainTimeout.
	DrainTimeout time.Duration

	// PendingMsgs and PendingBytes are each subscription's slow-consumer
	// limits: frames received by nats.go but not yet reassembled. Past
	// them nats.go drops frames (counted as DropSlowConsumer). Defaults
	// DefaultPendingMsgs and DefaultPendingBytes (256 MiB, above nats.go's
	// 64 MiB, since one 80 MB parameter vector is 80 frames in flight).
	PendingMsgs, PendingBytes int

	// MaxIncomplete bounds incomplete messages held per sender subject by
	// an Inbox; default DefaultMaxIncomplete.
	MaxIncomplete int
	// MaxReassemblyBytes caps the bytes an Inbox holds for incomplete
	// messages, and so the length of one message; default
	// DefaultMaxReassemblyBytes (1 GiB).
	MaxReassemblyBytes int64
}

// DefaultConnConfig returns a ConnConfig for url with every default filled in.
func DefaultConnConfig(url string) ConnConfig {
	return ConnConfig{URL: url}.withDefaults()
}

func (c ConnConfig) withDefaults() ConnConfig {
	if c.URL == "" {
		c.URL = "nats://127.0.0.1:4222"
	}
	if c.ConnectTimeout <= 0 {
		c.ConnectTimeout = DefaultConnectTimeout
	}
	if c.ReconnectWait <= 0 {
		c.ReconnectWait = DefaultReconnectWait
	}
	if c.MaxReconnects == 0 || c.MaxReconnects < -1 {
		c.MaxReconnects = -1
	}
	if c.PingInterval <= 0 {
		c.PingInterval = DefaultPingInterval
	}
	if c.MaxPingsOut <= 0 {
		c.MaxPingsOut = DefaultMaxPingsOut
	}
	if c.DrainTimeout <= 0 {
		c.DrainTimeout = DefaultDrainTimeout
	}
	if c.PendingMsgs <= 0 {
		c.PendingMsgs = DefaultPendingMsgs
	}
	if c.PendingBytes <= 0 {
		c.PendingBytes = DefaultPendingBytes
	}
	if c.MaxIncomplete <= 0 {
		c.MaxIncomplete = DefaultMaxIncomplete
	}
	if c.MaxReassemblyBytes <= 0 {
		c.MaxReassemblyBytes = DefaultMaxReassemblyBytes
	}
	return c
}

// Validate reports configuration errors that no connection attempt can fix.
func (c ConnConfig) Validate() error {
	n := 0
	for _, set := range []bool{c.User != "" || c.Password != "", c.Token != "", c.NKeySeedFile != "", c.CredsFile != ""} {
		if set {
			n++
		}
	}
	if n > 1 {
		return errors.New("natsbus: config: set at most one of user/password, token, nkey seed file and creds file")
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		return errors.New("natsbus: config: TLS client certificate and key must be set together")
	}
	return nil
}

// Hooks are optional callbacks on connection events. They run on nats.go's
// single callback goroutine, which also runs the other hooks: keep them
// trivial (count, log, signal a channel without blocking).
type Hooks struct {
	// Disconnected is called when the connection is lost; err may be nil.
	Disconnected func(err error)
	// Reconnected is called with the (redacted) URL of the new server.
	Reconnected func(url string)
	// Closed is called once when the connection is closed for good (Close,
	// or reconnects exhausted).
	Closed func()
	// SlowConsumer is called when nats.go starts dropping frames of a
	// subscription whose pending limits are exceeded.
	SlowConsumer func(subject string)
	// Error is called for asynchronous errors, e.g. a permissions violation
	// reported by the server for a publish ("nats: permissions violation").
	Error func(err error)
}

// Bus is a connection to a NATS server that moves byte payloads of any size
// (see the package documentation for the wire format). It is safe for
// concurrent use.
type Bus struct {
	nc    *nats.Conn
	log   *zap.Logger
	cfg   ConnConfig
	enc   encoder
	seq   atomic.Uint64 // last message sequence used
	hooks Hooks

	closed    chan struct{} // closed when the connection is closed for good
	closeOnce sync.Once     // guards closed
	closeBus  sync.Once     // guards Close
	closing   atomic.Bool   // set by Close: a disconnect then is expected

	mu      sync.Mutex
	inboxes map[*Inbox]struct{} // guarded by mu; closed by Close

	frameBufs sync.Pool // *[]byte: Publish's frame buffers, kept between messages
}

// Connect connects to the server(s) of cfg.URL. It retries the initial
// connection until ctx is done, so workers may start before the server;
// authentication and TLS verification failures are returned at once, since
// retrying cannot fix them. Once connected, a lost connection is
// re-established in the background (cfg.MaxReconnects), and hooks report
// it. log may be nil.
//
// nats.go's own RetryOnFailedConnect is not used because it hides the
// first attempt's error and retries forever on a permanent one (bad
// credentials), which this function instead reports immediately.
func Connect(ctx context.Context, cfg ConnConfig, log *zap.Logger, hooks Hooks) (*Bus, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = zap.NewNop()
	}
	cfg = cfg.withDefaults()
	var nonce [8]byte
	if _, err := rand.Read(nonce[:]); err != nil {
		return nil, fmt.Errorf("natsbus: message nonce: %w", err)
	}
	b := &Bus{
		log:     log,
		cfg:     cfg,
		enc:     encoder{nonce: binary.LittleEndian.Uint64(nonce[:])},
		hooks:   hooks,
		closed:  make(chan struct{}),
		inboxes: make(map[*Inbox]struct{}),
	}
	opts, err := b.options()
	if err != nil {
		return nil, err
	}
	wait := 50 * time.Millisecond
	for attempt := 1; ; attempt++ {
		nc, err := nats.Connect(cfg.URL, opts...)
		if err == nil {
			b.nc = nc
			log.Info("natsbus: connected", zap.String("url", nc.ConnectedUrlRedacted()),
				zap.Int64("max_payload", nc.MaxPayload()), zap.Int("attempts", attempt))
			return b, nil
		}
		if permanentConnectError(err) {
			return nil, fmt.Errorf("natsbus: connect to %s: %w", redactURL(cfg.URL), err)
		}
		log.Debug("natsbus: connect failed, retrying", zap.Error(err), zap.Duration("wait", wait))
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, fmt.Errorf("natsbus: connect to %s: gave up after %d attempts: %w (last error: %w)",
				redactURL(cfg.URL), attempt, ctx.Err(), err)
		case <-t.C:
		}
		wait = min(2*wait, initialRetryMax)
	}
}

// permanentConnectError reports whether retrying a connection cannot help.
func permanentConnectError(err error) bool {
	var (
		verr *tls.CertificateVerificationError
		uerr x509.UnknownAuthorityError
		herr x509.HostnameError
		rerr tls.RecordHeaderError
		oerr *net.OpError
	)
	switch {
	case errors.Is(err, nats.ErrAuthorization), errors.Is(err, nats.ErrAuthExpired),
		errors.Is(err, nats.ErrAuthRevoked), errors.Is(err, nats.ErrAccountAuthExpired),
		errors.Is(err, nats.ErrSecureConnRequired), errors.Is(err, nats.ErrSecureConnWanted),
		errors.Is(err, fs.ErrNotExist), errors.Is(err, fs.ErrPermission):
		return true
	case errors.As(err, &verr), errors.As(err, &uerr), errors.As(err, &herr), errors.As(err, &rerr):
		return true
	case errors.As(err, &oerr) && oerr.Op == "remote error":
		// A TLS alert from the server, e.g. "tls: certificate required".
		return true
	}
	return false
}

// redactURL hides credentials embedded in a comma-separated URL list, for
// error messages.
func redactURL(list string) string {
	parts := strings.Split(list, ",")
	for i, p := range parts {
		if u, err := url.Parse(strings.TrimSpace(p)); err == nil && u.User != nil {
			u.User = url.User("REDACTED")
			parts[i] = u.String()
		}
	}
	return strings.Join(parts, ",")
}

// options translates cfg into nats.go options.
func (b *Bus) options() ([]nats.Option, error) {
	cfg := b.cfg
	opts := []nats.Option{
		nats.Name(cfg.Name),
		nats.Timeout(cfg.ConnectTimeout),
		nats.ReconnectWait(cfg.ReconnectWait),
		nats.MaxReconnects(cfg.MaxReconnects),
		nats.PingInterval(cfg.PingInterval),
		nats.MaxPingsOutstanding(cfg.MaxPingsOut),
		nats.DrainTimeout(cfg.DrainTimeout),
		nats.DisconnectErrHandler(b.onDisconnect),
		nats.ReconnectHandler(b.onReconnect),
		nats.ClosedHandler(b.onClosed),
		nats.ErrorHandler(b.onError),
	}
	if cfg.ReconnectBufSize != 0 {
		opts = append(opts, nats.ReconnectBufSize(cfg.ReconnectBufSize))
	}
	if cfg.InboxPrefix != "" {
		opts = append(opts, nats.CustomInboxPrefix(cfg.InboxPrefix))
	}
	switch {
	case cfg.User != "" || cfg.Password != "":
		opts = append(opts, nats.UserInfo(cfg.User, cfg.Password))
	case cfg.Token != "":
		opts = append(opts, nats.Token(cfg.Token))
	case cfg.CredsFile != "":
		opts = append(opts, nats.UserCredentials(cfg.CredsFile))
	case cfg.NKeySeedFile != "":
		o, err := nats.NkeyOptionFromSeed(cfg.NKeySeedFile)
		if err != nil {
			return nil, fmt.Errorf("natsbus: nkey seed %s: %w", cfg.NKeySeedFile, err)
		}
		opts = append(opts, o)
	}
	if cfg.TLSCA != "" {
		opts = append(opts, nats.RootCAs(cfg.TLSCA))
	}
	if cfg.TLSCert != "" {
		opts = append(opts, nats.ClientCert(cfg.TLSCert, cfg.TLSKey))
	}
	return opts, nil
}

// The handlers below run on nats.go's callback goroutine.

func (b *Bus) onDisconnect(_ *nats.Conn, err error) {
	if b.closing.Load() {
		b.log.Debug("natsbus: disconnected on close")
		return
	}
	b.log.Warn("natsbus: disconnected", zap.Error(err))
	if b.hooks.Disconnected != nil {
		b.hooks.Disconnected(err)
	}
}

func (b *Bus) onReconnect(nc *nats.Conn) {
	url := nc.ConnectedUrlRedacted()
	b.log.Info("natsbus: reconnected", zap.String("url", url))
	if b.hooks.Reconnected != nil {
		b.hooks.Reconnected(url)
	}
}

func (b *Bus) onClosed(*nats.Conn) {
	b.closeOnce.Do(func() {
		b.log.Info("natsbus: connection closed")
		close(b.closed)
		if b.hooks.Closed != nil {
			b.hooks.Closed()
		}
	})
}

func (b *Bus) onError(_ *nats.Conn, sub *nats.Subscription, err error) {
	if errors.Is(err, nats.ErrSlowConsumer) && sub != nil {
		b.log.Warn("natsbus: slow consumer, frames dropped", zap.String("subject", sub.Subject))
		if b.hooks.SlowConsumer != nil {
			b.hooks.SlowConsumer(sub.Subject)
		}
		return
	}
	b.log.Warn("natsbus: asynchronous error", zap.Error(err))
	if b.hooks.Error != nil {
		b.hooks.Error(err)
	}
}

// Conn returns the underlying connection, for what the bus does not wrap.
// Messages published on it bypass the framing and are dropped by Inboxes.
func (b *Bus) Conn() *nats.Conn { return b.nc }

// MaxPayload returns the server's max_payload in bytes, the largest frame;
// a frame carries MaxPayload() − FrameHeaderSize bytes of payload.
func (b *Bus) MaxPayload() int { return int(b.nc.MaxPayload()) }

// Publish sends payload on subject, split into frames of at most
// MaxPayload() bytes (see the package documentation). Payloads of any size
// are accepted; subscribers drop those above their MaxReassemblyBytes.
// Publish returns once every frame is handed to nats.go, which sends them in
// order on this connection; Flush waits until the server has them. Control
// messages (JSON) go through Publish too, so that subscribers need a single
// decoder and every message is checksummed.
func (b *Bus) Publish(subject string, payload []byte) error {
	seq := b.seq.Add(1)
	buf, _ := b.frameBufs.Get().(*[]byte)
	if buf == nil {
		buf = new([]byte)
	}
	// nats.Conn.Publish copies the frame: the buffer is free when it returns.
	err := b.enc.framesWith(buf, seq, payload, b.MaxPayload(), func(f []byte) error {
		return b.nc.Publish(subject, f)
	})
	b.frameBufs.Put(buf)
	if err != nil {
		return fmt.Errorf("natsbus: publish %d bytes on %s: %w", len(payload), subject, err)
	}
	return nil
}

// Flush waits until the server has processed everything published so far,
// or ctx is done. Without a ctx deadline it waits at most 10 s.
func (b *Bus) Flush(ctx context.Context) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, defaultFlushTimeout)
		defer cancel()
	}
	if err := b.nc.FlushWithContext(ctx); err != nil {
		return fmt.Errorf("natsbus: flush: %w", err)
	}
	return nil
}

// Request sends payload (at most one frame: MaxPayload() − FrameHeaderSize
// bytes) on subject and waits for one reply until ctx is done. Without a
// ctx deadline it waits at most 10 s. A subject nobody serves fails fast
// with an error wrapping nats.ErrNoResponders.
func (b *Bus) Request(ctx context.Context, subject string, payload []byte) ([]byte, error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, defaultFlushTimeout)
		defer cancel()
	}
	frame, err := b.enc.encodeSingle(b.seq.Add(1), payload, b.MaxPayload())
	if err != nil {
		return nil, fmt.Errorf("natsbus: request on %s: %w", subject, err)
	}
	msg, err := b.nc.RequestWithContext(ctx, subject, frame)
	if err != nil {
		return nil, fmt.Errorf("natsbus: request on %s: %w", subject, err)
	}
	reply, err := decodeSingle(msg.Data)
	if err != nil {
		return nil, fmt.Errorf("natsbus: reply on %s: %w", subject, err)
	}
	return reply, nil
}

// Respond serves requests on subject: handler gets each request's payload
// and returns the reply (at most one frame). Requests that are not a valid
// single frame are dropped and logged. Handlers run one at a time on a
// goroutine of this subscription. The returned function unsubscribes.
func (b *Bus) Respond(subject string, handler func(req []byte) []byte) (unsubscribe func() error, err error) {
	sub, err := b.nc.Subscribe(subject, func(m *nats.Msg) {
		req, err := decodeSingle(m.Data)
		if err != nil {
			b.log.Warn("natsbus: bad request dropped", zap.String("subject", m.Subject), zap.Error(err))
			return
		}
		if m.Reply == "" {
			b.log.Warn("natsbus: request without reply subject dropped", zap.String("subject", m.Subject))
			return
		}
		frame, err := b.enc.encodeSingle(b.seq.Add(1), handler(req), b.MaxPayload())
		if err != nil {
			b.log.Error("natsbus: reply not sent", zap.String("subject", m.Subject), zap.Error(err))
			return
		}
		if err := m.Respond(frame); err != nil {
			b.log.Warn("natsbus: reply not sent", zap.String("subject", m.Subject), zap.Error(err))
		}
	})
	if err != nil {
		return nil, fmt.Errorf("natsbus: respond on %s: %w", subject, err)
	}
	return func() error {
		if err := sub.Unsubscribe(); err != nil && !errors.Is(err, nats.ErrConnectionClosed) && !errors.Is(err, nats.ErrBadSubscription) {
			return fmt.Errorf("natsbus: stop responding on %s: %w", subject, err)
		}
		return nil
	}, nil
}

// Close drains the connection (subscriptions deliver what they have, then
// pending publishes are flushed) within cfg.DrainTimeout, closes it, and
// closes every Inbox. It is idempotent; only the first call reports errors.
func (b *Bus) Close() error {
	var err error
	b.closeBus.Do(func() {
		b.closing.Store(true)
		switch derr := b.nc.Drain(); {
		case derr == nil, errors.Is(derr, nats.ErrConnectionClosed):
		case errors.Is(derr, nats.ErrConnectionReconnecting):
			// Drain closed the connection: nothing can be flushed.
			b.log.Warn("natsbus: closed while reconnecting; unsent messages lost")
		default:
			err = fmt.Errorf("natsbus: drain: %w", derr)
			b.nc.Close()
		}
		t := time.NewTimer(b.cfg.DrainTimeout + time.Second)
		defer t.Stop()
		select {
		case <-b.closed:
		case <-t.C:
			b.nc.Close()
			<-b.closed
		}
		b.mu.Lock()
		inboxes := make([]*Inbox, 0, len(b.inboxes))
		for in := range b.inboxes {
			inboxes = append(inboxes, in)
		}
		b.mu.Unlock()
		for _, in := range inboxes {
			in.shut(false)
		}
	})
	return err
}

// Closed returns a channel closed when the connection is closed for good.
func (b *Bus) Closed() <-chan struct{} { return b.closed }
