//go:build linux

package matrix

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chorus-services/discovery/internal/interop/peers"
	"github.com/chorus-services/discovery/internal/netns"
)

// A libp2p flavour's cells prove discovery AND a connection: "they find
// us" passes only when their node connects to our `p2p-mdns run
// --no-connect` with the addresses it decoded from our records (we never
// dial, and we listen only on the cell's family); "we find them" only when
// our host connects to their node (which does not dial) with the addresses
// we decoded from theirs.
type flavour struct {
	name string
	// start runs their node in host i, listening on family f only; dial
	// false starts it without dialling what it finds.
	start func(t *testing.T, nt *netns.Net, i int, f family, dial bool) *peers.Proc
	// v6 says why the flavour has no IPv6 cells ("" if it has).
	v6 string
}

var flavours = []flavour{
	{name: "go-libp2p", start: startGo},
	{name: "rust-libp2p", start: startRust},
	{name: "js-libp2p", start: startJS, v6: "@libp2p/mdns is IPv4-only: multicast-dns binds one udp4 socket"},
	{name: "py-libp2p", start: startPy, v6: "py-libp2p's Zeroconf() takes python-zeroconf's default, IPVersion.V4Only"},
}

func flavourOf(name string) flavour {
	i := slices.IndexFunc(flavours, func(f flavour) bool { return f.name == name })
	return flavours[i]
}

func startGo(t *testing.T, nt *netns.Net, i int, f family, dial bool) *peers.Proc {
	args := []string{"-duration", "40s", "-listen", anyAddr(f) + "/tcp/4001"}
	if !dial {
		args = append(args, "-no-dial")
	}
	return peers.GoNode(t, nt, i, args...)
}

func startRust(t *testing.T, nt *netns.Net, i int, f family, dial bool) *peers.Proc {
	args := []string{"--duration", "40", "--listen", anyAddr(f) + "/tcp/0"}
	if f == v6 {
		args = append(args, "--ipv6") // libp2p-mdns speaks one family: Config.enable_ipv6
	}
	if !dial {
		args = append(args, "--no-dial")
	}
	return peers.RustNode(t, nt, i, args...)
}

func startJS(t *testing.T, nt *netns.Net, i int, f family, dial bool) *peers.Proc {
	args := []string{"40", "--interval", "1000"}
	if !dial {
		args = append(args, "--no-dial")
	}
	return peers.JSNode(t, nt, i, append(args, anyAddr(f)+"/tcp/4002")...)
}

// startPy listens on the host's LAN address: py-libp2p announces its
// listeners' socket addresses as they are, so on 0.0.0.0 (its docs'
// example) it would announce /ip4/0.0.0.0/tcp/…, which no peer can dial.
func startPy(t *testing.T, nt *netns.Net, i int, f family, dial bool) *peers.Proc {
	args := []string{"--duration", "40", "--listen", famAddr(nt, i, f, 4001)}
	if !dial {
		args = append(args, "--no-dial")
	}
	return peers.PyNode(t, nt, i, args...)
}

func anyAddr(f family) string {
	if f == v6 {
		return "/ip6/::"
	}
	return "/ip4/0.0.0.0"
}

// runUs starts `p2p-mdns run` in host i over family f only, listening on
// that family only (TCP and QUIC), and returns it with its peer ID.
func runUs(t *testing.T, nt *netns.Net, i int, f family, connect bool) (*peers.Proc, string) {
	t.Helper()
	args := append([]string{"run", "--json", "--duration", "40s", "--listen", anyAddr(f) + "/tcp/0", "--listen", anyAddr(f) + "/udp/0/quic-v1"}, famFlags(f)...)
	if !connect {
		args = append(args, "--no-connect")
	}
	p := peers.Start(t, "p2p-mdns-run", nt.Exec(t.Context(), i, peers.P2PMdns(t), args...))
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	return p, p.WaitSelf(t, ctx).Str("id")
}

// selfOf waits (within) for the self event of p.
func selfOf(t *testing.T, p *peers.Proc) peers.Event {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), within)
	defer cancel()
	return p.WaitSelf(t, ctx)
}

