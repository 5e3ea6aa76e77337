package doctor

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"

	"github.com/chorus-services/discovery/mdns"
	"github.com/chorus-services/discovery/mdns/transport"
)

// Iface is one interface of the machine with the flags mDNS depends on.
type Iface struct {
	Name                                   string
	Index                                  int
	Up, Running, Multicast, Loopback, PtoP bool
	Prefixes                               []netip.Prefix
}

// ListInterfaces lists every interface of the calling thread's network
// namespace.
func ListInterfaces() ([]Iface, error) {
	ifs, err := net.Interfaces()
	if err != nil {
		return nil, err
	}
	out := make([]Iface, 0, len(ifs))
	for _, ifc := range ifs {
		x := Iface{
			Name: ifc.Name, Index: ifc.Index,
			Up:        ifc.Flags&net.FlagUp != 0,
			Running:   ifc.Flags&net.FlagRunning != 0,
			Multicast: ifc.Flags&net.FlagMulticast != 0,
			Loopback:  ifc.Flags&net.FlagLoopback != 0,
			PtoP:      ifc.Flags&net.FlagPointToPoint != 0,
		}
		addrs, _ := ifc.Addrs()
		for _, a := range addrs {
			if n, ok := a.(*net.IPNet); ok {
				if ip, ok := netip.AddrFromSlice(n.IP); ok {
					ones, _ := n.Mask.Size()
					x.Prefixes = append(x.Prefixes, netip.PrefixFrom(ip.Unmap(), ones))
				}
			}
		}
		out = append(out, x)
	}
	return out, nil
}

// usable says why an interface cannot carry mDNS ("" when it can).
func (x Iface) unusable(v4, v6 bool) (why, hint string) {
	switch {
	case !x.Up:
		return "is down", "ip link set " + x.Name + " up"
	case !x.Multicast && !x.Loopback: // loopback carries multicast without the flag
		return "is not multicast-capable (no MULTICAST flag; typical of VPN tunnels)", "ip link set " + x.Name + " multicast on"
	}
	for _, p := range x.Prefixes {
		if (p.Addr().Is4() && v4) || (p.Addr().Is6() && v6) {
			return "", ""
		}
	}
	return "has no address of an enabled family", "configure an address on " + x.Name + " (DHCP, or ip addr add …)"
}

func (x Iface) describe() string {
	var ps []string
	for _, p := range x.Prefixes {
		ps = append(ps, p.String())
	}
	s := "up, multicast"
	if !x.Running {
		s += ", NO CARRIER"
	}
	if len(ps) > 0 {
		s += ", " + strings.Join(ps, " ")
	}
	return s
}

// InterfaceFindings judges the interfaces: the named ones, or every
// non-loopback one (and loopback with includeLoopback) when names is empty.
// It fails when no interface is usable: up, multicast-capable and with an
// address of an enabled family.
func InterfaceFindings(all []Iface, names []string, includeLoopback, v4, v6 bool) []Finding {
	var out []Finding
	usable := 0
	byName := map[string]Iface{}
	for _, x := range all {
		byName[x.Name] = x
	}
	judge := func(x Iface, named bool) {
		why, hint := x.unusable(v4, v6)
		switch {
		case why == "":
			usable++
			f := Finding{CheckInterfaces, StatusOK, x.Name + ": " + x.describe(), ""}
			if !x.Running {
				f.Status, f.Hint = StatusWarn, "no carrier: is the cable plugged in / Wi-Fi associated?"
			}
			out = append(out, f)
		case named:
			out = append(out, Finding{CheckInterfaces, StatusWarn, x.Name + " " + why, hint})
		default:
			out = append(out, Finding{CheckInterfaces, StatusInfo, x.Name + " not used: " + why, ""})
		}
	}
	if len(names) > 0 {
		for _, n := range names {
			x, ok := byName[n]
			if !ok {
				out = append(out, Finding{CheckInterfaces, StatusFail, "no interface named " + n, "list them with: ip link"})
				continue
			}
			judge(x, true)
		}
	} else {
		for _, x := range all {
			if x.Loopback && !includeLoopback {
				continue
			}
			judge(x, false)
		}
	}
	if usable == 0 {
		// Nothing usable: the interfaces that are only down are what to fix.
		for i, f := range out {
			if x, ok := byName[strings.TrimSuffix(f.Message, " not used: is down")]; ok && f.Status == StatusInfo && !x.Up {
				out[i].Status, out[i].Hint = StatusWarn, "ip link set "+x.Name+" up"
			}
		}
		out = append(out, Finding{CheckInterfaces, StatusFail,
			"no usable interface: mDNS needs one that is up, multicast-capable and has an address",
			"bring the LAN interface up (ip link set IFACE up) or name it with --iface"})
	}
	return out
}

