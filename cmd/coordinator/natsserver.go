package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"

	"go.uber.org/zap"

	"github.com/dptrain/dptrain/internal/cli"
	"github.com/dptrain/dptrain/internal/natsbus"
)

// natsServerFlags are the flags of `coordinator nats-server`.
type natsServerFlags struct {
	listen, data, name                 string
	authUser, authPassword, authToken  string
	users                              string
	tlsCert, tlsKey, tlsCA             string
	maxPayload                         int
	maxStore, maxMemory                int64
	logLevel, logFormat, subjectPrefix string
}

func (f *natsServerFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.listen, "listen", natsbus.DefaultListen, "host:port for clients")
	fs.StringVar(&f.data, "data", "", "JetStream directory (micro-shards and checkpoints); it survives restarts. Empty: no JetStream")
	fs.StringVar(&f.name, "name", "", "server name (default: chosen by nats-server)")
	fs.StringVar(&f.authUser, "auth-user", "", "require this user name from every client")
	fs.StringVar(&f.authPassword, "auth-password", "", "with --auth-user: the password (or set DPT_NATS_AUTH_PASSWORD)")
	fs.StringVar(&f.authToken, "auth-token", "", "require this token from every client (or set DPT_NATS_AUTH_TOKEN)")
	fs.StringVar(&f.users, "users", "", "JSON file of users with least-privilege subject permissions (see docs/faults.md)")
	fs.StringVar(&f.tlsCert, "tls-cert", "", "server certificate (PEM); enables TLS, required of every client")
	fs.StringVar(&f.tlsKey, "tls-key", "", "server key (PEM)")
	fs.StringVar(&f.tlsCA, "tls-ca", "", "CA (PEM) that client certificates must chain to; clients must then present one")
	fs.IntVar(&f.maxPayload, "max-payload", 0, "largest message in bytes (default: nats-server's 1 MiB; larger vectors are chunked)")
	fs.Int64Var(&f.maxStore, "max-store", natsbus.DefaultMaxStore, "JetStream file storage limit in bytes")
	fs.Int64Var(&f.maxMemory, "max-memory", natsbus.DefaultMaxMemory, "JetStream memory storage limit in bytes")
	fs.StringVar(&f.subjectPrefix, "subject-prefix", natsbus.DefaultPrefix, "with --users: the prefix of the job's subjects")
	fs.StringVar(&f.logLevel, "log-level", "info", "debug, info, warn or error")
	fs.StringVar(&f.logFormat, "log-format", "auto", "auto, json or console")
}

