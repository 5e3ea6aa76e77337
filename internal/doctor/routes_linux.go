package doctor

import (
	"net"

	"github.com/vishvananda/netlink"
)

// RouteFindings asks the kernel (netlink, as `ip route get`) which route
// it picks for each enabled mDNS group.
func RouteFindings(v4, v6 bool, used []string) []Finding {
	var out []Finding
	for _, g := range []struct {
		on   bool
		addr string
	}{{v4, "224.0.0.251"}, {v6, "ff02::fb"}} {
		if !g.on {
			continue
		}
		dev := ""
		routes, err := netlink.RouteGet(net.ParseIP(g.addr))
		if err == nil && len(routes) > 0 {
			if l, lerr := netlink.LinkByIndex(routes[0].LinkIndex); lerr == nil {
				dev = l.Attrs().Name
			} else if ifc, ierr := net.InterfaceByIndex(routes[0].LinkIndex); ierr == nil {
				dev = ifc.Name
			}
		}
		out = append(out, routeFinding(g.addr, dev, err, used))
	}
	return out
}
