package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chorus-services/discovery/internal/interop/peers"
	"github.com/chorus-services/discovery/internal/netns"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
)

// TestBadFlagsNetns: every bad flag value exits 2 before anything starts
// (nothing on stdout, at once), with a one-line error naming the flag. The
// binary runs in a namespace: a command that started anyway could only
// reach that namespace's LAN.
func TestBadFlagsNetns(t *testing.T) {
	nt := netns.New(t, 1)
	junk := filepath.Join(t.TempDir(), "junk.key")
	if err := os.WriteFile(junk, []byte("not a key"), 0o600); err != nil {
		t.Fatal(err)
	}
	good := "../../testdata/pcap/a_avahi_announce_goodbye.pcap"
	addr := "/ip4/198.51.100.11/tcp/4001"
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"run", "--listen", "garbage"}, "--listen"},
		{[]string{"run", "--listen", "/dns4/example.com/tcp/1"}, "--listen"},
		{[]string{"run", "--dial-timeout", "0"}, "--dial-timeout"},
		{[]string{"run", "--dial-concurrency", "0"}, "--dial-concurrency"},
		{[]string{"run", "--iface", "nosuch"}, "--iface nosuch: no such interface"},
		{[]string{"run", "--metrics", "garbage"}, "--metrics"},
		{[]string{"run", "--metrics", "127.0.0.1:99999"}, "--metrics"},
		{[]string{"run", "--duration", "-5s"}, "--duration"},
		{[]string{"run", "--stats", "-1s"}, "--stats"},
		{[]string{"run", "--ttl-host", "0s"}, "--ttl-host"},
		{[]string{"run", "--peer-key", junk}, "not a libp2p private key"},
		{[]string{"run", "--log-level", "loud"}, "--log-level"},
		{[]string{"run", "--service", "a..b"}, "--service"},
		{[]string{"run", "--bogus"}, "-bogus"},
		{[]string{"browse", "--duration", "-5s"}, "--duration"},
		{[]string{"browse", "--once", "--iface", "nosuch"}, "no such interface"},
		{[]string{"announce", "--random", "--addr", "garbage"}, "--addr"},
		{[]string{"announce", "--random", "--addr", addr, "--iface", "nosuch"}, "no such interface"},
		{[]string{"announce", "--random", "--addr", addr, "--duration", "-5s"}, "--duration"},
		{[]string{"sniff", "--duration", "-5s"}, "--duration"},
		{[]string{"sniff", "--read", "/nonexistent.pcap"}, "no such file"},
		{[]string{"doctor", "--duration", "-5s"}, "--duration"},
		{[]string{"doctor", "--iface", "nosuch"}, "no such interface"},
		{[]string{"replay", "--linger", "-1s", good}, "--linger"},
		{[]string{"replay"}, "no capture file"},
		{[]string{"replay", "-", "-"}, "once"},
		{[]string{"keygen"}, "FILE"},
		{[]string{"keygen", junk}, "exists"},
		{[]string{"nosuch"}, "unknown command"},
	} {
		r := runCLI(t, nt, 1, nil, 20*time.Second, tc.args...)
		switch {
		case r.code != 2:
			t.Errorf("%q: exit %d, want 2 (stderr %q)", tc.args, r.code, r.stderr)
		case r.stdout != "":
			t.Errorf("%q: printed %q", tc.args, r.stdout)
		case strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 || !strings.Contains(r.stderr, tc.want):
			t.Errorf("%q: stderr %q: want one line with %q", tc.args, r.stderr, tc.want)
		case r.took > 5*time.Second:
			t.Errorf("%q: took %v", tc.args, r.took)
		}
	}
}

