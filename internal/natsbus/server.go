package natsbus

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"go.uber.org/zap"
)

// Defaults of ServerConfig.
const (
	DefaultListen       = "127.0.0.1:4222"
	DefaultMaxMemory    = 64 << 20 // JetStream memory storage: the bus uses file storage only
	DefaultMaxStore     = 4 << 30  // JetStream file storage
	DefaultReadyTimeout = 10 * time.Second
)

// UserPermission is one user of the embedded server with the subjects it
// may publish and subscribe to (wildcards allowed). A nil or empty list
// allows nothing; ">" allows everything.
type UserPermission struct {
	User, Password     string
	Publish, Subscribe []string
}

// ServerConfig configures an embedded nats-server. The zero value is a
// server on DefaultListen without JetStream, authentication or TLS.
type ServerConfig struct {
	// Listen is host:port for clients; default DefaultListen. Port −1 picks
	// a free port (read it back with Server.ClientURL).
	Listen string
	// Name is the server name; default chosen by nats-server.
	Name string
	// DataDir enables JetStream with its file store in this directory;
	// empty means no JetStream.
	DataDir string
	// MaxMemory and MaxStore limit JetStream's memory and file storage in
	// bytes; defaults DefaultMaxMemory and DefaultMaxStore. (nats-server's
	// own default would reserve 75 % of RAM and of the disk.)
	MaxMemory, MaxStore int64
	// MaxPayload is the largest message in bytes; 0 means nats-server's
	// 1 MiB. Larger payloads are chunked by Bus.Publish anyway.
	MaxPayload int32
	// MaxPending is the bytes the server buffers for one slow client before
	// disconnecting it; 0 means nats-server's 64 MiB.
	MaxPending int64

	// Authentication: at most one of User/Password, Token and Users.
	User, Password, Token string
	Users                 []UserPermission

	// TLSCert and TLSKey (PEM files) enable TLS, required of every client.
	TLSCert, TLSKey string
	// TLSCA is the PEM file of the CA(s) client certificates must chain to;
	// required with RequireClientCert.
	TLSCA             string
	RequireClientCert bool

	// ReadyTimeout bounds StartServer's wait; default DefaultReadyTimeout.
	ReadyTimeout time.Duration
	// Debug and Trace enable the server's debug and protocol trace logs
	// (both at zap's debug level).
	Debug, Trace bool
	// Log receives the server's logs; nil discards them.
	Log *zap.Logger
}

// Validate reports configuration errors.
func (c ServerConfig) Validate() error {
	if _, _, err := c.hostPort(); err != nil {
		return err
	}
	n := 0
	for _, set := range []bool{c.User != "" || c.Password != "", c.Token != "", len(c.Users) > 0} {
		if set {
			n++
		}
	}
	if n > 1 {
		return errors.New("natsbus: server config: set at most one of user/password, token and users")
	}
	seen := make(map[string]bool, len(c.Users))
	for _, u := range c.Users {
		if u.User == "" {
			return errors.New("natsbus: server config: user with an empty name")
		}
		if seen[u.User] {
			return fmt.Errorf("natsbus: server config: user %q listed twice", u.User)
		}
		seen[u.User] = true
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		return errors.New("natsbus: server config: TLS certificate and key must be set together")
	}
	if c.RequireClientCert && (c.TLSCA == "" || c.TLSCert == "") {
		return errors.New("natsbus: server config: client certificates need TLS certificate, key and CA")
	}
	if c.MaxMemory < 0 || c.MaxStore < 0 || c.MaxPayload < 0 || c.MaxPending < 0 {
		return errors.New("natsbus: server config: negative limit")
	}
	return nil
}

func (c ServerConfig) hostPort() (string, int, error) {
	listen := c.Listen
	if listen == "" {
		listen = DefaultListen
	}
	host, p, err := net.SplitHostPort(listen)
	if err != nil {
		return "", 0, fmt.Errorf("natsbus: server config: listen %q: %w", listen, err)
	}
	port, err := strconv.Atoi(p)
	if err != nil || port < -1 || port > 65535 {
		return "", 0, fmt.Errorf("natsbus: server config: listen %q: bad port", listen)
	}
	if port == -1 {
		port = server.RANDOM_PORT
	}
	return host, port, nil
}

