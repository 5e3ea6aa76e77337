//go:build linux

package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/chorus-services/discovery/internal/pcapread"
	"github.com/chorus-services/discovery/internal/syncbuf"
	"github.com/chorus-services/discovery/mdns"
)

const captureFilter = "udp port 5353 or (ip[6:2] & 0x3fff != 0) or (ip6 and ip6[6] == 44)"

type sidecar struct {
	Pcap            string            `json:"pcap"`
	Scenario        string            `json:"scenario"`
	Description     string            `json:"description"`
	Implementations []map[string]any  `json:"implementations"`
	Versions        map[string]string `json:"versions"`
	Topology        map[string]any    `json:"topology"`
	Capture         map[string]any    `json:"capture"`
	Expected        expected          `json:"expected"`
	Observed        map[string]any    `json:"observed"`
	Verification    map[string]any    `json:"verification"`
}

type expected struct {
	Rule  string         `json:"rule"`
	Peers []expectedPeer `json:"peers"`
	Notes []string       `json:"notes"`
}

type expectedPeer struct {
	PeerID         string   `json:"peer_id"`
	Instance       string   `json:"instance"`
	InstanceSource string   `json:"instance_source"`
	Instances      []string `json:"instances_seen,omitempty"`
	Multiaddrs     []string `json:"multiaddrs"`
	Goodbye        bool     `json:"goodbye"`
	MultiaddrsSrc  string   `json:"multiaddrs_source"`
	Host           string   `json:"host"`
	Implementation string   `json:"implementation"`
	DiscoveredBy   []string `json:"discovered_by_real_peers"`
}

const rule = "A libp2p mDNS browser should report, per peer ID, the multiaddrs found in 'dnsaddr=' strings of TXT records owned by <instance>._p2p._udp.local. in mDNS responses (QR=1); multiaddrs are listed exactly as in TXT (with the /p2p/<peer-id> suffix). goodbye=true: a TTL-0 TXT record for that instance appears later in the capture (peer withdrawn). Queries (incl. probes and known-answer lists) carry no discovery data."

// proc is a process started in a host namespace.
type proc struct {
	label, host string
	cmd         *exec.Cmd
	stdout      *syncbuf.Buffer
	stderr      *syncbuf.Buffer
	done        chan struct{}
	err         error
}

// event is one JSON line of p2p-mdns (and of rustlike).
type event struct {
	Event string   `json:"event"`
	ID    string   `json:"id"`
	Addrs []string `json:"addrs"`
	T     float64  `json:"t"`
}

func (p *proc) events() []event {
	var evs []event
	sc := bufio.NewScanner(strings.NewReader(p.stdout.String()))
	for sc.Scan() {
		var e event
		if json.Unmarshal(sc.Bytes(), &e) == nil && e.Event != "" {
			evs = append(evs, e)
		}
	}
	return evs
}

func (p *proc) self() (event, bool) {
	for _, e := range p.events() {
		if e.Event == "self" {
			return e, true
		}
	}
	return event{}, false
}

// found returns the IDs this process reported found.
func (p *proc) found() map[string]bool {
	m := map[string]bool{}
	for _, e := range p.events() {
		if e.Event == "found" || e.Event == "updated" {
			m[e.ID] = true
		}
	}
	return m
}

type session struct {
	topo      *topology
	bin, self string
	dir, name string
	pcap      string
	meta      *sidecar
	tcpdump   *proc
	procs     []*proc
	notes     []string
	facts     map[string]any
	// intended: per peer ID, the multiaddrs (without /p2p) the process
	// said it announces on lan0, for the cross-check; host and
	// implementation name.
	intended map[string][]string
	peerHost map[string]string
	peerImpl map[string]string
	addrsSrc string
	wantBye  bool
	// extraVersions are the versions of the scenario's other
	// implementations (rust, py), added to the sidecar's.
	extraVersions map[string]string
}

