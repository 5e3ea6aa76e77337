package main

import (
	"crypto/rand"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chorus-services/discovery/mdns/transport"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
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
		{"no key", []string{"--addr", addr}, "--peer-key FILE, --random, or an --addr ending in /p2p/<id>"},
		{"both keys", []string{"--random", "--peer-key", key, "--addr", addr}, "not both"},
		{"bad multiaddr", []string{"--random", "--addr", "/ip4/not-an-ip/tcp/1"}, "not-an-ip"},
		{"bad multiaddr 2", []string{"--random", "--addr", addr, "--addr", "tcp/1"}, "tcp/1"},
		{"key file in a missing directory", []string{"--peer-key", filepath.Join(key+".missing", "k"), "--addr", addr}, "no such file"},
		{"junk key file", []string{"--peer-key", junk, "--addr", addr}, "not a libp2p private key"},
		{"other peer", []string{"--peer-key", key, "--addr", addr + "/p2p/" + other}, "not our peer"},
		{"two peers", []string{"--addr", addr + "/p2p/" + other, "--addr", addr + "/p2p/" + id.String()}, "another peer"},
		{"bad ttl", []string{"--random", "--addr", addr, "--ttl-host", "0s"}, "ttl"},
		{"no such iface", []string{"--random", "--addr", addr, "--iface", "nosuch0"}, "no such interface"},
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
	k, created, err := loadKey(path, true)
	if err != nil || created {
		t.Fatal(err, created)
	}
	if got, _ := peer.IDFromPrivateKey(k); got != id {
		t.Errorf("key file gives %s, want %s", got, id)
	}
	// Create if missing: the same identity on the next load.
	fresh := filepath.Join(t.TempDir(), "new.key")
	k1, created, err := loadKey(fresh, true)
	if err != nil || !created || k1.Type() != crypto.Ed25519 {
		t.Fatal(err, created)
	}
	k2, created, err := loadKey(fresh, true)
	if err != nil || created || !k1.Equals(k2) {
		t.Errorf("reload: %v, created %v, same %v", err, created, k1.Equals(k2))
	}
	if st, _ := os.Stat(fresh); st.Mode().Perm() != 0o600 {
		t.Errorf("mode %v", st.Mode())
	}
	addrs, named, err := parseAnnounceAddrs([]string{"/ip4/198.51.100.11/tcp/4001/p2p/" + id.String(), "/ip6/2001:db8:53::11/udp/4001/quic-v1"})
	if err != nil {
		t.Fatal(err)
	}
	if named != id || len(addrs) != 2 || addrs[0].String() != "/ip4/198.51.100.11/tcp/4001" || addrs[1].String() != "/ip6/2001:db8:53::11/udp/4001/quic-v1" {
		t.Errorf("addrs %v, named %s", addrs, named)
	}
	// The ID of the /p2p suffix is enough: no key needed.
	if got, err := announceID("", false, named, io.Discard); err != nil || got != id {
		t.Errorf("ID from --addr: %s %v", got, err)
	}
}

// TestAnnounceUnsent: every address no interface will carry is named with
// its reason.
func TestAnnounceUnsent(t *testing.T) {
	lan := transport.Interface{Name: "lan0", Prefixes: []netip.Prefix{netip.MustParsePrefix("198.51.100.12/24"), netip.MustParsePrefix("fe80::12/64")}}
	ifs := []transport.Interface{lan}
	for addr, want := range map[string]string{
		"/ip4/198.51.100.12/tcp/1": "",
		"/ip4/8.8.8.8/tcp/1":       "",
		"/dns4/example.com/tcp/1":  "",
		"/ip6/fe80::12/tcp/1":      "",
		"/ip4/127.0.0.1/tcp/1":     "loopback",
		"/ip4/0.0.0.0/tcp/1":       "unspecified",
		"/ip4/10.0.0.1/tcp/1":      "private address on the subnet of none of the interfaces used (lan0)",
		"/ip6/fe80::99/tcp/1":      "link-local",
	} {
		got := unsent(ma.StringCast(addr), ifs)
		if (want == "") != (got == "") || !strings.Contains(got, want) {
			t.Errorf("%s: %q, want %q", addr, got, want)
		}
	}
}