// options translates c into nats-server options.
func (c ServerConfig) options() (*server.Options, error) {
	host, port, err := c.hostPort()
	if err != nil {
		return nil, err
	}
	o := &server.Options{
		ServerName:    c.Name,
		Host:          host,
		Port:          port,
		NoSigs:        true,
		MaxPayload:    c.MaxPayload,
		MaxPending:    c.MaxPending,
		Debug:         c.Debug,
		Trace:         c.Trace,
		Username:      c.User,
		Password:      c.Password,
		Authorization: c.Token,
	}
	if c.DataDir != "" {
		o.JetStream = true
		o.StoreDir = c.DataDir
		o.JetStreamMaxMemory = c.MaxMemory
		if o.JetStreamMaxMemory == 0 {
			o.JetStreamMaxMemory = DefaultMaxMemory
		}
		o.JetStreamMaxStore = c.MaxStore
		if o.JetStreamMaxStore == 0 {
			o.JetStreamMaxStore = DefaultMaxStore
		}
	}
	for _, u := range c.Users {
		o.Users = append(o.Users, &server.User{
			Username: u.User,
			Password: u.Password,
			Permissions: &server.Permissions{
				// Non-nil Allow lists: an empty list allows nothing, a nil
				// one would allow everything.
				Publish:   &server.SubjectPermission{Allow: append([]string{}, u.Publish...)},
				Subscribe: &server.SubjectPermission{Allow: append([]string{}, u.Subscribe...)},
			},
		})
	}
	if c.TLSCert != "" {
		tc, err := server.GenTLSConfig(&server.TLSConfigOpts{
			CertFile: c.TLSCert,
			KeyFile:  c.TLSKey,
			CaFile:   c.TLSCA,
			Verify:   c.RequireClientCert,
		})
		if err != nil {
			return nil, fmt.Errorf("natsbus: server config: TLS: %w", err)
		}
		o.TLSConfig = tc
		o.TLS = true
		o.TLSVerify = c.RequireClientCert
		o.TLSTimeout = 2
		o.TLSCert, o.TLSKey, o.TLSCaCert = c.TLSCert, c.TLSKey, c.TLSCA
	}
	return o, nil
}

// Server is an embedded nats-server.
type Server struct {
	ns  *server.Server
	log *serverLogger
}

// StartServer starts an embedded nats-server and waits until it accepts
// connections, for at most cfg.ReadyTimeout. A server that cannot start
// (port in use, unusable DataDir, bad TLS files) is shut down and reported
// as an error; nothing panics or exits.
func StartServer(cfg ServerConfig) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	opts, err := cfg.options()
	if err != nil {
		return nil, err
	}
	ns, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("natsbus: nats-server: %w", err)
	}
	l := newServerLogger(cfg.Log)
	ns.SetLoggerV2(l, cfg.Debug, cfg.Trace, false)
	s := &Server{ns: ns, log: l}
	go ns.Start()

	timeout := cfg.ReadyTimeout
	if timeout <= 0 {
		timeout = DefaultReadyTimeout
	}
	deadline := time.Now().Add(timeout)
	for !ns.ReadyForConnections(50 * time.Millisecond) {
		if err := l.fatalErr(); err != nil {
			s.Shutdown()
			return nil, err
		}
		if time.Now().After(deadline) {
			s.Shutdown()
			return nil, fmt.Errorf("natsbus: nats-server on %s not ready after %v", cfg.Listen, timeout)
		}
	}
	if cfg.DataDir != "" && !ns.JetStreamEnabled() {
		// JetStream is enabled before the listener opens; a failure there
		// is reported through Fatalf.
		err := l.fatalErr()
		s.Shutdown()
		if err == nil {
			err = errors.New("natsbus: nats-server: JetStream did not start")
		}
		return nil, err
	}
	return s, nil
}

// ClientURL returns the URL clients connect to, e.g. "nats://127.0.0.1:4222"
// (scheme "tls" when TLS is on), with the actual port when Listen asked for
// a random one.
func (s *Server) ClientURL() string { return s.ns.ClientURL() }

// Addr returns the host:port the server listens on.
func (s *Server) Addr() string {
	if a := s.ns.Addr(); a != nil {
		return a.String()
	}
	return ""
}

// Shutdown stops the server and waits until it has stopped: clients are
// disconnected and JetStream's store is flushed. It is idempotent.
func (s *Server) Shutdown() {
	s.ns.Shutdown()
	s.ns.WaitForShutdown()
}

// NATS returns the underlying server, e.g. for monitoring in tests.
func (s *Server) NATS() *server.Server { return s.ns }