// runNATSServer runs a standalone NATS server (the one embedded in
// `coordinator train`) until ctx is done (SIGINT or SIGTERM): an external
// server for a cluster, without the official nats-server image.
func runNATSServer(ctx context.Context, args []string) error {
	var f natsServerFlags
	fs := flag.NewFlagSet("coordinator nats-server", flag.ContinueOnError)
	f.register(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	log, err := cli.NewLogger(f.logLevel, f.logFormat)
	if err != nil {
		return err
	}
	defer func() { _ = log.Sync() }()
	sc, err := f.serverConfig(os.Getenv)
	if err != nil {
		return err
	}
	sc.Log = log.Named("nats")
	if sc.DataDir == "" {
		log.Warn("no --data: JetStream is off, so workers cannot fetch micro-shards over NATS and coordinators need --checkpoint-dir")
	}
	srv, err := natsbus.StartServer(sc)
	if err != nil {
		return err
	}
	log.Info("NATS server ready", zap.String("url", srv.ClientURL()), zap.String("data", sc.DataDir),
		zap.Bool("auth", sc.User != "" || sc.Token != "" || len(sc.Users) > 0), zap.Bool("tls", sc.TLSCert != ""))
	<-ctx.Done()
	log.Info("shutting down the NATS server")
	srv.Shutdown()
	return nil
}

// serverConfig turns the flags into a server configuration.
func (f *natsServerFlags) serverConfig(getenv func(string) string) (natsbus.ServerConfig, error) {
	sc := natsbus.ServerConfig{
		Listen: f.listen, Name: f.name, DataDir: f.data, MaxStore: f.maxStore, MaxMemory: f.maxMemory,
		User: f.authUser, Password: f.authPassword, Token: f.authToken,
		TLSCert: f.tlsCert, TLSKey: f.tlsKey, TLSCA: f.tlsCA, RequireClientCert: f.tlsCA != "",
	}
	if f.maxPayload < 0 || f.maxPayload > 64<<20 {
		return sc, fmt.Errorf("--max-payload %d: expected 0 (default) up to 64 MiB", f.maxPayload)
	}
	sc.MaxPayload = int32(f.maxPayload)
	if sc.User != "" && sc.Password == "" {
		sc.Password = getenv("DPT_NATS_AUTH_PASSWORD")
	}
	if sc.User == "" && sc.Token == "" && f.users == "" {
		sc.Token = getenv("DPT_NATS_AUTH_TOKEN")
	}
	if sc.User != "" && sc.Password == "" {
		return sc, errors.New("--auth-user needs --auth-password or DPT_NATS_AUTH_PASSWORD")
	}
	if f.users != "" {
		if sc.User != "" || sc.Token != "" {
			return sc, errors.New("--users excludes --auth-user and --auth-token")
		}
		b, err := os.ReadFile(f.users)
		if err != nil {
			return sc, fmt.Errorf("--users: %w", err)
		}
		var uf UsersFile
		if err := json.Unmarshal(b, &uf); err != nil {
			return sc, fmt.Errorf("--users %s: %w", f.users, err)
		}
		if sc.Users, err = uf.Permissions(f.subjectPrefix); err != nil {
			return sc, fmt.Errorf("--users %s: %w", f.users, err)
		}
	}
	return sc, nil
}

// UsersFile is the JSON of `coordinator nats-server --users FILE`: the
// coordinator's credentials and one entry per worker, whose user name is
// the worker's --name. Each gets the least-privilege permissions of
// natsbus.CoordinatorPermissions and natsbus.WorkerPermissions (plus
// read-only access to the object store, for micro-shards).
//
//	{"coordinator": {"user": "coordinator", "password": "…"},
//	 "workers": [{"user": "w1", "password": "…"}, {"user": "w2", "password": "…"}]}
type UsersFile struct {
	Coordinator Credential   `json:"coordinator"`
	Workers     []Credential `json:"workers"`
}

// Credential is a user name and password.
type Credential struct {
	User     string `json:"user"`
	Password string `json:"password"`
}

// Permissions returns the server users of u under the subject prefix.
func (u UsersFile) Permissions(prefix string) ([]natsbus.UserPermission, error) {
	if u.Coordinator.User == "" || u.Coordinator.Password == "" {
		return nil, errors.New("the coordinator needs a user and a password")
	}
	pub, sub := natsbus.CoordinatorPermissions(prefix)
	out := []natsbus.UserPermission{{User: u.Coordinator.User, Password: u.Coordinator.Password, Publish: pub, Subscribe: sub}}
	anyObjects, _ := natsbus.AnyObjectReaderPermissions()
	for _, w := range u.Workers {
		if err := natsbus.ValidWorkerName(w.User); err != nil {
			return nil, fmt.Errorf("worker user: %w", err)
		}
		if w.Password == "" {
			return nil, fmt.Errorf("worker %s has no password", w.User)
		}
		pub, sub := natsbus.WorkerPermissions(prefix, w.User)
		// The object reader's only subscription, reply inboxes, is
		// among the worker's already.
		out = append(out, natsbus.UserPermission{User: w.User, Password: w.Password,
			Publish: append(pub, anyObjects...), Subscribe: sub})
	}
	return out, nil
}
