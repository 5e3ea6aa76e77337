//go:build linux

package matrix

import (
	"context"
	"fmt"
	"github.com/chorus-services/discovery/internal/interop/rustwire"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chorus-services/discovery/internal/netns"
	"github.com/chorus-services/discovery/mdns"
	"github.com/chorus-services/discovery/mdns/transport"
	"github.com/miekg/dns"
)

// listenFamily opens our transport (port 5353, group joined) on lan0 of
// host i for one family only.
func listenFamily(t *testing.T, nt *netns.Net, i int, f family) *transport.UDP {
	t.Helper()
	var conn *transport.UDP
	if err := nt.Do(i, func() error {
		var err error
		conn, err = transport.Listen(transport.Config{Interfaces: []string{netns.LinkName}, DisableIPv4: f == v6, DisableIPv6: f == v4})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// ephemeral opens a UDP socket on an ephemeral port of host i's lan0
// address of family f (the link-local one, with its zone, for IPv6), and
// returns it with the family's mDNS group as a destination on lan0.
func ephemeral(t *testing.T, nt *netns.Net, i int, f family) (*net.UDPConn, *net.UDPAddr) {
	t.Helper()
	h := nt.Host(i)
	var c *net.UDPConn
	var group *net.UDPAddr
	if err := nt.Do(i, func() error {
		var err error
		if f == v4 {
			c, err = net.ListenUDP("udp4", &net.UDPAddr{IP: h.V4.Addr().AsSlice()})
			group = &net.UDPAddr{IP: net.IPv4(224, 0, 0, 251), Port: 5353}
			return err
		}
		c, err = net.ListenUDP("udp6", &net.UDPAddr{IP: h.LinkLocal.AsSlice(), Zone: netns.LinkName})
		group = &net.UDPAddr{IP: net.ParseIP("ff02::fb"), Port: 5353, Zone: netns.LinkName}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c, group
}

// startRustAnnouncer runs, in host i, a synthetic peer speaking
// rust-libp2p's wire format (mdns/doc.go) over family f only: it answers
// every _p2p._udp.local query it receives by multicast from an ephemeral
// port, with a PTR to a fresh random label and one TXT per address in the
// additional section.
func startRustAnnouncer(t *testing.T, nt *netns.Net, i int, f family, id string, addrs []string) {
	t.Helper()
	rx := listenFamily(t, nt, i, f)
	tx, group := ephemeral(t, nt, i, f)
	queries, err := rx.View(transport.ViewConfig{Name: "rust-format announcer"})
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		for p := range queries.Packets() {
			m, err := mdns.Parse(p.Data)
			if err != nil || !rustwire.Asks(m) {
				continue
			}
			out, err := rustwire.Response(m.Id, id, addrs)
			if err != nil {
				continue
			}
			_, _ = tx.WriteToUDP(out, group)
		}
	}()
}

// rustDecode reads a response the way rust-libp2p does: PTR answers owned
// exactly by "_p2p._udp.local.", and for each, the TXT records of the
// additional section owned by the PTR's target, whose "dnsaddr=" strings
// carry the peer's addresses (with /p2p/ID). It returns the addresses of id
// (without the /p2p suffix).
func rustDecode(data []byte, id string) []string {
	m, err := mdns.Parse(data)
	if err != nil || !m.Response {
		return nil
	}
	var out []string
	for _, rr := range m.Answer {
		ptr, ok := rr.(*dns.PTR)
		if !ok || ptr.Hdr.Name != rustwire.Service {
			continue
		}
		for _, ex := range m.Extra {
			txt, ok := ex.(*dns.TXT)
			if !ok || !strings.EqualFold(txt.Hdr.Name, ptr.Ptr) {
				continue
			}
			for _, s := range txt.Txt {
				a, ok := strings.CutPrefix(s, "dnsaddr=")
				if !ok {
					continue
				}
				if base, ok := strings.CutSuffix(a, "/p2p/"+id); ok {
					out = append(out, base)
				}
			}
		}
	}
	return out
}

// rustFinds emulates a rust-libp2p querier in host i over family f: it
// sends the 33-byte query from an ephemeral port (again every second) and
// listens both on 5353 (rust's receive socket, multicast answers) and on
// the ephemeral port (unicast replies), decoding what arrives the rust way
// until id is decoded with an address of family f. It returns the
// addresses, how the answer came ("multicast", or "unicast" when only
// unicast replies to the query port came, within 4 s of the first) and when
// the first usable answer arrived.
func rustFinds(ctx context.Context, t *testing.T, nt *netns.Net, i int, f family, id string) (addrs []string, path string, at time.Time, err error) {
	rx := listenFamily(t, nt, i, f)
	tx, group := ephemeral(t, nt, i, f)
	type hit struct {
		addrs []string
		path  string
	}
	hits := make(chan hit, 16)
	heard, err := rx.View(transport.ViewConfig{Name: "rust-format finder"})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		for p := range heard.Packets() {
			if a := rustDecode(p.Data, id); len(a) > 0 {
				select {
				case hits <- hit{a, "multicast"}:
				default:
				}
			}
		}
	}()
	go func() {
		defer wg.Done()
		buf := make([]byte, 9000)
		for {
			n, _, err := tx.ReadFromUDP(buf)
			if err != nil {
				return
			}
			if a := rustDecode(buf[:n], id); len(a) > 0 {
				select {
				case hits <- hit{a, "unicast"}:
				default:
				}
			}
		}
	}()
	defer func() { rx.Close(); tx.Close(); wg.Wait() }()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	if _, err := tx.WriteToUDP(rustwire.Query(), group); err != nil {
		return nil, "", at, err
	}
	var seen []string
	var unicast []string
	var unicastAt <-chan time.Time
	for {
		select {
		case h := <-hits:
			seen = append(seen, fmt.Sprintf("%s:%v", h.path, h.addrs))
			if !anyOfFamily(h.addrs, f) {
				continue
			}
			if h.path == "multicast" {
				return h.addrs, h.path, time.Now(), nil
			}
			if unicast == nil {
				// rust-libp2p reads only its 5353 socket: wait a few more
				// queries for a multicast answer before settling for this.
				unicast, at = h.addrs, time.Now()
				unicastAt = time.After(4 * time.Second)
			}
		case <-unicastAt:
			return unicast, "unicast", at, nil
		case <-tick.C:
			if _, err := tx.WriteToUDP(rustwire.Query(), group); err != nil {
				return nil, "", at, err
			}
		case <-ctx.Done():
			if unicast != nil {
				return unicast, "unicast", at, nil
			}
			return nil, "", at, fmt.Errorf("rust-style querier decoded no %s address of %s: %w (decoded: %v)", f, id, ctx.Err(), seen)
		}
	}
}
