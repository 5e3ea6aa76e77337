package doctor

import "slices"

// routeFinding judges the route the kernel picks for one mDNS group:
// dev is the interface of that route ("" with err when there is none), used
// the interfaces on which we joined the group. Our sends name the interface
// (IP_PKTINFO / IP_MULTICAST_IF), so a missing or foreign route is a warn:
// it stops only programs that leave the choice to the routing table.
func routeFinding(group, dev string, err error, used []string) Finding {
	add := "ip route add 224.0.0.0/4 dev "
	if group != "224.0.0.251" {
		add = "ip -6 route add ff00::/8 dev "
	}
	iface := "IFACE"
	if len(used) > 0 {
		iface = used[0]
	}
	switch {
	case err != nil || dev == "":
		msg := "no route for " + group
		if err != nil {
			msg += ": " + err.Error()
		}
		return Finding{CheckRoutes, StatusWarn, msg + " (our sends name the interface, so we are not affected; programs that rely on the routing table are)", add + iface}
	case len(used) > 0 && !slices.Contains(used, dev):
		return Finding{CheckRoutes, StatusWarn, group + " is routed via " + dev + ", not an interface we use: programs that rely on the routing table send there", add + iface}
	}
	return Finding{CheckRoutes, StatusOK, group + " is routed via " + dev, ""}
}