func isFound(e peers.Event) bool {
	switch e.Str("event") {
	case "found", "updated", "peer:discovery":
		return true
	}
	return false
}

// findAndConnect waits until finder reports id found with an address of
// family f, then connected to it; the durations are since t0. A connection
// that never comes is an error carrying the finder's dial failures.
func findAndConnect(t *testing.T, finder *peers.Proc, t0 time.Time, id string, f family) (found, conn time.Duration, addrs []string, err error) {
	ctx, cancel := context.WithTimeout(t.Context(), within)
	defer cancel()
	ev, err := finder.WaitFor(ctx, func(e peers.Event) bool {
		return isFound(e) && e.Str("id") == id && anyOfFamily(trimP2P(e.Strs("addrs")), f)
	})
	if err != nil {
		return 0, 0, nil, fmt.Errorf("%s did not find %s with a %s address: %v; events: %s", finder.Name, id, f, err, eventsOf(finder))
	}
	found, addrs = time.Since(t0), trimP2P(ev.Strs("addrs"))
	ctx2, cancel2 := context.WithTimeout(t.Context(), within)
	defer cancel2()
	if _, err := finder.WaitFor(ctx2, func(e peers.Event) bool { return e.Str("event") == "connected" && e.Str("id") == id }); err != nil {
		return found, 0, addrs, fmt.Errorf("%s found %s at %.1fs with %v but did not connect: %v; events: %s", finder.Name, id, found.Seconds(), addrs, err, eventsOf(finder))
	}
	return found, time.Since(t0), addrs, nil
}

func trimP2P(addrs []string) []string {
	out := make([]string, len(addrs))
	for i, a := range addrs {
		out[i], _, _ = strings.Cut(a, "/p2p/")
	}
	return out
}

func eventsOf(p *peers.Proc) string {
	var got []string
	for _, e := range p.Events() {
		got = append(got, fmt.Sprint(map[string]any(e)))
	}
	return strings.Join(got, "; ")
}

// libp2pFindsUs: our run (no dialling) first, then their node, which must
// find us and connect.
func libp2pFindsUs(t *testing.T, c cell) outcome {
	nt := netns.New(t, 2)
	_, id := runUs(t, nt, 1, c.fam, false)
	t0 := time.Now()
	them := flavourOf(c.peer).start(t, nt, 2, c.fam, true)
	selfOf(t, them)
	up := time.Since(t0) // their process start-up, to its self event
	fd, cd, addrs, err := findAndConnect(t, them, t0, id, c.fam)
	if err != nil {
		t.Fatal(err)
	}
	return outcome{d: fd, conn: cd, note: fmt.Sprintf("their node up at %.1fs; they decoded %s", up.Seconds(), strings.Join(addrs, " "))}
}

// weFindLibp2p: their node (not dialling) first, then our run, which must
// find it and connect.
func weFindLibp2p(t *testing.T, c cell) outcome {
	nt := netns.New(t, 2)
	them := flavourOf(c.peer).start(t, nt, 1, c.fam, false)
	id := selfOf(t, them).Str("id")
	t0 := time.Now()
	us, _ := runUs(t, nt, 2, c.fam, true)
	up := time.Since(t0)
	fd, cd, addrs, err := findAndConnect(t, us, t0, id, c.fam)
	if err != nil {
		t.Fatal(err)
	}
	return outcome{d: fd, conn: cd, note: fmt.Sprintf("our run up at %.1fs; we decoded %s", up.Seconds(), strings.Join(addrs, " "))}
}

// lanFor is how long the mixed LAN runs.
const lanFor = 60 * time.Second

// member is one peer of the mixed LAN.
type member struct {
	name   string
	id     string      // its libp2p peer ID (for Avahi and python-zeroconf: the ID their dnsaddr names)
	p      *peers.Proc // its events (nil for Avahi, read by avahi-browse at the end)
	libp2p bool        // a libp2p host that can be connected to
}

// sighting is when one member found or connected to another (since the
// LAN's start; 0 when the finder reports no time, as avahi-browse).
type sighting struct {
	at  time.Duration
	out bool // a connection this finder dialled
}

