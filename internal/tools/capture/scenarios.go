//go:build linux

package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"
)

// hostAddrs returns tcp/4001 and quic-v1/4001 multiaddrs on each IP.
func hostAddrs(ips ...string) []string {
	var out []string
	for _, ip := range ips {
		fam := "ip4"
		if strings.Contains(ip, ":") {
			fam = "ip6"
		}
		out = append(out, "/"+fam+"/"+ip+"/tcp/4001", "/"+fam+"/"+ip+"/udp/4001/quic-v1")
	}
	return out
}

func addrFlags(addrs []string) []string {
	var f []string
	for _, a := range addrs {
		f = append(f, "--addr", a)
	}
	return f
}

// stopTogether stops the processes concurrently.
func stopTogether(ps ...*proc) error {
	var wg sync.WaitGroup
	errs := make([]error, len(ps))
	for i, p := range ps {
		wg.Add(1)
		go func() { defer wg.Done(); errs[i] = p.stop() }()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil && !strings.Contains(err.Error(), "signal: terminated") {
			return fmt.Errorf("%s@%s: %v: %s", ps[i].label, ps[i].host, err, ps[i].stderr.String())
		}
	}
	return nil
}

func waitSelf(ctx context.Context, ps ...*proc) ([]event, error) {
	var out []event
	for _, p := range ps {
		if !waitFor(ctx, 15*time.Second, func() bool { _, ok := p.self(); return ok }) {
			return nil, fmt.Errorf("%s@%s printed no self event: %s", p.label, p.host, p.stderr.String())
		}
		e, _ := p.self()
		out = append(out, e)
	}
	return out, nil
}

func waitFound(ctx context.Context, p *proc, ids ...string) error {
	if !waitFor(ctx, 12*time.Second, func() bool {
		f := p.found()
		for _, id := range ids {
			if !f[id] {
				return false
			}
		}
		return true
	}) {
		return fmt.Errorf("%s@%s did not find %v: %s", p.label, p.host, ids, p.stdout.String())
	}
	return nil
}

func (s *session) setup(desc string, wantBye bool, src string) {
	s.meta.Description = desc
	s.wantBye = wantBye
	s.addrsSrc = src
	s.intended = map[string][]string{}
	s.peerHost = map[string]string{}
	s.peerImpl = map[string]string{}
	s.facts = map[string]any{}
}

// ipOf returns the IP of a multiaddr string (/ip4/X/... or /ip6/X/...).
func ipOf(a string) string {
	f := strings.Split(a, "/")
	for i := 0; i+1 < len(f); i++ {
		if f[i] == "ip4" || f[i] == "ip6" {
			return f[i+1]
		}
	}
	return ""
}

func runO1(ctx context.Context, s *session) error {
	s.setup("two p2p-mdns run nodes (this project's discovery: libp2p host, mDNS responder and browser) find each other over IPv4 and IPv6 and connect; probes, announcements, answers to each other's queries, goodbyes on SIGTERM",
		true, "decoded from the capture's responses; cross-checked: equal to the node's 'self' event addresses whose IP is on lan0 of its host (198.51.100.1x, 2001:db8:53::1x, its fe80 address), + /p2p/<id>")
	cmd := []string{"run", "--json", "--iface", "lan0", "--log-level", "info"}
	a, err := s.start(1, "p2p-mdns run", s.bin, cmd...)
	if err != nil {
		return err
	}
	b, err := s.start(2, "p2p-mdns run", s.bin, cmd...)
	if err != nil {
		return err
	}
	s.meta.Implementations = []map[string]any{
		{"name": "p2p-mdns (this module)", "host": "h1", "role": "p2p-mdns " + strings.Join(cmd, " ") + " (listen tcp+quic-v1 on 0.0.0.0 and ::, kernel-chosen ports); SIGTERM at the end"},
		{"name": "p2p-mdns (this module)", "host": "h2", "role": "same"},
	}
	selfs, err := waitSelf(ctx, a, b)
	if err != nil {
		return err
	}
	if err := waitFound(ctx, a, selfs[1].ID); err != nil {
		return err
	}
	if err := waitFound(ctx, b, selfs[0].ID); err != nil {
		return err
	}
	sleep(ctx, 2*time.Second)
	if err := stopTogether(a, b); err != nil {
		return err
	}
	for i, e := range selfs {
		onLink := map[string]bool{hostV4(i + 1): true, hostV6(i + 1): true}
		if ll := s.topo.linkLocal(i + 1); ll != "" {
			onLink[strings.Split(ll, "/")[0]] = true
		}
		var want []string
		var dropped []string
		for _, ad := range e.Addrs {
			if onLink[ipOf(ad)] {
				want = append(want, ad)
			} else {
				dropped = append(dropped, ad)
			}
		}
		s.intended[e.ID] = want
		s.peerHost[e.ID] = fmt.Sprintf("h%d", i+1)
		s.peerImpl[e.ID] = "p2p-mdns run"
		if len(dropped) > 0 {
			s.notes = append(s.notes, fmt.Sprintf("h%d self addresses not on lan0 (not expected on the wire): %v", i+1, dropped))
		}
	}
	return nil
}

