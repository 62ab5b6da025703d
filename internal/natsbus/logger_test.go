package natsbus

import (
	"strings"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

func TestServerLogsGoToZap(t *testing.T) {
	core, logs := observer.New(zapcore.DebugLevel)
	startTestServer(t, ServerConfig{Log: zap.New(core)})
	if logs.FilterMessageSnippet("Listening for client connections").Len() == 0 {
		t.Errorf("no startup notice among %d server log entries", logs.Len())
	}
}

func TestServerLoggerFatalDoesNotExit(t *testing.T) {
	core, logs := observer.New(zapcore.InfoLevel)
	l := newServerLogger(zap.New(core))
	l.Fatalf("first %d", 1)
	l.Fatalf("second")
	if err := l.fatalErr(); err == nil || !strings.Contains(err.Error(), "first 1") {
		t.Errorf("fatalErr = %v, want the first fatal message", err)
	}
	if n := logs.FilterLevelExact(zapcore.ErrorLevel).Len(); n != 2 {
		t.Errorf("%d error entries, want 2", n)
	}
}