// lanResult maps finder → found → sighting.
type lanResult map[string]map[string]sighting

func (r lanResult) add(from, to string, s sighting) {
	if r[from] == nil {
		r[from] = map[string]sighting{}
	}
	if old, ok := r[from][to]; !ok || (s.at < old.at && s.at > 0) {
		r[from][to] = s
	}
}

func (r lanResult) has(from, to string) bool { _, ok := r[from][to]; return ok }

// TestMixedLAN: two of our nodes (p2p-mdns run) and go-libp2p, rust-libp2p
// (IPv4 mode), js-libp2p and py-libp2p nodes, each dialling what it finds,
// plus an Avahi and a python-zeroconf host each publishing a libp2p
// service record and browsing, share one LAN for 60 s. Every pair with one
// of ours must find each other both ways and connect; the pairs between
// third parties are compared with what their implementations can do (see
// thirdParty), and the whole who-finds-whom and who-connects-whom table is
// logged.
func TestMixedLAN(t *testing.T) {
	nt := netns.New(t, 8)
	peers.P2PMdns(t) // build before the clock starts
	start := time.Now()
	ms := startLAN(t, nt)
	// Avahi's daemon in h7 publishes and browses; python-zeroconf in h8.
	av := peers.StartAvahi(t, nt, 7, "avahi-h7")
	avID := randomID(t)
	av.Publish(t, "avahi-libp2p-peer", "_p2p._udp", 4001, "dnsaddr="+famAddr(nt, 7, v4, 4001)+"/p2p/"+avID)
	zcID := randomID(t)
	peers.Python(t, nt, 8, "zc_register.py", "--instance", "zc-peer", "--host", "zc-h8", "--addr", nt.Host(8).V4.Addr().String(),
		"--dnsaddr", famAddr(nt, 8, v4, 4001)+"/p2p/"+zcID, "--duration", "70")
	zb := peers.Python(t, nt, 8, "zc_browse.py", "--duration", "70")
	ms = append(ms, member{name: "avahi", id: avID}, member{name: "python-zeroconf", id: zcID, p: zb})

	time.Sleep(time.Until(start.Add(lanFor)))
	res := collectLAN(t, ms, start)
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	found, out, _ := av.Browse(ctx, "_p2p._udp")
	for _, r := range found {
		for _, m := range ms {
			if m.name != "avahi" && slices.ContainsFunc(r.TXT, func(s string) bool { return strings.HasSuffix(s, "/p2p/"+m.id) }) {
				res.found.add("avahi", m.name, sighting{})
			}
		}
	}
	t.Logf("avahi-browse at the end:\n%s", out)
	t.Logf("who finds whom (row finds column; time since the LAN started):\n%s", res.found.render(ms, false))
	t.Logf("who connects to whom (row reports a connection with column, dialled by the row; in: dialled by the column):\n%s", res.conn.render(ms, true))
	checkLAN(t, ms, res)
}

// startLAN starts the libp2p members, all dialling what they find.
func startLAN(t *testing.T, nt *netns.Net) []member {
	run := func(i int) *peers.Proc {
		return peers.Start(t, "p2p-mdns-run@h"+fmt.Sprint(i), nt.Exec(t.Context(), i, peers.P2PMdns(t), "run", "--json", "--iface", netns.LinkName, "--duration", "70s"))
	}
	procs := []struct {
		name string
		p    *peers.Proc
	}{
		{"ours-A", run(1)},
		{"ours-B", run(2)},
		{"go-libp2p", peers.GoNode(t, nt, 3, "-duration", "70s")},
		{"rust-libp2p", peers.RustNode(t, nt, 4, "--duration", "70")},
		{"js-libp2p", peers.JSNode(t, nt, 5, "70")},
		{"py-libp2p", peers.PyNode(t, nt, 6, "--duration", "70", "--listen", famAddr(nt, 6, v4, 4001))},
	}
	var ms []member
	for _, p := range procs {
		ms = append(ms, member{name: p.name, id: selfOf(t, p.p).Str("id"), p: p.p, libp2p: true})
	}
	return ms
}

