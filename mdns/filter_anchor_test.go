package mdns

import (
	"testing"

	"github.com/miekg/dns"
)

// TestFilterAnchors: each label is scanned for its rarest case-invariant
// byte, unless a byte another label forces is in it (one scan, not two),
// and the choice never costs a match in any letter case.
func TestFilterAnchors(t *testing.T) {
	for _, c := range []struct {
		labels  []string
		anchors string // one per group, in order
	}{
		{[]string{"_p2p"}, "2"},                                // a digit before '_'
		{[]string{"CHORUS-peer-discovery"}, "-"},               // the only non-letter
		{[]string{"_p2p", "_services"}, "_"},                   // "_services" forces '_', "_p2p" joins it
		{[]string{"_p2p", "_services", "abcdefgh0123"}, "_0"},  // the peer name has no '_'
		{[]string{"peer"}, "p"},                                // letters only: the first
		{[]string{"CHORUS-peer-discovery", "_services"}, "-_"}, // no shared byte: two scans
		{[]string{"x-1", "a-b"}, "1-"},                         // only '_' and letters force a shared scan
	} {
		f := NewFilter(c.labels...)
		got := ""
		for _, g := range f.groups {
			got += string(g.a1)
		}
		if got != c.anchors {
			t.Errorf("%q: anchors %q, want %q", c.labels, got, c.anchors)
		}
		for _, l := range c.labels {
			for _, name := range []string{l + ".local.", upperASCII(l) + ".local.", "x." + l + ".local."} {
				m := new(dns.Msg)
				m.Question = []dns.Question{{Name: name, Qtype: dns.TypePTR, Qclass: 1}}
				data, err := m.Pack()
				if err != nil {
					t.Fatal(err)
				}
				if !f.Match(data) {
					t.Errorf("%q: %s not matched", c.labels, name)
				}
			}
		}
	}
}

func upperASCII(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'a' <= c && c <= 'z' {
			b[i] = c - 'a' + 'A'
		}
	}
	return string(b)
}