func (s *session) start(hostIdx int, label string, name string, args ...string) (*proc, error) {
	h := s.topo.hosts[hostIdx-1]
	p := &proc{label: label, host: h.name, stdout: &syncbuf.Buffer{}, stderr: &syncbuf.Buffer{}, done: make(chan struct{})}
	p.cmd = exec.Command("ip", append([]string{"netns", "exec", h.ns, name}, args...)...)
	p.cmd.Stdout, p.cmd.Stderr = p.stdout, p.stderr
	if err := p.cmd.Start(); err != nil {
		return nil, err
	}
	go func() { p.err = p.cmd.Wait(); close(p.done) }()
	s.procs = append(s.procs, p)
	return p, nil
}

// stop sends SIGTERM and waits at most 6 s, then kills.
func (p *proc) stop() error {
	select {
	case <-p.done:
		return p.err
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		return p.err
	case <-time.After(6 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
		return fmt.Errorf("%s did not stop on SIGTERM", p.label)
	}
}

func (s *session) stopAll() {
	for _, p := range s.procs {
		_ = p.stop()
	}
	if s.tcpdump != nil {
		_ = s.tcpdump.stop()
	}
}

// waitFor polls cond every 50 ms for at most d.
func waitFor(ctx context.Context, d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) || ctx.Err() != nil {
			return false
		}
		time.Sleep(50 * time.Millisecond)
	}
	return true
}

func sleep(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

func (s *session) startCapture(ctx context.Context) error {
	p := &proc{label: "tcpdump", stdout: &syncbuf.Buffer{}, stderr: &syncbuf.Buffer{}, done: make(chan struct{})}
	// -Z root: tcpdump would otherwise drop to its own user before opening
	// the output file in our private temporary directory.
	p.cmd = exec.Command("ip", "netns", "exec", s.topo.bridge, "tcpdump", "-i", "br0", "-s", "0", "-U", "--immediate-mode", "-Z", "root", "-w", s.pcap, captureFilter)
	p.cmd.Stdout, p.cmd.Stderr = p.stdout, p.stderr
	if err := p.cmd.Start(); err != nil {
		return err
	}
	go func() { p.err = p.cmd.Wait(); close(p.done) }()
	s.tcpdump = p
	if !waitFor(ctx, 5*time.Second, func() bool { return strings.Contains(p.stderr.String(), "listening on") }) {
		return fmt.Errorf("tcpdump did not start: %s", p.stderr.String())
	}
	s.meta.Capture = map[string]any{
		"tool":     "tcpdump -i br0 -s 0 -U --immediate-mode -Z root -w FILE",
		"netns":    s.topo.bridge,
		"linktype": "EN10MB (Ethernet)",
		"filter":   captureFilter,
		"stopped":  "SIGINT 1.5 s after the last process exited",
	}
	return nil
}

func (s *session) stopCapture() error {
	time.Sleep(1500 * time.Millisecond)
	p := s.tcpdump
	_ = p.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
		return errors.New("tcpdump did not stop on SIGINT")
	}
	s.meta.Capture["tcpdump_stderr"] = strings.TrimSpace(p.stderr.String())
	return nil
}

// decoded is what the capture says about one peer.
type decoded struct {
	addrs     []string // with /p2p/<id>, in order of first appearance
	instances []string
	goodbye   bool
	flavours  []string
}

// decodeCapture mirrors mdns/capture_test.go decodeCapture.
func decodeCapture(path string) (map[string]*decoded, []string, error) {
	dgs, st, err := pcapread.ReadFile(path)
	if err != nil {
		return nil, nil, err
	}
	var ids []string
	if st.Incomplete > 0 {
		return nil, nil, fmt.Errorf("%d fragments never completed", st.Incomplete)
	}
	dec := mdns.NewDecoder(mdns.SpecService, 0)
	peers := map[string]*decoded{}
	instanceID := map[string]string{}
	for _, dg := range dgs {
		m, err := mdns.Parse(dg.Packet.Data)
		if err != nil {
			return nil, nil, fmt.Errorf("frame %d: %v", dg.Frame, err)
		}
		kind, err := mdns.Classify(m)
		if err != nil {
			return nil, nil, fmt.Errorf("frame %d: %v", dg.Frame, err)
		}
		if kind != mdns.KindResponse && kind != mdns.KindGoodbye {
			continue
		}
		res := dec.Decode(m, false)
		if len(res.Rejected) > 0 {
			return nil, nil, fmt.Errorf("frame %d: rejected %v", dg.Frame, res.Rejected)
		}
		for _, c := range res.Candidates {
			id := c.ID.String()
			p := peers[id]
			if p == nil {
				p = &decoded{}
				peers[id] = p
				ids = append(ids, id)
			}
			instanceID[strings.ToLower(c.Instance)] = id
			if !slices.Contains(p.instances, c.Instance) {
				p.instances = append(p.instances, c.Instance)
			}
			for _, a := range c.Addrs {
				s := a.String() + "/p2p/" + id
				if !slices.Contains(p.addrs, s) {
					p.addrs = append(p.addrs, s)
				}
			}
			if f := c.Flavour.String(); !slices.Contains(p.flavours, f) {
				p.flavours = append(p.flavours, f)
			}
			if c.TTL == 0 {
				p.goodbye = true
			}
		}
		for _, inst := range res.Withdrawn {
			if id, ok := instanceID[inst]; ok {
				peers[id].goodbye = true
			}
		}
	}
	return peers, ids, nil
}