type lanResults struct{ found, conn lanResult }

// collectLAN reads every member's events: found-kind events name the peers
// it found, connected events those it connected to (dir "in"/"inbound"
// marks one the other side dialled).
func collectLAN(t *testing.T, ms []member, start time.Time) lanResults {
	byID := map[string]string{}
	for _, m := range ms {
		byID[m.id] = m.name
	}
	res := lanResults{found: lanResult{}, conn: lanResult{}}
	for _, m := range ms {
		if m.p == nil {
			continue
		}
		evs, ats := m.p.TimedEvents()
		for i, e := range evs {
			at := ats[i].Sub(start)
			switch {
			case isFound(e):
				if to, ok := byID[e.Str("id")]; ok && to != m.name {
					res.found.add(m.name, to, sighting{at: at})
				}
			case e.Str("event") == "resolved": // zc_browse.py
				for _, s := range e.Strs("txt") {
					if _, id, ok := strings.Cut(s, "/p2p/"); ok && byID[id] != "" && byID[id] != m.name {
						res.found.add(m.name, byID[id], sighting{at: at})
					}
				}
			case e.Str("event") == "connected":
				if to, ok := byID[e.Str("id")]; ok {
					dir := e.Str("dir")
					res.conn.add(m.name, to, sighting{at: at, out: dir == "" || dir == "out" || dir == "outbound"})
				}
			}
		}
	}
	return res
}

func (r lanResult) render(ms []member, conn bool) string {
	var b strings.Builder
	b.WriteString("| ↓ finds → |")
	for _, m := range ms {
		b.WriteString(" " + m.name + " |")
	}
	b.WriteString("\n|---|" + strings.Repeat("---|", len(ms)) + "\n")
	for _, from := range ms {
		b.WriteString("| " + from.name + " |")
		for _, to := range ms {
			s, ok := r[from.name][to.name]
			switch {
			case from.name == to.name:
				b.WriteString(" · |")
			case !ok:
				b.WriteString(" — |")
			case conn && !s.out:
				b.WriteString(fmt.Sprintf(" in %.1fs |", s.at.Seconds()))
			case s.at == 0:
				b.WriteString(" ✓ |")
			default:
				b.WriteString(fmt.Sprintf(" %.1fs |", s.at.Seconds()))
			}
		}
		b.WriteString("\n")
	}
	return b.String()
}

func isOurs(name string) bool { return strings.HasPrefix(name, "ours-") }

// connectedPair reports whether a and b had a connection (either side's
// report).
func (r lanResults) connectedPair(a, b string) bool { return r.conn.has(a, b) || r.conn.has(b, a) }

// checkLAN asserts that every pair with one of ours found each other both
// ways (Avahi and python-zeroconf included: they browse and publish) and
// that every libp2p pair with one of ours connected; then compares the
// third-party pairs with thirdParty.
func checkLAN(t *testing.T, ms []member, res lanResults) {
	for _, a := range ms {
		for _, b := range ms {
			if a.name == b.name || (!isOurs(a.name) && !isOurs(b.name)) {
				continue
			}
			if !res.found.has(a.name, b.name) {
				t.Errorf("%s did not find %s", a.name, b.name)
			}
			if a.libp2p && b.libp2p && isOurs(a.name) && !res.connectedPair(a.name, b.name) {
				t.Errorf("%s and %s never connected", a.name, b.name)
			}
		}
	}
	for _, a := range ms {
		for _, b := range ms {
			if a.name == b.name || isOurs(a.name) || isOurs(b.name) {
				continue
			}
			if a.libp2p && b.libp2p && res.found.has(a.name, b.name) && !res.connectedPair(a.name, b.name) {
				t.Errorf("%s found %s but they never connected", a.name, b.name)
			}
			want, known := thirdParty[[2]string{a.name, b.name}]
			got := res.found.has(a.name, b.name)
			switch {
			case got && want != "":
				t.Logf("%s now finds %s (expected not to: %s)", a.name, b.name, want)
			case !got && want == "" && known:
				t.Errorf("%s did not find %s, which it should", a.name, b.name)
			case !got && want != "":
				t.Logf("%s cannot find %s: %s", a.name, b.name, want)
			case !known:
				t.Logf("%s finds %s: %v (no expectation recorded)", a.name, b.name, got)
			}
		}
	}
}

