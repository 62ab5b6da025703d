package natsbus

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
)

// connectErr connects with a short deadline and returns the error, closing
// any bus that did connect.
func connectErr(t *testing.T, cfg ConnConfig) (time.Duration, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	start := time.Now()
	b, err := Connect(ctx, cfg, nil, Hooks{})
	if err == nil {
		_ = b.Close()
	}
	return time.Since(start), err
}

func TestUserPasswordAuth(t *testing.T) {
	s := startTestServer(t, ServerConfig{User: "coord", Password: "s3cret"})
	for _, cfg := range []ConnConfig{
		{URL: s.ClientURL()},
		{URL: s.ClientURL(), User: "coord", Password: "wrong"},
		{URL: s.ClientURL(), Token: "s3cret"},
	} {
		d, err := connectErr(t, cfg)
		if !errors.Is(err, nats.ErrAuthorization) {
			t.Errorf("connect as %q: %v, want authorization violation", cfg.User, err)
		}
		if d > 3*time.Second {
			t.Errorf("auth failure reported after %v: it should not be retried", d)
		}
		if err != nil && strings.Contains(err.Error(), "s3cret") {
			t.Errorf("error leaks the password: %v", err)
		}
	}
	if _, err := connectErr(t, ConnConfig{URL: s.ClientURL(), User: "coord", Password: "s3cret"}); err != nil {
		t.Errorf("valid credentials: %v", err)
	}
}

func TestTokenAuth(t *testing.T) {
	s := startTestServer(t, ServerConfig{Token: "t0ken"})
	if _, err := connectErr(t, ConnConfig{URL: s.ClientURL()}); !errors.Is(err, nats.ErrAuthorization) {
		t.Errorf("no token: %v, want authorization violation", err)
	}
	if _, err := connectErr(t, ConnConfig{URL: s.ClientURL(), Token: "nope"}); !errors.Is(err, nats.ErrAuthorization) {
		t.Errorf("wrong token: %v, want authorization violation", err)
	}
	if _, err := connectErr(t, ConnConfig{URL: s.ClientURL(), Token: "t0ken"}); err != nil {
		t.Errorf("valid token: %v", err)
	}
}

func TestConfigValidation(t *testing.T) {
	if err := (ConnConfig{User: "u", Token: "t"}).Validate(); err == nil {
		t.Error("user and token together accepted")
	}
	if err := (ConnConfig{TLSCert: "c"}).Validate(); err == nil {
		t.Error("client cert without key accepted")
	}
	for _, cfg := range []ServerConfig{
		{Listen: "nohost"}, {Listen: "127.0.0.1:x"}, {Listen: "127.0.0.1:70000"},
		{User: "a", Token: "b"}, {Users: []UserPermission{{User: "a"}, {User: "a"}}}, {Users: []UserPermission{{}}},
		{TLSCert: "c"}, {RequireClientCert: true}, {MaxStore: -1},
	} {
		if err := cfg.Validate(); err == nil {
			t.Errorf("%+v accepted", cfg)
		}
		if _, err := StartServer(cfg); err == nil {
			t.Errorf("StartServer(%+v) accepted", cfg)
		}
	}
}