// analyse decodes the capture, builds expected.peers and cross-checks them.
func (s *session) analyse() error {
	peers, ids, err := decodeCapture(s.pcap)
	if err != nil {
		return err
	}
	var problems []string
	observers := map[string][]string{}
	for _, p := range s.procs {
		for id := range p.found() {
			observers[id] = append(observers[id], p.label+"@"+p.host)
		}
	}
	for _, id := range ids {
		d := peers[id]
		want, ok := s.intended[id]
		if !ok {
			problems = append(problems, "unexpected peer "+id+" in the capture")
			continue
		}
		var wantFull []string
		for _, a := range want {
			wantFull = append(wantFull, a+"/p2p/"+id)
		}
		a, b := slices.Clone(d.addrs), slices.Clone(wantFull)
		sort.Strings(a)
		sort.Strings(b)
		if !slices.Equal(a, b) {
			problems = append(problems, fmt.Sprintf("peer %s: on the wire %v, announced %v", id, a, b))
		}
		if d.goodbye != s.wantBye {
			problems = append(problems, fmt.Sprintf("peer %s: goodbye %v, want %v", id, d.goodbye, s.wantBye))
		}
		obs := observers[id]
		sort.Strings(obs)
		if obs == nil {
			obs = []string{}
		}
		ep := expectedPeer{PeerID: id, Instance: d.instances[0], Multiaddrs: d.addrs, Goodbye: d.goodbye,
			MultiaddrsSrc: s.addrsSrc, Host: s.peerHost[id], Implementation: s.peerImpl[id], DiscoveredBy: obs,
			InstanceSource: "filled from capture (first instance seen)"}
		if len(d.instances) > 1 {
			ep.Instances = d.instances
		}
		s.meta.Expected.Peers = append(s.meta.Expected.Peers, ep)
	}
	for id := range s.intended {
		if peers[id] == nil {
			problems = append(problems, "announced peer "+id+" not in the capture")
		}
	}
	if len(problems) > 0 {
		for _, p := range s.procs {
			fmt.Fprintf(os.Stderr, "--- %s@%s stdout:\n%s--- stderr:\n%s\n", p.label, p.host, p.stdout.String(), p.stderr.String())
		}
		return fmt.Errorf("%w:\n  %s", errCheck, strings.Join(problems, "\n  "))
	}
	s.meta.Expected.Rule = rule
	s.meta.Expected.Notes = append([]string{}, s.notes...)
	s.meta.Versions = versions()
	for k, v := range s.extraVersions {
		s.meta.Versions[k] = v
	}

	// Packet counts by kind, as `p2p-mdns sniff --read FILE --json` reports them.
	out, err := runCmd(context.Background(), s.bin, "sniff", "--read", s.pcap, "--json")
	if err != nil {
		return err
	}
	kinds := map[string]int{}
	srcs := map[string]bool{}
	maxSize, tc, frames, v4, v6 := 0, 0, 0, 0, 0
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		var r struct {
			Kind, Src string
			Size      int
			TC        bool
		}
		if json.Unmarshal(sc.Bytes(), &r) != nil {
			continue
		}
		frames++
		kinds[r.Kind]++
		maxSize = max(maxSize, r.Size)
		if r.TC {
			tc++
		}
		host := r.Src
		if i := strings.LastIndex(host, ":"); i >= 0 {
			host = host[:i]
		}
		host = strings.Trim(host, "[]")
		srcs[host] = true
		if strings.Contains(host, ":") {
			v6++
		} else {
			v4++
		}
	}
	var senders []string
	for h := range srcs {
		senders = append(senders, h)
	}
	sort.Strings(senders)
	_, st, _ := pcapread.ReadFile(s.pcap)
	fi, _ := os.Stat(s.pcap)
	s.meta.Observed = map[string]any{
		"sniff_kinds":          kinds,
		"sniff_command":        "p2p-mdns sniff --read " + filepath.Base(s.pcap) + " --json",
		"datagrams":            frames,
		"ipv4_datagrams":       v4,
		"ipv6_datagrams":       v6,
		"max_dns_message_size": maxSize,
		"tc_bit_set":           tc,
		"senders":              senders,
		"pcap_frames":          st.Frames,
		"ip_fragments":         st.Fragments,
		"pcap_bytes":           fi.Size(),
		"process_events":       s.procEvents(),
		"scenario_facts":       s.facts,
		"instances_by_peer":    instancesByPeer(peers),
	}
	verif := map[string]any{"pcapdecode": "ok (mdns decoder; expected.peers derived from it and cross-checked)"}
	if _, err := exec.LookPath("tshark"); err == nil {
		txt, err := runCmd(context.Background(), "tshark", "-r", s.pcap)
		if err != nil {
			return err
		}
		if err := os.WriteFile(strings.TrimSuffix(s.pcap, ".pcap")+".txt", []byte(txt), 0o644); err != nil {
			return err
		}
		verif["tshark"] = fmt.Sprintf("ok (%d lines)", strings.Count(txt, "\n"))
	}
	s.meta.Verification = verif
	if fi.Size() > 200_000 {
		return fmt.Errorf("capture is %d bytes (limit 200 kB)", fi.Size())
	}
	return writeJSON(strings.TrimSuffix(s.pcap, ".pcap")+".json", s.meta)
}

