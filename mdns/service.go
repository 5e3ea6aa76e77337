package mdns

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
)

// ErrBadTag is wrapped by every error ServiceName returns.
var ErrBadTag = errors.New("mdns: invalid service tag")

// ServiceName maps a service tag to the fully qualified DNS-SD service name
// that is browsed and announced, exactly as go-libp2p's
// mdns.NewMdnsService(h, tag, n) maps it (through zeroconf's
// newServiceRecord): the empty tag means "_p2p._udp"; leading and trailing
// dots are trimmed and ".local." is appended. So "_p2p._udp" becomes
// "_p2p._udp.local." and "CHORUS-peer-discovery" becomes
// "CHORUS-peer-discovery.local.", and a go-libp2p node given the same tag
// finds ours and vice versa.
//
// zeroconf treats a comma as the start of a subtype list; subtypes are not
// supported here, so a tag with a comma is rejected, as is any tag that
// cannot form a valid DNS name (RFC 1035 §2.3.4: labels of 1–63 bytes, a
// name of at most 255 bytes; RFC 6763 §7.2: the service label is at most 15
// characters only for registered "_name" service types, which we do not
// enforce because custom libp2p tags exceed it).
func ServiceName(tag string) (string, error) {
	if tag == "" {
		tag = SpecTag
	}
	t := strings.Trim(tag, ".")
	if t == "" {
		return "", fmt.Errorf("%w %q: no label left after trimming dots", ErrBadTag, tag)
	}
	if strings.Contains(t, ",") {
		return "", fmt.Errorf("%w %q: commas (DNS-SD subtypes) are not supported", ErrBadTag, tag)
	}
	if strings.HasSuffix(strings.ToLower(t), ".local") {
		return "", fmt.Errorf("%w %q: give the tag without the domain (\".local\" is appended)", ErrBadTag, tag)
	}
	for _, label := range strings.Split(t, ".") {
		if err := checkLabel(label); err != nil {
			return "", fmt.Errorf("%w %q: %v", ErrBadTag, tag, err)
		}
	}
	name := t + "." + Domain
	// Wire length: one length byte per label plus the label bytes plus the
	// root byte equals len(name)+1 for a dotted FQDN.
	if len(name)+1 > 255 {
		return "", fmt.Errorf("%w %q: the service name would be %d bytes on the wire (max 255)", ErrBadTag, tag, len(name)+1)
	}
	return name, nil
}

// ServiceTag is the inverse of ServiceName: the tag that names the service
// (the FQDN without its ".local." domain), as a user gives it to
// NewMdnsService, NewMDNSDiscovery or p2p-mdns --service.
func ServiceTag(service string) string {
	s := strings.TrimSuffix(service, ".")
	if len(s) > len(Domain) && asciiFoldEqual(s[len(s)-len(Domain)+1:], strings.TrimSuffix(Domain, ".")) && s[len(s)-len(Domain)] == '.' {
		s = s[:len(s)-len(Domain)]
	}
	return s
}

func checkLabel(label string) error {
	if label == "" {
		return errors.New("empty label (two dots in a row)")
	}
	if len(label) > 63 {
		return fmt.Errorf("label %q is %d bytes (max 63)", label, len(label))
	}
	for i := 0; i < len(label); i++ {
		c := label[i]
		switch {
		case c < 0x21 || c > 0x7e:
			return fmt.Errorf("label %q has a space, control or non-ASCII byte at %d", label, i)
		case c == '.' || c == '\\' || c == '"' || c == '(' || c == ')' || c == ';' || c == '@' || c == '$':
			return fmt.Errorf("label %q has the special character %q", label, c)
		}
	}
	return nil
}

// InstanceName returns the DNS-SD service instance name "<peerName>.<service>".
func InstanceName(peerName, service string) string {
	return peerName + "." + service
}

// HostName returns the host name used as the SRV target and the owner of the
// A/AAAA records: "<peerName>.local.", as go-libp2p does.
func HostName(peerName string) string {
	return peerName + "." + Domain
}

const peerNameAlphabet = "abcdefghijklmnopqrstuvwxyz0123456789"

// NewPeerName returns a random peer name as the libp2p mDNS spec asks:
// 32 to 63 lower-case alphanumeric characters, unrelated to the peer ID.
// r may be nil to use the runtime's (cryptographically seeded) source.
func NewPeerName(r *rand.Rand) string {
	intn := rand.IntN
	if r != nil {
		intn = r.IntN
	}
	n := 32 + intn(32)
	b := make([]byte, n)
	for i := range b {
		b[i] = peerNameAlphabet[intn(len(peerNameAlphabet))]
	}
	return string(b)
}

// IsPeerName reports whether s has the shape of a libp2p peer name
// (32–63 alphanumeric characters; upper case is accepted on receipt).
func IsPeerName(s string) bool {
	if len(s) < 32 || len(s) > 63 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// EqualNames compares two domain names case-insensitively (RFC 6762 §16:
// mDNS names compare as in unicast DNS, ASCII case-insensitively), ignoring a
// missing trailing dot.
func EqualNames(a, b string) bool {
	a = strings.TrimSuffix(a, ".")
	b = strings.TrimSuffix(b, ".")
	return asciiFoldEqual(a, b)
}

// ChildLabel reports whether name is exactly one label below parent
// (case-insensitive), e.g. "x._p2p._udp.local." below "_p2p._udp.local.".
// It returns that label.
func ChildLabel(name, parent string) (string, bool) {
	n := strings.TrimSuffix(name, ".")
	p := strings.TrimSuffix(parent, ".")
	if len(n) <= len(p)+1 || n[len(n)-len(p)-1] != '.' || !asciiFoldEqual(n[len(n)-len(p):], p) {
		return "", false
	}
	label := n[:len(n)-len(p)-1]
	// The label must be a single label: an unescaped dot would make it two.
	if strings.IndexByte(label, '\\') < 0 { // no escapes: one vectorised scan
		if strings.IndexByte(label, '.') >= 0 {
			return "", false
		}
		return label, true
	}
	for i := 0; i < len(label); i++ {
		if label[i] == '\\' {
			i++
			continue
		}
		if label[i] == '.' {
			return "", false
		}
	}
	return label, true
}

// asciiFoldEqual compares two strings byte for byte, ASCII letters
// case-insensitively: how DNS names (RFC 4343 §3, RFC 6762 §16) and DNS-SD
// TXT keys (RFC 6763 §6.4) compare. Other bytes are not folded.
func asciiFoldEqual(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	if a == b {
		return true // the common case: one name written twice alike (vectorised)
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if x == y {
			continue
		}
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}