func runO2(ctx context.Context, s *session) error {
	s.setup("a synthetic rust-libp2p-format announcer (libp2p-mdns 0.49 wire format, see mdns/doc.go; in-process, IPv4): queries for _p2p._udp.local at 0, 1 and 3 s and answers every such query (its own and p2p-mdns browse's) from an ephemeral port with IP TTL 1: PTR to a single random label (new per answer), one TXT per address in the additional section; never a goodbye",
		false, "decoded from the capture's responses; cross-checked: equal to the announcer's configured addresses + /p2p/<id>")
	addrs := hostAddrs(hostV4(1), hostV6(1))
	r, err := s.start(1, "rustlike", s.self, append([]string{"rustlike", "--src", hostV4(1)}, addrFlags(addrs)...)...)
	if err != nil {
		return err
	}
	t0 := time.Now()
	selfs, err := waitSelf(ctx, r)
	if err != nil {
		return err
	}
	sleep(ctx, 500*time.Millisecond)
	bcmd := []string{"browse", "--json", "--iface", "lan0"}
	b, err := s.start(2, "p2p-mdns browse", s.bin, bcmd...)
	if err != nil {
		return err
	}
	s.meta.Implementations = []map[string]any{
		{"name": "rust-libp2p wire emulator (internal/tools/capture rustlike)", "host": "h1", "role": "announcer and querier, addresses " + strings.Join(addrs, " ")},
		{"name": "p2p-mdns (this module)", "host": "h2", "role": "p2p-mdns " + strings.Join(bcmd, " ")},
	}
	if err := waitFound(ctx, b, selfs[0].ID); err != nil {
		return err
	}
	if d := 5*time.Second - time.Since(t0); d > 0 {
		sleep(ctx, d)
	}
	if err := stopTogether(b, r); err != nil {
		return err
	}
	id := selfs[0].ID
	s.intended[id] = addrs
	s.peerHost[id] = "h1"
	s.peerImpl[id] = "rust-libp2p wire emulator"
	s.notes = append(s.notes, "the announcer answers from an ephemeral port with IP TTL 1 (the OS default, as rust-libp2p); every answer has a new instance label, all for the same peer ID")
	return nil
}

func runO3(ctx context.Context, s *session) error {
	s.setup("two p2p-mdns announce processes with the same --name (different peer IDs) started together: simultaneous probes, RFC 6762 §8.2 tie-break, one renames; p2p-mdns browse on h3 finds both; goodbyes on SIGTERM",
		true, "decoded from the capture's responses; cross-checked: equal to the process's --addr list (its 'self' event) + /p2p/<id>")
	bcmd := []string{"browse", "--json", "--iface", "lan0"}
	b, err := s.start(3, "p2p-mdns browse", s.bin, bcmd...)
	if err != nil {
		return err
	}
	sleep(ctx, 500*time.Millisecond)
	var ann []*proc
	s.meta.Implementations = nil
	for i := 1; i <= 2; i++ {
		args := append([]string{"announce", "--json", "--iface", "lan0", "--random", "--name", "libp2p-conflict"}, addrFlags(hostAddrs(hostV4(i), hostV6(i)))...)
		p, err := s.start(i, "p2p-mdns announce", s.bin, args...)
		if err != nil {
			return err
		}
		ann = append(ann, p)
		s.meta.Implementations = append(s.meta.Implementations, map[string]any{"name": "p2p-mdns (this module)", "host": fmt.Sprintf("h%d", i), "role": "p2p-mdns " + strings.Join(args, " ")})
	}
	s.meta.Implementations = append(s.meta.Implementations, map[string]any{"name": "p2p-mdns (this module)", "host": "h3", "role": "p2p-mdns " + strings.Join(bcmd, " ")})
	selfs, err := waitSelf(ctx, ann...)
	if err != nil {
		return err
	}
	if err := waitFound(ctx, b, selfs[0].ID, selfs[1].ID); err != nil {
		return err
	}
	sleep(ctx, 1500*time.Millisecond)
	if err := stopTogether(ann...); err != nil {
		return err
	}
	sleep(ctx, 1500*time.Millisecond)
	if err := stopTogether(b); err != nil {
		return err
	}
	for i, e := range selfs {
		s.intended[e.ID] = e.Addrs
		s.peerHost[e.ID] = fmt.Sprintf("h%d", i+1)
		s.peerImpl[e.ID] = "p2p-mdns announce"
	}
	s.notes = append(s.notes, "both announcers asked for the instance libp2p-conflict; the one that lost the RFC 6762 §8.2 tie-break took a new name (see observed.instances_by_peer); both stay discoverable")
	return nil
}

