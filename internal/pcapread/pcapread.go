// Package pcapread reads mDNS datagrams out of pcap and pcapng captures:
// Ethernet and Linux cooked (SLL, SLL2) link types, IPv4 and IPv6, with IP
// fragments reassembled (and counted when incomplete). Each UDP datagram to
// or from port 5353 becomes a Packet (a transport.Packet) with the capture's time.
//
// Packet flow: file → pcapgo reader → link layer → IPv4/IPv6 (defragment)
// → UDP → Datagram{Time, Packet}.
package pcapread

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/chorus-services/discovery/mdns"
	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/ip4defrag"
	"github.com/gopacket/gopacket/ip6defrag"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// Datagram is one mDNS UDP datagram from a capture.
type Datagram struct {
	// Frame is the 1-based number of the frame that completed the datagram.
	Frame int
	Time  time.Time
	// Packet has Data, Src, Dst, TTL and Multicast set; IfIndex is 1.
	Packet Packet
}

// Packet has the fields of transport.Packet, in its order, so that
// transport.Packet(d.Packet) converts it: this package stays below the
// transport layer, and the codec's own tests (package mdns) can read
// captures.
type Packet struct {
	Data      []byte
	Src       netip.AddrPort
	Dst       netip.AddrPort
	IfIndex   int
	TTL       int
	Multicast bool
}

// Delivery is how a captured datagram was sent: what a fuzz seed made of
// it must reproduce.
type Delivery struct {
	Ephemeral bool // from a source port other than 5353
	TTLOther  bool // with a known IP TTL other than 255 …
	TTLOne    bool // … namely 1 (rust-libp2p's, dig's)
	V6        bool // from an IPv6 source
	Unicast   bool // to a unicast destination
}

// Delivery returns how p was sent.
func (p Packet) Delivery() Delivery {
	src := p.Src.Addr()
	return Delivery{
		Ephemeral: p.Src.Port() != mdns.Port,
		TTLOther:  p.TTL != 255 && p.TTL != -1 && p.TTL != 0,
		TTLOne:    p.TTL == 1,
		V6:        src.Is6() && !src.Is4In6(),
		Unicast:   !p.Dst.Addr().IsMulticast(),
	}
}

// Mode packs d into a fuzz mode byte: each bit given is set when its
// property holds (0: not encoded).
func (d Delivery) Mode(ephemeral, ttlOther, ttlOne, v6, unicast uint8) uint8 {
	var m uint8
	for _, f := range []struct {
		on  bool
		bit uint8
	}{{d.Ephemeral, ephemeral}, {d.TTLOther, ttlOther}, {d.TTLOne, ttlOne}, {d.V6, v6}, {d.Unicast, unicast}} {
		if f.on {
			m |= f.bit
		}
	}
	return m
}

// Stats counts what the reader saw.
type Stats struct {
	Frames      int // frames read
	Datagrams   int // mDNS datagrams returned
	Fragments   int // IP fragments seen
	Reassembled int // datagrams rebuilt from fragments
	Incomplete  int // fragments never completed or rejected by the defragmenter
	Skipped     int // frames that were not UDP to or from port 5353
}

// ErrNotCapture is returned for data that is neither pcap nor pcapng.
var ErrNotCapture = errors.New("pcapread: not a pcap or pcapng capture")

type packetSource interface {
	ReadPacketData() ([]byte, gopacket.CaptureInfo, error)
	LinkType() layers.LinkType
}

// ReadFile reads every mDNS datagram of the capture at path.
func ReadFile(path string) ([]Datagram, Stats, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, Stats{}, err
	}
	defer f.Close()
	return Read(f)
}

// Capture is one capture file of a directory and its datagrams.
type Capture struct {
	Path      string
	Name      string // the file name without ".pcap"
	Datagrams []Datagram
	Stats     Stats
}

// ReadDir reads every *.pcap capture of dir, in file name order; a
// directory without one is an error.
func ReadDir(dir string) ([]Capture, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.pcap"))
	if err == nil && len(files) == 0 {
		err = fmt.Errorf("pcapread: no captures in %s", dir)
	}
	if err != nil {
		return nil, err
	}
	out := make([]Capture, 0, len(files))
	for _, f := range files {
		dgs, st, err := ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", f, err)
		}
		out = append(out, Capture{Path: f, Name: strings.TrimSuffix(filepath.Base(f), ".pcap"), Datagrams: dgs, Stats: st})
	}
	return out, nil
}

// maxFrames bounds how much of a capture is read.
const maxFrames = 10_000_000

// fragmentTimeout is how long (capture time) IPv4 fragments wait for the
// rest of their datagram (ip4defrag's own timeout is longer).
const fragmentTimeout = 30 * time.Second

// Read reads every mDNS datagram of a capture into memory; Reader streams
// them instead.
func Read(r io.Reader) ([]Datagram, Stats, error) {
	rd, err := NewReader(r)
	if err != nil {
		return nil, Stats{}, err
	}
	var out []Datagram
	for {
		dg, err := rd.Next()
		if err == io.EOF {
			return out, rd.Stats(), nil
		}
		if err != nil {
			return out, rd.Stats(), err
		}
		out = append(out, dg)
	}
}

// Reader streams the mDNS datagrams of a capture: it holds one frame and
// the IP fragments not yet reassembled, whatever the capture's size.
type Reader struct {
	src   packetSource
	first gopacket.LayerType
	d4    *ip4defrag.IPv4Defragmenter
	d6    *ip6defrag.IPv6Defragmenter
	st    Stats
}

