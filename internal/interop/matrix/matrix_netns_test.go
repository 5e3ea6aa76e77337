//go:build linux

package matrix

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chorus-services/discovery/internal/interop/peers"
	"github.com/chorus-services/discovery/internal/netns"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
)

type family int

const (
	v4 family = iota
	v6
)

func (f family) String() string { return [...]string{"v4", "v6"}[f] }

type direction int

const (
	theyFindUs direction = iota
	weFindThem
)

func (d direction) String() string { return [...]string{"they find us", "we find them"}[d] }

// within bounds every wait for a discovery in a cell.
const within = 15 * time.Second

// ourName is the instance label our announcer uses.
const ourName = "matrix-us"

// cell is one (peer, direction, family) of the matrix.
type cell struct {
	peer string
	dir  direction
	fam  family
	na   string // why the cell does not apply ("" if it does)
	// run performs the cell; it fails t when the cell does not work for a
	// reason not diagnosed as a known bug.
	run func(t *testing.T, c cell) outcome
}

// outcome is what a cell's run reports when it does not fail the test.
type outcome struct {
	d     time.Duration // from the later start to the discovery
	conn  time.Duration // from the later start to the connection (libp2p flavours)
	note  string        // logged with the cell (the addresses decoded)
	known string        // non-empty: the cell does not work, for this diagnosed reason
}

func found(d time.Duration, note string) outcome { return outcome{d: d, note: note} }

// strict makes known bugs fail the test (MATRIX_STRICT=1).
var strict = os.Getenv("MATRIX_STRICT") == "1"

func (c cell) name() string {
	return fmt.Sprintf("%s/%s/%s", c.peer, strings.ReplaceAll(c.dir.String(), " ", "_"), c.fam)
}

// result is what the table shows for a cell.
type result struct {
	text string
	note string // a footnote (the diagnosis of a known bug)
	ok   bool
}

var peerOrder = []string{"go-libp2p", "rust-libp2p", "js-libp2p", "py-libp2p", "avahi", "python-zeroconf"}

func cells() []cell {
	var cs []cell
	for _, f := range []family{v4, v6} {
		for _, fl := range flavours {
			na := ""
			if f == v6 {
				na = fl.v6
			}
			cs = append(cs,
				cell{peer: fl.name, dir: theyFindUs, fam: f, na: na, run: libp2pFindsUs},
				cell{peer: fl.name, dir: weFindThem, fam: f, na: na, run: weFindLibp2p},
			)
		}
		cs = append(cs,
			cell{peer: "avahi", dir: theyFindUs, fam: f, run: avahiFindsUs},
			cell{peer: "avahi", dir: weFindThem, fam: f, run: weFindAvahi},
			cell{peer: "python-zeroconf", dir: theyFindUs, fam: f, run: pythonFindsUs},
			cell{peer: "python-zeroconf", dir: weFindThem, fam: f, run: weFindPython},
		)
	}
	slices.SortStableFunc(cs, func(a, b cell) int {
		if d := slices.Index(peerOrder, a.peer) - slices.Index(peerOrder, b.peer); d != 0 {
			return d
		}
		if a.dir != b.dir {
			return int(a.dir) - int(b.dir)
		}
		return int(a.fam) - int(b.fam)
	})
	return cs
}

