//go:build linux

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/chorus-services/discovery/internal/benchstat"
	"github.com/chorus-services/discovery/internal/netns"
)

// nftTable is the name of the bench's nftables tables (bridge family in the
// bridge namespace, inet family in the host namespaces).
const nftTable = "mdnsbench"

// nftTimeout bounds every nft command.
const nftTimeout = 10 * time.Second

// wireCounters are the mDNS packets on the LAN (benchstat.Wire).
type wireCounters = benchstat.Wire

// The bridge counters: to port 5353, else from port 5353, per family, and
// the non-first fragments.
var bridgeCounterNames = []string{"v4", "v6", "v4reply", "v6reply", "v4frag", "v6frag"}

const bridgeRules = `table bridge ` + nftTable + ` {
	counter v4 {}
	counter v6 {}
	counter v4reply {}
	counter v6reply {}
	counter v4frag {}
	counter v6frag {}
	chain pre {
		type filter hook prerouting priority -300; policy accept;
		ether type ip ip frag-off & 0x1fff != 0 counter name "v4frag" accept
		ether type ip6 frag frag-off != 0 counter name "v6frag" accept
		ether type ip udp dport 5353 counter name "v4" accept
		ether type ip6 udp dport 5353 counter name "v6" accept
		ether type ip udp sport 5353 counter name "v4reply" accept
		ether type ip6 udp sport 5353 counter name "v6reply" accept
	}
}
`

// lossRules drops pct percent of the UDP datagrams to port 5353 arriving
// at a host, at random (nftables numgen), and counts them.
func lossRules(pct float64) string {
	return fmt.Sprintf(`table inet %s {
	counter lost {}
	chain in {
		type filter hook input priority -300; policy accept;
		udp dport 5353 numgen random mod 10000 < %d counter name "lost" drop
	}
}
`, nftTable, int(pct*100+0.5))
}

func nft(ctx context.Context, nt *netns.Net, i int, stdin string, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, nftTimeout)
	defer cancel()
	cmd := nt.Exec(ctx, i, "nft", args...)
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("nft %s in namespace %d: %w: %s", strings.Join(args, " "), i, err, strings.TrimSpace(stderr.String()))
	}
	return stdout.Bytes(), nil
}

// setupBridgeCounters installs the counting table in the bridge namespace.
func setupBridgeCounters(ctx context.Context, nt *netns.Net) error {
	_, err := nft(ctx, nt, 0, bridgeRules, "-f", "-")
	return err
}

// setupLoss installs the loss table in every host namespace.
func setupLoss(ctx context.Context, nt *netns.Net, pct float64) error {
	for i := 1; i <= nt.Len(); i++ {
		if _, err := nft(ctx, nt, i, lossRules(pct), "-f", "-"); err != nil {
			return err
		}
	}
	return nil
}

// readNamedCounters reads the named counters of the bench's table in
// namespace i.
func readNamedCounters(ctx context.Context, nt *netns.Net, i int, family string) (map[string][2]uint64, error) {
	out, err := nft(ctx, nt, i, "", "-j", "list", "counters", "table", family, nftTable)
	if err != nil {
		return nil, err
	}
	var doc struct {
		Nftables []struct {
			Counter *struct {
				Name    string `json:"name"`
				Packets uint64 `json:"packets"`
				Bytes   uint64 `json:"bytes"`
			} `json:"counter"`
		} `json:"nftables"`
	}
	if err := json.Unmarshal(out, &doc); err != nil {
		return nil, fmt.Errorf("nft -j output: %w", err)
	}
	m := map[string][2]uint64{}
	for _, e := range doc.Nftables {
		if e.Counter != nil {
			m[e.Counter.Name] = [2]uint64{e.Counter.Packets, e.Counter.Bytes}
		}
	}
	return m, nil
}

// readWire reads the bridge counters.
func readWire(ctx context.Context, nt *netns.Net) (wireCounters, error) {
	m, err := readNamedCounters(ctx, nt, 0, "bridge")
	if err != nil {
		return wireCounters{}, err
	}
	for _, name := range bridgeCounterNames {
		if _, ok := m[name]; !ok {
			return wireCounters{}, fmt.Errorf("bridge counter %q missing", name)
		}
	}
	c := wireCounters{
		V4Packets:    m["v4"][0] + m["v4reply"][0],
		V6Packets:    m["v6"][0] + m["v6reply"][0],
		ReplyPackets: m["v4reply"][0] + m["v6reply"][0],
		Fragments:    m["v4frag"][0] + m["v6frag"][0],
	}
	c.Packets = c.V4Packets + c.V6Packets
	for _, name := range bridgeCounterNames {
		c.Bytes += m[name][1]
	}
	return c, nil
}

// readLost sums the datagrams the loss rules dropped over the hosts.
func readLost(ctx context.Context, nt *netns.Net) (uint64, error) {
	var sum uint64
	for i := 1; i <= nt.Len(); i++ {
		m, err := readNamedCounters(ctx, nt, i, "inet")
		if err != nil {
			return 0, err
		}
		sum += m["lost"][0]
	}
	return sum, nil
}

// udpDrops are a namespace's kernel UDP receive-buffer drops.
type udpDrops struct {
	V4 uint64 // Udp: RcvbufErrors (/proc/net/snmp)
	V6 uint64 // Udp6RcvbufErrors (/proc/net/snmp6)
}

// readDrops reads the receive-buffer drops of every host namespace, from
// the calling thread switched into it (/proc/thread-self: /proc/self/net
// would show the namespace of the process's main thread).
func readDrops(nt *netns.Net) ([]udpDrops, error) {
	out := make([]udpDrops, nt.Len())
	for i := 1; i <= nt.Len(); i++ {
		err := nt.Do(i, func() error {
			snmp, err := os.ReadFile("/proc/thread-self/net/snmp")
			if err != nil {
				return err
			}
			snmp6, err := os.ReadFile("/proc/thread-self/net/snmp6")
			if err != nil {
				return err
			}
			if out[i-1].V4, err = snmpField(string(snmp), "Udp:", "RcvbufErrors"); err != nil {
				return err
			}
			out[i-1].V6, err = snmp6Field(string(snmp6), "Udp6RcvbufErrors")
			return err
		})
		if err != nil {
			return nil, fmt.Errorf("host %d: %w", i, err)
		}
	}
	return out, nil
}

// snmpField reads a field of /proc/net/snmp, where each protocol has a
// header line and a value line with the same "Proto:" prefix.
func snmpField(s, proto, field string) (uint64, error) {
	var header []string
	for _, line := range strings.Split(s, "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || f[0] != proto {
			continue
		}
		if header == nil {
			header = f
			continue
		}
		for k, name := range header {
			if name == field && k < len(f) {
				return strconv.ParseUint(f[k], 10, 64)
			}
		}
		break
	}
	return 0, fmt.Errorf("/proc/net/snmp: no %s %s", proto, field)
}

// snmp6Field reads a "Name value" line of /proc/net/snmp6.
func snmp6Field(s, field string) (uint64, error) {
	for _, line := range strings.Split(s, "\n") {
		f := strings.Fields(line)
		if len(f) == 2 && f[0] == field {
			return strconv.ParseUint(f[1], 10, 64)
		}
	}
	return 0, fmt.Errorf("/proc/net/snmp6: no %s", field)
}