// SocketFindings judges what transport.Listen did: its error, its problems
// and the interfaces on which it joined the groups.
func SocketFindings(joined []transport.Interface, problems []transport.Problem, listenErr error, v4, v6 bool) []Finding {
	var out []Finding
	if listenErr != nil {
		f := Finding{CheckSockets, StatusFail, "could not open the mDNS sockets: " + listenErr.Error(), ""}
		switch {
		case errors.Is(listenErr, transport.ErrNoInterface):
			f.Hint = "the groups could not be joined on any interface: see the interface findings"
		case errors.Is(listenErr, syscall.EADDRINUSE):
			f.Hint = "another program holds UDP port 5353 exclusively: see port 5353"
		case errors.Is(listenErr, syscall.EACCES), errors.Is(listenErr, syscall.EPERM):
			f.Hint = "permission denied: a security policy (SELinux, AppArmor, sandbox) blocks the socket"
		}
		return append(out, f)
	}
	for _, p := range problems {
		out = append(out, Finding{CheckSockets, StatusWarn, p.String(), ""})
	}
	any := false
	for _, ifc := range joined {
		var groups []string
		if ifc.V4 {
			groups = append(groups, "224.0.0.251")
		}
		if ifc.V6 {
			groups = append(groups, "ff02::fb")
		}
		if len(groups) > 0 {
			any = true
		}
		f := Finding{CheckSockets, StatusOK, ifc.Name + ": joined " + strings.Join(groups, " and "), ""}
		switch {
		case len(groups) == 0:
			f.Status, f.Message = StatusWarn, ifc.Name+": no group joined"
		case v4 && !ifc.V4:
			f.Status, f.Message = StatusWarn, f.Message+"; 224.0.0.251 not joined (no IPv4 address?)"
		case v6 && !ifc.V6:
			f.Message += "; ff02::fb not joined (see ipv6)"
		}
		out = append(out, f)
	}
	if !any {
		out = append(out, Finding{CheckSockets, StatusFail, "the mDNS group is joined on no interface", "see the interface findings"})
	}
	return out
}

// PortFindings say who else holds UDP port 5353 and whether sharing it
// works: listenErr is the error of our own Listen on 5353, problems its
// per-family problems. A family whose socket could not bind the port
// (EADDRINUSE: another program holds it without SO_REUSEADDR/SO_REUSEPORT)
// is dead for mDNS on this machine, even when the other family works.
func PortFindings(holders []Holder, holdErr, listenErr error, problems []transport.Problem) []Finding {
	var exclusive []string // families another program holds exclusively
	for _, p := range problems {
		if p.Interface == "" && errors.Is(p.Err, syscall.EADDRINUSE) {
			exclusive = append(exclusive, p.Family)
		}
	}
	if len(exclusive) == 0 {
		return []Finding{PortFinding(holders, holdErr, listenErr)}
	}
	list := "another program"
	if holdErr == nil && len(holders) > 0 {
		var names []string
		for _, h := range holders {
			names = append(names, h.String())
		}
		list = strings.Join(names, ", ")
	}
	var out []Finding
	for _, fam := range exclusive {
		name := map[string]string{"ipv4": "IPv4", "ipv6": "IPv6"}[fam]
		out = append(out, Finding{CheckPort, StatusFail,
			fmt.Sprintf("UDP port 5353 over %s is held exclusively by %s (bound without SO_REUSEADDR/SO_REUSEPORT): %s mDNS cannot work for any other program", name, list, name),
			"stop it, or make it share the port (SO_REUSEPORT); systemd-resolved: MulticastDNS=no in /etc/systemd/resolved.conf"})
	}
	return out
}

// PortFinding says who else holds UDP port 5353 and whether sharing it
// works, from our own Listen's error alone (see PortFindings).
func PortFinding(holders []Holder, holdErr, listenErr error) Finding {
	listened := listenErr == nil
	if errors.Is(listenErr, transport.ErrNoInterface) {
		// The sockets opened; joining failed, which is not about the port.
		listened = true
	}
	if holdErr != nil {
		return Finding{CheckPort, StatusOK, "holders not checked: " + holdErr.Error(), ""}
	}
	if len(holders) == 0 {
		if listened {
			return Finding{CheckPort, StatusOK, "no other program holds UDP port 5353", ""}
		}
		return Finding{CheckPort, StatusWarn, "no other program seen on UDP port 5353, yet we could not open it", ""}
	}
	var names []string
	resolved := false
	for _, h := range holders {
		names = append(names, h.String())
		resolved = resolved || h.Name == "systemd-resolved"
	}
	list := strings.Join(names, ", ")
	if listened {
		f := Finding{CheckPort, StatusOK, "shared with " + list + ": sharing works (SO_REUSEADDR/SO_REUSEPORT), every stack hears the multicast", ""}
		if resolved {
			f.Hint = "systemd-resolved answers mDNS for the host name only; it does not stop libp2p discovery"
		}
		return f
	}
	f := Finding{CheckPort, StatusFail, "UDP port 5353 is held by " + list + " and we could not share it", "stop it, or make it share the port (SO_REUSEPORT)"}
	if resolved {
		f.Hint = "set MulticastDNS=no in /etc/systemd/resolved.conf (or: resolvectl mdns IFACE no), then restart systemd-resolved"
	}
	return f
}