// TestMatrix runs every cell in sequence, each in its own namespaces, and
// prints the matrix.
func TestMatrix(t *testing.T) {
	netns.New(t, 1) // skips early without root / ip, before building anything
	// Build the Go programs up front, so no cell's time includes a build.
	peers.P2PMdns(t)
	peers.Build(t, "github.com/chorus-services/discovery/internal/interop/golibp2p-node")

	start := time.Now()
	results := map[string]result{}
	for _, c := range cells() {
		if c.na != "" {
			results[c.name()] = result{text: "n/a (" + c.na + ")", ok: true}
			t.Logf("%s: n/a: %s", c.name(), c.na)
			continue
		}
		var o outcome
		var failed, skipped bool
		t.Run(c.name(), func(t *testing.T) {
			defer func() { failed, skipped = t.Failed(), t.Skipped() }()
			o = c.run(t, c)
			if o.note != "" {
				t.Log(o.note)
			}
			if o.known != "" {
				t.Logf("known bug, not working: %s", o.known)
				if strict {
					t.Errorf("MATRIX_STRICT=1: %s", o.known)
				}
			}
		})
		switch {
		case failed:
			results[c.name()] = result{text: "✗"}
		case skipped:
			// A peer tool is not installed (peers.Require).
			results[c.name()] = result{text: "skipped (tool missing)", ok: true}
		case o.known != "":
			results[c.name()] = result{text: "✗ known bug", note: o.known, ok: true}
		case o.conn > 0:
			results[c.name()] = result{text: fmt.Sprintf("✓ found %.1fs, connected %.1fs", o.d.Seconds(), o.conn.Seconds()), ok: true}
		default:
			results[c.name()] = result{text: fmt.Sprintf("✓ found %.1fs (discovery only)", o.d.Seconds()), ok: true}
		}
	}
	table := render(results)
	t.Logf("interop matrix (%s):\n%s", time.Since(start).Round(100*time.Millisecond), table)
	if p := os.Getenv("MATRIX_OUT"); p != "" {
		if err := os.WriteFile(p, []byte(table), 0o644); err != nil {
			t.Errorf("MATRIX_OUT: %v", err)
		}
	}
}

func render(res map[string]result) string {
	var b strings.Builder
	var notes []string
	b.WriteString("| peer | they find us (v4) | they find us (v6) | we find them (v4) | we find them (v6) |\n")
	b.WriteString("|---|---|---|---|---|\n")
	for _, p := range peerOrder {
		b.WriteString("| " + p + " |")
		for _, d := range []direction{theyFindUs, weFindThem} {
			for _, f := range []family{v4, v6} {
				r, ok := res[cell{peer: p, dir: d, fam: f}.name()]
				if !ok {
					r.text = "—"
				}
				if r.note != "" {
					notes = append(notes, r.note)
					r.text += fmt.Sprintf(" [%d]", len(notes))
				}
				b.WriteString(" " + r.text + " |")
			}
		}
		b.WriteString("\n")
	}
	if len(notes) > 0 {
		b.WriteString("\n")
		for i, n := range notes {
			fmt.Fprintf(&b, "[%d] %s\n", i+1, n)
		}
	}
	return b.String()
}

// ---- our side: the p2p-mdns binary --------------------------------------

func famFlags(f family) []string {
	if f == v4 {
		return []string{"--iface", netns.LinkName, "--ipv6=false"}
	}
	return []string{"--iface", netns.LinkName, "--ipv4=false"}
}

// famAddr is host i's address of family f as a TCP multiaddr.
func famAddr(nt *netns.Net, i int, f family, port int) string {
	h := nt.Host(i)
	if f == v4 {
		return fmt.Sprintf("/ip4/%s/tcp/%d", h.V4.Addr(), port)
	}
	return fmt.Sprintf("/ip6/%s/tcp/%d", h.V6.Addr(), port)
}

func isFamily(a string, f family) bool {
	if f == v4 {
		return strings.HasPrefix(a, "/ip4/")
	}
	return strings.HasPrefix(a, "/ip6/") || strings.HasPrefix(a, "/ip6zone/")
}

func anyOfFamily(addrs []string, f family) bool {
	return slices.ContainsFunc(addrs, func(a string) bool { return isFamily(a, f) })
}

// announceUs runs `p2p-mdns announce` in host i over family f only,
// announcing host i's address of that family, and waits for its self event.
func announceUs(t *testing.T, nt *netns.Net, i int, f family) (id, addr string) {
	t.Helper()
	addr = famAddr(nt, i, f, 4001)
	args := append([]string{"announce", "--random", "--json", "--name", ourName, "--addr", addr, "--duration", "40s"}, famFlags(f)...)
	p := peers.Start(t, "p2p-mdns-announce", nt.Exec(t.Context(), i, peers.P2PMdns(t), args...))
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	self := p.WaitSelf(t, ctx)
	return self.Str("id"), addr
}

// browseUs runs `p2p-mdns browse` in host i over family f only.
func browseUs(t *testing.T, nt *netns.Net, i int, f family) *peers.Proc {
	t.Helper()
	args := append([]string{"browse", "--json", "--duration", "40s"}, famFlags(f)...)
	return peers.Start(t, "p2p-mdns-browse", nt.Exec(t.Context(), i, peers.P2PMdns(t), args...))
}

