//go:build linux

package netns

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"slices"
)

// linkJSON is the part of `ip -j addr show` the harness reads.
type linkJSON struct {
	IfIndex   int      `json:"ifindex"`
	IfName    string   `json:"ifname"`
	Flags     []string `json:"flags"`
	OperState string   `json:"operstate"`
	AddrInfo  []struct {
		Family    string `json:"family"`
		Local     string `json:"local"`
		PrefixLen int    `json:"prefixlen"`
		Scope     string `json:"scope"`
		Tentative bool   `json:"tentative"`
		DADFailed bool   `json:"dadfailed"`
	} `json:"addr_info"`
}

func (nt *Net) linkInfo(ns string) (*linkJSON, error) {
	out, err := ipOutput("-j", "-n", ns, "addr", "show", "dev", LinkName)
	if err != nil {
		return nil, err
	}
	var links []linkJSON
	if err := json.Unmarshal([]byte(out), &links); err != nil {
		return nil, fmt.Errorf("parse ip -j output: %w", err)
	}
	if len(links) != 1 {
		return nil, fmt.Errorf("%s: %d links named %s", ns, len(links), LinkName)
	}
	return &links[0], nil
}

// notReady says what is still missing ("" when ready).
func (l *linkJSON) notReady(v6 bool) string {
	if !slices.Contains(l.Flags, "UP") || !slices.Contains(l.Flags, "LOWER_UP") {
		return "link not up with carrier"
	}
	hasLL := false
	for _, a := range l.AddrInfo {
		if a.DADFailed {
			return "duplicate address detection failed for " + a.Local
		}
		if a.Tentative {
			return a.Local + " tentative"
		}
		if a.Family == "inet6" && a.Scope == "link" {
			hasLL = true
		}
	}
	if v6 && !hasLL {
		return "no IPv6 link-local address yet"
	}
	return ""
}

func (l *linkJSON) linkLocal() netip.Addr {
	for _, a := range l.AddrInfo {
		if a.Family != "inet6" || a.Scope != "link" {
			continue
		}
		if ip, err := netip.ParseAddr(a.Local); err == nil {
			return ip
		}
	}
	return netip.Addr{}
}

// portForwarding reports whether host i's bridge port is in the forwarding
// state (true when the state cannot be read: ip without -d details).
func (nt *Net) portForwarding(i int) bool {
	out, err := ipOutput("-j", "-d", "-n", nt.bridge, "link", "show", "dev", fmt.Sprintf("h%d", i))
	if err != nil {
		return false
	}
	var links []struct {
		LinkInfo struct {
			InfoSlaveData struct {
				State string `json:"state"`
			} `json:"info_slave_data"`
		} `json:"linkinfo"`
	}
	if err := json.Unmarshal([]byte(out), &links); err != nil || len(links) != 1 {
		return false
	}
	st := links[0].LinkInfo.InfoSlaveData.State
	return st == "" || st == "forwarding"
}
