package mdns

import (
	"errors"
	"fmt"
	"slices"

	"github.com/miekg/dns"
)

// ErrTooLarge is returned when the records that must be in every packet do
// not fit the size limit on their own.
var ErrTooLarge = errors.New("mdns: records do not fit one packet")

// Response describes one mDNS response before packing.
type Response struct {
	// ID is 0 for multicast responses (RFC 6762 §18.1) and the query's ID
	// for legacy unicast replies (§6.7).
	ID uint16
	// Questions are echoed only in legacy unicast replies (§6.7).
	Questions []dns.Question
	// Answers and Additional are repeated in every packet.
	Answers, Additional []dns.RR
	// TXT, when set, is split across packets by its strings: every packet
	// carries the fixed records plus one TXT record holding as many strings
	// as fit, so each packet is self-contained (a decoder that keeps only one
	// packet still gets a usable peer).
	TXT *dns.TXT
	// TXTInAnswer puts the TXT record in the answer section (it goes to the
	// additional section otherwise, where rust-libp2p reads it).
	TXTInAnswer bool
	// MaxSize is the largest UDP payload (see MaxPayload); 0 means the
	// IPv4 payload of a 1500-byte MTU.
	MaxSize int
	// TXTChunks, when set, fixes the split of TXT's strings: one packet per
	// chunk (see SplitTXT). A chunk that does not fit is an error.
	TXTChunks [][]string
}

// PackResponse packs r into one or more DNS messages of at most r.MaxSize
// bytes each, with name compression (RFC 6762 §18.14) and the AA bit set
// (§18.4). A TXT string that cannot fit a packet even alone is left out and
// counted in skipped. The TXT strings are split as SplitTXT says, or as
// r.TXTChunks says when set.
func PackResponse(r *Response) (packets [][]byte, skipped int, err error) {
	m, txt, max := r.msg()
	if r.TXT == nil || len(r.TXT.Txt) == 0 {
		b, err := packMax(m, max)
		if err != nil {
			return nil, 0, err
		}
		return [][]byte{b}, 0, nil
	}
	chunks := r.TXTChunks
	if chunks == nil {
		if chunks, skipped, err = r.split(m, txt, max); err != nil {
			return nil, skipped, err
		}
	}
	if len(chunks) == 0 {
		// Every string was skipped: still announce PTR/SRV/A with an empty TXT.
		chunks = [][]string{{""}}
	}
	packets = make([][]byte, 0, len(chunks))
	for _, c := range chunks {
		txt.Txt = c
		b, err := packMax(m, max)
		if err != nil {
			return nil, skipped, err
		}
		packets = append(packets, b)
	}
	return packets, skipped, nil
}

// SplitTXT returns how PackResponse splits r.TXT's strings across packets
// (one chunk per packet; strings that fit no packet are counted in
// skipped). A goodbye packed with the chunks of the announcement it
// withdraws carries TXT records with the very rdata receivers cached, which
// a TTL-0 record must match to be withdrawn (RFC 6762 §10.1), even though
// it has fewer other records than the announcement.
func SplitTXT(r *Response) (chunks [][]string, skipped int, err error) {
	if r.TXT == nil || len(r.TXT.Txt) == 0 {
		return nil, 0, nil
	}
	m, txt, max := r.msg()
	return r.split(m, txt, max)
}

// msg builds the message of r with an empty TXT record in place, and the
// size limit.
func (r *Response) msg() (m *dns.Msg, txt *dns.TXT, max int) {
	max = r.MaxSize
	if max <= 0 {
		max = MaxPayload(DefaultMTU, true)
	}
	m = new(dns.Msg)
	m.Id = r.ID
	m.Response = true
	m.Authoritative = true
	m.Compress = true
	m.Question = r.Questions
	if r.TXT == nil || len(r.TXT.Txt) == 0 {
		m.Answer, m.Extra = r.Answers, r.Additional
		return m, nil, max
	}
	txt = &dns.TXT{Hdr: r.TXT.Hdr}
	if r.TXTInAnswer {
		m.Answer = append(append(make([]dns.RR, 0, len(r.Answers)+1), r.Answers...), txt)
		m.Extra = r.Additional
	} else {
		m.Answer = r.Answers
		m.Extra = append(append(make([]dns.RR, 0, len(r.Additional)+1), r.Additional...), txt)
	}
	return m, txt, max
}