// weFind waits until our browser reports id with want among its addresses
// and returns the time since t0 and the flavour.
func weFind(t *testing.T, b *peers.Proc, t0 time.Time, id, want string) (time.Duration, string) {
	t.Helper()
	d, fl, err := weFindErr(t, b, t0, id, want, within)
	if err != nil {
		t.Fatal(err)
	}
	return d, fl
}

func weFindErr(t *testing.T, b *peers.Proc, t0 time.Time, id, want string, bound time.Duration) (time.Duration, string, error) {
	ctx, cancel := context.WithTimeout(t.Context(), bound)
	defer cancel()
	ev, err := b.WaitFor(ctx, func(e peers.Event) bool {
		return (e.Str("event") == "found" || e.Str("event") == "updated") && e.Str("id") == id && slices.Contains(e.Strs("addrs"), want)
	})
	if err != nil {
		var got []string
		for _, e := range b.Events() {
			got = append(got, fmt.Sprint(map[string]any(e)))
		}
		return 0, "", fmt.Errorf("our browser did not find %s with %s: %v; events: %v", id, want, err, got)
	}
	return time.Since(t0), ev.Str("flavour"), nil
}

func randomID(t *testing.T) string {
	sk, _, err := crypto.GenerateEd25519Key(nil)
	if err != nil {
		t.Fatal(err)
	}
	id, _ := peer.IDFromPrivateKey(sk)
	return id.String()
}

// ---- Avahi ----------------------------------------------------------------

func avahiProto(f family) string { return [...]string{"IPv4", "IPv6"}[f] }

