package mdns

import (
	"errors"
	"fmt"

	"github.com/miekg/dns"
)

// Kind is what one mDNS message is.
type Kind uint8

// The message kinds.
const (
	KindInvalid  Kind = iota
	KindQuery         // QR=0 without authority records (RFC 6762 §5)
	KindProbe         // QR=0 with proposed records in the authority section (§8.1, §8.2)
	KindResponse      // QR=1 with at least one record whose TTL is not 0 (§6)
	KindGoodbye       // QR=1 whose answers all have TTL 0 (§10.1)
)

func (k Kind) String() string {
	switch k {
	case KindQuery:
		return "query"
	case KindProbe:
		return "probe"
	case KindResponse:
		return "response"
	case KindGoodbye:
		return "goodbye"
	}
	return "invalid"
}

// Errors of Parse and Classify. Every error Parse returns wraps ErrMalformed.
var (
	ErrMalformed = errors.New("mdns: malformed packet")
	ErrOversize  = fmt.Errorf("%w: larger than %d bytes", ErrMalformed, MaxPacketSize)
	ErrOpcode    = errors.New("mdns: non-zero opcode") // §18.3: silently ignored
	ErrRcode     = errors.New("mdns: non-zero rcode")  // §18.11: silently ignored
)

// Parse unpacks one mDNS datagram. It never panics: oversize data,
// compression loops, labels over 63 bytes, names over 255 bytes, rdlengths
// and section counts beyond the packet all return an error wrapping
// ErrMalformed.
func Parse(data []byte) (*dns.Msg, error) {
	m := new(dns.Msg)
	if err := ParseInto(m, data); err != nil {
		return nil, err
	}
	return m, nil
}

// ParseInto is Parse into a caller-owned message (its sections are reset).
func ParseInto(m *dns.Msg, data []byte) (err error) {
	if len(data) > MaxPacketSize {
		return ErrOversize
	}
	if len(data) < 12 {
		return fmt.Errorf("%w: %d bytes, shorter than a DNS header", ErrMalformed, len(data))
	}
	// Every section entry takes at least 5 (question) or 11 (record) bytes:
	// counts that cannot fit are rejected before any allocation.
	qd := int(data[4])<<8 | int(data[5])
	rr := int(data[6])<<8 | int(data[7]) + int(data[8])<<8 | int(data[9]) + int(data[10])<<8 | int(data[11])
	if 12+qd*5+rr*11 > len(data) {
		return fmt.Errorf("%w: section counts (%d questions, %d records) exceed the %d-byte packet", ErrMalformed, qd, rr, len(data))
	}
	defer func() {
		// miekg/dns is fuzzed and does not panic on bad input; this is a last
		// line of defence so that one packet can never take the node down.
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: decoder panic: %v", ErrMalformed, r)
		}
	}()
	*m = dns.Msg{}
	if err := m.Unpack(data); err != nil {
		// One malformed NSEC (a record we never use) must not cost the
		// valid records beside it: retry without the NSECs.
		fixed := retypeNSEC(data)
		if fixed == nil {
			return fmt.Errorf("%w: %v", ErrMalformed, err)
		}
		*m = dns.Msg{}
		if err2 := m.Unpack(fixed); err2 != nil {
			return fmt.Errorf("%w: %v", ErrMalformed, err)
		}
		if err := checkPointers(fixed, len(m.Question), len(m.Answer)+len(m.Ns)+len(m.Extra)); err != nil {
			return err
		}
		m.Answer, m.Ns, m.Extra = dropOpaque(m.Answer), dropOpaque(m.Ns), dropOpaque(m.Extra)
		return nil
	}
	return checkPointers(data, len(m.Question), len(m.Answer)+len(m.Ns)+len(m.Extra))
}

// Classify says what m is. Messages with a non-zero opcode (§18.3) or rcode
// (§18.11) are KindInvalid with ErrOpcode / ErrRcode: mDNS ignores them.
func Classify(m *dns.Msg) (Kind, error) {
	if m.Opcode != dns.OpcodeQuery {
		return KindInvalid, ErrOpcode
	}
	if m.Rcode != dns.RcodeSuccess {
		return KindInvalid, ErrRcode
	}
	if !m.Response {
		if len(m.Ns) > 0 && len(m.Question) > 0 {
			return KindProbe, nil
		}
		return KindQuery, nil
	}
	if len(m.Answer) == 0 {
		return KindResponse, nil
	}
	for _, rr := range m.Answer {
		if rr.Header().Ttl != 0 {
			return KindResponse, nil
		}
	}
	return KindGoodbye, nil
}

// IsQU reports whether a question asks for a unicast response (§5.4).
func IsQU(q dns.Question) bool { return q.Qclass&CacheFlushBit != 0 }

// IsCacheFlush reports whether a record has the cache-flush bit (§10.2).
func IsCacheFlush(rr dns.RR) bool { return rr.Header().Class&CacheFlushBit != 0 }

// Class returns the record's class without the cache-flush bit.
func Class(rr dns.RR) uint16 { return rr.Header().Class &^ CacheFlushBit }

// dropOpaque removes the records retyped by retypeNSEC.
func dropOpaque(rrs []dns.RR) []dns.RR {
	out := rrs[:0]
	for _, rr := range rrs {
		if rr.Header().Rrtype != typeOpaque {
			out = append(out, rr)
		}
	}
	return out
}
