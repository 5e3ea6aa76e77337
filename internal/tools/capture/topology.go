//go:build linux

package main

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// topology is a LAN of host namespaces around a bridge namespace, built
// like internal/netns does (same addresses and MACs as the shared
// captures), with the prefix cap-<pid>-.
type topology struct {
	prefix string
	bridge string
	hosts  []thost
	nss    []string
}

type thost struct {
	name, ns, mac, v4, v6 string
}

func hostV4(i int) string { return fmt.Sprintf("198.51.100.%d", 10+i) }
func hostV6(i int) string { return fmt.Sprintf("2001:db8:53::%d", 10+i) }

func ip(args ...string) error {
	_, err := runCmd(context.Background(), "ip", args...)
	return err
}

func newTopology(ctx context.Context, n int) (*topology, error) {
	t := &topology{prefix: fmt.Sprintf("cap-%d-", os.Getpid())}
	t.bridge = t.prefix + "br"
	add := func(ns string) error {
		if err := ip("netns", "add", ns); err != nil {
			return err
		}
		t.nss = append(t.nss, ns)
		return nil
	}
	sysctl := func(ns, k, v string) error {
		_, err := runCmd(ctx, "ip", "netns", "exec", ns, "sysctl", "-q", "-w", k+"="+v)
		return err
	}
	if err := add(t.bridge); err != nil {
		return t, err
	}
	for _, kv := range [][2]string{{"net.ipv6.conf.all.disable_ipv6", "1"}, {"net.ipv6.conf.default.disable_ipv6", "1"}} {
		if err := sysctl(t.bridge, kv[0], kv[1]); err != nil {
			return t, err
		}
	}
	steps := [][]string{
		{"-n", t.bridge, "link", "set", "lo", "up"},
		{"-n", t.bridge, "link", "add", "br0", "type", "bridge", "stp_state", "0", "forward_delay", "0", "mcast_snooping", "0"},
		{"-n", t.bridge, "link", "set", "br0", "up"},
	}
	for i := 1; i <= n; i++ {
		h := thost{name: fmt.Sprintf("h%d", i), ns: fmt.Sprintf("%sh%d", t.prefix, i),
			mac: fmt.Sprintf("02:53:00:00:00:%02x", i), v4: hostV4(i), v6: hostV6(i)}
		if err := add(h.ns); err != nil {
			return t, err
		}
		// Optimistic: no duplicate address detection delay on this private LAN.
		for _, k := range []string{"net.ipv6.conf.all.accept_dad", "net.ipv6.conf.default.accept_dad"} {
			if err := sysctl(h.ns, k, "0"); err != nil {
				return t, err
			}
		}
		t.hosts = append(t.hosts, h)
		port := h.name
		steps = append(steps,
			[]string{"-n", h.ns, "link", "set", "lo", "up"},
			[]string{"-n", t.bridge, "link", "add", port, "type", "veth", "peer", "name", "lan0", "netns", h.ns},
			[]string{"-n", t.bridge, "link", "set", port, "master", "br0"},
			[]string{"-n", t.bridge, "link", "set", port, "up"},
			[]string{"-n", h.ns, "link", "set", "lan0", "address", h.mac},
			[]string{"-n", h.ns, "addr", "add", h.v4 + "/24", "dev", "lan0"},
			[]string{"-n", h.ns, "addr", "add", h.v6 + "/64", "dev", "lan0", "nodad"},
			[]string{"-n", h.ns, "link", "set", "lan0", "up"},
			[]string{"-n", h.ns, "route", "add", "224.0.0.0/4", "dev", "lan0"},
		)
	}
	for _, s := range steps {
		if err := ip(s...); err != nil {
			return t, err
		}
	}
	for _, h := range t.hosts {
		_ = ip("-n", h.ns, "-6", "route", "add", "ff02::/16", "dev", "lan0") // usually exists
	}
	return t, t.waitReady(ctx)
}

// waitReady waits (at most 10 s) until every lan0 is up with no tentative
// address and a link-local address.
func (t *topology) waitReady(ctx context.Context) error {
	deadline := time.Now().Add(10 * time.Second)
	for _, h := range t.hosts {
		for {
			out, err := runCmd(ctx, "ip", "-n", h.ns, "-o", "addr", "show", "dev", "lan0")
			link, lerr := runCmd(ctx, "ip", "-n", h.ns, "-br", "link", "show", "dev", "lan0")
			if err == nil && lerr == nil && !strings.Contains(out, "tentative") && strings.Contains(out, "fe80::") &&
				strings.Contains(link, " UP ") {
				break
			}
			if time.Now().After(deadline) || ctx.Err() != nil {
				return fmt.Errorf("%s not ready: %s %s", h.ns, out, link)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	time.Sleep(300 * time.Millisecond)
	return nil
}

// addrs returns `ip -br addr` of every namespace.
func (t *topology) addrs() string {
	var b strings.Builder
	for _, ns := range t.nss {
		out, _ := runCmd(context.Background(), "ip", "-n", ns, "-br", "addr")
		fmt.Fprintf(&b, "== %s\n%s", ns, out)
	}
	return strings.TrimSpace(b.String())
}

func (t *topology) linkLocal(i int) string {
	out, _ := runCmd(context.Background(), "ip", "-n", t.hosts[i-1].ns, "-6", "-o", "addr", "show", "dev", "lan0", "scope", "link")
	for _, f := range strings.Fields(out) {
		if strings.HasPrefix(f, "fe80::") {
			return f
		}
	}
	return ""
}

func (t *topology) describe() map[string]any {
	hosts := map[string]any{}
	for i, h := range t.hosts {
		hosts[h.name] = map[string]any{"netns": h.ns, "iface": "lan0", "mac": h.mac, "ipv4": h.v4 + "/24",
			"ipv6": []string{h.v6 + "/64", t.linkLocal(i + 1)}}
	}
	return map[string]any{
		"bridge":               "br0 in netns " + t.bridge + " (mcast_snooping 0, no IPv6 on br0)",
		"hosts":                hosts,
		"netns_addrs_at_start": t.addrs(),
	}
}

// cleanup kills what still runs in the namespaces (never this process)
// and deletes them.
func (t *topology) cleanup() {
	for i := len(t.nss) - 1; i >= 0; i-- {
		ns := t.nss[i]
		out, err := runCmd(context.Background(), "ip", "netns", "pids", ns)
		if err == nil {
			for _, f := range strings.Fields(out) {
				if pid, err := strconv.Atoi(f); err == nil && pid > 1 && pid != os.Getpid() {
					_ = syscall.Kill(pid, syscall.SIGKILL)
				}
			}
		}
		if err := ip("netns", "del", ns); err != nil {
			fmt.Fprintln(os.Stderr, "capture: cleanup:", err)
		}
	}
	t.nss = nil
}
