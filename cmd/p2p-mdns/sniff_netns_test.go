package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chorus-services/discovery/internal/netns"
)

// buildTools compiles p2p-mdns and the go-libp2p reference node.
func buildTools(t *testing.T) (p2pMdns, goNode string) {
	t.Helper()
	dir := t.TempDir()
	p2pMdns, goNode = filepath.Join(dir, "p2p-mdns"), filepath.Join(dir, "golibp2p-node")
	for out, pkg := range map[string]string{p2pMdns: ".", goNode: "../../internal/interop/golibp2p-node"} {
		if b, err := exec.Command("go", "build", "-o", out, pkg).CombinedOutput(); err != nil {
			t.Fatalf("go build %s: %v\n%s", pkg, err, b)
		}
	}
	return p2pMdns, goNode
}

type sniffLine struct {
	Kind  string `json:"kind"`
	Src   string `json:"src"`
	Iface string `json:"iface"`
	IPTTL int    `json:"ip_ttl"`
	Peers []struct {
		ID      string   `json:"id"`
		Flavour string   `json:"flavour"`
		TTL     uint32   `json:"ttl"`
		Addrs   []string `json:"addrs"`
	} `json:"peers"`
}

// TestSniffGoLibp2pNetns: a go-libp2p node using go-libp2p's own mdns runs
// in namespace 1; `p2p-mdns sniff` in namespace 2 decodes its announcements
// into its peer ID and addresses, over IPv4 and IPv6, and its goodbye.
func TestSniffGoLibp2pNetns(t *testing.T) {
	nt := netns.New(t, 2)
	sniffBin, nodeBin := buildTools(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	var sniffOut, sniffErr bytes.Buffer
	sn := nt.Exec(ctx, 2, sniffBin, "sniff", "--json", "--iface", netns.LinkName, "--duration", "6s", "--log-level", "info")
	sn.Stdout, sn.Stderr = &sniffOut, &sniffErr
	if err := sn.Start(); err != nil {
		t.Fatal(err)
	}
	// Give sniff a moment to join the groups before the node starts; the
	// node's answer to its own first query is what we want to see.
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(sniffErr.String(), "listening") && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	node := nt.Exec(ctx, 1, nodeBin, "-duration", "3s")
	nodeOut, err := node.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := node.Start(); err != nil {
		t.Fatal(err)
	}
	var self struct {
		ID    string   `json:"id"`
		Addrs []string `json:"addrs"`
	}
	sc := bufio.NewScanner(nodeOut)
	if !sc.Scan() || json.Unmarshal(sc.Bytes(), &self) != nil || self.ID == "" {
		t.Fatalf("no self line from the go-libp2p node: %q", sc.Text())
	}
	for sc.Scan() {
	}
	if err := node.Wait(); err != nil {
		t.Fatalf("go-libp2p node: %v", err)
	}
	if err := sn.Wait(); err != nil {
		t.Fatalf("sniff: %v\n%s", err, sniffErr.String())
	}

	h1 := nt.Host(1)
	var v4, v6, goodbye bool
	addrs := map[string]bool{}
	for _, l := range strings.Split(strings.TrimSpace(sniffOut.String()), "\n") {
		var r sniffLine
		if err := json.Unmarshal([]byte(l), &r); err != nil {
			t.Fatalf("bad JSON line %q: %v", l, err)
		}
		if r.Iface != netns.LinkName || r.IPTTL != 255 {
			t.Errorf("packet on %q with IP TTL %d", r.Iface, r.IPTTL)
		}
		for _, p := range r.Peers {
			if p.ID != self.ID {
				t.Errorf("unexpected peer %s", p.ID)
				continue
			}
			if p.Flavour != "go" {
				t.Errorf("flavour %s", p.Flavour)
			}
			switch {
			case r.Kind == "goodbye" && p.TTL == 0:
				goodbye = true
			case strings.HasPrefix(r.Src, h1.V4.Addr().String()+":"):
				v4 = true
			case strings.HasPrefix(r.Src, "["):
				v6 = true
			}
			for _, a := range p.Addrs {
				addrs[a] = true
			}
		}
	}
	if !v4 || !v6 || !goodbye {
		t.Errorf("seen over IPv4 %v, IPv6 %v, goodbye %v\n%s", v4, v6, goodbye, sniffOut.String())
	}
	for _, want := range []string{"/ip4/" + h1.V4.Addr().String() + "/tcp/4001", "/ip6/" + h1.V6.Addr().String() + "/tcp/4001"} {
		if !addrs[want] {
			t.Errorf("address %s not decoded; got %v", want, addrs)
		}
	}
}
