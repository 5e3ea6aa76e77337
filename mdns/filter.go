package mdns

import (
	"bytes"
	"strings"
)

// Filter decides cheaply, without unpacking, whether a datagram can concern
// us. A name containing a label appears in a DNS message either literally or
// through a compression pointer to an earlier literal copy (RFC 1035 §4.1.4),
// so every label of every name in the message is present verbatim, preceded
// by its length byte. A packet in which none of the filter's labels appears
// (case-insensitively, RFC 6762 §16) cannot mention our service, our peer
// name or the DNS-SD meta-query, and is dropped without allocation.
// False positives are possible (the bytes may occur inside other data);
// false negatives are not.
type Filter struct {
	groups []group
}

// group is the needles sharing an anchor byte, found by one scan.
type group struct {
	a1, a2  byte
	needles []needle
}

type needle struct {
	label  []byte // lower-case
	anchor int    // index in label of the byte to search for
	a1, a2 byte   // the anchor byte in both cases (equal for non-letters)
}

// NewFilter returns a filter that matches packets mentioning any of the
// given labels. Use FilterLabels to derive them from names.
func NewFilter(labels ...string) *Filter {
	f := &Filter{}
	var lower [][]byte
	for _, l := range labels {
		if l != "" && len(l) <= 63 {
			lower = append(lower, []byte(strings.ToLower(l)))
		}
	}
	// A label with no rarer byte than '_' (or a letter) forces a scan for
	// it; a label containing a byte already scanned for joins that scan
	// instead of adding one (one scan per anchor byte, see group).
	var forced []byte
	for _, l := range lower {
		if a := l[anchorOf(l)]; rank(a) >= rank('_') {
			forced = append(forced, a)
		}
	}
	for _, l := range lower {
		n := needle{label: l, anchor: anchorOf(l)}
		for _, a := range forced {
			if i := bytes.IndexByte(l, a); i >= 0 {
				n.anchor = i
				break
			}
		}
		n.a1 = n.label[n.anchor]
		n.a2 = n.a1
		if n.a1 >= 'a' && n.a1 <= 'z' {
			n.a2 = n.a1 - 'a' + 'A'
		}
		f.add(n)
	}
	return f
}

// anchorOf picks the byte of a lower-case label that the scan searches
// for: one whose case cannot vary, so one vectorised IndexByte scan finds
// every occurrence, and among those the rarest in mDNS traffic: a digit,
// then another non-letter, then '_' (which starts every DNS-SD service
// label, so an unrelated DNS-SD packet has several), then a letter.
func anchorOf(label []byte) int {
	best := 0
	for i, c := range label {
		if rank(c) < rank(label[best]) {
			best = i
		}
	}
	return best
}

// rank orders anchor bytes, rarest in mDNS traffic first (see anchorOf).
func rank(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return 0
	case c == '_':
		return 2
	case c >= 'a' && c <= 'z':
		return 3
	}
	return 1
}

func (f *Filter) add(n needle) {
	for i := range f.groups {
		if g := &f.groups[i]; g.a1 == n.a1 {
			g.needles = append(g.needles, n)
			return
		}
	}
	f.groups = append(f.groups, group{a1: n.a1, a2: n.a2, needles: []needle{n}})
}

// FilterLabels returns the first label of each name (the one a packet about
// that name must contain): "_p2p" for "_p2p._udp.local.".
func FilterLabels(names ...string) []string {
	out := make([]string, 0, len(names))
	for _, n := range names {
		n = strings.TrimPrefix(n, ".")
		if i := strings.IndexByte(n, '.'); i >= 0 {
			n = n[:i]
		}
		if n != "" {
			out = append(out, n)
		}
	}
	return out
}

// Match reports whether pkt may mention one of the filter's labels.
func (f *Filter) Match(pkt []byte) bool {
	for i := range f.groups {
		g := &f.groups[i]
		if g.scan(pkt, g.a1) || (g.a2 != g.a1 && g.scan(pkt, g.a2)) {
			return true
		}
	}
	return false
}

// scan finds every occurrence of anchor in pkt and checks whether it is
// the anchor byte of one of g's labels, preceded by the label's length.
func (g *group) scan(pkt []byte, anchor byte) bool {
	from := 0
	for {
		i := bytes.IndexByte(pkt[from:], anchor)
		if i < 0 {
			return false
		}
		pos := from + i
		for j := range g.needles {
			n := &g.needles[j]
			l := len(n.label)
			start := pos - n.anchor // first byte of the label
			if start >= 1 && start+l <= len(pkt) && int(pkt[start-1]) == l && equalFoldASCII(pkt[start:start+l], n.label) {
				return true
			}
		}
		from = pos + 1
	}
}

func equalFoldASCII(b, lower []byte) bool {
	for i, c := range b {
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != lower[i] {
			return false
		}
	}
	return true
}