func runO4(ctx context.Context, s *session) error {
	s.setup("p2p-mdns announce with 44 multiaddrs (tcp + quic-v1 on 11 IPv4 and 11 IPv6 addresses of lan0): the record set does not fit one packet, so announcements, answers and goodbyes are split over several self-contained packets within the MTU; p2p-mdns browse on h2 finds all of them",
		true, "decoded from the capture's responses; cross-checked: equal to the process's 44 --addr (its 'self' event) + /p2p/<id>")
	ips := []string{hostV4(1)}
	for k := 1; k <= 10; k++ {
		ip4 := fmt.Sprintf("203.0.113.%d", k)
		if err := ip("-n", s.topo.hosts[0].ns, "addr", "add", ip4+"/24", "dev", "lan0"); err != nil {
			return err
		}
		ips = append(ips, ip4)
	}
	ips = append(ips, hostV6(1))
	for k := 1; k <= 10; k++ {
		ip6 := fmt.Sprintf("2001:db8:53:%x::11", k)
		if err := ip("-n", s.topo.hosts[0].ns, "addr", "add", ip6+"/64", "dev", "lan0", "nodad"); err != nil {
			return err
		}
		ips = append(ips, ip6)
	}
	if err := s.topo.waitReady(ctx); err != nil {
		return err
	}
	s.meta.Topology["extra_addrs_h1"] = "203.0.113.1-10/24 and 2001:db8:53:1-a::11/64 added to lan0 of h1 before the run"
	s.meta.Topology["netns_addrs_after_extra"] = s.topo.addrs()
	addrs := hostAddrs(ips...)
	bcmd := []string{"browse", "--json", "--iface", "lan0"}
	b, err := s.start(2, "p2p-mdns browse", s.bin, bcmd...)
	if err != nil {
		return err
	}
	sleep(ctx, 300*time.Millisecond)
	args := append([]string{"announce", "--json", "--iface", "lan0", "--random"}, addrFlags(addrs)...)
	a, err := s.start(1, "p2p-mdns announce", s.bin, args...)
	if err != nil {
		return err
	}
	s.meta.Implementations = []map[string]any{
		{"name": "p2p-mdns (this module)", "host": "h1", "role": fmt.Sprintf("p2p-mdns announce --json --iface lan0 --random with %d --addr (tcp/4001 and udp/4001/quic-v1 on each address of lan0)", len(addrs))},
		{"name": "p2p-mdns (this module)", "host": "h2", "role": "p2p-mdns " + strings.Join(bcmd, " ")},
	}
	selfs, err := waitSelf(ctx, a)
	if err != nil {
		return err
	}
	if err := waitFound(ctx, b, selfs[0].ID); err != nil {
		return err
	}
	sleep(ctx, 2500*time.Millisecond)
	stopAt := time.Now()
	if err := stopTogether(a); err != nil {
		return err
	}
	id := selfs[0].ID
	// The live browser reports the peer lost some time after the goodbyes;
	// wait for it, then let a late browser query once: nobody answers.
	lost := func() bool {
		for _, e := range b.events() {
			if e.Event == "lost" && e.ID == id {
				return true
			}
		}
		return false
	}
	if !waitFor(ctx, 8*time.Second, lost) {
		return fmt.Errorf("browse on h2 did not report %s lost: %s", id, b.stdout.String())
	}
	s.facts["live_browser_lost_after_sigterm_s"] = fmt.Sprintf("%.1f", time.Since(stopAt).Seconds())
	if err := stopTogether(b); err != nil {
		return err
	}
	late, err := s.start(2, "p2p-mdns browse (late)", s.bin, "browse", "--json", "--iface", "lan0", "--duration", "1500ms")
	if err != nil {
		return err
	}
	select {
	case <-late.done:
	case <-time.After(6 * time.Second):
		return errors.New("late browse did not exit")
	}
	if len(late.found()) > 0 {
		return fmt.Errorf("late browse found %v after the goodbyes", late.found())
	}
	s.meta.Implementations = append(s.meta.Implementations, map[string]any{"name": "p2p-mdns (this module)", "host": "h2", "role": "p2p-mdns browse --json --iface lan0 --duration 1500ms, started after the first browser reported the peer lost: its query gets no answer"})
	s.notes = append(s.notes, "the goodbyes are split over packets differently from the announcements (no _services._dns-sd._udp PTR in them, so more dnsaddr strings fit in the first packets): several TTL-0 TXT records do not match a cached record's rdata, and browsers drop the peer only when the instance's PTR goodbye takes effect (see observed.scenario_facts)")
	s.intended[id] = selfs[0].Addrs
	s.peerHost[id] = "h1"
	s.peerImpl[id] = "p2p-mdns announce"
	s.facts["announced_multiaddrs"] = len(addrs)
	return nil
}