// IPv6Finding says whether discovery can use IPv6.
func IPv6Finding(disabled bool, joined []transport.Interface, problems []transport.Problem, sysctlOff bool) Finding {
	hint := "discovery still works over IPv4; go-libp2p and js-libp2p use both families, rust-libp2p IPv4 only by default"
	if disabled {
		return Finding{CheckIPv6, StatusOK, "not used (--ipv6=false)", ""}
	}
	var on []string
	for _, ifc := range joined {
		if ifc.V6 {
			on = append(on, ifc.Name)
		}
	}
	if len(on) > 0 {
		return Finding{CheckIPv6, StatusOK, "available: ff02::fb joined on " + strings.Join(on, ", "), ""}
	}
	why := "no interface has an IPv6 address"
	for _, p := range problems {
		if p.Family == "ipv6" && p.Interface == "" {
			why = "the IPv6 socket could not be opened: " + p.Err.Error()
		}
	}
	if sysctlOff {
		why = "IPv6 is disabled (net.ipv6.conf.all.disable_ipv6 = 1)"
	}
	return Finding{CheckIPv6, StatusWarn, "unavailable: " + why, hint}
}

// ipv6SysctlOff reads net.ipv6.conf.all.disable_ipv6 (false when unknown).
func ipv6SysctlOff(procRoot string) bool {
	b, err := os.ReadFile(filepath.Join(procRoot, "sys/net/ipv6/conf/all/disable_ipv6"))
	return err == nil && strings.TrimSpace(string(b)) == "1"
}

// CanSeeUs explains, for a peer of a flavour announcing service while we
// browse ours, whether it and we can find each other.
func CanSeeUs(flavour, service, ours string) string {
	if !strings.EqualFold(strings.TrimSuffix(service, "."), strings.TrimSuffix(ours, ".")) {
		return fmt.Sprintf("no: it announces %s while we browse %s; give both sides the same service tag", service, ours)
	}
	switch flavour {
	case "go":
		return "yes: go-libp2p finds us and we find it (PTR, SRV, TXT and A/AAAA)"
	case "js":
		return "yes: it finds us and we find it; but js-libp2p peers cannot be found by go-libp2p peers: they send no SRV/A/AAAA, only PTR and TXT"
	case "rust":
		return "yes: it finds us from our answers to its queries (TXT in the additional section); it answers from an ephemeral port with IP TTL 1, which we accept; rust-libp2p uses IPv4 only by default"
	case "dnssd":
		return "not applicable: a DNS-SD responder (Avahi, Bonjour, zeroconf) only announces; we find it because it carries dnsaddr TXT strings"
	case "discovery":
		return "yes: a peer of this module (github.com/chorus-services/discovery): it finds us and we find it"
	}
	return "unknown: unrecognised record layout"
}