func TestStartServerPortInUse(t *testing.T) {
	s := startTestServer(t, ServerConfig{})
	start := time.Now()
	s2, err := StartServer(ServerConfig{Listen: s.Addr(), ReadyTimeout: 5 * time.Second})
	if err == nil {
		s2.Shutdown()
		t.Fatal("second server on the same port started")
	}
	if !strings.Contains(err.Error(), "listen") {
		t.Errorf("error %q does not say the port is in use", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("port in use reported after %v", d)
	}
}

// testPKI is a throw-away CA with a server certificate for 127.0.0.1 and a
// client certificate, as PEM files.
type testPKI struct {
	caFile, serverCert, serverKey, clientCert, clientKey string
}

func newTestPKI(t *testing.T, dir, name string) testPKI {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: name + " test CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	write := func(file, typ string, der []byte) string {
		p := filepath.Join(dir, name+"-"+file)
		if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	leaf := func(serial int64, cn string, usage x509.ExtKeyUsage) (string, string) {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(serial),
			Subject:      pkix.Name{CommonName: cn},
			NotBefore:    now.Add(-time.Hour),
			NotAfter:     now.Add(time.Hour),
			KeyUsage:     x509.KeyUsageDigitalSignature,
			ExtKeyUsage:  []x509.ExtKeyUsage{usage},
			IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
			DNSNames:     []string{"localhost"},
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		kder, err := x509.MarshalECPrivateKey(key)
		if err != nil {
			t.Fatal(err)
		}
		return write(cn+".pem", "CERTIFICATE", der), write(cn+"-key.pem", "EC PRIVATE KEY", kder)
	}
	var p testPKI
	p.caFile = write("ca.pem", "CERTIFICATE", caDER)
	p.serverCert, p.serverKey = leaf(2, "server", x509.ExtKeyUsageServerAuth)
	p.clientCert, p.clientKey = leaf(3, "client", x509.ExtKeyUsageClientAuth)
	return p
}

func TestTLS(t *testing.T) {
	dir := t.TempDir()
	good, other := newTestPKI(t, dir, "good"), newTestPKI(t, dir, "other")
	s := startTestServer(t, ServerConfig{TLSCert: good.serverCert, TLSKey: good.serverKey})
	if !strings.HasPrefix(s.ClientURL(), "tls://") {
		t.Errorf("ClientURL %s", s.ClientURL())
	}
	b := connectTest(t, ConnConfig{URL: s.ClientURL(), TLSCA: good.caFile}, Hooks{})
	if !b.Conn().TLSRequired() {
		t.Error("connection not encrypted")
	}
	in, err := b.Subscribe("t", 1)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Publish("t", []byte("over tls")); err != nil {
		t.Fatal(err)
	}
	if m := receive(t, in, 5*time.Second); string(m.Data) != "over tls" {
		t.Fatalf("got %q", m.Data)
	}

	var uerr x509.UnknownAuthorityError
	d, err := connectErr(t, ConnConfig{URL: s.ClientURL(), TLSCA: other.caFile})
	if !errors.As(err, &uerr) {
		t.Errorf("wrong CA: %v, want an unknown-authority error", err)
	}
	if d > 3*time.Second {
		t.Errorf("certificate failure reported after %v: it should not be retried", d)
	}
	if _, err := connectErr(t, ConnConfig{URL: s.ClientURL()}); err == nil {
		t.Error("self-signed server certificate accepted without its CA")
	}
	// Plain-text client URL against a TLS server: nats.go upgrades to TLS
	// (the server requires it) and still verifies the certificate.
	if _, err := connectErr(t, ConnConfig{URL: strings.Replace(s.ClientURL(), "tls://", "nats://", 1), TLSCA: good.caFile}); err != nil {
		t.Errorf("nats:// URL with TLSCA: %v", err)
	}
}

func TestTLSClientCertificates(t *testing.T) {
	dir := t.TempDir()
	good, other := newTestPKI(t, dir, "good"), newTestPKI(t, dir, "other")
	s := startTestServer(t, ServerConfig{TLSCert: good.serverCert, TLSKey: good.serverKey, TLSCA: good.caFile, RequireClientCert: true})
	for _, tc := range []struct {
		name string
		cfg  ConnConfig
	}{
		{"no client certificate", ConnConfig{URL: s.ClientURL(), TLSCA: good.caFile}},
		{"client certificate of another CA", ConnConfig{URL: s.ClientURL(), TLSCA: good.caFile, TLSCert: other.clientCert, TLSKey: other.clientKey}},
	} {
		d, err := connectErr(t, tc.cfg)
		if err == nil {
			t.Errorf("%s: accepted", tc.name)
		}
		if d > 3*time.Second {
			t.Errorf("%s: refusal reported after %v: it should not be retried", tc.name, d)
		}
	}
	if _, err := connectErr(t, ConnConfig{URL: s.ClientURL(), TLSCA: good.caFile, TLSCert: good.clientCert, TLSKey: good.clientKey}); err != nil {
		t.Errorf("valid client certificate: %v", err)
	}
}

func TestWorkerPermissions(t *testing.T) {
	const prefix = "job1"
	subj := Subjects{Prefix: prefix}
	coordPub, coordSub := CoordinatorPermissions(prefix)
	w1Pub, w1Sub := WorkerPermissions(prefix, "w1")
	w2Pub, w2Sub := WorkerPermissions(prefix, "w2")
	rPub, rSub := ObjectReaderPermissions("shards")
	s := startTestServer(t, ServerConfig{
		DataDir: t.TempDir(),
		Users: []UserPermission{
			{User: "coord", Password: "pc", Publish: coordPub, Subscribe: coordSub},
			{User: "w1", Password: "p1", Publish: append(w1Pub, rPub...), Subscribe: append(w1Sub, rSub...)},
			{User: "w2", Password: "p2", Publish: w2Pub, Subscribe: w2Sub},
		},
	})
	coord := connectTest(t, ConnConfig{URL: s.ClientURL(), User: "coord", Password: "pc"}, Hooks{})
	w1Ev := newEventHooks()
	w1 := connectTest(t, ConnConfig{URL: s.ClientURL(), User: "w1", Password: "p1"}, w1Ev.hooks())
	w2 := connectTest(t, ConnConfig{URL: s.ClientURL(), User: "w2", Password: "p2"}, Hooks{})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	contribs, err := coord.Subscribe(subj.AllContribs(), 16)
	if err != nil {
		t.Fatal(err)
	}
	hbs, err := coord.Subscribe(subj.AllHeartbeats(), 16)
	if err != nil {
		t.Fatal(err)
	}
	plans, err := w2.Subscribe(subj.Plan(), 16)
	if err != nil {
		t.Fatal(err)
	}
	relayed, err := w2.Subscribe(subj.RelayInbox("w2"), 16)
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range []*Bus{coord, w2} {
		if err := b.Flush(ctx); err != nil {
			t.Fatal(err)
		}
	}

	// Allowed: w1's own contribution and heartbeat; the coordinator's plan.
	mustPublish := func(b *Bus, subject, payload string) {
		t.Helper()
		if err := b.Publish(subject, []byte(payload)); err != nil {
			t.Fatal(err)
		}
		if err := b.Flush(ctx); err != nil {
			t.Fatal(err)
		}
	}
	mustPublish(w1, subj.Contrib("w1"), "g1")
	mustPublish(w1, subj.Heartbeat("w1"), "hb1")
	mustPublish(coord, subj.Plan(), "plan")
	if m := receive(t, contribs, 5*time.Second); m.Subject != subj.Contrib("w1") || string(m.Data) != "g1" {
		t.Errorf("contribution %q on %s", m.Data, m.Subject)
	}
	if m := receive(t, hbs, 5*time.Second); string(m.Data) != "hb1" {
		t.Errorf("heartbeat %q", m.Data)
	}
	if m := receive(t, plans, 5*time.Second); string(m.Data) != "plan" {
		t.Errorf("plan %q", m.Data)
	}
	// w1 sends its group leader w2 a contribution, in its own name.
	mustPublish(w1, subj.Relay("w2", "w1"), "r1")
	if m := receive(t, relayed, 5*time.Second); string(m.Data) != "r1" {
		t.Errorf("relayed %q", m.Data)
	} else if from, err := subj.RelaySender("w2", m.Subject); err != nil || from != "w1" {
		t.Errorf("relay sender of %s: %q, %v", m.Subject, from, err)
	}

	// Denied: w1 speaking for w2, and w1 forging the plan. The server drops
	// the messages and reports the violation asynchronously.
	mustPublish(w1, subj.Contrib("w2"), "forged contribution")
	mustPublish(w1, subj.Plan(), "forged plan")
	mustPublish(w1, subj.Relay("w2", "w3"), "forged relay")
	expectNone(t, contribs, 200*time.Millisecond)
	expectNone(t, plans, 50*time.Millisecond)
	expectNone(t, relayed, 50*time.Millisecond)
	violations := 0
	for done := false; !done && violations < 3; {
		select {
		case err := <-w1Ev.errs:
			if errors.Is(err, nats.ErrPermissionViolation) {
				violations++
			} else {
				t.Errorf("unexpected async error %v", err)
			}
		case <-time.After(5 * time.Second):
			done = true
		}
	}
	if violations != 3 {
		t.Errorf("%d permission violations reported through the Error hook, want 3", violations)
	}
	// A worker may not eavesdrop on other workers' contributions.
	if _, err := w2.Subscribe(subj.AllContribs(), 1); err != nil {
		t.Fatal(err) // subscriptions are refused asynchronously
	}
	mustPublish(w1, subj.Contrib("w1"), "g2")
	if m := receive(t, contribs, 5*time.Second); string(m.Data) != "g2" {
		t.Errorf("contribution %q", m.Data)
	}
	// Nor on what another worker's group sends it.
	eavesdrop, err := w1.Subscribe(subj.RelayInbox("w2"), 1)
	if err != nil {
		t.Fatal(err)
	}
	if err := w1.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	mustPublish(w2, subj.Relay("w2", "w2"), "r2")
	if m := receive(t, relayed, 5*time.Second); string(m.Data) != "r2" {
		t.Errorf("relayed %q", m.Data)
	}
	expectNone(t, eavesdrop, 200*time.Millisecond)

	// Object store: the coordinator writes, a reader worker reads, and
	// cannot write.
	objs, err := coord.ObjectStore(ctx, "shards")
	if err != nil {
		t.Fatal(err)
	}
	shard := randomBytes(9, 300_000)
	if err := objs.Put(ctx, "m0", shard); err != nil {
		t.Fatal(err)
	}
	ro, err := w1.OpenObjectStore(ctx, "shards")
	if err != nil {
		t.Fatalf("reader opens bucket: %v", err)
	}
	got, err := ro.Get(ctx, "m0")
	if err != nil || string(got) != string(shard) {
		t.Fatalf("reader Get: %d bytes, %v", len(got), err)
	}
	if names, err := ro.List(ctx); err != nil || len(names) != 1 || names[0] != "m0" {
		t.Errorf("reader List = %v, %v", names, err)
	}
	short, cancelShort := context.WithTimeout(ctx, time.Second)
	defer cancelShort()
	if err := ro.Put(short, "m1", []byte("x")); err == nil {
		t.Error("reader could write to the object store")
	}
}
