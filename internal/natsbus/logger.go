package natsbus

import (
	"fmt"
	"sync"

	"github.com/nats-io/nats-server/v2/server"
	"go.uber.org/zap"
)

// serverLogger adapts a zap.Logger to nats-server's Logger. The server's
// Fatalf is logged at error level and recorded instead of exiting the
// process (nats-server's own logger calls os.Exit): StartServer turns the
// first fatal message, e.g. a port in use, into an error.
type serverLogger struct {
	log *zap.SugaredLogger

	mu    sync.Mutex
	fatal error // guarded by mu; the first Fatalf
}

var _ server.Logger = (*serverLogger)(nil)

func newServerLogger(log *zap.Logger) *serverLogger {
	if log == nil {
		log = zap.NewNop()
	}
	return &serverLogger{log: log.Sugar()}
}

// Noticef logs at info level.
func (l *serverLogger) Noticef(format string, v ...any) { l.log.Infof(format, v...) }

// Warnf logs at warn level.
func (l *serverLogger) Warnf(format string, v ...any) { l.log.Warnf(format, v...) }

// Errorf logs at error level.
func (l *serverLogger) Errorf(format string, v ...any) { l.log.Errorf(format, v...) }

// Debugf logs at debug level.
func (l *serverLogger) Debugf(format string, v ...any) { l.log.Debugf(format, v...) }

// Tracef logs at debug level (zap has no trace level); the server emits
// traces only when ServerConfig.Trace is set.
func (l *serverLogger) Tracef(format string, v ...any) { l.log.Debugf(format, v...) }

// Fatalf logs at error level and records the first fatal error; it does not
// exit.
func (l *serverLogger) Fatalf(format string, v ...any) {
	msg := fmt.Sprintf(format, v...)
	l.log.Error("fatal: " + msg)
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.fatal == nil {
		l.fatal = fmt.Errorf("natsbus: nats-server: %s", msg)
	}
}

// fatalErr returns the first fatal error, or nil.
func (l *serverLogger) fatalErr() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.fatal
}