// TestRunMetricsAndIdentityNetns: --metrics is bound before anything
// starts (a busy port stops run before it announces), serves the Go and
// process collectors with ours and says where; --peer-key FILE creates the
// identity when missing and keeps it; self lists no loopback address.
func TestRunMetricsAndIdentityNetns(t *testing.T) {
	nt := netns.New(t, 1)
	// A busy port: run exits 1 before announcing.
	var busy net.Listener
	if err := nt.Do(1, func() (err error) { busy, err = net.Listen("tcp", "127.0.0.1:9464"); return err }); err != nil {
		t.Fatal(err)
	}
	r := runCLI(t, nt, 1, nil, 20*time.Second, "run", "--json", "--iface", netns.LinkName, "--metrics", "127.0.0.1:9464", "--duration", "10s")
	if r.code != 1 || r.stdout != "" || !strings.Contains(r.stderr, "address already in use") {
		t.Errorf("busy metrics port: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	busy.Close()

	key := filepath.Join(t.TempDir(), "id.key")
	bin := peers.P2PMdns(t)
	p := peers.Start(t, "run@h1", nt.Exec(t.Context(), 1, bin, "run", "--json", "--iface", netns.LinkName, "--metrics", "127.0.0.1:9464", "--peer-key", key, "--duration", "20s"))
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	self, err := p.WaitFor(ctx, func(e peers.Event) bool { return e.Str("event") == evSelf })
	if err != nil {
		t.Fatal(err)
	}
	if self.Str("flavour") != flavourOurs || len(self.Strs("addrs")) == 0 {
		t.Errorf("self %v", self)
	}
	for _, a := range self.Strs("addrs") {
		if strings.Contains(a, "/127.0.0.1/") || strings.Contains(a, "/::1/") {
			t.Errorf("self lists loopback %s", a)
		}
	}
	if stderr, err := p.WaitStderr(ctx, "created a new identity", `url=http://127.0.0.1:9464/metrics`); err != nil {
		t.Errorf("%v: %q", err, stderr)
	}
	body := httpGetIn(t, nt, 1, "127.0.0.1:9464", "/metrics")
	for _, want := range []string{"go_goroutines ", "process_resident_memory_bytes ", "mdns_discovery_peers_known"} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	p.Stop(10 * time.Second)
	// The same identity on the next run.
	r = runCLI(t, nt, 1, nil, 30*time.Second, "run", "--json", "--iface", netns.LinkName, "--peer-key", key, "--duration", "1s", "--no-connect")
	var again peerEvent
	first, _, _ := strings.Cut(r.stdout, "\n")
	if err := json.Unmarshal([]byte(first), &again); err != nil || again.Event != evSelf || again.ID != self.Str("id") || strings.Contains(r.stderr, "created") {
		t.Errorf("second run: %v %+v, want %s; stderr %q", err, again, self.Str("id"), r.stderr)
	}
}

// httpGetIn fetches path from addr inside host i's namespace (the socket is
// opened there; reading it needs no namespace).
func httpGetIn(t *testing.T, nt *netns.Net, i int, addr, path string) string {
	t.Helper()
	var c net.Conn
	if err := nt.Do(i, func() (err error) { c, err = net.DialTimeout("tcp", addr, 5*time.Second); return err }); err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(c, "GET %s HTTP/1.0\r\nHost: %s\r\n\r\n", path, addr)
	b, err := io.ReadAll(c)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestAnnounceBrowseOnceNetns: announce takes the peer ID from --addr
// …/p2p/<id> (no key) and warns about each address it will not send, with
// why; browse --once in another namespace prints the peer (flavour
// discovery) and a summary of what it ignored: an instance of the service
// without a libp2p peer (avahi), another service, and a libp2p peer under
// another tag, with the --service to use.
func TestAnnounceBrowseOnceNetns(t *testing.T) {
	peers.Require(t, "avahi-daemon", "avahi-publish")
	nt := netns.New(t, 3)
	bin := peers.P2PMdns(t)
	k, _, _ := crypto.GenerateEd25519Key(rand.Reader)
	id, _ := peer.IDFromPrivateKey(k)
	h1, h3 := nt.Host(1), nt.Host(3)
	lanAddr := "/ip4/" + h1.V4.Addr().String() + "/tcp/4001"
	an := peers.Start(t, "announce@h1", nt.Exec(t.Context(), 1, bin, "announce", "--json", "--iface", netns.LinkName, "--duration", "40s",
		"--addr", lanAddr+"/p2p/"+id.String(), "--addr", "/ip4/127.0.0.1/tcp/4001", "--addr", "/ip4/10.9.9.9/tcp/4001"))
	ctx, cancel := context.WithTimeout(t.Context(), 40*time.Second)
	defer cancel()
	self, err := an.WaitFor(ctx, func(e peers.Event) bool { return e.Str("event") == evSelf })
	if err != nil {
		t.Fatal(err)
	}
	if self.Str("id") != id.String() || !slices.Equal(self.Strs("addrs"), []string{lanAddr}) {
		t.Errorf("self %v, want %s with only %s", self, id, lanAddr)
	}
	wctx, wcancel := context.WithTimeout(ctx, 5*time.Second)
	warned, err := an.WaitStderr(wctx, `addr=/ip4/127.0.0.1/tcp/4001 why="loopback address`,
		`addr=/ip4/10.9.9.9/tcp/4001 why="private address on the subnet of none of the interfaces used (lan0)`)
	wcancel()
	if err != nil {
		t.Errorf("%v:\n%s", err, warned)
	}
	if strings.Contains(warned, lanAddr+" ") {
		t.Errorf("warned about the LAN address:\n%s", warned)
	}

	// browse --once listens 15 s; the ignored instances appear meanwhile.
	// The JSON one browses one tag (--service), so the peer of another
	// tag is among what it ignored; the table one browses every tag and
	// lists that peer with its tag.
	once := make(chan cliResult, 2)
	go func() {
		once <- runCLI(t, nt, 2, nil, 40*time.Second, "browse", "--once", "--json", "--iface", netns.LinkName, "--duration", "15s", "--service", "_p2p._udp")
	}()
	go func() {
		once <- runCLI(t, nt, 2, nil, 40*time.Second, "browse", "-t", "--iface", netns.LinkName, "--duration", "15s")
	}()
	time.Sleep(time.Second)
	av := peers.StartAvahi(t, nt, 3, "once-h3")
	av.Publish(t, "printer", "_p2p._udp", 631, "note=not libp2p")
	av.Publish(t, "web", "_http._tcp", 80)
	other := peers.Start(t, "announce@h3", nt.Exec(t.Context(), 3, bin, "announce", "--random", "--json", "--iface", netns.LinkName, "--duration", "30s",
		"--service", "other-tag", "--addr", "/ip4/"+h3.V4.Addr().String()+"/tcp/4002"))
	otherSelf, err := other.WaitFor(ctx, func(e peers.Event) bool { return e.Str("event") == evSelf })
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		r := <-once
		if r.code != 0 {
			t.Fatalf("browse --once: exit %d: %s", r.code, r.stderr)
		}
		t.Logf("browse --once:\n%s", r.stdout)
		if strings.HasPrefix(r.stdout, "{") {
			checkOnceJSON(t, r.stdout, id.String(), lanAddr)
			continue
		}
		for _, want := range []string{"2 libp2p peer(s) of _p2p._udp, other-tag", id.String() + "  discovery  _p2p._udp",
			lanAddr, otherSelf.Str("id") + "  discovery  other-tag",
			"ignored: 1 instance(s) of _p2p._udp.local. without a libp2p peer ID: printer", "_http._tcp.local. (1)"} {
			if !strings.Contains(r.stdout, want) {
				t.Errorf("table lacks %q", want)
			}
		}
	}
}

func checkOnceJSON(t *testing.T, out, id, addr string) {
	t.Helper()
	schemas := docSchemas(t)
	checkLines(t, schemas, "", []byte(out))
	var sawPeer, sawIgnored bool
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		var ev struct {
			Event, ID, Flavour string
			Addrs              []string
			NonLibp2p          []string       `json:"non_libp2p"`
			OtherServices      map[string]int `json:"other_services"`
			OtherTags          map[string]int `json:"other_tags"`
		}
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			t.Fatal(err)
		}
		switch ev.Event {
		case "peer":
			if ev.ID == id {
				sawPeer = ev.Flavour == flavourOurs && slices.Equal(ev.Addrs, []string{addr})
			}
		case "ignored":
			sawIgnored = slices.Equal(ev.NonLibp2p, []string{"printer"}) && ev.OtherServices["_http._tcp.local."] == 1 && ev.OtherTags["other-tag"] == 1
			if !sawIgnored {
				t.Errorf("ignored %s", sc.Text())
			}
		default:
			t.Errorf("unexpected line %s", sc.Text())
		}
	}
	if !sawPeer || !sawIgnored {
		t.Errorf("peer %v, ignored %v:\n%s", sawPeer, sawIgnored, out)
	}
}
