//go:build linux

package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/chorus-services/discovery/internal/interop/peers"
)

// Scenarios of the real rust-libp2p and py-libp2p peers of internal/interop
// (built by internal/interop/setup.sh rust|py): two nodes each, then two
// nodes with many listen addresses each. Every node dials what it finds.

const (
	rustDesc = "rust-libp2p 0.57.1 (libp2p-mdns 0.49.0, tokio, IPv4 mode) nodes of internal/interop/rust-node, each dialling what it finds (swarm.dial on mdns::Event::Discovered): queries from an ephemeral port, answers from it with IP TTL 1, PTR to a random bare label, one TXT per address in the additional section, no SRV/A, no goodbye"
	pyDesc   = "py-libp2p 0.8.1 nodes (python-zeroconf 0.150.5, IPv4 only) of internal/interop/pylibp2p, each dialling what it finds (host.connect): one TXT record with keys dnsaddr, dnsaddr2, dnsaddr3 …, SRV port 4001 whatever the listeners, A 127.0.0.1 (no default route in the namespace), NSEC, goodbyes on SIGTERM"
)

func runRealRust(many bool) func(ctx context.Context, s *session) error {
	return func(ctx context.Context, s *session) error {
		desc, args := rustDesc, []string{"--duration", "60"}
		if many {
			desc += "; 12 IPv4 and 12 IPv6 TCP listeners per node (24 addresses each)"
			for range 12 {
				args = append(args, "--listen", "/ip4/0.0.0.0/tcp/0", "--listen", "/ip6/::/tcp/0")
			}
		}
		s.setup(desc, false, "decoded from the capture's responses; cross-checked: equal to the node's IPv4 listen events but loopback (in IPv4 mode rust-libp2p announces only its IPv4 listen addresses, loopback excluded), + /p2p/<id>")
		return realPair(ctx, s, "rust-libp2p", peers.RustNodeBin(), args, rustVersions(), func(p *proc) []string {
			var out []string
			for _, a := range jsonField(p, "listen", "addr") {
				// IPv4 mode: only the IPv4 listen addresses, but loopback.
				if strings.HasPrefix(a, "/ip4/") && !strings.HasPrefix(a, "/ip4/127.") {
					out = append(out, a)
				}
			}
			return out
		})
	}
}

func runRealPy(many bool) func(ctx context.Context, s *session) error {
	return func(ctx context.Context, s *session) error {
		desc := pyDesc
		if many {
			desc += "; 12 IPv4 and 12 IPv6 TCP listeners on the host's lan0 addresses per node (24 TXT strings dnsaddr … dnsaddr24)"
		}
		s.setup(desc, true, "decoded from the capture's responses; cross-checked: equal to the node's self event (its transport addresses), + /p2p/<id>")
		venv := peers.PyVenv()
		script, err := filepath.Abs("internal/interop/pylibp2p/node.py")
		if err != nil {
			return err
		}
		argsFor := func(i int) []string {
			args := []string{"-u", script, "--duration", "60"}
			n := 1
			if many {
				n = 12
			}
			for k := range n {
				args = append(args, "--listen", fmt.Sprintf("/ip4/%s/tcp/%d", hostV4(i), 4001+k))
				if many {
					args = append(args, "--listen", fmt.Sprintf("/ip6/%s/tcp/%d", hostV6(i), 4001+k))
				}
			}
			return args
		}
		return realPairArgs(ctx, s, "py-libp2p", filepath.Join(venv, "bin", "python"), argsFor, pyVersions(venv), func(p *proc) []string {
			e, _ := p.self()
			return e.Addrs
		})
	}
}

func realPair(ctx context.Context, s *session, impl, bin string, args []string, vers map[string]string, announced func(*proc) []string) error {
	return realPairArgs(ctx, s, impl, bin, func(int) []string { return args }, vers, announced)
}

// realPairArgs runs impl on h1 and h2, waits until each found the other,
// lets them run 3 s more and stops them together.
func realPairArgs(ctx context.Context, s *session, impl, bin string, argsFor func(int) []string, vers map[string]string, announced func(*proc) []string) error {
	if _, err := os.Stat(bin); err != nil {
		return fmt.Errorf("%s: %w (run internal/interop/setup.sh)", impl, err)
	}
	var ps []*proc
	for i := 1; i <= 2; i++ {
		p, err := s.start(i, impl, bin, argsFor(i)...)
		if err != nil {
			return err
		}
		ps = append(ps, p)
		s.meta.Implementations = append(s.meta.Implementations, map[string]any{
			"name": impl, "host": fmt.Sprintf("h%d", i), "role": filepath.Base(bin) + " " + strings.Join(argsFor(i), " ")})
	}
	s.extraVersions = vers
	selfs, err := waitSelf(ctx, ps...)
	if err != nil {
		return err
	}
	if err := waitFound(ctx, ps[0], selfs[1].ID); err != nil {
		return err
	}
	if err := waitFound(ctx, ps[1], selfs[0].ID); err != nil {
		return err
	}
	sleep(ctx, 3*time.Second)
	if err := stopTogether(ps...); err != nil {
		return err
	}
	for i, p := range ps {
		id := selfs[i].ID
		s.intended[id] = announced(p)
		s.peerHost[id] = fmt.Sprintf("h%d", i+1)
		s.peerImpl[id] = impl
		if n := len(jsonField(p, "connected", "id")); n == 0 && i == 0 {
			s.notes = append(s.notes, impl+"@h1 reported no connection")
		}
	}
	return nil
}

// jsonField returns field f of every JSON line of p whose event is ev.
func jsonField(p *proc, ev, f string) []string {
	var out []string
	sc := bufio.NewScanner(strings.NewReader(p.stdout.String()))
	for sc.Scan() {
		var m map[string]any
		if json.Unmarshal(sc.Bytes(), &m) == nil && m["event"] == ev {
			if v, ok := m[f].(string); ok {
				out = append(out, v)
			}
		}
	}
	return out
}

func rustVersions() map[string]string {
	v := map[string]string{}
	if out, err := runCmd(context.Background(), "cargo", "--version"); err == nil {
		v["cargo"] = strings.TrimSpace(out)
	}
	v["crates:libp2p"] = "0.57.1"
	v["crates:libp2p-mdns"] = "0.49.0"
	return v
}

func pyVersions(venv string) map[string]string {
	v := map[string]string{}
	out, err := runCmd(context.Background(), filepath.Join(venv, "bin", "python"), "-c",
		"import importlib.metadata as m, sys; print(sys.version.split()[0], m.version('libp2p'), m.version('zeroconf'), m.version('trio'))")
	if f := strings.Fields(out); err == nil && len(f) == 4 {
		v["python"], v["pypi:libp2p"], v["pypi:zeroconf"], v["pypi:trio"] = f[0], f[1], f[2], f[3]
	}
	return v
}