func (s *session) procEvents() []map[string]any {
	var out []map[string]any
	for _, p := range s.procs {
		evs := p.events()
		if evs == nil {
			evs = []event{}
		}
		out = append(out, map[string]any{"process": p.label, "host": p.host, "events": evs})
	}
	return out
}

// write copies the finished files into dir.
func (s *session) write(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for _, ext := range []string{".pcap", ".json", ".txt"} {
		src := strings.TrimSuffix(s.pcap, ".pcap") + ext
		if _, err := os.Stat(src); err != nil {
			continue
		}
		if err := copyFile(src, filepath.Join(dir, s.name+ext)); err != nil {
			return err
		}
	}
	fmt.Fprintf(os.Stderr, "   wrote %s/%s.{pcap,json,txt}: %v\n", dir, s.name, s.meta.Observed["sniff_kinds"])
	return nil
}

func versions() map[string]string {
	v := map[string]string{"go": runtime.Version()}
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, d := range bi.Deps {
			switch d.Path {
			case "github.com/libp2p/go-libp2p", "github.com/miekg/dns", "github.com/multiformats/go-multiaddr":
				v["go:"+d.Path] = d.Version
			}
		}
	}
	mod := "github.com/chorus-services/discovery"
	if out, err := runCmd(context.Background(), "git", "rev-parse", "HEAD"); err == nil {
		mod += "@" + strings.TrimSpace(out)
		if st, err := runCmd(context.Background(), "git", "status", "--porcelain"); err == nil && strings.TrimSpace(st) != "" {
			mod += " (+ uncommitted changes)"
		}
	}
	v["module"] = mod
	for _, pkg := range []string{"tcpdump", "tshark", "iproute2"} {
		if out, err := runCmd(context.Background(), "dpkg-query", "-W", "-f", "${Version}", pkg); err == nil {
			v["debian:"+pkg] = strings.TrimSpace(out)
		}
	}
	return v
}

// instancesByPeer lists every instance name each peer used, in order.
func instancesByPeer(peers map[string]*decoded) map[string][]string {
	m := map[string][]string{}
	for id, d := range peers {
		m[id] = d.instances
	}
	return m
}