// split fills packets greedily: the size of m with a TXT holding no strings
// is fixed, and each string adds exactly 1+len(raw) bytes (TXT rdata is
// never compressed).
func (r *Response) split(m *dns.Msg, txt *dns.TXT, max int) (chunks [][]string, skipped int, err error) {
	txt.Txt = nil
	base := m.Len()
	if base > max {
		return nil, 0, fmt.Errorf("%w: %d bytes without TXT strings, limit %d", ErrTooLarge, base, max)
	}
	strs := r.TXT.Txt
	for len(strs) > 0 {
		size := base
		n := 0
		for n < len(strs) {
			l := 1 + rawLen(strs[n])
			if size+l > max {
				break
			}
			size += l
			n++
		}
		if n == 0 {
			// This string does not fit even alone.
			skipped++
			strs = strs[1:]
			continue
		}
		chunks = append(chunks, strs[:n:n])
		strs = strs[n:]
	}
	return chunks, skipped, nil
}

// PackLegacy packs r as one conventional unicast DNS reply of at most
// limit bytes, for a legacy querier (RFC 6762 §6.7): the whole TXT record
// in one piece, additional records dropped first when it does not fit,
// then answers, with the TC bit set when an answer had to go (RFC 1035
// §4.1.1, RFC 2181 §9).
func PackLegacy(r *Response, limit int) ([]byte, error) {
	m := new(dns.Msg)
	m.Id = r.ID
	m.Response = true
	m.Authoritative = true
	m.Compress = true
	m.Question = r.Questions
	m.Answer = slices.Clone(r.Answers)
	m.Extra = slices.Clone(r.Additional)
	if r.TXT != nil && len(r.TXT.Txt) > 0 {
		if r.TXTInAnswer {
			m.Answer = append(m.Answer, r.TXT)
		} else {
			m.Extra = append(m.Extra, r.TXT)
		}
	}
	answers := len(m.Answer)
	m.Truncate(limit)
	// miekg/dns sets TC for any record left out; RFC 2181 §9 wants it only
	// when the answer is incomplete, not for left-out additional data.
	m.Truncated = len(m.Answer) < answers
	m.Compress = true
	return packMax(m, limit)
}

func packMax(m *dns.Msg, max int) ([]byte, error) {
	b, err := m.Pack()
	if err != nil {
		return nil, fmt.Errorf("mdns: pack: %w", err)
	}
	if len(b) > max {
		return nil, fmt.Errorf("%w: %d bytes, limit %d", ErrTooLarge, len(b), max)
	}
	return b, nil
}

// rawLen is the wire length of a TXT string in miekg/dns presentation form.
func rawLen(s string) int {
	n := 0
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) {
			if i+3 < len(s) && isDigit(s[i+1]) && isDigit(s[i+2]) && isDigit(s[i+3]) {
				i += 3
			} else {
				i++
			}
		}
		n++
	}
	return n
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// Query describes one mDNS query before packing.
type Query struct {
	// ID is 0 for queries from port 5353 (RFC 6762 §18.1).
	ID        uint16
	Questions []dns.Question
	// Known are known answers (§7.1); when they do not fit one packet they
	// continue in further packets, every packet but the last with the TC bit
	// (§7.2).
	Known []dns.RR
	// Authority holds the proposed records of a probe (§8.2).
	Authority []dns.RR
	MaxSize   int
}

// PackQuery packs q. The first packet carries the questions and authority
// records; known answers fill it and spill over into continuation packets.
func PackQuery(q *Query) ([][]byte, error) {
	max := q.MaxSize
	if max <= 0 {
		max = MaxPayload(DefaultMTU, true)
	}
	m := new(dns.Msg)
	m.Id = q.ID
	m.Compress = true
	m.Question = q.Questions
	m.Ns = q.Authority
	base := m.Len()
	if base > max {
		return nil, fmt.Errorf("%w: query of %d bytes, limit %d", ErrTooLarge, base, max)
	}
	var packets [][]byte
	known := q.Known
	for {
		n := fitKnown(m, known, max)
		if n == 0 && len(known) > 0 && len(m.Question) == 0 && len(m.Ns) == 0 {
			// A single known answer larger than a packet: drop it (it is only
			// an optimisation, §7.1).
			known = known[1:]
			continue
		}
		m.Answer = known[:n]
		known = known[n:]
		m.Truncated = len(known) > 0
		b, err := m.Pack()
		if err != nil {
			return nil, fmt.Errorf("mdns: pack query: %w", err)
		}
		packets = append(packets, b)
		if len(known) == 0 {
			return packets, nil
		}
		m = new(dns.Msg)
		m.Id = q.ID
		m.Compress = true
	}
}

// fitKnown returns how many of known fit into m under max (binary search on
// the compressed length).
func fitKnown(m *dns.Msg, known []dns.RR, max int) int {
	lo, hi := 0, len(known)
	for lo < hi {
		mid := (lo + hi + 1) / 2
		m.Answer = known[:mid]
		if m.Len() <= max {
			lo = mid
		} else {
			hi = mid - 1
		}
	}
	m.Answer = nil
	return lo
}