func avahiFindsUs(t *testing.T, c cell) outcome {
	nt := netns.New(t, 2)
	id, addr := announceUs(t, nt, 1, c.fam)
	av := peers.StartAvahi(t, nt, 2, "browser-h2")
	t0 := time.Now() // from avahi-daemon's "startup complete"
	ctx, cancel := context.WithTimeout(t.Context(), within)
	defer cancel()
	var last string
	for ctx.Err() == nil {
		res, out, _ := av.Browse(ctx, "_p2p._udp")
		last = out
		for _, r := range res {
			if r.Name == ourName && r.Proto == avahiProto(c.fam) && slices.Contains(r.TXT, "dnsaddr="+addr+"/p2p/"+id) {
				return found(time.Since(t0), "")
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("avahi-browse did not resolve %s over %s; last output:\n%s", ourName, avahiProto(c.fam), last)
	return outcome{}
}

func weFindAvahi(t *testing.T, c cell) outcome {
	nt := netns.New(t, 2)
	av := peers.StartAvahi(t, nt, 1, "avahi-h1")
	id := randomID(t)
	addr := famAddr(nt, 1, c.fam, 4001)
	av.Publish(t, "avahi-libp2p-peer", "_p2p._udp", 4001, "dnsaddr="+addr+"/p2p/"+id)
	t0 := time.Now()
	b := browseUs(t, nt, 2, c.fam)
	d, fl := weFind(t, b, t0, id, addr)
	if fl != "dnssd" {
		t.Errorf("flavour %q, want dnssd", fl)
	}
	return found(d, "")
}

// ---- python-zeroconf --------------------------------------------------------

func pythonFindsUs(t *testing.T, c cell) outcome {
	nt := netns.New(t, 2)
	id, addr := announceUs(t, nt, 1, c.fam)
	t0 := time.Now()
	zb := peers.Python(t, nt, 2, "zc_browse.py", "--duration", "20")
	ctx, cancel := context.WithTimeout(t.Context(), within)
	defer cancel()
	ev, err := zb.WaitFor(ctx, func(e peers.Event) bool {
		return e.Str("event") == "resolved" && strings.HasPrefix(e.Str("name"), ourName+".") && slices.Contains(e.Strs("txt"), "dnsaddr="+addr+"/p2p/"+id)
	})
	if err != nil {
		var got []string
		for _, e := range zb.Events() {
			got = append(got, fmt.Sprint(map[string]any(e)))
		}
		t.Fatalf("zc_browse did not resolve us: %v; events %v; stderr %s", err, got, zb.Stderr())
	}
	d := time.Since(t0)
	want := nt.Host(1).V4.Addr().String()
	if c.fam == v6 {
		want = nt.Host(1).V6.Addr().String()
	}
	if !slices.Contains(ev.Strs("addrs"), want) {
		t.Errorf("zc_browse resolved addresses %v, want %s among them", ev.Strs("addrs"), want)
	}
	return found(d, "")
}

func weFindPython(t *testing.T, c cell) outcome {
	nt := netns.New(t, 2)
	id := randomID(t)
	addr := famAddr(nt, 1, c.fam, 4001)
	ip := nt.Host(1).V4.Addr().String()
	if c.fam == v6 {
		ip = nt.Host(1).V6.Addr().String()
	}
	zr := peers.Python(t, nt, 1, "zc_register.py", "--instance", "py-peer", "--host", "py-h1", "--addr", ip, "--dnsaddr", addr+"/p2p/"+id, "--duration", "25")
	ctx, cancel := context.WithTimeout(t.Context(), within)
	defer cancel()
	if _, err := zr.WaitFor(ctx, func(e peers.Event) bool { return e.Str("event") == "registered" }); err != nil {
		t.Fatal(err)
	}
	// Our browser starts after python-zeroconf has announced, so it can
	// only learn of the service from the answers to its queries. A sniffer
	// next to it records what those answers look like to our decoder.
	sn := peers.Start(t, "p2p-mdns-sniff", nt.Exec(t.Context(), 2, peers.P2PMdns(t), "sniff", "--iface", netns.LinkName, "--duration", "25s"))
	t0 := time.Now()
	b := browseUs(t, nt, 2, c.fam)
	// Our browser queries at once and again after 1 s and 3 s: 8 s is ample.
	d, fl, err := weFindErr(t, b, t0, id, addr, 8*time.Second)
	if err != nil {
		sn.Stop(5 * time.Second)
		if bug := pythonNSECEvidence(sn.Output(), nt.Host(1), c.fam); bug != "" {
			return outcome{known: bug + "; " + pythonFromAnnouncements(t, c.fam)}
		}
		t.Fatalf("%v\nsniffer:\n%s", err, sn.Output())
	}
	if fl != "dnssd" {
		t.Errorf("flavour %q, want dnssd", fl)
	}
	return found(d, "")
}

// pythonFromAnnouncements checks the other order, in fresh namespaces:
// our browser first, then python-zeroconf registering (and announcing).
func pythonFromAnnouncements(t *testing.T, f family) string {
	nt := netns.New(t, 2)
	id := randomID(t)
	addr := famAddr(nt, 1, f, 4001)
	ip := nt.Host(1).V4.Addr().String()
	if f == v6 {
		ip = nt.Host(1).V6.Addr().String()
	}
	b := browseUs(t, nt, 2, f)
	time.Sleep(300 * time.Millisecond) // let the browser open its sockets
	t0 := time.Now()
	peers.Python(t, nt, 1, "zc_register.py", "--instance", "py-peer", "--host", "py-h1", "--addr", ip, "--dnsaddr", addr+"/p2p/"+id, "--duration", "15")
	d, _, err := weFindErr(t, b, t0, id, addr, 10*time.Second)
	if err != nil {
		return "with our browser started first it is not found from the announcements either: " + err.Error()
	}
	return fmt.Sprintf("with our browser started first it is found from the announcements in %.1fs", d.Seconds())
}

// pythonNSECEvidence returns the diagnosis when the sniffer's output shows
// python-zeroconf's (host h's) responses rejected by our parser for their
// NSEC record, "" otherwise.
func pythonNSECEvidence(out string, h netns.Host, f family) string {
	src := h.V4.Addr().String() + ":5353"
	if f == v6 {
		src = "[" + h.LinkLocal.String() + "]:5353"
	}
	for _, line := range strings.Split(out, "\n") {
		if strings.Contains(line, "malformed") && strings.Contains(line, "NSEC") && strings.Contains(line, src) {
			return "python-zeroconf's answers to our queries carry an NSEC record whose type bitmap has an empty window block (RFC 4034 §4.1.2 forbids it); our parser (mdns.Parse on miekg/dns) rejects the whole packet instead of skipping that record, so a python-zeroconf service is found only from its unsolicited announcements, never from query answers. p2p-mdns sniff in the browser's namespace: `" + strings.Join(strings.Fields(line), " ") + "`"
		}
	}
	return ""
}