// ActiveFindings judges the active phase: queries sent, responses from
// other hosts, queries from other hosts, and the peers heard.
func ActiveFindings(st BrowseStats, responses, queriesHeard int, badTTL []string, peers []PeerSeen, browsed bool) []Finding {
	var out []Finding
	filtered := "no libp2p peer on this link, or multicast is filtered: a firewall on UDP 5353, Wi-Fi client isolation, IGMP snooping without a querier"
	switch {
	case !browsed:
		out = append(out, Finding{CheckQueries, StatusOK, fmt.Sprintf("no queries sent (listen only); %d responses from other hosts", responses), ""})
	case st.QueriesSent == 0:
		out = append(out, Finding{CheckQueries, StatusWarn, "no query could be sent", "see the socket and route findings; run with --log-level debug"})
	case responses == 0:
		msg := fmt.Sprintf("%d queries sent without any response from another host", st.QueriesSent)
		if queriesHeard > 0 {
			msg += fmt.Sprintf(" (yet %d queries of other hosts reached us, so inbound multicast works)", queriesHeard)
		}
		out = append(out, Finding{CheckQueries, StatusWarn, msg, "nobody answered: " + filtered})
	default:
		out = append(out, Finding{CheckQueries, StatusOK, fmt.Sprintf("%d queries sent, %d responses and %d queries from other hosts heard", st.QueriesSent, responses, queriesHeard), ""})
	}
	found := 0
	for _, p := range peers {
		if p.Found {
			found++
		}
	}
	if st.DroppedTTL > 0 {
		f := Finding{CheckQueries, StatusWarn, fmt.Sprintf("%d packets ignored for an IP TTL other than 255 (RFC 6762 §11)", st.DroppedTTL),
			"a router in between, or a stack that sends with the OS default TTL (some answer unicast queries so)"}
		if len(badTTL) > 0 {
			f.Message += ": " + strings.Join(badTTL, "; ")
		}
		if found > 0 {
			f.Status, f.Hint = StatusOK, ""
			f.Message += "; harmless here, peers were found from other packets (go-libp2p's zeroconf answers unicast queries with TTL 64)"
		}
		out = append(out, f)
	}
	if st.DroppedOffLink > 0 {
		out = append(out, Finding{CheckQueries, StatusWarn, fmt.Sprintf("%d responses dropped: source not on our subnet", st.DroppedOffLink), "check the netmasks of both hosts"})
	}
	flavours := map[string]int{}
	for _, p := range peers {
		flavours[p.Flavour]++
	}
	switch {
	case len(peers) == 0 && responses > 0:
		out = append(out, Finding{CheckPeers, StatusOK, "multicast works, but no libp2p peer was heard", "start a peer with the same service tag on this link"})
	case len(peers) == 0:
		out = append(out, Finding{CheckPeers, StatusWarn, "no libp2p peer heard", filtered})
	default:
		var fl []string
		for _, f := range []string{"discovery", "go", "js", "rust", "dnssd", "unknown"} {
			if n := flavours[f]; n > 0 {
				fl = append(fl, fmt.Sprintf("%d %s", n, f))
			}
		}
		out = append(out, Finding{CheckPeers, StatusOK, fmt.Sprintf("%d libp2p peer(s) heard (%s), %d found by our browser", len(peers), strings.Join(fl, ", "), found), ""})
	}
	return out
}

// FirewallFinding judges whether our own queries came back to us: the
// kernel loops multicast back to the sending host (IP_MULTICAST_LOOP), so
// a host that sent queries and heard none of its own packets has an input
// rule dropping UDP 5353 (an output rule makes the sends fail, with the
// same result). rules are the firewall rules that mention port 5353.
func FirewallFinding(queriesSent, ownHeard int, rules []string) Finding {
	switch {
	case queriesSent == 0:
		return Finding{CheckFirewall, StatusWarn, "not checked: no query was sent", ""}
	case ownHeard > 0:
		return Finding{CheckFirewall, StatusOK, fmt.Sprintf("our own multicast comes back to us (%d packets): no firewall drops UDP 5353 on this host", ownHeard), ""}
	}
	f := Finding{CheckFirewall, StatusFail,
		fmt.Sprintf("none of our %d queries came back to us: a firewall on this host drops mDNS (UDP 5353)", queriesSent),
		"allow UDP port 5353 to and from 224.0.0.251 and ff02::fb, e.g. nft add rule inet filter input udp dport 5353 accept (firewalld: firewall-cmd --add-service=mdns; ufw: ufw allow 5353/udp)"}
	if len(rules) > 0 {
		f.Message += "; rules naming 5353: " + strings.Join(rules, "; ")
	}
	return f
}

// TagFindings say under which tags the libp2p peers heard announce, and
// tell the exact tag to use when none announces ours (nothing when no peer
// was heard).
func TagFindings(service string, peers []PeerSeen) []Finding {
	if len(peers) == 0 {
		return nil
	}
	return []Finding{tagFinding(service, peers)}
}

func tagFinding(service string, peers []PeerSeen) Finding {
	ours := 0
	others := map[string]int{}
	for _, p := range peers {
		if mdns.EqualNames(p.Service, service) {
			ours++
		} else {
			others[p.Tag]++
		}
	}
	tag := mdns.ServiceTag(service)
	if len(others) == 0 {
		return Finding{CheckPeers, StatusOK, fmt.Sprintf("every peer heard announces our tag %s", tag), ""}
	}
	tags := make([]string, 0, len(others))
	best := ""
	for t, n := range others {
		tags = append(tags, fmt.Sprintf("%s (%d)", t, n))
		if best == "" || n > others[best] || (n == others[best] && t < best) {
			best = t
		}
	}
	sort.Strings(tags)
	msg := fmt.Sprintf("%d peer(s) announce under another tag than ours (%s): %s", len(peers)-ours, tag, strings.Join(tags, ", "))
	hint := fmt.Sprintf("to find them, use --service %s (library: NewMDNSDiscovery(ctx, h, %q) or NewMdnsService(h, %q, n)); both sides must use one tag", best, best, best)
	if ours > 0 {
		return Finding{CheckPeers, StatusOK, msg + fmt.Sprintf("; %d under ours", ours), hint}
	}
	return Finding{CheckPeers, StatusWarn, msg + "; none under ours", hint}
}