// Why third parties miss each other (measured here; see README).
const (
	noSRV = "sends no SRV and no A/AAAA (a PTR and TXT only)"
	// rust-libp2p's libp2p-mdns 0.49 (query.rs MdnsPeer::new) takes TXT
	// records only from the additional section, and reads only its socket
	// bound to 5353.
	rustReadsAdditional = "libp2p-mdns (rust) takes TXT records only from the additional section of what reaches its 5353 socket: "
	// py-libp2p resolves services one at a time on python-zeroconf's
	// browser thread, 3 tries of up to 5 s plus 1 s and 2 s of back-off for
	// each instance that never resolves (rust's and js's).
	pySerial = "found late or not within 60 s: py-libp2p resolves one instance at a time on python-zeroconf's browser thread, and each of rust's and js's (no SRV/A) holds it ~18 s (3 tries of 5 s plus back-off)"
	// python-zeroconf's get_service_info raises BadTypeInNameException for
	// rust's PTR target, a bare label outside ".local.".
	zcRust = "rust-libp2p " + noSRV + ", and its PTR target is a bare label outside .local., for which python-zeroconf's get_service_info raises BadTypeInNameException (uncaught in a browser handler, it ends the browser thread)"
)

// thirdParty records, for each ordered pair of third parties (finder,
// found), "" when the finder finds it, or why it cannot.
var thirdParty = map[[2]string]string{
	{"go-libp2p", "rust-libp2p"}:       "rust-libp2p " + noSRV + "; go-libp2p's zeroconf reports only entries with an SRV and an address",
	{"go-libp2p", "js-libp2p"}:         "js-libp2p " + noSRV + "; go-libp2p's zeroconf reports only entries with an SRV and an address",
	{"go-libp2p", "py-libp2p"}:         "",
	{"go-libp2p", "avahi"}:             "",
	{"go-libp2p", "python-zeroconf"}:   "",
	{"rust-libp2p", "go-libp2p"}:       "",
	{"rust-libp2p", "js-libp2p"}:       rustReadsAdditional + "js-libp2p puts its TXT records in the answer section",
	{"rust-libp2p", "py-libp2p"}:       "",
	{"rust-libp2p", "avahi"}:           rustReadsAdditional + "Avahi multicasts its TXT in the answer section",
	{"rust-libp2p", "python-zeroconf"}: "",
	{"js-libp2p", "go-libp2p"}:         "",
	{"js-libp2p", "rust-libp2p"}:       "",
	{"js-libp2p", "py-libp2p"}:         "",
	{"js-libp2p", "avahi"}:             "",
	{"js-libp2p", "python-zeroconf"}:   "",
	{"py-libp2p", "go-libp2p"}:         "",
	{"py-libp2p", "rust-libp2p"}:       "rust-libp2p " + noSRV + ": python-zeroconf never completes its service info",
	{"py-libp2p", "js-libp2p"}:         "js-libp2p " + noSRV + ": python-zeroconf never completes its service info",
	{"py-libp2p", "avahi"}:             pySerial,
	{"py-libp2p", "python-zeroconf"}:   pySerial,
	{"avahi", "go-libp2p"}:             "",
	{"avahi", "rust-libp2p"}:           "rust-libp2p " + noSRV + ": avahi-browse cannot resolve it",
	{"avahi", "js-libp2p"}:             "js-libp2p " + noSRV + ": avahi-browse cannot resolve it",
	{"avahi", "py-libp2p"}:             "",
	{"avahi", "python-zeroconf"}:       "",
	{"python-zeroconf", "go-libp2p"}:   "",
	{"python-zeroconf", "rust-libp2p"}: zcRust,
	{"python-zeroconf", "js-libp2p"}:   "js-libp2p " + noSRV + ": python-zeroconf never completes its service info",
	{"python-zeroconf", "py-libp2p"}:   "",
	{"python-zeroconf", "avahi"}:       "",
}
