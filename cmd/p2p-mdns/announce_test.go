package main

import (
	"crypto/rand"
	"os"
	"path/filepath"
	"testing"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
)

// writeKey writes a new protobuf-marshalled ed25519 key and returns its
// file and peer ID.
func writeKey(t *testing.T) (string, peer.ID) {
	t.Helper()
	k, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	b, err := crypto.MarshalPrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	id, err := peer.IDFromPrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "peer.key")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return path, id
}

// TestAnnounceFlags: every invalid invocation exits 2 with a clear message,
// before any socket is opened or anything printed.
func TestAnnounceFlags(t *testing.T) {
	key, id := writeKey(t)
	junk := filepath.Join(t.TempDir(), "junk.key")
	if err := os.WriteFile(junk, []byte("not a key"), 0o600); err != nil {
		t.Fatal(err)
	}
	other := "12D3KooWMxqzRsw4HnxR6p53QLxNWYC4EMMxgPAP65SGJ2SXjQte"
	addr := "/ip4/198.51.100.11/tcp/4001"
	checkUsage(t, "announce", []usageCase{
		{"no addr", []string{"--random"}, "--addr"},
		{"no key", []string{"--addr", addr}, "--peer-key FILE or --random"},
		{"both keys", []string{"--random", "--peer-key", key, "--addr", addr}, "not both"},
		{"bad multiaddr", []string{"--random", "--addr", "/ip4/not-an-ip/tcp/1"}, "not-an-ip"},
		{"bad multiaddr 2", []string{"--random", "--addr", addr, "--addr", "tcp/1"}, "tcp/1"},
		{"missing key file", []string{"--peer-key", key + ".missing", "--addr", addr}, "no such file"},
		{"junk key file", []string{"--peer-key", junk, "--addr", addr}, "not a libp2p private key"},
		{"other peer", []string{"--peer-key", key, "--addr", addr + "/p2p/" + other}, "another peer"},
		{"only p2p", []string{"--peer-key", key, "--addr", "/p2p/" + id.String()}, "no transport"},
		{"bad service", []string{"--random", "--addr", addr, "--service", "a..b"}, ""},
		{"no family", []string{"--random", "--addr", addr, "--ipv4=false", "--ipv6=false"}, "nothing to listen on"},
		{"negative duration", []string{"--random", "--addr", addr, "--duration", "-1s"}, "duration"},
		{"bad log level", []string{"--random", "--addr", addr, "--log-level", "loud"}, "log-level"},
		{"extra argument", []string{"--random", "--addr", addr, "extra"}, "unexpected"},
		{"bad flag", []string{"--bogus"}, ""},
	}, "-peer-key")
}

func TestAnnounceKeyAndAddrs(t *testing.T) {
	path, id := writeKey(t)
	k, err := announceKey(path)
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := peer.IDFromPrivateKey(k); got != id {
		t.Errorf("key file gives %s, want %s", got, id)
	}
	k1, err := announceKey("")
	if err != nil {
		t.Fatal(err)
	}
	k2, _ := announceKey("")
	if k1.Type() != crypto.Ed25519 || k1.Equals(k2) {
		t.Errorf("random keys: type %v, equal %v", k1.Type(), k1.Equals(k2))
	}
	addrs, err := announceAddrs([]string{"/ip4/198.51.100.11/tcp/4001/p2p/" + id.String(), "/ip6/2001:db8:53::11/udp/4001/quic-v1"}, id)
	if err != nil {
		t.Fatal(err)
	}
	if len(addrs) != 2 || addrs[0].String() != "/ip4/198.51.100.11/tcp/4001" || addrs[1].String() != "/ip6/2001:db8:53::11/udp/4001/quic-v1" {
		t.Errorf("addrs %v", addrs)
	}
}