// NewReader reads the capture's header: an error (wrapping ErrNotCapture
// for data that is no capture) means nothing can be read.
func NewReader(r io.Reader) (*Reader, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	magic, err := br.Peek(4)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNotCapture, err)
	}
	var src packetSource
	switch {
	case bytes.Equal(magic, []byte{0x0a, 0x0d, 0x0d, 0x0a}):
		ng, err := pcapgo.NewNgReader(br, pcapgo.DefaultNgReaderOptions)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrNotCapture, err)
		}
		src = ng
	default:
		pr, err := pcapgo.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrNotCapture, err)
		}
		src = pr
	}
	rd := &Reader{src: src, d4: ip4defrag.NewIPv4Defragmenter(), d6: ip6defrag.NewIPv6Defragmenter()}
	switch src.LinkType() {
	case layers.LinkTypeEthernet:
		rd.first = layers.LayerTypeEthernet
	case layers.LinkTypeLinuxSLL:
		rd.first = layers.LayerTypeLinuxSLL
	case layers.LinkTypeLinuxSLL2:
		rd.first = layers.LayerTypeLinuxSLL2
	case layers.LinkTypeRaw, layers.LinkTypeIPv4:
		rd.first = layers.LayerTypeIPv4
	case layers.LinkTypeIPv6:
		rd.first = layers.LayerTypeIPv6
	default:
		return nil, fmt.Errorf("pcapread: unsupported link type %v", src.LinkType())
	}
	return rd, nil
}

// Stats returns what the reader has counted so far.
func (rd *Reader) Stats() Stats { return rd.st }

// Next returns the next mDNS datagram, or io.EOF at the end of the
// capture (or after maxFrames frames).
func (rd *Reader) Next() (Datagram, error) {
	for rd.st.Frames < maxFrames {
		data, ci, err := rd.src.ReadPacketData()
		if err == io.EOF {
			return Datagram{}, io.EOF
		}
		if err != nil {
			if rd.st.Frames == 0 {
				return Datagram{}, fmt.Errorf("%w: %v", ErrNotCapture, err)
			}
			return Datagram{}, fmt.Errorf("pcapread: frame %d: %w", rd.st.Frames+1, err)
		}
		rd.st.Frames++
		if rd.st.Frames%4096 == 0 { // fragments never completed are dropped after 30 s of capture time
			rd.st.Incomplete += rd.d4.DiscardOlderThan(ci.Timestamp.Add(-fragmentTimeout))
		}
		if dg, ok := rd.frame(data, ci); ok {
			return dg, nil
		}
	}
	return Datagram{}, io.EOF
}

// frame decodes one frame; ok is false when it holds no complete mDNS
// datagram.
func (rd *Reader) frame(data []byte, ci gopacket.CaptureInfo) (Datagram, bool) {
	st := &rd.st
	pkt := gopacket.NewPacket(data, rd.first, gopacket.DecodeOptions{Lazy: true, NoCopy: true})
	var (
		payload  []byte
		src, dst netip.Addr
		ttl      int
	)
	if ip4, ok := pkt.Layer(layers.LayerTypeIPv4).(*layers.IPv4); ok {
		if ip4.Flags&layers.IPv4MoreFragments != 0 || ip4.FragOffset != 0 {
			st.Fragments++
			whole, err := rd.d4.DefragIPv4WithTimestamp(ip4, ci.Timestamp)
			if err != nil {
				st.Incomplete++
				return Datagram{}, false
			}
			if whole == nil {
				return Datagram{}, false
			}
			st.Reassembled++
			ip4 = whole
		}
		if ip4.Protocol != layers.IPProtocolUDP {
			st.Skipped++
			return Datagram{}, false
		}
		payload, ttl = ip4.Payload, int(ip4.TTL)
		src, _ = netip.AddrFromSlice(ip4.SrcIP.To4())
		dst, _ = netip.AddrFromSlice(ip4.DstIP.To4())
	} else if ip6, ok := pkt.Layer(layers.LayerTypeIPv6).(*layers.IPv6); ok {
		next := ip6.NextHeader
		payload = ip6.Payload
		if frag, ok := pkt.Layer(layers.LayerTypeIPv6Fragment).(*layers.IPv6Fragment); ok {
			st.Fragments++
			whole := rd.d6.DefragIPv6(ip6, frag)
			if whole == nil {
				return Datagram{}, false
			}
			st.Reassembled++
			payload, next = whole.Payload, frag.NextHeader
		} else if udp, ok := pkt.Layer(layers.LayerTypeUDP).(*layers.UDP); ok {
			payload, next = append(udp.Contents, udp.Payload...), layers.IPProtocolUDP
		}
		if next != layers.IPProtocolUDP {
			st.Skipped++
			return Datagram{}, false
		}
		ttl = int(ip6.HopLimit)
		src, _ = netip.AddrFromSlice(ip6.SrcIP)
		dst, _ = netip.AddrFromSlice(ip6.DstIP)
	} else {
		st.Skipped++
		return Datagram{}, false
	}
	if len(payload) < 8 {
		st.Skipped++
		return Datagram{}, false
	}
	sport := uint16(payload[0])<<8 | uint16(payload[1])
	dport := uint16(payload[2])<<8 | uint16(payload[3])
	if sport != mdns.Port && dport != mdns.Port {
		st.Skipped++
		return Datagram{}, false
	}
	body := append([]byte(nil), payload[8:]...)
	if ulen := int(payload[4])<<8 | int(payload[5]); ulen >= 8 && ulen-8 < len(body) {
		body = body[:ulen-8] // trailing link padding
	}
	st.Datagrams++
	return Datagram{
		Frame: st.Frames,
		Time:  ci.Timestamp,
		Packet: Packet{
			Data:      body,
			Src:       netip.AddrPortFrom(src.Unmap(), sport),
			Dst:       netip.AddrPortFrom(dst.Unmap(), dport),
			IfIndex:   1,
			TTL:       ttl,
			Multicast: dst.IsMulticast(),
		},
	}, true
}
