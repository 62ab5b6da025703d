// Package cli holds the command-line pieces both binaries share: NATS
// connection flags and the metrics endpoint.
package cli

import (
	"flag"
	"time"

	"github.com/dptrain/dptrain/internal/natsbus"
)

// NATSFlags are the client-side NATS connection flags.
type NATSFlags struct {
	URL                           string
	User, Password, Token         string
	NKeyFile, CredsFile           string
	TLSCA, TLSCert, TLSKey        string
	ConnectTimeout, ReconnectWait time.Duration
	Prefix                        string
}

// Register adds the flags to fs. urlHelp describes --nats for the command.
func (f *NATSFlags) Register(fs *flag.FlagSet, urlHelp string) {
	fs.StringVar(&f.URL, "nats", "", urlHelp)
	fs.StringVar(&f.User, "nats-user", "", "NATS user name")
	fs.StringVar(&f.Password, "nats-password", "", "NATS password (or set DPT_NATS_PASSWORD)")
	fs.StringVar(&f.Token, "nats-token", "", "NATS authentication token (or set DPT_NATS_TOKEN)")
	fs.StringVar(&f.NKeyFile, "nats-nkey", "", "file holding an NKey seed")
	fs.StringVar(&f.CredsFile, "nats-creds", "", "NATS .creds file (JWT and NKey seed)")
	fs.StringVar(&f.TLSCA, "tls-ca", "", "CA certificate that signs the NATS server's certificate (PEM)")
	fs.StringVar(&f.TLSCert, "tls-cert", "", "client certificate for NATS (PEM)")
	fs.StringVar(&f.TLSKey, "tls-key", "", "client key for NATS (PEM)")
	fs.DurationVar(&f.ConnectTimeout, "nats-connect-timeout", 30*time.Second, "how long to keep trying the first connection")
	fs.DurationVar(&f.ReconnectWait, "nats-reconnect-wait", 250*time.Millisecond, "wait between reconnection attempts")
	fs.StringVar(&f.Prefix, "subject-prefix", natsbus.DefaultPrefix, "prefix of the job's NATS subjects")
}

// Conn returns the connection configuration, filling secrets from the
// environment when the flags leave them empty.
func (f *NATSFlags) Conn(url, name string, getenv func(string) string) natsbus.ConnConfig {
	c := natsbus.ConnConfig{
		URL: url, Name: name,
		User: f.User, Password: f.Password, Token: f.Token,
		NKeySeedFile: f.NKeyFile, CredsFile: f.CredsFile,
		TLSCA: f.TLSCA, TLSCert: f.TLSCert, TLSKey: f.TLSKey,
		ConnectTimeout: f.ConnectTimeout, ReconnectWait: f.ReconnectWait, MaxReconnects: -1,
	}
	if c.Password == "" {
		c.Password = getenv("DPT_NATS_PASSWORD")
	}
	if c.Token == "" {
		c.Token = getenv("DPT_NATS_TOKEN")
	}
	return c
}
